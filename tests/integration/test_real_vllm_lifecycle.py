"""A REAL vLLM started, restarted and constrained by the test, watched by sparktop as a user would.

- ``watch URL --headless --log FILE`` follows a real ``vllm serve`` from before it starts: its startup
  phases come from the real log, and across a real restart (SIGTERM, the same command again, its log
  truncated as ``> FILE`` does) the counters drop, the reset is detected and no rate goes negative.
- A server with ``--max-num-seqs 4 --num-gpu-blocks-override 16`` under 12 users queues and preempts:
  sparktop shows the waiting requests and the preemptions the server counted.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import StartReal
from tests.integration.real_vllm_helpers import counters, sparktop, spawn
from tests.realvllm.server import MODEL_NAME
from tests.support.net import free_port
from tests.support.waiting import poll

pytestmark = [pytest.mark.real_vllm, pytest.mark.slow]

STARTUP_EVENTS = (
    "engine start started",
    "weights load started",
    "KV cache: 262,144 tokens",
    "max concurrency 256.00x at 1,024 tokens",
    "engine warm-up finished in",
    "API server started",
    "ready after",
)
"""What ``watch`` prints from the real log of the tiny model's eager start (1 GiB of KV cache)."""


def wait_for(path: Path, condition: object, within_s: float = 240.0) -> str:
    """The file's text once ``condition(text)`` holds (fails with the text after ``within_s``)."""
    text, held = poll(lambda: path.read_text(errors="replace"), condition, within_s, step=0.25)  # type: ignore[arg-type]
    assert held, f"timed out; output so far:\n{text[-4000:]}"
    return text


def generate(url: str, requests: int, tokens: int) -> None:
    for _ in range(requests):
        body = {"model": MODEL_NAME, "prompt": [7] * 16, "max_tokens": tokens, "ignore_eos": True}
        httpx.post(url + "/v1/completions", json=body, timeout=120).raise_for_status()


def rates(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"(?:gen|prompt)_tps=(-?[\d.]+)", text)]


def test_watch_follows_a_real_startup_and_a_real_restart(start_real_vllm: StartReal, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "vllm.log"
    out = tmp_path / "watch.out"
    watch = spawn(
        "watch", f"http://127.0.0.1:{port}", "--headless", "--interval", "0.5", "--log", str(log),
        stdout=out,
    )  # fmt: skip
    try:
        wait_for(out, lambda text: "state=unreachable" in text, 60)
        first = start_real_vllm(port=port, log_path=log)
        text = wait_for(out, lambda text: "state=healthy" in text and "ready after" in text)
        for needle in STARTUP_EVENTS:
            assert needle in text, needle
        assert "vLLM 0.32.0" in text  # the version from the real banner
        generate(first.url, 6, 40)
        before_restart = counters(first.url)
        wait_for(out, lambda text: re.search(r"gen_tps=[1-9]", text) is not None, 60)

        assert first.stop() == 0
        # the log is cut only once its last lines were read (a line written and then cut before the
        # next read is gone for any reader): the stop is said, and the scrape finds no server
        mark = len(
            wait_for(
                out,
                lambda text: (
                    "server stopping" in text and text.rstrip().endswith(("state=unreachable", "failed"))
                ),
                60,
            )
        )
        log.write_bytes(b"")  # `vllm serve ... > vllm.log` again
        second = start_real_vllm(port=port, log_path=log)
        generate(second.url, 1, 8)
        after_restart = counters(second.url)
        assert after_restart.generation_tokens < before_restart.generation_tokens  # counters dropped
        # the scrape and the log are read apart: the reset may be said before or after "ready after"
        text = wait_for(
            out,
            lambda text: (
                "counters reset: server restarted" in text[mark:]
                and "ready after" in text[mark:]
                and re.search(r"gen_tps=\d", text[text.index("counters reset", mark) :]) is not None
            ),
            60,
        )
    finally:
        watch.terminate()
        watch.wait(30)
    again = text[mark:]
    assert again.count("ready after") == 1 and "weights load started" in again  # the second startup
    # the first server was stopped, not crashed: its stop is said, its shutdown traceback is no error
    # (the API server and the engine both log the stop; whichever line is read first says it, so the
    # signal is named only when the engine's line came first)
    said = [line for line in text.splitlines() if "stopping" in line or "died" in line]
    assert "server stopping" in text and "engine died" not in text, said
    assert all(rate >= 0 for rate in rates(text)), "a rate went negative across the restart"
    # after the restart the generation rate counts the new server's tokens only: at most all of them
    # over the shortest span a rate takes (two scrapes, 0.5 s apart; the first server made 244)
    after_reset = again[again.index("counters reset") :]
    first_rate = float(re.search(r"gen_tps=(\d[\d.]*)", after_reset).group(1))  # type: ignore[union-attr]
    assert first_rate <= after_restart.generation_tokens / 0.4


def test_a_constrained_real_server_shows_waiting_and_preemptions(
    start_real_vllm: StartReal, tmp_path: Path
) -> None:
    server = start_real_vllm(("--enforce-eager", "--max-num-seqs", "4", "--num-gpu-blocks-override", "16"))
    out = tmp_path / "watch.out"
    watch = spawn("watch", server.url, "--headless", "--interval", "0.5", stdout=out)
    try:
        wait_for(out, lambda text: "state=healthy" in text, 60)
        before = counters(server.url)
        result = sparktop(
            "load", server.url, "--concurrency", "12", "--input-len", "300", "--output-len", "400",
            "--requests", "12", "--json", str(tmp_path / "load.json"), "--no-record", "--no-warmup",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        served = counters(server.url) - before
        wait_for(out, lambda text: text.count("\n") > 3, 30)
    finally:
        watch.terminate()
        watch.wait(30)
    assert served.preemptions > 0 and served.finished == 12
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    waiting = [int(m.group(1)) for line in lines if (m := re.search(r" waiting=(\d+) ", line))]
    running = [int(m.group(1)) for line in lines if (m := re.search(r" running=(\d+) ", line))]
    assert max(running) == 4 and max(waiting) > 0
    kv = [float(m.group(1)) for line in lines if (m := re.search(r" kv=([\d.]+)%", line))]
    assert max(kv) > 50.0
    shown = [float(m.group(1)) for line in lines if (m := re.search(r" preempt=(\d+) ", line))]
    assert shown[-1] == before.preemptions + served.preemptions  # the server's own count, at the end
    assert shown[0] == before.preemptions
