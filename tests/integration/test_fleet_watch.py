"""`sparktop watch URL URL ...` over real servers: one line per server, each tagged with its
target, and a server that hangs or is gone never holds the others back."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparktop.recording.reader import Recording
from sparktop.sim.server import SimConfig, SimServer
from tests.support.cli import run_sparktop
from tests.support.fault_server import SilentListener
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def sparktop(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_sparktop(*argv)


@pytest.fixture(scope="module")
def sims() -> Iterator[list[str]]:
    handles = [
        SimServer(SimConfig(profile=profile, speed=10.0, seed=i, startup="instant")).start_in_thread()
        for i, profile in enumerate(("gemma4-26b-a4b-nvfp4", "nemotron3-nano-30b-a3b-fp8"))
    ]
    try:
        for handle in handles:
            handle.wait_ready(10)
        yield [handle.url for handle in handles]
    finally:
        for handle in handles:
            handle.stop()


def tagged(stdout: str) -> list[tuple[str, str]]:
    """(target, rest of the line) of every figure line."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("#"):
            continue
        found = re.match(r"target=(\S+) (.*)", line)
        assert found, f"a line without its target: {line!r}"
        out.append((found.group(1), found.group(2)))
    return out


def test_one_line_per_server_and_scrape_each_tagged(sims: list[str], tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    result = sparktop(tmp_path, "watch", *sims, gone, "--headless", "--interval", "0.5", "--count", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# sparktop watch 3 targets (")
    lines = tagged(result.stdout)
    assert len(lines) == 12
    by_target = Counter(target for target, _ in lines)
    assert set(by_target) == {*sims, gone}
    for target, rest in lines:
        if target == gone:
            assert "state=unreachable" in rest and "scrape=no-connection" in rest
        else:
            assert "state=healthy" in rest and "gpu_w=" in rest  # its own /sim/gpu, not this host's


def test_a_hanging_server_does_not_slow_the_others(sims: list[str], tmp_path: Path) -> None:
    hanging = SilentListener()  # connects, never answers: each scrape waits for its timeout
    try:
        result = sparktop(
            tmp_path, "watch", sims[0], hanging.url, "--headless", "--interval", "0.5", "--count", "30"
        )
    finally:
        hanging.close()
    assert result.returncode == 0, result.stderr
    lines = tagged(result.stdout)
    by_target = Counter(target for target, _ in lines)
    # the healthy server is scraped every interval; the hanging one once per timeout (seconds)
    assert by_target[sims[0]] >= 3 * max(1, by_target[hanging.url]), by_target
    assert all("state=healthy" in rest for target, rest in lines if target == sims[0])


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["http://127.0.0.1:1", "http://127.0.0.1:1"], "is given twice"),
        (["http://127.0.0.1:1", "serving.toml"], "a profile is launched and watched alone"),
        (["http://127.0.0.1:1", "http://127.0.0.1:2", "--log", "x.log"], "--log applies to one target"),
    ],
)
def test_what_a_fleet_cannot_take_is_one_line_and_exit_2(argv: list[str], said: str, tmp_path: Path) -> None:
    result = sparktop(tmp_path, "watch", *argv, "--headless", "--count", "1")
    assert result.returncode == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_a_fleet_is_recorded_into_one_file_and_reported_a_column_per_server(
    sims: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "fleet.sparktop"
    result = sparktop(
        tmp_path, "watch", *sims, "--headless", "--interval", "0.5", "--count", "10", "--record", str(path)
    )
    assert result.returncode == 0, result.stderr
    assert f"recorded to {path}" in result.stderr
    with Recording.open(path) as rec:
        assert rec.fleet and [t.label for t in rec.targets] == sims
        models = [t.model for t in rec.targets]
    assert len(set(models)) == 2 and all(isinstance(m, str) for m in models)  # each its own server
    report = sparktop(tmp_path, "report", str(path), "--format", "json")
    assert report.returncode == 0, report.stderr
    docs = json.loads(report.stdout)["recordings"]
    assert [doc["fleet_target"] for doc in docs] == sims
    assert all(doc["server"]["duration_s"] > 0 for doc in docs)
