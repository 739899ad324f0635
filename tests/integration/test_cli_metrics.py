"""`sparktop snapshot` and `sparktop watch --headless` as scripts use them: real processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from sparktop.sim.vllm_metrics import VllmMetrics
from sparktop.vllm.schema import NO_SAMPLES_REASON
from sparktop.vllm.scrape import Scraper
from tests.support.fault_server import FaultServer, Route
from tests.support.net import free_port

ENV = {**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml", "PYTHONUNBUFFERED": "1"}


def page(style: str = "current", generated: int = 500, running: int = 4) -> bytes:
    m = VllmMetrics(
        "gemma",
        engines=1 if style == "v0.7" else 2,
        style=style,  # type: ignore[arg-type]
        cache_config={"block_size": "16", "num_gpu_blocks": "100"},
    )
    m.inc("vllm:generation_tokens", generated)
    m.inc("vllm:prompt_tokens", 10 * generated)
    m.set("vllm:num_requests_running", running)
    for engine in range(m.engines):
        m.set_kv_cache_usage(0.5, engine)
    for v in (0.2, 0.4, 3.0):
        m.observe("vllm:time_to_first_token_seconds", v)
    return generate_latest(m.registry)


def sparktop(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", *args],
        check=False,
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )


REQUIRED = [
    "requests_running",
    "requests_waiting",
    "kv_cache_usage",
    "prompt_tokens_total",
    "generation_tokens_total",
    "preemptions_total",
    "engines",
    "models",
    "histograms",
    "unknown",
]


@pytest.mark.parametrize("style", ["current", "v0.7"])
def test_snapshot_file_json_contract(tmp_path: Path, style: str) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(page(style))
    proc = sparktop("snapshot", "--file", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for key in REQUIRED:
        assert key in doc
    assert doc["requests_running"] == 4 and doc["generation_tokens_total"] == 500
    assert doc["kv_cache_usage"] == 0.5
    assert doc["models"] == ["gemma"]
    assert doc["engines"] == ([] if style == "v0.7" else ["0", "1"])
    assert set(doc["histograms"]) >= {"ttft", "itl", "e2e", "queue", "prefill", "decode"}
    ttft = doc["histograms"]["ttft"]
    assert ttft["count"] == 3 and ttft["sum"] == pytest.approx(3.6)
    assert ttft["buckets"][-1] == ["+Inf", 3]
    assert all(isinstance(le, float) for le, _ in ttft["buckets"][:-1])
    for field, reason in doc["unknown"].items():
        assert reason
        if field in doc:
            assert doc[field] is None
    if style == "v0.7":
        assert doc["histograms"]["tpot"] is None and "tpot" in doc["unknown"]


def test_snapshot_table_from_stdin() -> None:
    proc = sparktop("snapshot", "--file", "-", stdin=page(running=7))
    assert proc.returncode == 0, proc.stderr
    fields = dict(
        re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in proc.stdout.split("\n\n")[0].splitlines()
    )
    assert fields["requests running"] == "7" and fields["requests waiting"] == "0"
    assert fields["KV-cache usage"] == "50.0%" and fields["generation tokens"] == "500"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"<html><body>Not found</body></html>\n", "not a Prometheus exposition"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a Prometheus exposition"),
    ],
)
def test_snapshot_of_a_non_exposition_file_exits_2(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    proc = sparktop("snapshot", "--file", str(path), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("sparktop: error:")


HELP_ONLY = (
    b"# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
    b"# TYPE vllm:num_requests_running gauge\n"
    b"# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
    b"# TYPE vllm:prompt_tokens_total counter\n"
)


def test_a_page_of_help_and_type_lines_is_valid_with_nothing_known_yet(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(HELP_ONLY)
    proc = sparktop("snapshot", "--file", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["requests_running"] is None and doc["histograms"]["ttft"] is None
    assert doc["unknown"]["requests_running"] == NO_SAMPLES_REASON


async def test_a_server_with_no_samples_yet_is_healthy_not_metrics_disabled() -> None:
    server = FaultServer({"/metrics": Route(body=HELP_ONLY), "/health": Route()})
    await server.start()
    try:
        async with Scraper(server.url) as scraper:
            result = await scraper.scrape()
        proc = await asyncio.to_thread(sparktop, "snapshot", server.url, "--json")
    finally:
        await server.stop()
    assert result.state == "healthy" and NO_SAMPLES_REASON in result.detail
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["unknown"]["generation_tokens_total"] == NO_SAMPLES_REASON


def test_snapshot_missing_file() -> None:
    proc = sparktop("snapshot", "--file", "/nonexistent/page.txt")
    assert proc.returncode == 2 and "no such file" in proc.stderr


async def test_snapshot_url_json() -> None:
    server = FaultServer({"/metrics": Route(body=page()), "/health": Route()})
    await server.start()
    try:
        proc = await asyncio.to_thread(sparktop, "snapshot", server.url, "--json")
    finally:
        await server.stop()
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "healthy" and doc["requests_running"] == 4


def test_snapshot_unreachable_url_exits_2() -> None:
    proc = sparktop("snapshot", f"http://127.0.0.1:{free_port()}", "--json", "--timeout", "0.5")
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "hint:" in proc.stderr and "Traceback" not in proc.stderr


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
    return raw.decode()


async def test_watch_headless_survives_the_server_going_away_and_coming_back() -> None:
    server = FaultServer({"/metrics": Route(body=page(generated=1000)), "/health": Route()})
    await server.start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sparktop",
        "watch",
        server.url,
        "--headless",
        "--interval",
        "0.2",
        "--window",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENV,
    )
    try:
        assert (await _line(proc)).startswith("# sparktop watch")
        first = await _line(proc)
        assert "state=healthy" in first and "running=4" in first and "kv=50.0%" in first
        server.routes["/metrics"].body = page(generated=1200)
        lines = [await _line(proc) for _ in range(3)]
        assert any("gen_tps=" in ln and "gen_tps=-" not in ln for ln in lines), lines
        await server.stop()
        for _ in range(10):
            if "state=unreachable" in await _line(proc):
                break
        else:
            pytest.fail("never reported unreachable")
        server.routes["/metrics"].body = page(generated=10)  # restarted: counters start again
        await server.start()
        for _ in range(30):
            line = await _line(proc)
            if "state=healthy" in line:
                break
        else:
            pytest.fail("never recovered")
        assert "counters reset" in line
        assert proc.returncode is None  # still running
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
        await server.stop()
    assert proc.returncode == 0


def test_watch_headless_count() -> None:
    proc = sparktop(
        "watch", f"http://127.0.0.1:{free_port()}", "--headless", "--interval", "0.1", "--count", "2"
    )
    assert proc.returncode == 0
    lines = proc.stdout.strip().split("\n")
    assert len(lines) == 3 and all("state=unreachable" in ln for ln in lines[1:])
