"""A server-side quantile is only as precise as vLLM's histogram bucket it lies in: views show the
bucket where it is wide, reports carry it, and a change between two buckets is not a measurement."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from sparktop import fmt
from sparktop.commands.watch import format_line
from sparktop.derive import histogram
from sparktop.derive.summary import RunSummary
from sparktop.model import (
    ClientFigures,
    Figures,
    Frame,
    Histogram,
    LatencyStats,
    MetricSnapshot,
    ScrapeResult,
    Unknown,
)
from sparktop.report import Ranged, RecordingReport, render_json, render_table
from sparktop.tui import panels
from tests.support.frames import frame_at_end

TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf)


def calm(n: int = 40) -> tuple[float, ...]:
    """``n`` TTFTs all between 100 and 250 ms: vLLM's bucket (0.1, 0.25] holds them all."""
    return tuple(0.0 if le < 0.25 else float(n) for le in TTFT_BOUNDS)


def test_the_bucket_of_each_quantile() -> None:
    cumulative = calm()
    assert histogram.quantile_buckets((0.5, 0.99), TTFT_BOUNDS, cumulative) == [(0.1, 0.25), (0.1, 0.25)]
    # interpolation makes up a precise-looking middle and top of that bucket
    assert histogram.quantiles((0.5, 0.99), TTFT_BOUNDS, cumulative) == pytest.approx([0.175, 0.2485])
    lowest = tuple(3.0 for _ in TTFT_BOUNDS)
    assert histogram.quantile_buckets((0.5,), TTFT_BOUNDS, lowest) == [(0.0, 0.001)]
    top = tuple(0.0 if le != math.inf else 5.0 for le in TTFT_BOUNDS)
    assert histogram.quantile_buckets((0.5,), TTFT_BOUNDS, top) == [(5.0, math.inf)]
    assert histogram.quantile_buckets((0.5,), TTFT_BOUNDS, tuple(0.0 for _ in TTFT_BOUNDS)) == [None]


@pytest.mark.parametrize(
    ("value", "bucket", "shown"),
    [
        (0.175, (0.1, 0.25), "100–250 ms"),
        (1.8, (1.0, 2.5), "1–2.5 s"),
        (0.0004, (0.0, 0.001), "≤ 1 ms"),
        (5.0, (5.0, math.inf), "> 5 s"),
        (0.9, (0.75, 1.0), "750 ms–1 s"),
        (4.95, (4.9, 5.0), "4.95 s"),  # a narrow bucket: the figure is as good as the data
        (0.175, None, "175 ms"),
    ],
)
def test_a_quantile_is_shown_as_precisely_as_its_bucket(
    value: float, bucket: tuple[float, float] | None, shown: str
) -> None:
    assert fmt.estimate(value, bucket) == shown


def with_ttft(stats: LatencyStats) -> Frame:
    frame = frame_at_end(seconds=120)
    assert frame.figures is not None
    latency = dict(frame.figures.latency)
    latency["ttft"] = stats
    figures: Figures = replace(frame.figures, latency=latency)
    return replace(frame, figures=figures, client=None)


CALM = LatencyStats(0.175, 0.235, 0.2425, 0.2485, 0.17, 40.0, {"p50": (0.1, 0.25), "p99": (0.1, 0.25)})


def test_the_dashboard_shows_calm_traffic_as_its_bucket_not_175_and_248_ms() -> None:
    view = panels.ttft(with_ttft(CALM))
    assert view.headline == "p50 100–250 ms · p99 100–250 ms"
    assert "175" not in view.headline and "248" not in view.headline


def test_the_plain_line_says_the_bucket() -> None:
    line = format_line(with_ttft(CALM))
    assert " ttft_p50=100-250ms " in line and " ttft_p99=100-250ms " in line


def test_with_sparktops_own_load_the_measured_percentile_is_the_headline() -> None:
    client = ClientFigures(0.1234, 0.2345, 0.05, 2.0, 40, 0, {})
    frame = replace(with_ttft(CALM), client=client)
    view = panels.ttft(frame)
    assert view.headline == "p50 123 ms · p99 234 ms"
    assert [(row.label, row.value) for row in view.rows] == [
        ("client99", "234 ms"),
        ("srv p50", "100–250 ms"),
        ("srv p99", "100–250 ms"),
    ]


def run_with(bucket_le: float, n: int = 20) -> RecordingReport:
    """A run whose server TTFTs all fell in the bucket ending at ``bucket_le``."""
    run = RunSummary()
    for t, count in ((0.0, 0), (10.0, n)):
        cumulative = tuple(0.0 if le < bucket_le else float(count) for le in TTFT_BOUNDS)
        hist = histogram_value(cumulative)
        snap = MetricSnapshot(t, {}, {"ttft": hist}, Unknown("-"), (), (), {})
        run.add_scrape(ScrapeResult(t, "healthy", "ok", 0.01, snap))
    return RecordingReport(Path(f"r{bucket_le}.sparktop"), {}, run.figures(), None, 0, True)


def histogram_value(cumulative: tuple[float, ...]) -> Histogram:
    return Histogram(TTFT_BOUNDS, cumulative, cumulative[-1], 0.1 * cumulative[-1])


def test_a_report_carries_each_quantiles_bucket_and_never_a_change_inside_one() -> None:
    one, same, other = run_with(0.25), run_with(0.25), run_with(1.0)
    ttft = one.server["ttft_s"]
    assert ttft["p50_bucket"] == [0.1, 0.25] and ttft["p99_bucket"] == [0.1, 0.25]
    doc = orjson.loads(render_json([one, same, other]))
    assert doc["recordings"][0]["server"]["ttft_s"]["p99_bucket"] == [0.1, 0.25]
    row = next(r for r in doc["compare"] if r["section"] == "server" and r["figure"] == "TTFT p50")
    assert row["change_pct"] == [None, None, None]  # the same bucket says nothing of a change
    assert row["change_pct_range"][1] is None
    assert row["buckets"] == [[100.0, 250.0], [100.0, 250.0], [750.0, 1000.0]]
    assert row["change_pct_range"][2] == pytest.approx([200.0, 900.0])  # 750 ms vs 250 ms .. 1 s vs 100 ms
    table = render_table([one, same, other])
    line = next(x for x in table.splitlines() if "TTFT p50" in x)
    assert "100–250" in line and "same bucket" in line and "+200%…+900%" in line
    assert "+0.0%" not in line


def test_ranged_narrowness_follows_the_display_rule() -> None:
    assert Ranged(4.95, 4.9, 5.0).narrow and not Ranged(175.0, 100.0, 250.0).narrow
