"""sparktop against a REAL vLLM (CPU build, tiny model): snapshot, load, watch --record, report, replay.

The server's own counters, read with prometheus-client's parser, are the oracle: what sparktop's load
generator counts must equal what the server counted, exactly.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from junitparser import JUnitXml

from sparktop.commands.watch import format_line
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.workload.presets import get_preset
from sparktop.workload.spec import ClosedLoop
from tests.integration.real_vllm_helpers import Counters, counters, samples, sparktop, spawn, total
from tests.realvllm.server import MODEL_NAME, RealVllm

pytestmark = [pytest.mark.real_vllm, pytest.mark.slow]


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def client_counts(data: dict[str, Any]) -> Counters:
    """What the load generator counted, warm-up requests included (the server saw those too)."""
    records = data["requests"]
    assert isinstance(records, list) and records
    ok = [r for r in records if r["ok"]]
    return Counters(
        finished=len(ok),
        prompt_tokens=sum(r["prompt_tokens"] for r in ok),
        generation_tokens=sum(r["output_tokens"] for r in ok),
        preemptions=0,
    )


def test_snapshot_reads_every_canonical_field_of_a_real_server(real_vllm: RealVllm) -> None:
    result = sparktop("snapshot", real_vllm.url, "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    page = samples(httpx.get(real_vllm.url + "/metrics").text)  # idle: nothing moves in between
    assert snap["models"] == [MODEL_NAME] and snap["engines"] == ["0"]
    for field, series in {
        "requests_running": "vllm:num_requests_running",
        "requests_waiting": "vllm:num_requests_waiting",
        "kv_cache_usage": "vllm:kv_cache_usage_perc",
        "prompt_tokens_total": "vllm:prompt_tokens_total",
        "generation_tokens_total": "vllm:generation_tokens_total",
        "preemptions_total": "vllm:num_preemptions_total",
        "prefix_cache_queries_total": "vllm:prefix_cache_queries_total",
        "prefix_cache_hits_total": "vllm:prefix_cache_hits_total",
    }.items():
        assert snap[field] == pytest.approx(total(page, series)), field
    assert snap["generation_tokens_total"] > 0  # the warm-up request
    # what it cannot know is unknown with a reason: this server has no V0 swap and no speculation
    assert set(snap["unknown"]) == {
        "requests_swapped",
        "spec_decode_acceptance",
        "spec_decode_mean_length",
        "spec_decode_drafts_total",
        "spec_decode_draft_tokens_total",
        "spec_decode_accepted_tokens_total",
    }
    assert all(snap[name] is None for name in snap["unknown"])
    names = {
        "ttft": "vllm:time_to_first_token_seconds",
        "itl": "vllm:inter_token_latency_seconds",
        "e2e": "vllm:e2e_request_latency_seconds",
        "queue": "vllm:request_queue_time_seconds",
        "prefill": "vllm:request_prefill_time_seconds",
        "decode": "vllm:request_decode_time_seconds",
    }
    for key, series in names.items():
        hist = snap["histograms"][key]
        assert hist is not None, key
        assert hist["count"] == total(page, series + "_count") > 0, key
        assert hist["sum"] == pytest.approx(total(page, series + "_sum")), key
    cache = snap["cache_config"]
    assert int(cache["kv_cache_size_tokens"]) > 0 and cache["enable_prefix_caching"] == "True"

    plain = sparktop("snapshot", real_vllm.url)
    assert plain.returncode == 0 and MODEL_NAME in plain.stdout and "unknown:" in plain.stdout


@pytest.mark.parametrize(
    ("endpoint", "shape"),
    [
        ("completions", ["--concurrency", "4", "--input-len", "48", "--output-len", "24", "--requests", "8"]),
        ("chat", ["--concurrency", "3", "--input-len", "40", "--output-len", "20", "--requests", "6"]),
        ("completions", ["--rate", "20", "--num-prompts", "16", "--input-len", "32", "--output-len", "16"]),
    ],
    ids=["closed-completions", "closed-chat", "open-completions"],
)
def test_load_counts_exactly_what_the_server_counted(
    real_vllm: RealVllm, tmp_path: Path, endpoint: str, shape: list[str]
) -> None:
    before = counters(real_vllm.url)
    out = tmp_path / "load.json"
    result = sparktop(
        "load",
        real_vllm.url,
        "--endpoint",
        endpoint,
        *shape,
        "--json",
        str(out),
        "--no-record",
        "--seed",
        "7",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    served = counters(real_vllm.url) - before
    data = load_json(out)
    counted = client_counts(data)
    assert data["failed"] == 0
    assert counted.finished == served.finished > 0
    assert counted.generation_tokens == served.generation_tokens > 0
    # the summary leaves the closed loop's warm-up round out; the server served it too
    warm = sum(r["output_tokens"] for r in data["requests"] if r["ok"] and r["warmup"])
    assert data["total_output_tokens"] == served.generation_tokens - warm
    if endpoint == "completions":  # token-id prompts: exact lengths, unique prompts (no cache hits)
        assert counted.prompt_tokens == served.prompt_tokens
    # streaming: every request's tokens came as chunks with a first-token time
    requests = data["requests"]
    assert isinstance(requests, list)
    records = [r for r in requests if r["ok"]]
    assert all(r["first_token"] is not None and r["first_token"] <= r["end"] for r in records)
    assert all(r["finish_reason"] == "length" for r in records)


@dataclass(frozen=True)
class Recorded:
    """A real session: ``watch --record`` around a load, what it printed, what the server counted."""

    path: Path
    printed: list[str]
    served: Counters
    client: dict[str, Any]
    """The load's own summary (``load --json``) of the same run."""


@pytest.fixture(scope="module")
def recorded(real_vllm: RealVllm, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("recorded")
    recording = folder / "real.sparktop"
    lines_file = folder / "watch.out"
    watch = spawn(
        "watch", real_vllm.url, "--headless", "--interval", "0.5", "--record", str(recording),
        stdout=lines_file,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while lines_file.read_text().count("state=healthy") < 2:
            assert time.monotonic() < deadline and watch.poll() is None, lines_file.read_text()
            time.sleep(0.2)
        before = counters(real_vllm.url)
        result = sparktop(
            "load", real_vllm.url, "--concurrency", "4", "--input-len", "64", "--output-len", "100",
            "--requests", "12", "--no-record", "--no-warmup", "--json", str(folder / "load.json"),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        served = counters(real_vllm.url) - before
        time.sleep(2.0)  # more scrapes see the counters settled
    finally:
        watch.terminate()
        watch.wait(30)
    # the plain lines only: not the "#" event lines, nor "recorded to PATH" said (on stderr) at exit
    printed = [
        line for line in lines_file.read_text().splitlines() if re.match(r"\d\d:\d\d:\d\d state=", line)
    ]
    return Recorded(recording, printed, served, load_json(folder / "load.json"))


def test_a_recorded_real_session_reports_what_the_server_counted(recorded: Recorded) -> None:
    assert any(" running=4 " in line for line in recorded.printed), "the load never showed as 4 running"
    # the watch saw the server idle before the load and after it: the report's server-side totals
    # (counter deltas over the recording) are exactly what the server counted for the load
    report = sparktop("report", str(recorded.path), "--format", "json")
    assert report.returncode == 0, report.stderr
    run = json.loads(report.stdout)["recordings"][0]
    assert run["model"] == MODEL_NAME and run["simulated"] is False
    served = recorded.served
    assert run["server"]["requests_finished"] == served.finished == 12
    assert run["server"]["generation_tokens"] == served.generation_tokens == 12 * 100
    assert run["server"]["prompt_tokens"] == served.prompt_tokens
    assert run["server"]["peak_running"] == 4


def test_a_recorded_real_session_replays_as_it_was_watched(recorded: Recorded) -> None:
    """At every recorded scrape the replayed frame prints the line the live watch printed."""
    with Recording.open(recorded.path) as rec:
        assert not rec.simulated
        replay = ReplayFeed(rec, playing=False, span_s=300.0)
        replayed = []
        for t in rec.times(("scrape",)):
            replay._feed_until(t)
            replayed.append(format_line(replay.session.frame(300.0, now=t)))
    printed = recorded.printed
    common = [line for line in printed if line in replayed]
    assert len(printed) > 5 and len(common) >= len(printed) - 1  # the watch may be stopped mid-write


def tmux_screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], check=False, capture_output=True, text=True
    ).stdout


def tmux_until(session: str, holds: Callable[[str], bool], within_s: float = 30.0) -> str:
    deadline = time.monotonic() + within_s
    shown = tmux_screen(session)
    while not holds(shown):
        assert time.monotonic() < deadline, f"the screen never showed it:\n{shown}"
        time.sleep(0.3)
        shown = tmux_screen(session)
    return shown


def test_decode_speed_has_one_definition_on_a_real_server(recorded: Recorded) -> None:
    """The server's figures (from its counters and running gauge) and the client's (from each
    request's own times) count decode tokens per request-second alike, and per user never
    exceeds the total."""
    report = sparktop("report", str(recorded.path), "--format", "json")
    server = json.loads(report.stdout)["recordings"][0]["server"]
    client = recorded.client
    assert server["decode_tps_per_user"] <= server["decode_tps"]
    assert client["decode_tps_per_user"] <= client["decode_tps_total"]
    # the gauge is read twice a second, so the server's request-seconds are close, not exact
    assert server["decode_tps_per_user"] == pytest.approx(client["decode_tps_per_user"], rel=0.35)
    assert server["decode_tps"] == pytest.approx(client["decode_tps_total"], rel=0.35)


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_recorded_real_session_opens_in_the_replay_dashboard(recorded: Recorded, tmp_path: Path) -> None:
    session = f"sparktop-real-{uuid.uuid4().hex[:8]}"
    program = shlex.quote(str(Path(sys.executable).parent / "sparktop"))
    command = f"{program} replay {shlex.quote(str(recorded.path))} --paused"
    env = [f"SPARKTOP_CONFIG={tmp_path / 'none.toml'}", "TERM=xterm-256color"]
    options = [part for e in env for part in ("-e", e)]
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", *options, command], check=True
    )
    try:
        tmux_until(session, lambda shown: "REPLAY" in shown and "space play" in shown)
        subprocess.run(["tmux", "send-keys", "-t", session, "End"], check=True)
        shown = tmux_until(session, lambda shown: re.search(r" (\d+)s / \1s\b", shown) is not None)
        assert MODEL_NAME in shown and "vLLM 0.32.0" in shown, shown
        assert "SIMULATED" not in shown, shown  # a real server's recording says so
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


# --------------------------------------------------------------------------------------------------
# smoke


def test_smoke_passes_on_a_real_server_and_sends_what_it_says(real_vllm: RealVllm, tmp_path: Path) -> None:
    """The verdict on a healthy real server: every API check passes against vLLM's own answers,
    the server counted exactly the requests the smoke says it sent, and it is done in under a minute."""
    out, junit, rec = tmp_path / "smoke.json", tmp_path / "smoke.xml", tmp_path / "smoke.sparktop"
    before = counters(real_vllm.url)
    result = sparktop("smoke", real_vllm.url, "--json", str(out), "--junit", str(junit), "--record", str(rec))
    after = counters(real_vllm.url)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = load_json(out)
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["verdict"] == "pass"
    assert checks["/v1/models"]["value"] == MODEL_NAME
    for name in ("completion", "completion, streamed", "chat completion", "chat completion, streamed"):
        assert checks[name]["pass"] is True, checks[name]
    assert (
        checks["max_tokens honoured"]["value"] == 8 and "exactly 8" in checks["max_tokens honoured"]["reason"]
    )
    # no GPU here: the GPU's figure is skipped with the reason, never passed
    gpu = checks["gpu_temp_max_c"]
    assert (gpu["status"] == "skip" and "no GPU" in gpu["reason"]) or "NVML" in gpu["reason"], gpu
    # what the server counted: the 4 API answers, the warm-up and the measured requests
    smoke_preset = get_preset("smoke")
    assert smoke_preset.requests is not None
    warmups = sum(s.users for s in smoke_preset.stages if isinstance(s, ClosedLoop) and s.warmup)
    assert (after - before).finished == 4 + warmups + smoke_preset.requests
    assert checks["workload"]["value"] == smoke_preset.requests
    print(f"smoke on the real vLLM: {doc['seconds_after_ready']:.1f} s after the server was ready")
    assert doc["seconds_after_ready"] < 60
    assert len([case for suite in JUnitXml.fromfile(str(junit)) for case in suite]) == len(checks)


def test_smoke_fails_an_impossible_slo_on_a_real_server(real_vllm: RealVllm, tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    result = sparktop("smoke", real_vllm.url, "--slo", "itl_p99_ms=0.001", "--json", str(out), "--no-record")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [c for c in load_json(out)["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["itl_p99_ms"]
    assert "above the limit of 0.001 ms" in failed[0]["reason"]
