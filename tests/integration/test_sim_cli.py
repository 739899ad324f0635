"""`sparktop sim` and the `vllm serve` look-alike as real subprocesses."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import httpx
import orjson
import pytest

from sparktop.sim.profiles import PROFILES


class Proc:
    """A subprocess whose stdout lines are collected in the background."""

    started: ClassVar[list[subprocess.Popen[str]]] = []

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        Proc.started.append(self.proc)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; saw {self.seen[-5:]}") from None
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def finish(self, sig: int | None = None, timeout: float = 20.0) -> tuple[int, str, str]:
        if sig is not None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        assert self.proc.stderr is not None
        self._pumping.join(timeout)  # it ends at the end of the output: every line is queued
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "\n".join(self.seen), self.proc.stderr.read()


@pytest.fixture(autouse=True)
def _no_server_outlives_its_test() -> Iterator[None]:
    yield
    while Proc.started:
        proc = Proc.started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_sparktop_sim_prints_its_url_serves_and_stops_on_sigint() -> None:
    p = Proc(
        [
            "-m",
            "sparktop",
            "sim",
            "--profile",
            "gemma4-26b-a4b-nvfp4",
            "--port",
            "0",
            "--startup",
            "fast",
            "--speed",
            "10",
        ]
    )
    url = p.wait_for(r"^sparktop sim: SIMULATED vLLM .* on (http://127\.0\.0\.1:\d+)$").group(1)
    p.wait_for(r"Application startup complete\.")
    assert httpx.get(f"{url}/health").status_code == 200
    done = httpx.post(f"{url}/v1/completions", json={"prompt": "hi", "max_tokens": 3}, timeout=10).json()
    assert done["usage"]["completion_tokens"] == 3
    code, out, _ = p.finish(signal.SIGINT)
    assert code == 0 and "INFO:     Shutting down" in out
    assert re.search(r'"POST /v1/completions HTTP/1.1" 200 OK', out)


def test_list_profiles_shows_every_profile_and_its_figures() -> None:
    out = run(["-m", "sparktop", "sim", "--list-profiles"])
    assert out.returncode == 0
    for name in PROFILES:
        assert f"\n{name}\n" in out.stdout
    assert "24.08 tok/s/user, 1.37 s TTFT" in out.stdout
    data = orjson.loads(run(["-m", "sparktop", "sim", "--list-profiles", "--json"]).stdout)
    assert {p["name"] for p in data} == set(PROFILES) and all(p["figures"] for p in data)


def test_bad_arguments_get_one_line_errors_with_hints() -> None:
    unknown = run(["-m", "sparktop", "sim", "--profile", "llama"])
    assert unknown.returncode == 2
    assert "sparktop: error: unknown profile 'llama'" in unknown.stderr and "hint:" in unknown.stderr
    missing = run(["-m", "sparktop", "sim"])
    assert missing.returncode == 2 and "--profile is required" in missing.stderr
    speed = run(["-m", "sparktop", "sim", "--profile", "gemma4-26b-a4b-bf16", "--speed", "0"])
    assert speed.returncode == 2 and "must be > 0" in speed.stderr


INSTANT = ["-m", "sparktop", "sim", "--profile", "gemma4-26b-a4b-bf16", "--port", "0", "--startup", "instant"]


def test_failures_exit_1_with_vllms_lines() -> None:
    kv = run([*INSTANT, "--fail-startup", "kv"])
    assert kv.returncode == 1
    assert "KV cache is needed, which is larger than the available KV cache memory" in kv.stdout
    assert "sparktop: error: the simulated vLLM exited" in kv.stderr
    crash = run([*INSTANT, "--speed", "20", "--crash-after", "2"])
    assert crash.returncode == 1 and "EngineCore encountered a fatal error." in crash.stdout


ENV = {"SPARKTOP_SIM_STARTUP": "instant", "SPARKTOP_SIM_SPEED": "20"}


def test_vllm_entry_serves_like_vllm_serve_and_exits_on_sigterm() -> None:
    p = Proc(
        [
            "-m", "sparktop.sim.vllm_entry", "serve", "google/gemma-4-26B-A4B-it",
            "--served-model-name", "gemma",
            "--host", "127.0.0.1", "--port", "0", "--max-model-len", "32768", "--kv-cache-dtype", "fp8",
            "--limit-mm-per-prompt", '{"image":0}', "--async-scheduling", "--no-enable-prefix-caching",
        ],
        env=ENV,
    )  # fmt: skip
    url = p.wait_for(r"Starting vLLM server on (http://127\.0\.0\.1:\d+)").group(1)
    p.wait_for(r"Application startup complete\.")
    card = httpx.get(f"{url}/v1/models").json()["data"][0]
    assert (card["id"], card["root"], card["max_model_len"]) == ("gemma", "google/gemma-4-26B-A4B-it", 32768)
    assert httpx.get(f"{url}/version").json() == {"version": "0.20.1", "sparktop_simulated": True}
    code, out, _ = p.finish(signal.SIGTERM)
    assert code == 0 and "Maximum concurrency for 32,768 tokens per request" in out


def test_vllm_entry_fails_like_vllm() -> None:
    unknown = run(["-m", "sparktop.sim.vllm_entry", "serve", "Qwen/Qwen3-8B"], env=ENV)
    assert unknown.returncode == 1
    assert "Model architectures ['Qwen3ForCausalLM'] are not supported for now." in unknown.stdout
    old = run(
        [
            "-m",
            "sparktop.sim.vllm_entry",
            "serve",
            "nvidia/NVIDIA-Nemotron-3-Nano-Omni-30B-A3B-Reasoning-FP8",
            "--port",
            "0",
        ],
        env={**ENV, "SPARKTOP_SIM_VLLM_VERSION": "0.15.1"},
    )
    assert old.returncode == 1 and "['NemotronHForCausalLM'] are not supported for now" in old.stdout
    too_long = run(
        [
            "-m",
            "sparktop.sim.vllm_entry",
            "serve",
            "google/gemma-4-26B-A4B-it",
            "--port",
            "0",
            "--max-model-len",
            "900000",
        ],
        env=ENV,
    )
    assert (
        too_long.returncode == 1
        and "To serve at least one request with the model's max seq len (900000)" in too_long.stdout
    )
    greedy = run(
        [
            "-m",
            "sparktop.sim.vllm_entry",
            "serve",
            "google/gemma-4-26B-A4B-it",
            "--port",
            "0",
            "--gpu-memory-utilization",
            "0.99",
        ],
        env=ENV,
    )
    assert greedy.returncode == 1 and "Free memory on device" in greedy.stdout
    bad_env = run(
        ["-m", "sparktop.sim.vllm_entry", "serve", "google/gemma-4-26B-A4B-it"],
        env={"SPARKTOP_SIM_SPEED": "fast"},
    )
    assert bad_env.returncode == 2 and "SPARKTOP_SIM_SPEED" in bad_env.stderr
