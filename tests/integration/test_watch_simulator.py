"""`sparktop watch URL` of the simulated Spark: its modelled GPU and its log, over HTTP as any
client would read them (the simulator in its own thread, sparktop in a subprocess or in-process)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sparktop.config import Settings
from sparktop.model import Event, GpuSample
from sparktop.recording.reader import Recording
from sparktop.sim import server as sim_server
from sparktop.sim import startup as st
from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.threaded import SimHandle

ROOT = Path(__file__).resolve().parents[2]


def sparktop(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``sparktop ARGV`` as a user runs it, without a config file of this machine's."""
    return subprocess.run(
        [sys.executable, "-m", "sparktop", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={"SPARKTOP_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    handle: SimHandle = SimServer(SimConfig(speed=25.0, seed=3, startup="instant")).start_in_thread()
    handle.wait_ready(10)
    try:
        yield handle.url
    finally:
        handle.stop()


def test_the_log_endpoint_pages_and_never_logs_itself(sim_url: str) -> None:
    with httpx.Client(base_url=sim_url, trust_env=False, timeout=5) as client:
        first = client.get("/sim/log").json()
        assert first["simulated"] is True and first["missed"] == 0
        assert any("Starting vLLM server on" in line for line in first["lines"])
        assert len(first["times"]) == len(first["lines"])
        last = first["last"]
        again = client.get("/sim/log", params={"after": last}).json()
        assert again["lines"] == [] and again["last"] == last  # reading it wrote nothing
        client.get("/health")  # an access line, as uvicorn's
        after = client.get("/sim/log", params={"after": last}).json()
        assert len(after["lines"]) == 1 and "GET /health" in after["lines"][0]
        assert after["last"] == last + 1
        assert client.get("/sim/log", params={"after": "-1"}).status_code == 400
        assert client.get("/sim/log", params={"after": "x"}).status_code == 400


def test_the_log_pages_are_bounded_and_say_what_was_missed() -> None:
    sim = SimServer(SimConfig(startup="instant"))
    for i in range(sim_server.LOG_KEEP + 1000):
        sim._log(st.api(f"line {i}", "f.py:1"))
    tail = sim.log_page(None)
    assert len(tail["lines"]) == sim_server.LOG_TAIL
    assert tail["lines"][-1].endswith(f"line {sim_server.LOG_KEEP + 999}")
    page = sim.log_page(0)
    assert len(page["lines"]) == sim_server.LOG_PAGE and page["missed"] == 1000
    assert page["lines"][0].endswith("line 1000") and page["last"] == 1000 + sim_server.LOG_PAGE
    end = sim.log_page(sim_server.LOG_KEEP + 1000)
    assert end["lines"] == [] and end["last"] == sim_server.LOG_KEEP + 1000
    restarted = sim.log_page(10**9)  # a reader of an earlier run of the server: the latest lines
    assert len(restarted["lines"]) == sim_server.LOG_TAIL


def test_watch_headless_reads_the_simulated_gpu_and_records_the_log(sim_url: str, tmp_path: Path) -> None:
    path = tmp_path / "watched.sparktop"
    argv = ["watch", sim_url, "--headless", "--interval", "0.2", "--count", "4", "--record", str(path)]
    proc = sparktop(tmp_path, *argv)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    assert len(lines) == 4 and all("gpu_util=" in line and "gpu_temp=" in line for line in lines), lines
    assert f"recorded to {path}" in proc.stderr
    with Recording.open(path) as rec:
        assert rec.simulated and rec.target.kind == "simulator"
        observed = list(rec.observations())
    samples = [o for o in observed if isinstance(o, GpuSample)]
    assert samples and all(s.simulated for s in samples)
    assert all(s.status == "ok" and "GB10" in str(s.devices[0].name) for s in samples)
    logs = [o.text for o in observed if isinstance(o, Event) and o.kind == "log"]
    assert any("Starting vLLM server on" in line for line in logs)


async def test_the_dashboard_of_a_simulator_url_says_simulated_and_shows_its_log(sim_url: str) -> None:
    from sparktop.commands.watch import url_feed
    from sparktop.tui.app import make_app
    from sparktop.tui.screens.events import LogView
    from sparktop.tui.widgets.status import StatusBar

    args = argparse.Namespace(log=None, record=None, no_record=True)
    feed = url_feed(sim_url, args, Settings(interval=0.2), simulated=True)
    app = make_app(Settings(interval=0.2), feed)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await pilot.pause(0.1)
            frame = app.frame
            if frame is not None and frame.gpu is not None and feed.session.logs:
                break
        frame = app.frame
        assert frame is not None and frame.target.simulated
        assert frame.gpu is not None and frame.gpu.simulated and "GB10" in str(frame.gpu.devices[0].name)
        assert "SIMULATED" in app.screen.query_one(StatusBar).text
        await pilot.press("e")
        await pilot.pause(0.3)
        view = app.screen.query_one(LogView)
        assert any(e.tag == "log" and "Starting vLLM server on" in e.text for e in view.entries)
        assert not app.screen.query_one("#events-note").display


def test_demo_headless_says_where_it_recorded_and_has_the_startup_log(tmp_path: Path) -> None:
    path = tmp_path / "demo.sparktop"
    argv = ["demo", "--headless", "--duration", "3", "--startup", "instant", "--speed", "4"]
    proc = sparktop(tmp_path, *argv, "--interval", "0.5", "--record", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"recorded to {path}"
    with Recording.open(path) as rec:
        assert rec.complete
        logs = [o.text for o in rec.observations() if isinstance(o, Event) and o.kind == "log"]
    # written before the session started: read back from the simulator, not lost
    assert any("Automatically detected platform" in line for line in logs)
