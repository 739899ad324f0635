"""`sparktop smoke URL` as a user runs it, against the simulated Spark: healthy, broken and slower.

The simulator runs 25 times faster than real time, so a smoke takes seconds; its faults stand in for
what a tiny CPU vLLM cannot show on demand (a 500 on every completion, an engine dying mid-run, a
slower profile for the baseline).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import Failure, JUnitXml

from sparktop.report import read_report
from sparktop.sim.faults import FaultConfig
from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.threaded import SimHandle
from sparktop.workload.presets import get_preset

ROOT = Path(__file__).resolve().parents[2]
SPEED = 25.0

pytestmark = pytest.mark.slow


@pytest.fixture
def sim() -> Iterator[Callable[..., str]]:
    """``sim(profile=..., faults=...)``: a simulated server of the test's own; its URL."""
    handles: list[SimHandle] = []

    def start(profile: str = "gemma4-26b-a4b-nvfp4", faults: FaultConfig | None = None) -> str:
        config = SimConfig(
            profile=profile,
            speed=SPEED,
            seed=3,
            startup="instant",
            access_log=False,
            faults=faults or FaultConfig(),
        )
        handle = SimServer(config).start_in_thread()
        handle.wait_ready(10)
        handles.append(handle)
        return handle.url

    try:
        yield start
    finally:
        for handle in handles:
            handle.stop()


SMOKE = [sys.executable, "-m", "sparktop", "smoke"]
ENV = {**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml", "PYTHONUNBUFFERED": "1"}


def smoke(*argv: str, tmp: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SMOKE, *argv, "--recordings-dir", str(tmp / "recordings")],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env=ENV,
    )


def checks_of(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    doc = json.loads(path.read_text())
    return doc, {c["name"]: c for c in doc["checks"]}


def test_a_healthy_server_passes_in_seconds_and_every_output_agrees(
    sim: Callable[..., str], tmp_path: Path
) -> None:
    url = sim()
    out, junit, rec = tmp_path / "smoke.json", tmp_path / "smoke.xml", tmp_path / "smoke.sparktop"
    proc = smoke(url, "--json", str(out), "--junit", str(junit), "--record", str(rec), tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc, checks = checks_of(out)
    assert doc["verdict"] == "pass" and doc["recording"] == str(rec)
    assert [c["stage"] for c in doc["checks"]] == sorted(
        (c["stage"] for c in doc["checks"]), key=["launch", "api", "workload", "slo"].index
    )
    # a URL target has no server log to read: that check is skipped with the reason, never passed
    log = checks.pop("no fatal log line")
    assert log["status"] == "skip" and "no server log" in log["reason"]
    assert all(c["status"] == "pass" for c in checks.values()), [c for c in checks.values() if not c["pass"]]
    for name in (
        "/v1/models",
        "completion",
        "completion, streamed",
        "chat completion",
        "chat completion, streamed",
    ):
        assert checks[name]["pass"] is True
    assert checks["max_tokens honoured"]["value"] == 8
    workload = get_preset("smoke")
    assert checks["workload"]["value"] == workload.requests
    for name in ("ttft_p99_ms", "tpot_p99_ms", "itl_p99_ms", "decode_per_user_min", "error_rate_max"):
        assert checks[name]["value"] is not None and checks[name]["limit"] is not None
    assert doc["seconds_after_ready"] < 60
    # the table on stdout, the progress on stderr
    assert "verdict: PASS" in proc.stdout and "Traceback" not in proc.stderr
    assert "pass api: chat completion, streamed" in proc.stderr
    # JUnit, read by a JUnit reader: a passing case per check
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    assert {c.name for c in cases} == {*checks, "no fatal log line"}
    assert [c.name for c in cases if not c.is_passed] == ["no fatal log line"]  # the skipped one
    # the recording holds the run: report reads the same requests back
    report = read_report(rec)
    assert report.client is not None and report.client.successful == workload.requests
    assert report.meta["workload"]["name"] == "smoke"
    # the decode figure judged is the single-user step's, not the whole run's
    alone = next(s for s in report.steps if s.users == 1)
    assert alone.client is not None
    assert checks["decode_per_user_min"]["value"] == pytest.approx(alone.client.decode_tps_per_user)


def test_an_impossible_slo_fails_its_check_only(sim: Callable[..., str], tmp_path: Path) -> None:
    proc = smoke(sim(), "--slo", "ttft_p99_ms=0.01", "--json", "-", "--no-record", tmp=tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is the JSON alone; the table went to stderr
    checks = {c["name"]: c for c in doc["checks"]}
    assert "verdict: FAIL" in proc.stderr
    assert doc["verdict"] == "fail" and doc["recording"] is None
    ttft = checks["ttft_p99_ms"]
    assert ttft["pass"] is False and ttft["limit"] == 0.01 and "above the limit" in ttft["reason"]
    assert "[--slo]" in ttft["reason"]
    assert [c["name"] for c in doc["checks"] if c["status"] == "fail"] == ["ttft_p99_ms"]
    assert not (tmp_path / "recordings").exists() or not any((tmp_path / "recordings").iterdir())


def test_a_server_answering_500_fails_the_api_checks(sim: Callable[..., str], tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = smoke(
        sim(faults=FaultConfig(generate_status=500)), "--json", str(out), "--no-record", tmp=tmp_path
    )
    assert proc.returncode == 1
    _, checks = checks_of(out)
    assert checks["/v1/models"]["pass"] is True
    for name in ("completion", "completion, streamed", "chat completion", "chat completion, streamed"):
        assert checks[name]["pass"] is False and "HTTP 500" in checks[name]["reason"], checks[name]
    assert checks["max_tokens honoured"]["status"] == "skip"
    assert checks["error_rate_max"]["pass"] is False and checks["error_rate_max"]["value"] == 100
    # what cannot be measured without one successful request is skipped with the reason, never passed
    assert (
        checks["ttft_p99_ms"]["status"] == "skip"
        and "no successful request" in checks["ttft_p99_ms"]["reason"]
    )


def test_a_server_dying_mid_run_fails(tmp_path: Path) -> None:
    """The engine dies once the measured workload has begun (the crash ``--crash-after`` causes,
    triggered at that moment so the test does not race the clock)."""
    handle = SimServer(SimConfig(speed=SPEED, seed=3, startup="instant", access_log=False)).start_in_thread()
    handle.wait_ready(10)
    out = tmp_path / "smoke.json"
    try:
        proc = subprocess.Popen(
            [*SMOKE, handle.url, "--json", str(out), "--no-record"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=ENV,
        )
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.rstrip().endswith(" smoke c=1: start") and "warm-up" not in line:
                handle.crash()
                break
        else:
            raise AssertionError("the workload never started:\n" + "".join(seen))
        stdout, _ = proc.communicate(timeout=60)
    finally:
        handle.stop()
    assert proc.returncode == 1, stdout
    _, checks = checks_of(out)
    assert checks["workload"]["pass"] is True  # every request was answered, most with an error
    stayed = checks["server stayed up"]
    assert stayed["pass"] is False and stayed["value"] in ("dead", "unreachable"), stayed  # 503s, then gone
    assert checks["error_rate_max"]["pass"] is False


def test_a_slower_server_regresses_against_the_baseline(sim: Callable[..., str], tmp_path: Path) -> None:
    base = tmp_path / "nvfp4.sparktop"
    first = smoke(sim("gemma4-26b-a4b-nvfp4"), "--record", str(base), tmp=tmp_path)
    assert first.returncode == 0, first.stdout
    out = tmp_path / "bf16.json"
    second = smoke(
        sim("gemma4-26b-a4b-bf16"), "--baseline", str(base), "--json", str(out), "--no-record", tmp=tmp_path
    )
    assert second.returncode == 1, second.stdout
    _, checks = checks_of(out)
    assert checks["same workload"]["pass"] is True
    decode = checks["decode per user at c=1 vs baseline"]
    assert decode["pass"] is False and "lower" in decode["reason"] and "tolerance" in decode["reason"]


def test_junit_names_the_failures(sim: Callable[..., str], tmp_path: Path) -> None:
    junit = tmp_path / "smoke.xml"
    proc = smoke(
        sim(), "--slo", "decode_per_user_min=100000", "--junit", str(junit), "--no-record", tmp=tmp_path
    )
    assert proc.returncode == 1
    failed = [
        case
        for suite in JUnitXml.fromfile(str(junit))
        for case in suite
        if not case.is_passed and not case.is_skipped
    ]
    assert [c.name for c in failed] == ["decode_per_user_min"]
    assert isinstance(failed[0].result[0], Failure) and "below the limit" in (
        failed[0].result[0].message or ""
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["http://127.0.0.1:9", "--slo", "ttft_p95_ms=10"], "unknown SLO 'ttft_p95_ms'; known: ttft_p99_ms"),
        (["http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9"),
        (["http://127.0.0.1:9", "--tolerance", "2"], "--tolerance 2 must be in [0, 1)"),
        (["http://127.0.0.1:9", "--workload", "nope"], "no workload called 'nope'"),
        (["http://127.0.0.1:9", "--workload", "demo"], "never ends"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], words: str, tmp_path: Path) -> None:
    proc = smoke(*argv, tmp=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-2].startswith("sparktop: error: ") and words in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("hint: ") and "Traceback" not in proc.stderr


def test_a_corrupt_baseline_and_a_bad_profile_table_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sparktop"
    bad.write_bytes(b"not a recording at all")
    proc = smoke("http://127.0.0.1:9", "--baseline", str(bad), tmp=tmp_path)
    assert proc.returncode == 2 and "baseline" in proc.stderr and "Traceback" not in proc.stderr
    profile = tmp_path / "p.toml"
    profile.write_text('image = "i"\nmodel = "m"\n\n[smoke]\nttft_p99 = 100\n')
    proc = smoke(str(profile), tmp=tmp_path)
    assert proc.returncode == 2 and "p.toml:5: smoke.ttft_p99 is not an SLO" in proc.stderr
