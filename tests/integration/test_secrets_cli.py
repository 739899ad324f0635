"""Secrets through the real command line: credentials in a target URL, and an API key a server
echoes back in an error, never reach stdout, stderr, a --json or --junit file or any row of a
recording (decoded: the rows are compressed, so the file's raw bytes would not show them)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sparktop.model import Event, TargetInfo
from sparktop.recording.writer import Recorder
from tests.support.fault_server import FaultServer, Route, free_port
from tests.support.recordings import secrets_in_recording
from tests.support.vllm_pages import REAL_PAGES

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pAsSw0rd-h3Xq9"
TOKEN = "tOkEn-77Zq4Lm"
QUERY_KEY = "aPiKeY-31Vw8"
API_KEY = "sk-EcHoEdKeY-5Tq2Rz8Wm"
SECRETS = (PASSWORD, TOKEN, QUERY_KEY, API_KEY)
SIM_ARGS = (
    "--profile",
    "gemma4-26b-a4b-nvfp4",
    "--port",
    "0",
    "--startup",
    "instant",
    "--speed",
    "20",
    "--quiet",
)


def sparktop(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("SPARKTOP_API_KEY", "OPENAI_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "sparktop", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**environ, **(env or {})},
    )


def with_credentials(url: str) -> str:
    """``http://127.0.0.1:P`` -> ``http://admin:PASSWORD@127.0.0.1:P/?token=TOKEN&api_key=KEY``."""
    return url.replace("://", f"://admin:{PASSWORD}@", 1) + f"/?token={TOKEN}&api_key={QUERY_KEY}"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """The built-in simulator as a user starts it, on a port the system picks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparktop", "sim", *SIM_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first line names the URL once it listens
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, f"sparktop sim printed {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(20)


def leaks(proc: subprocess.CompletedProcess[str], *files: Path) -> list[str]:
    """Where a secret shows: the streams, the output files, the decoded rows of recordings."""
    found = [name for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)) if _holds(text)]
    for path in files:
        if path.suffix == ".sparktop":
            found += [f"{path.name}: {text[:200]!r}" for text in secrets_in_recording(path, *SECRETS)]
        elif _holds(path.read_text()):
            found.append(path.name)
    return found


def _holds(text: str) -> bool:
    return any(secret in text for secret in SECRETS)


def test_the_recording_search_sees_inside_compressed_rows(tmp_path: Path) -> None:
    """What the searches below rely on: a text in a row is found, where the raw bytes hide it."""
    path = tmp_path / "plain.sparktop"
    recorder = Recorder(path, target=TargetInfo("http://127.0.0.1:8000", "url"))
    for i in range(3):
        recorder(Event(1.0 + i, "log", f"line {i} of the log carries {API_KEY}", "vllm"))
    assert recorder.close().ok
    assert API_KEY.encode() not in path.read_bytes()  # compressed (and the first row is a dictionary)
    assert len(secrets_in_recording(path, API_KEY)) >= 3


def test_watch_headless_shows_and_records_the_url_without_credentials(sim_url: str, tmp_path: Path) -> None:
    rec = tmp_path / "watch.sparktop"
    proc = sparktop("watch", with_credentials(sim_url), "--headless", "--count", "2", "--record", str(rec))
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert header.startswith("# sparktop watch http://[redacted]@127.0.0.1:"), header
    assert leaks(proc, rec) == []


def test_snapshot_shows_the_source_without_credentials(sim_url: str) -> None:
    table = sparktop("snapshot", with_credentials(sim_url))
    assert table.returncode == 0, table.stderr
    assert re.search(
        r"^source +http://\[redacted\]@127\.0\.0\.1:\d+/\?token=\[redacted\]&api_key=\[redacted\]",
        table.stdout,
        re.M,
    )
    as_json = sparktop("snapshot", "--json", with_credentials(sim_url))
    assert as_json.returncode == 0, as_json.stderr
    assert '"source": "http://[redacted]@127.0.0.1:' in as_json.stdout
    assert leaks(table) == [] and leaks(as_json) == []


def test_load_prints_writes_and_records_the_url_without_credentials(sim_url: str, tmp_path: Path) -> None:
    out, rec = tmp_path / "load.json", tmp_path / "load.sparktop"
    proc = sparktop(
        "load",
        with_credentials(sim_url),
        "--workload",
        "smoke",
        "--quick",
        "--json",
        str(out),
        "--record",
        str(rec),
    )
    assert proc.returncode == 0, proc.stderr
    assert "against http://[redacted]@127.0.0.1:" in proc.stderr
    assert '"url": "http://[redacted]@127.0.0.1:' in out.read_text()
    assert leaks(proc, out, rec) == []


def test_smoke_prints_writes_and_records_the_url_without_credentials(sim_url: str, tmp_path: Path) -> None:
    out, junit, rec = tmp_path / "smoke.json", tmp_path / "smoke.xml", tmp_path / "smoke.sparktop"
    proc = sparktop(
        "smoke", with_credentials(sim_url), "--json", str(out), "--junit", str(junit), "--record", str(rec)
    )
    assert proc.returncode in (0, 1), proc.stderr  # the verdict is not what this test is about
    assert "sparktop smoke http://[redacted]@127.0.0.1:" in proc.stdout
    assert '"target": "http://[redacted]@127.0.0.1:' in out.read_text()
    assert leaks(proc, out, junit, rec) == []


@pytest.mark.parametrize(
    "argv",
    [
        ("snapshot",),
        ("smoke", "--no-record"),
        ("watch", "--headless", "--count", "1"),
        ("load", "--workload", "smoke", "--quick", "--no-record"),
    ],
    ids=lambda argv: argv[0],
)
def test_an_unreachable_url_is_reported_without_its_credentials(argv: tuple[str, ...]) -> None:
    url = with_credentials(f"http://127.0.0.1:{free_port()}")
    proc = sparktop(argv[0], url, *argv[1:])
    assert "[redacted]" in proc.stdout + proc.stderr  # the URL is named, redacted
    assert "Traceback" not in proc.stderr
    assert leaks(proc) == []


@pytest.mark.parametrize("argv", [("snapshot",), ("watch", "--headless")], ids=lambda argv: argv[0])
def test_a_malformed_url_is_quoted_back_without_its_secrets(argv: tuple[str, ...]) -> None:
    proc = sparktop(argv[0], f"http://admin:{PASSWORD}@127.0.0.1:port/?token={TOKEN}", *argv[1:])
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "sparktop: error: bad port in 'http://[redacted]@127.0.0.1:port/?token=[redacted]'"
    )
    assert leaks(proc) == []


@pytest.fixture
async def echoing_server() -> AsyncIterator[FaultServer]:
    """A healthy vLLM (``/health``, a real ``/metrics`` page) that rejects every API request with
    ``401 Invalid API key: Bearer <the key sent>``."""
    rejects = Route(status=401, mode="echo-auth")
    server = FaultServer(
        routes={
            "/health": Route(body=b""),
            "/metrics": Route(body=REAL_PAGES["idle"].read_bytes()),
            **{path: rejects for path in ("/v1/models", "/v1/completions", "/v1/chat/completions")},
        }
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_load_masks_the_api_key_a_server_echoes(echoing_server: FaultServer, tmp_path: Path) -> None:
    out, rec = tmp_path / "load.json", tmp_path / "load.sparktop"
    argv = ("load", echoing_server.url, "--model", "m", "--workload", "smoke", "--quick", "--no-warmup")
    proc = await asyncio.to_thread(
        sparktop, *argv, "--json", str(out), "--record", str(rec), env={"SPARKTOP_API_KEY": API_KEY}
    )
    assert proc.returncode == 1, proc.stderr  # every request failed
    text = out.read_text()
    assert "HTTP 401: Invalid API key: Bearer [redacted]" in text  # the server's answer is kept, masked
    assert leaks(proc, out, rec) == []


async def test_smoke_masks_the_api_key_a_server_echoes(echoing_server: FaultServer, tmp_path: Path) -> None:
    out, junit, rec = tmp_path / "smoke.json", tmp_path / "smoke.xml", tmp_path / "smoke.sparktop"
    proc = await asyncio.to_thread(
        sparktop,
        "smoke",
        echoing_server.url,
        "--api-key-env",
        "MY_KEY",
        "--json",
        str(out),
        "--junit",
        str(junit),
        "--record",
        str(rec),
        env={"MY_KEY": API_KEY},
    )
    assert proc.returncode == 1, proc.stderr
    assert "Invalid API key" in out.read_text()  # the reason is kept, masked
    assert leaks(proc, out, junit, rec) == []
