"""Canonical fields whatever the vLLM version: names, engines, unknowns."""

from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest

from sparktop.model import Histogram, Unknown
from sparktop.sim.vllm_metrics import STYLES, VllmMetrics
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import NO_VLLM_REASON, Schema


def read(text: str):
    return Schema().read(SeriesParser().parse(text), t=100.0)


def populated(style: str, engines: int = 2, spec: int = 0) -> VllmMetrics:
    m = VllmMetrics(
        "gemma",
        engines=engines,
        style=style,  # type: ignore[arg-type]
        spec_decode_positions=spec,
        cache_config={"block_size": "16", "num_gpu_blocks": "1000", "cache_dtype": "fp8"},
    )
    for e in range(m.engines):
        m.set("vllm:num_requests_running", 3 + e, e)
        m.set("vllm:num_requests_waiting", 10 * (e + 1), e)
        m.set_kv_cache_usage(0.2 + 0.4 * e, e)
        m.inc("vllm:prompt_tokens", 1000 * (e + 1), e)
        m.inc("vllm:generation_tokens", 100 * (e + 1), e)
        m.inc("vllm:num_preemptions", e, e)
        m.inc("vllm:request_success", 2, e, ["stop"])
        m.inc("vllm:request_success", 1, e, ["length"])
        for v in (0.05, 0.3, 2.0):
            m.observe("vllm:time_to_first_token_seconds", v, e)
            m.observe_token_gap(v / 10, e)
            m.observe("vllm:e2e_request_latency_seconds", v * 10, e)
        if spec:
            m.inc("vllm:spec_decode_num_draft_tokens", 30, e)
            m.inc("vllm:spec_decode_num_accepted_tokens", 21, e)
    return m


@pytest.mark.parametrize("style", STYLES)
def test_canonical_fields_in_every_style(style: str) -> None:
    m = populated(style)
    snap = read(generate_latest(m.registry).decode()).snapshot
    n = m.engines
    assert snap.scalars["requests_running"] == sum(3 + e for e in range(n))
    assert snap.scalars["requests_waiting"] == sum(10 * (e + 1) for e in range(n))
    assert snap.scalars["kv_cache_usage"] == pytest.approx(sum(0.2 + 0.4 * e for e in range(n)) / n)
    assert snap.scalars["prompt_tokens_total"] == sum(1000 * (e + 1) for e in range(n))
    assert snap.scalars["generation_tokens_total"] == sum(100 * (e + 1) for e in range(n))
    assert snap.finished == {
        "stop": 2.0 * n,
        "length": 1.0 * n,
        "abort": 0.0,
        "error": 0.0,
        "repetition": 0.0,
    }
    ttft = snap.histograms["ttft"]
    assert isinstance(ttft, Histogram)
    assert ttft.count == 3 * n and ttft.sum == pytest.approx(2.35 * n)
    assert ttft.bounds[-1] == math.inf and ttft.cumulative[-1] == 3 * n
    itl = snap.histograms["itl"]
    assert isinstance(itl, Histogram) and itl.count == 3 * n  # ITL under its old name in old styles
    assert snap.models == ("gemma",)
    assert snap.cache_config["num_gpu_blocks"] == "1000"
    if style == "v0.7":
        assert snap.engines == ()
        assert snap.scalars["requests_swapped"] == 0.0
        assert isinstance(snap.histograms["tpot"], Unknown)
        assert "TPOT" in snap.histograms["tpot"].reason
    else:
        assert snap.engines == ("0", "1")
        assert isinstance(snap.scalars["requests_swapped"], Unknown)
        assert isinstance(snap.histograms["tpot"], Histogram)
    assert isinstance(snap.scalars["spec_decode_accepted_tokens_total"], Unknown)
    assert "speculative decoding" in snap.unknown()["spec_decode_accepted_tokens_total"]


def test_new_name_preferred_when_both_exposed() -> None:
    m = populated("v0.10", engines=1)
    m.set("vllm:gpu_cache_usage_perc", 0.99)  # the deprecated series disagrees
    snap = read(generate_latest(m.registry).decode()).snapshot
    assert snap.scalars["kv_cache_usage"] == pytest.approx(0.2)


def test_spec_decode_counters() -> None:
    m = populated("current", engines=1, spec=3)
    snap = read(generate_latest(m.registry).decode()).snapshot
    assert snap.scalars["spec_decode_draft_tokens_total"] == 30
    assert snap.scalars["spec_decode_accepted_tokens_total"] == 21


def test_created_samples_are_ignored_and_raw_series_kept() -> None:
    reading = read(generate_latest(populated("current").registry).decode())
    keys = [k for k, _ in reading.series]
    assert keys and all(k.startswith("vllm:") for k in keys)
    assert not any("_created" in k for k in keys)
    assert 'vllm:num_requests_running{engine="1",model_name="gemma"}' in keys


def test_absent_is_unknown_never_zero() -> None:
    page = 'vllm:num_requests_running{engine="0"} 2\n'
    snap = read(page).snapshot
    assert snap.scalars["requests_running"] == 2
    for field in ("requests_waiting", "kv_cache_usage", "generation_tokens_total"):
        assert isinstance(snap.scalars[field], Unknown)
    assert isinstance(snap.histograms["ttft"], Unknown)
    assert set(snap.unknown()) >= {"requests_waiting", "ttft", "finished"}


def test_no_vllm_series_means_metrics_disabled() -> None:
    snap = read('python_gc_objects_collected_total{generation="0"} 1\nprocess_cpu_seconds_total 3\n').snapshot
    assert all(isinstance(v, Unknown) and v.reason == NO_VLLM_REASON for v in snap.scalars.values())
    assert snap.finished == Unknown(NO_VLLM_REASON)


def test_histogram_without_inf_bucket_is_unknown() -> None:
    page = 'vllm:time_to_first_token_seconds_bucket{le="0.1"} 1\nvllm:time_to_first_token_seconds_count 1\n'
    assert isinstance(read(page).snapshot.histograms["ttft"], Unknown)


def test_layout_change_is_handled() -> None:
    schema, parser = Schema(), SeriesParser()
    one = generate_latest(populated("current", engines=1).registry).decode()
    two = generate_latest(populated("current", engines=2).registry).decode()
    assert schema.read(parser.parse(one), 1.0).snapshot.scalars["requests_running"] == 3
    assert schema.read(parser.parse(two), 2.0).snapshot.scalars["requests_running"] == 7
    assert schema.read(parser.parse(one), 3.0).snapshot.scalars["requests_running"] == 3
