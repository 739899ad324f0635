"""Rates with restarts, windowed quantiles and bounded history."""

from __future__ import annotations

import math

import pytest

from sparktop.derive.timeline import NEED_TWO, Timeline, counter_increase
from sparktop.model import HISTOGRAM_KEYS, SCALAR_KEYS, Histogram, LatencyStats, MetricSnapshot, Unknown

BOUNDS = (0.1, 0.5, 1.0, 5.0, math.inf)


def snap(
    t: float,
    gen: float | None = 0.0,
    prompt: float = 0.0,
    running: float = 1.0,
    ttft: tuple[float, ...] = (0, 0, 0, 0, 0),
    ttft_sum: float = 0.0,
    bounds: tuple[float, ...] = BOUNDS,
    finished: dict[str, float] | None = None,
    cache_config: dict[str, str] | None = None,
) -> MetricSnapshot:
    scalars: dict[str, float | Unknown] = {k: Unknown("absent") for k in SCALAR_KEYS}
    scalars.update(
        requests_running=running, requests_waiting=0.0, kv_cache_usage=0.25, prompt_tokens_total=prompt
    )
    scalars["generation_tokens_total"] = gen if gen is not None else Unknown("absent")
    hists: dict[str, Histogram | Unknown] = {k: Unknown("absent") for k in HISTOGRAM_KEYS}
    hists["ttft"] = Histogram(bounds, tuple(float(x) for x in ttft), float(ttft[-1]), ttft_sum)
    return MetricSnapshot(
        t=t,
        scalars=scalars,
        histograms=hists,
        finished=finished if finished is not None else {"stop": 0.0},
        engines=("0",),
        models=("m",),
        cache_config=cache_config or {},
    )


def test_counter_increase() -> None:
    assert counter_increase(10, 15) == 5
    assert counter_increase(10, 3) == 3  # restart: counted from zero


def test_rates_over_window() -> None:
    tl = Timeline()
    for i in range(11):
        tl.add(snap(1000.0 + i, gen=50.0 * i, prompt=400.0 * i, running=5.0))
    f = tl.figures(window_s=5.0)
    assert f is not None
    assert f.window_s == 5.0
    assert f.generation_tps == 50.0 and f.prompt_tps == 400.0
    assert f.decode_tps_per_request == pytest.approx(10.0)
    assert f.requests_running == 5.0
    # a window longer than the history covers what exists
    assert tl.figures(window_s=60.0).window_s == 10.0  # type: ignore[union-attr]


def test_first_scrape_has_no_rates() -> None:
    tl = Timeline()
    tl.add(snap(1.0, gen=10.0))
    f = tl.figures(60.0)
    assert f is not None
    assert isinstance(f.generation_tps, Unknown) and isinstance(f.latency["ttft"], Unknown)
    assert f.requests_running == 1.0


def test_after_a_restart_rates_are_the_new_servers_only() -> None:
    tl = Timeline()
    values = [0, 100, 200, 300, 20, 120]  # server restarted between t=3 and t=4
    for i, v in enumerate(values[:5]):
        tl.add(snap(float(i), gen=float(v)))
    f = tl.figures(window_s=10.0)
    assert f is not None and f.counter_resets == 1
    # one scrape of the new server: no rate yet, rather than one that mixes both servers
    assert isinstance(f.generation_tps, Unknown) and f.generation_tps.reason == NEED_TWO
    tl.add(snap(5.0, gen=120.0))
    g = tl.figures(window_s=10.0)
    assert g is not None and g.generation_tps == pytest.approx(100.0)  # (120 - 20) / 1 s, not 420 / 5


def test_windowed_quantiles_use_bucket_deltas() -> None:
    tl = Timeline()
    # before the window: 100 fast requests; inside the window: 10 slow ones
    tl.add(snap(0.0, ttft=(0, 0, 0, 0, 0)))
    tl.add(snap(10.0, ttft=(100, 100, 100, 100, 100), ttft_sum=5.0))
    tl.add(snap(20.0, ttft=(100, 100, 100, 110, 110), ttft_sum=35.0))
    recent = tl.figures(window_s=10.0)
    assert recent is not None
    stats = recent.latency["ttft"]
    assert isinstance(stats, LatencyStats)
    assert stats.count == 10
    assert stats.p50 == pytest.approx(1.0 + 4.0 * 0.5)  # all 10 in (1, 5]
    assert stats.mean == pytest.approx(3.0)
    whole = tl.figures(window_s=20.0)
    assert whole is not None and isinstance(whole.latency["ttft"], LatencyStats)
    assert whole.latency["ttft"].p50 == pytest.approx(0.1 * 55 / 100)


def test_histogram_reset_and_bounds_change() -> None:
    tl = Timeline()
    tl.add(snap(0.0, ttft=(5, 5, 5, 5, 5)))
    tl.add(snap(1.0, ttft=(9, 9, 9, 9, 9)))
    tl.add(snap(2.0, ttft=(1, 1, 1, 1, 1)))  # restart: the old server's latencies are not the new one's
    f = tl.figures(window_s=2.0)
    assert f is not None and isinstance(f.latency["ttft"], Unknown)  # one reading of the new server
    tl.add(snap(2.5, ttft=(3, 3, 3, 3, 3)))
    f = tl.figures(window_s=10.0)
    assert f is not None and isinstance(f.latency["ttft"], LatencyStats)
    assert f.latency["ttft"].count == 2  # the new server's, not the old server's 4 mixed in
    new_bounds = (0.2, 1.0, math.inf)
    tl.add(snap(3.0, ttft=(0, 0, 0), bounds=new_bounds))
    g = tl.figures(window_s=10.0)
    assert g is not None and isinstance(g.latency["ttft"], Unknown)  # new epoch: only one reading
    tl.add(snap(4.0, ttft=(2, 2, 2), bounds=new_bounds))
    h = tl.figures(window_s=10.0)
    assert h is not None and isinstance(h.latency["ttft"], LatencyStats) and h.latency["ttft"].count == 2


def test_unknown_stays_unknown() -> None:
    tl = Timeline()
    tl.add(snap(0.0, gen=None))
    tl.add(snap(1.0, gen=None))
    f = tl.figures(10.0)
    assert f is not None
    assert f.generation_tps == Unknown("absent")
    assert f.decode_tps_per_request == Unknown("absent")
    assert f.kv_cache_capacity_tokens == Unknown("no cache_config_info with num_gpu_blocks on the page")


def test_idle_decode_per_request_is_unknown_not_zero() -> None:
    tl = Timeline()
    tl.add(snap(0.0, gen=0.0, running=0.0))
    tl.add(snap(1.0, gen=0.0, running=0.0))
    f = tl.figures(10.0)
    assert f is not None and f.generation_tps == 0.0
    assert isinstance(f.decode_tps_per_request, Unknown)


def test_finished_requests_and_kv_tokens() -> None:
    tl = Timeline()
    cfg = {"block_size": "16", "num_gpu_blocks": "1000"}
    tl.add(snap(0.0, finished={"stop": 10, "length": 0}, cache_config=cfg))
    tl.add(snap(2.0, finished={"stop": 14, "length": 2}, cache_config=cfg))
    f = tl.figures(10.0)
    assert f is not None
    assert f.finished_in_window == {"stop": 4, "length": 2}
    assert f.requests_per_s == 3.0
    assert f.kv_cache_capacity_tokens == 16000 and f.kv_cache_used_tokens == 4000


def test_history_is_bounded() -> None:
    tl = Timeline(retention_s=60.0)
    for i in range(5000):
        tl.add(snap(float(i), gen=float(i)))
    assert len(tl._ticks) < 60 + 300
    f = tl.figures(60.0)
    assert f is not None and f.window_s == 60.0 and f.generation_tps == 1.0


def test_out_of_order_snapshots_are_ignored() -> None:
    tl = Timeline()
    tl.add(snap(5.0, gen=10.0))
    tl.add(snap(4.0, gen=0.0))
    assert tl.latest is not None and tl.latest.t == 5.0


def test_separate_rate_window() -> None:
    tl = Timeline()
    # slow for 50 s, then fast for 10 s
    gen = 0.0
    for i in range(61):
        tl.add(snap(float(i), gen=gen, ttft=(i, i, i, i, i)))
        gen += 10.0 if i < 50 else 100.0
    f = tl.figures(window_s=60.0, rate_window_s=10.0)
    assert f is not None
    assert f.generation_tps == pytest.approx(100.0)  # ticks 50..60 are all fast
    assert f.window_s == 60.0
    assert isinstance(f.latency["ttft"], LatencyStats) and f.latency["ttft"].count == 60
