"""A fleet's rows, totals and orders: taken from each target's own frame, never made up."""

from __future__ import annotations

from dataclasses import replace

from sparktop.derive.fleet import SORT_KEYS, row_of, sort_rows, totals
from sparktop.model import LatencyStats, Unknown
from tests.support.fleets import fleet_frames, loaded, unreachable


def test_a_row_holds_the_targets_own_figures() -> None:
    frame = loaded("a")
    row = row_of(4, frame)
    figures = frame.figures
    assert figures is not None and frame.gpu is not None
    assert (row.index, row.label, row.state, row.stale) == (4, "a", "healthy", False)
    assert row.running == figures.requests_running and row.waiting == figures.requests_waiting
    assert row.kv_usage == figures.kv_cache_usage and row.decode_tps == figures.decode_tps
    assert isinstance(row.ttft_p99, LatencyStats) and row.ttft_p99 == figures.latency["ttft"]
    assert row.gpu_power_w == sum(d.power_w for d in frame.gpu.devices)  # type: ignore[misc]
    assert row.memory_available_bytes == frame.gpu.memory.available_bytes


def test_a_server_without_figures_has_them_unknown_with_its_reason() -> None:
    row = row_of(0, unreachable("b"))
    assert row.state == "unreachable" and row.stale
    for value in (row.running, row.waiting, row.kv_usage, row.decode_tps, row.ttft_p99, row.gpu_power_w):
        assert isinstance(value, Unknown)
    assert isinstance(row.running, Unknown) and "connection refused" in row.running.reason


def test_figures_older_than_two_scrapes_are_stale_and_left_out_of_the_totals() -> None:
    fresh, old = loaded("a"), loaded("b")
    old = replace(old, t=old.t + 10 * old.interval_s)  # no good scrape for ten intervals
    rows = [row_of(0, fresh), row_of(1, old)]
    assert not rows[0].stale and rows[1].stale
    total = totals(rows)
    assert total.running.value == rows[0].running and (total.running.known, total.running.of) == (1, 2)


def test_totals_sum_what_is_known_and_say_how_much_that_is() -> None:
    rows = [row_of(i, frame) for i, frame in enumerate(fleet_frames())]
    total = totals(rows)
    assert (total.targets, total.healthy) == (3, 2)
    assert total.running.value == 2 * rows[0].running  # type: ignore[operator]
    assert (total.running.known, total.running.of) == (2, 3)
    assert total.kv_usage_max.value == rows[0].kv_usage  # the fullest, not a sum of fractions
    nothing = totals([row_of(0, unreachable("x"))])
    assert isinstance(nothing.decode_tps.value, Unknown) and nothing.decode_tps.known == 0


def test_orders_put_the_largest_figure_first_and_unknowns_last() -> None:
    a, b, c = (row_of(i, frame) for i, frame in enumerate(fleet_frames()))
    busier = replace(c, waiting=float(a.waiting) + 5)  # type: ignore[arg-type]
    rows = [a, b, busier]
    assert [r.index for r in sort_rows(rows, "waiting")] == [2, 0, 1]
    assert [r.index for r in sort_rows(rows, "target")] == [0, 1, 2]
    assert [r.index for r in sort_rows(rows, "state")] == [1, 0, 2]  # the worst state first
    assert [r.index for r in sort_rows([a, b, c], "kv")] == [0, 2, 1]  # a tie keeps the fleet's order
    for key in set(SORT_KEYS) - {"target", "state"}:  # the unreachable server knows no figure
        assert sort_rows(rows, key)[-1].index == 1, key
