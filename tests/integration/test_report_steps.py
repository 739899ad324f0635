"""`report` by workload step, in the published tables' shape, with sample counts; speculative
decoding and the prefix cache where the server exposes them (report, snapshot, dashboard)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sparktop.commands.snapshot import ratios, to_json
from sparktop.model import Unknown
from sparktop.report import FEW_SAMPLES, read_report, render_table
from sparktop.sim.profiles import PROFILES
from sparktop.tui import panels
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from tests.support.frames import frame_at_end

SAMPLES = Path(__file__).resolve().parents[2] / "recordings"
NVFP4 = SAMPLES / "chat-1k-c1-5-10_gemma4-26b-a4b-nvfp4.sparktop"
MTP = SAMPLES / "chat-1k-c1-5-10_gemma4-26b-a4b-mtp.sparktop"
REQUESTS_PER_STEP = 20
"""``recordings/make-samples`` sends 20 requests per step (``--requests 20``)."""
WHOLE_RUN_KEYS = ("ttft_s", "decode_tps_per_user", "decode_tps", "prefill_tps", "requests_finished")


def report_json(*paths: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "sparktop", "report", *map(str, paths), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_each_workload_step_has_its_own_figures_with_the_whole_runs_keys() -> None:
    doc = report_json(NVFP4)
    recording = doc["recordings"][0]  # type: ignore[index]
    steps = recording["steps"]
    assert [(s["users"], s["name"]) for s in steps] == [
        (1, "closed pp=1024 tg=256 c=1"),
        (5, "closed pp=1024 tg=256 c=5"),
        (10, "closed pp=1024 tg=256 c=10"),
    ]
    for step in steps:
        assert set(step["server"]) == set(recording["server"])  # the same keys as the whole run
        assert set(step["client"]) == set(recording["client"])
        assert step["client"]["successful"] == REQUESTS_PER_STEP
        for key in WHOLE_RUN_KEYS:
            assert key in step["server"]
    # every request of the run is in exactly one step
    assert sum(s["client"]["successful"] for s in steps) == recording["client"]["successful"]


def p99_cells(text: str) -> str:
    steps = text.split("by workload step:")[1]
    header = next(line for line in steps.splitlines() if "c=1" in line)
    assert header.split()[-3:] == ["c=1", "c=5", "c=10"]
    return next(
        line for line in steps.splitlines() if line.strip().startswith(("TTFT p99", "client  TTFT p99"))
    )


def test_the_step_table_marks_percentiles_of_few_samples() -> None:
    report = read_report(NVFP4)
    # the samples rest on 20 requests a step: nothing to mark
    whole = render_table([report])
    assert "*" not in p99_cells(whole) and f"fewer than {FEW_SAMPLES} samples" not in whole
    # the same steps told from their first 1, 5 and 10 requests: every percentile marked
    few = []
    for step, n in zip(report.steps, (1, 5, 10), strict=True):
        assert step.client is not None and step.client.ttft_ms.count == REQUESTS_PER_STEP
        client = replace(step.client, ttft_ms=replace(step.client.ttft_ms, count=n))
        ttft = dict(step.server["ttft_s"], count=n)
        few.append(replace(step, client=client, server=dict(step.server, ttft_s=ttft)))
    text = render_table([replace(report, steps=few)])
    assert p99_cells(text).count("*") == 3
    assert f"fewer than {FEW_SAMPLES} samples" in text


def test_speculative_decoding_shows_its_acceptance_where_the_server_has_it() -> None:
    mtp, nvfp4 = read_report(MTP), read_report(NVFP4)
    acceptance, length = mtp.server["spec_decode_acceptance"], mtp.server["spec_decode_mean_length"]
    assert isinstance(acceptance, float) and 0 < acceptance < 1
    drafts = PROFILES["gemma4-26b-a4b-mtp"].spec
    assert drafts is not None and isinstance(length, float)
    assert 1 < length <= 1 + drafts.num_speculative_tokens
    assert isinstance(nvfp4.server["spec_decode_acceptance"], Unknown)
    assert "spec-decode acceptance" in render_table([mtp]) and "spec-decode" not in render_table([nvfp4])


def test_snapshot_gives_the_prefix_cache_hit_rate_of_a_real_page() -> None:
    page = (
        Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm" / "constrained.metrics"
    ).read_text()
    snap = Schema().read(SeriesParser().parse(page), t=1.0).snapshot
    hits, queries = snap.scalars["prefix_cache_hits_total"], snap.scalars["prefix_cache_queries_total"]
    assert isinstance(hits, float) and isinstance(queries, float) and queries > 0
    assert ratios(snap)["prefix_cache_hit_rate"] == pytest.approx(hits / queries)
    doc = to_json(snap)
    assert doc["prefix_cache_hit_rate"] == pytest.approx(hits / queries)
    assert doc["spec_decode_acceptance"] is None and "spec_decode_acceptance" in doc["unknown"]


def test_the_dashboard_shows_speculation_and_prefix_hits_when_known() -> None:
    frame = frame_at_end(seconds=120)
    assert frame.figures is not None
    figures = replace(
        frame.figures, spec_decode_acceptance=0.574, spec_decode_mean_length=2.15, prefix_cache_hit_rate=0.45
    )
    shown = replace(frame, figures=figures)
    assert panels.decode(shown).note == "spec: 57% accepted · 2.15 tok/step"
    assert panels.kv_cache(shown).note.endswith("prefix hits 45%")
    unknown = replace(
        frame.figures, spec_decode_acceptance=Unknown("no drafts"), prefix_cache_hit_rate=Unknown("x")
    )
    plain = replace(frame, figures=unknown)
    assert "spec" not in panels.decode(plain).note and "prefix" not in panels.kv_cache(plain).note
