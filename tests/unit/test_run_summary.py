"""Whole-run figures: busy time, decode per user, restarts, latency histograms, energy."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from sparktop.derive.summary import RunSummary
from sparktop.model import HISTOGRAM_KEYS, SCALAR_KEYS, Histogram, MetricSnapshot, ScrapeResult, Unknown
from tests.support.frames import gb10_sample

BOUNDS = (0.1, 1.0, 10.0, math.inf)


def scrape(
    t: float,
    gen: float,
    prompt: float,
    running: float,
    ttft: tuple[float, ...] = (0, 0, 0, 0),
    finished: dict[str, float] | None = None,
    kv: float = 0.1,
) -> ScrapeResult:
    scalars: dict[str, float | Unknown] = {k: Unknown("absent") for k in SCALAR_KEYS}
    scalars.update(
        requests_running=running,
        requests_waiting=0.0,
        kv_cache_usage=kv,
        generation_tokens_total=gen,
        prompt_tokens_total=prompt,
        preemptions_total=0.0,
    )
    hists: dict[str, Histogram | Unknown] = {k: Unknown("absent") for k in HISTOGRAM_KEYS}
    hists["ttft"] = Histogram(BOUNDS, tuple(float(x) for x in ttft), float(ttft[-1]), 0.5 * ttft[-1])
    snap = MetricSnapshot(t, scalars, hists, finished or {"stop": 0.0}, ("0",), ("m",), {})
    return ScrapeResult(t, "healthy", "ok", 0.01, snap)


def test_busy_time_decode_per_user_and_restart() -> None:
    run = RunSummary()
    run.add_scrape(scrape(0, 0, 0, running=0))  # idle before the benchmark
    run.add_scrape(scrape(10, 0, 0, running=2))
    run.add_scrape(scrape(11, 40, 1000, running=2))  # 1 s busy, 2 users, 40 tokens
    run.add_scrape(scrape(12, 80, 1000, running=0, kv=0.7))
    run.add_scrape(scrape(13, 10, 0, running=1))  # restart: counters from zero
    run.add_scrape(scrape(14, 30, 500, running=0))
    run.add_scrape(scrape(60, 30, 500, running=0))  # idle after
    f = run.figures()
    # busy: the intervals that generated tokens, 10-11 and 11-12 (2 running at one end), 12-13 (the
    # restarted server's first 10 tokens) and 13-14 (1 user); the idle minutes around do not count
    assert run.busy_s == 4.0 and run.request_seconds == 6.0
    assert f["generation_tokens"] == 80 + 10 + 20
    assert f["decode_tps"] == pytest.approx(110 / 4.0)
    assert f["decode_tps_per_user"] == pytest.approx(110 / 6.0)
    assert f["decode_tps_per_user"] <= f["decode_tps"]  # type: ignore[operator]
    assert f["prefill_tps"] == pytest.approx((1000 + 0 + 0 + 500) / 4.0)
    assert f["kv_cache_peak"] == 0.7 and f["peak_running"] == 2
    assert f["duration_s"] == 60


def test_latency_over_the_run() -> None:
    run = RunSummary()
    run.add_scrape(scrape(0, 0, 0, 1, ttft=(5, 5, 5, 5)))  # observed before the run: not counted
    run.add_scrape(scrape(1, 0, 0, 1, ttft=(5, 15, 15, 15)))  # 10 new in (0.1, 1]
    f = run.figures()
    ttft = f["ttft_s"]
    assert isinstance(ttft, dict)
    assert ttft["count"] == 10 and ttft["p50"] == pytest.approx(0.1 + 0.9 * 0.5)
    assert isinstance(run.latency("tpot")["p50"], Unknown)


def test_energy_per_token_and_power() -> None:
    run = RunSummary()
    for i in range(11):
        run.add_gpu(gb10_sample(1_790_000_000.0 + i, 0.5))
        run.add_scrape(scrape(1_790_000_000.0 + i + 0.5, 100.0 * i, 0, 1))
    f = run.figures()
    power = f["gpu_power_avg_w"]
    assert isinstance(power, float)
    assert power == pytest.approx(18.0 + 70.0 * 0.5)
    energy = f["energy_per_token_j"]
    assert isinstance(energy, float)
    assert energy == pytest.approx(power / 100.0, rel=0.15)  # W / (tokens/s)


def test_energy_read_every_few_seconds_covers_the_same_span_as_the_tokens() -> None:
    """A slow energy counter is read every 5 s while the server is scraped every second: the
    tokens after the last energy reading must not count (they have no energy yet)."""
    run = RunSummary()
    t0 = 1_790_000_000.0
    for i in range(13):  # energy known at 0, 5, 10 s; tokens until 12.5 s
        sample = gb10_sample(t0 + i, 0.5)
        if i % 5:
            device = replace(sample.devices[0], energy_mj=Unknown("read every 5 s"))
            sample = replace(sample, devices=(device,))
        run.add_gpu(sample)
        run.add_scrape(scrape(t0 + i + 0.5, 100.0 * i, 0, 1))
    energy = run.figures()["energy_per_token_j"]
    assert isinstance(energy, float)
    assert energy == pytest.approx((18.0 + 70.0 * 0.5) / 100.0, rel=0.01)
    assert run.figures()["gpu_temp_max_c"] == pytest.approx(42.0 + 25.0 * 0.5)


def test_nothing_ran() -> None:
    f = RunSummary().figures()
    assert isinstance(f["decode_tps"], Unknown) and isinstance(f["gpu_power_avg_w"], Unknown)
