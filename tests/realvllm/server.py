"""A real vLLM server (PyPI's CPU build, a tiny random-weights Llama) for tests and fixture capture.

``find_install()`` locates what ``tests/realvllm/provision`` installed; ``RealVllm`` starts one
``vllm serve`` on a free loopback port, waits for ``/health``, and stops it (SIGTERM to its process
group, SIGKILL if it lingers) so no engine process outlives a test.

    install = find_install()          # Install, or a str saying why there is none
    with RealVllm(install, args=("--max-num-seqs", "4")) as server:
        server.wait_ready()
        ... server.url ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.net import free_port

VERSION = "0.32.0"
MODEL_NAME = "tiny"
MAX_MODEL_LEN = 1024
PROVISION = Path(__file__).with_name("provision")


def home() -> Path:
    """Where ``provision`` puts the real vLLM (the same rule as the script's)."""
    explicit = os.environ.get("SPARKTOP_REAL_VLLM_HOME")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sparktop" / f"real-vllm-{VERSION}"


@dataclass(frozen=True)
class Install:
    """A provisioned real vLLM: its ``vllm`` command and the tiny model's folder."""

    home: Path
    vllm: Path
    model: Path


def find_install() -> Install | str:
    """The provisioned real vLLM, or why there is none (with the command that provisions it)."""
    root = home()
    vllm = root / "venv" / "bin" / "vllm"
    model = root / "tiny-llama"
    hint = f"run {PROVISION.relative_to(Path.cwd()) if PROVISION.is_relative_to(Path.cwd()) else PROVISION}"
    if not (root / ".provisioned").is_file():
        return f"no real vLLM provisioned in {root} ({hint})"
    if not vllm.is_file() or not (model / "config.json").is_file():
        return f"the real vLLM in {root} is incomplete ({hint} again)"
    return Install(root, vllm, model)


def server_env() -> dict[str, str]:
    """The environment ``vllm serve`` needs here: no hub, a small CPU KV cache, no telemetry."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        VLLM_CPU_KVCACHE_SPACE="1",
        VLLM_NO_USAGE_STATS="1",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        # Fork vLLM's engine and worker processes instead of spawning them: each spawned process
        # imports vLLM again (~20 s here), so a start takes ~50 s instead of ~80 s.
        VLLM_WORKER_MULTIPROC_METHOD="fork",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # vLLM's first import is much faster with .pyc files
    return env


SERVER_NICENESS = 10
"""How much lower the server runs than the tests (``nice``; exec'd, so the pid is vLLM's)."""


def serve_command(install: Install, port: int, args: Sequence[str] = ()) -> list[str]:
    """The ``vllm serve`` line for the tiny model (eager mode: a ~25 s start instead of ~80 s)."""
    return [
        str(install.vllm), "serve", str(install.model),
        "--served-model-name", MODEL_NAME,
        "--load-format", "dummy",
        "--max-model-len", str(MAX_MODEL_LEN),
        "--dtype", "float32",
        "--host", "127.0.0.1",
        "--port", str(port),
        *args,
    ]  # fmt: skip


class RealVllm:
    """One ``vllm serve`` process; its log goes to ``log_path``."""

    def __init__(
        self,
        install: Install,
        *,
        log_path: Path,
        port: int | None = None,
        args: Sequence[str] = ("--enforce-eager",),
    ) -> None:
        self.install = install
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = serve_command(install, self.port, args)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RealVllm:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                # below the tests' own priority: on two cores a client that waits for the CPU while
                # the server decodes sends its "simultaneous" requests late (and measures that)
                ["nice", "-n", str(SERVER_NICENESS), *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_env(),
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait for ``/health`` to answer 200; raises with the log's tail if the server dies first."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"vllm serve was not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def warm_up(self) -> None:
        """One short request: the first one after startup pays for lazily built CPU kernels."""
        body = {"model": MODEL_NAME, "prompt": [5] * 32, "max_tokens": 4, "ignore_eos": True}
        httpx.post(self.url + "/v1/completions", json=body, timeout=300.0).raise_for_status()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL what is left after ``timeout``; its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the engine and worker children, if any linger
        proc.wait()
        return proc.returncode

    def __enter__(self) -> RealVllm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
