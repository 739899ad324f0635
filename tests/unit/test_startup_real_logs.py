"""vLLM's startup read from REAL logs (vLLM 0.32, captured by ``tests/realvllm/capture.py``), and
the simulated Spark's log in the same shapes, so the phase parser is tested on both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparktop.container.phases import PhaseTracker
from sparktop.logfile import LogFollower
from sparktop.model import StartupProgress
from sparktop.sim import startup as st
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import PROFILES
from tests.support.frames import sim_startup_lines

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm"

H = r" pid=\d+\) INFO \d\d-\d\d [\d:]{8} "
"""After the process name: the pid and vLLM's log header up to the file tag."""
SHAPES = {
    "banner version": rf"^\(APIServer{H}\[api_utils\.py:\d+\] [\s█▄▀]+version \d",
    "non-default args": rf"^\(APIServer{H}\[api_utils\.py:\d+\] non-default args: \{{'model_tag'",
    "architecture": rf"^\(APIServer{H}\[model\.py:\d+\] Resolved architecture: \w+$",
    "engine config": rf"^\(EngineCore{H}\[core\.py:\d+\] Initializing a V1 LLM engine \(v[\d.]+\)",
    "load start": rf"^\(Worker{H}\[\w+\.py:\d+\] Starting to load model \S+\.\.\.$",
    "kv size": rf"^\(EngineCore{H}\[kv_cache_utils\.py:\d+\] [GC]PU KV cache size: [\d,]+ tokens, "
    r"Maximum concurrency for [\d,]+ tokens per request: [\d.]+x$",
    "engine init": rf"^\(EngineCore{H}\[core\.py:\d+\] init engine \(profile, create kv cache, "
    r"warmup model\) took [\d.]+ s",
    "server start": rf"^\(APIServer{H}\[entry\.py:\d+\] Starting vLLM server on http://\S+$",
    "routes": rf"^\(APIServer{H}\[launcher\.py:\d+\] Route: /v1/completions, Methods: POST$",
    "uvicorn ready": r"^INFO:     Application startup complete\.$",
}
"""Lines a monitor relies on, in the shape the real vLLM prints them (prefix, header, file tag)."""


def real_lines(name: str) -> list[tuple[float, str]]:
    follower = LogFollower(REAL / name, now=lambda: 2_000_000_000.0, secrets=())
    return [(line.t, line.text) for line in follower.poll()]


def sim_lines(profile: str = "gemma4-26b-a4b-nvfp4") -> list[tuple[float, str]]:
    return sim_startup_lines(profile, 1_750_000_000.0)


def progress_of(lines: list[tuple[float, str]]) -> StartupProgress:
    tracker = PhaseTracker()
    for t, line in lines:
        tracker.feed(t, line)
    return tracker.progress


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_simulated_log_has_the_real_logs_shapes(shape: str) -> None:
    pattern = re.compile(SHAPES[shape])
    real = [line for _, line in real_lines("startup-eager.log")]
    simulated = [line for _, line in sim_lines()]
    assert any(pattern.search(line) for line in real), f"the real log has no {shape} line"
    assert any(pattern.search(line) for line in simulated), f"the simulated log has no {shape} line"


def test_a_real_eager_startup_reads_as_its_phases() -> None:
    lines = real_lines("startup-eager.log")
    progress = progress_of(lines)
    names = [p.name for p in progress.phases]
    assert names == ["engine", "weights", "kv_cache", "warmup", "api"]
    assert progress.ready and progress.fatal is None
    engine = progress.phases[0]
    assert "vLLM 0.32.0" in engine.detail and "LlamaForCausalLM" in engine.detail
    # the figures of the real "CPU KV cache size: 262,144 tokens, Maximum concurrency ..." line
    kv_line = next(text for _, text in lines if "KV cache size:" in text)
    tokens, tokens_per_request, times = re.findall(r"[\d,.]+(?= tokens|x$)", kv_line)
    assert progress.kv_cache_tokens == int(tokens.replace(",", ""))
    assert progress.max_concurrency_tokens == int(tokens_per_request.replace(",", ""))
    assert progress.max_concurrency == float(times)
    # the warm-up ends with vLLM's "init engine ... took" line, the API server with uvicorn's
    warmup = progress.phases[3]
    assert warmup.ended == next(t for t, text in lines if "init engine (profile" in text)
    assert all(p.ended is not None and p.ended >= p.started for p in progress.phases)
    assert progress.phases[-1].ended == next(t for t, text in lines if "Application startup complete" in text)


def test_a_real_orderly_stop_is_said_once_and_is_no_engine_failure() -> None:
    """A stopped vLLM 0.32 logs an ``EngineDeadError`` traceback as its API server stops the engine;
    after the ``[shutdown]`` lines that is part of the stop, not an engine that died."""
    stop = real_lines("shutdown-sigterm.log")
    assert any("EngineDeadError" in text for _, text in stop)  # what the real stop logs
    tracker = PhaseTracker()
    for t, text in real_lines("startup-eager.log"):
        tracker.feed(t, text)
    events = [event for t, text in stop for event in tracker.feed(t, text)]
    assert [e.text for e in events] == ["server stopping (SIGTERM)"]
    assert all(e.level == "info" for e in events)
    # the same traceback with no stop before it is an engine that died
    crashed = PhaseTracker()
    for t, text in real_lines("startup-eager.log"):
        crashed.feed(t, text)
    died = [e for t, text in stop if "[shutdown]" not in text for e in crashed.feed(t, text)]
    assert [e.kind for e in died] == ["error"] and died[0].text.startswith("engine died: ")
    # the API server and the engine write the log at once: the API server's line may come first
    swapped = PhaseTracker()
    for t, text in real_lines("startup-eager.log"):
        swapped.feed(t, text)
    engine_first, api_first = stop[0], stop[1]
    assert "signal=SIGTERM" in engine_first[1] and "shutdown triggered" in api_first[1]
    reordered = [api_first, engine_first, *stop[2:]]
    events = [event for t, text in reordered for event in swapped.feed(t, text)]
    assert [e.text for e in events] == ["server stopping"]
    # and the next start is a new startup
    again = [e.text for t, text in real_lines("startup-eager.log") for e in tracker.feed(t, text)]
    assert again[0] == "engine start started" and again[-1].startswith("ready after")


def test_a_real_compiled_startup_shows_its_torch_compile_warm_up() -> None:
    lines = real_lines("startup-compiled.log")
    progress = progress_of(lines)
    names = [p.name for p in progress.phases]
    assert names == ["engine", "weights", "compile", "kv_cache", "warmup", "api"]
    compile_phase = progress.phases[2]
    started = next(t for t, text in lines if "Warming up model for the compilation" in text)
    ended = next(t for t, text in lines if text.endswith("Warming up done."))
    assert (compile_phase.started, compile_phase.ended) == (started, ended)
    assert ended > started  # the real compile took seconds: the log's own times say how many


def test_the_simulated_startup_reads_like_the_real_one() -> None:
    p = PROFILES["gemma4-26b-a4b-nvfp4"]
    plan = plan_memory(p)
    progress = progress_of(sim_lines())
    assert [x.name for x in progress.phases] == [
        "engine", "weights", "compile", "kv_cache", "graphs", "warmup", "api",
    ]  # fmt: skip
    assert progress.ready
    assert f"vLLM {p.vllm_version}" in progress.phases[0].detail
    assert progress.kv_cache_tokens == plan.kv_tokens
    assert progress.max_concurrency == round(plan.max_concurrency, 2)
    assert progress.max_concurrency_tokens == p.serving.max_model_len


def test_an_old_vllm_banner_is_one_plain_line() -> None:
    p = PROFILES["gemma4-26b-a4b-nvfp4"]
    lines = st.banner("0.10.2", p.hf_model)
    assert [line.message for line in lines] == [f"vLLM server version 0.10.2, serving model {p.hf_model}"]
    progress = progress_of([(1.0, st.LogFormat.render(line, 1.0)) for line in lines])
    assert "vLLM 0.10.2" in progress.phases[0].detail


def test_a_real_log_read_back_keeps_the_times_its_lines_say() -> None:
    lines = real_lines("startup-eager.log")
    progress = progress_of(lines)

    def clock(needle: str) -> int:
        text = next(text for _, text in lines if needle in text)
        h, m, sec = (int(x) for x in re.search(r" (\d\d):(\d\d):(\d\d) \[", text).groups())  # type: ignore[union-attr]
        return h * 3600 + m * 60 + sec

    engine, api = progress.phases[0], progress.phases[-1]
    assert api.started - engine.started == clock("Starting vLLM server on") - clock("version 0.32.0")
    assert engine.started < api.started
