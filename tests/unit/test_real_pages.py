"""Canonical figures read from REAL vLLM pages (vLLM 0.32, ``tests/fixtures/real-vllm/``), checked
against prometheus-client's parser: the page as the monitor will meet it, not as the simulator makes it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sparktop.derive.timeline import Timeline
from sparktop.model import Histogram, MetricSnapshot, Unknown, is_known
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm"
PAGES = ("idle", "loaded", "constrained")
SCALARS = {
    "requests_running": "vllm:num_requests_running",
    "requests_waiting": "vllm:num_requests_waiting",
    "kv_cache_usage": "vllm:kv_cache_usage_perc",
    "prompt_tokens_total": "vllm:prompt_tokens_total",
    "generation_tokens_total": "vllm:generation_tokens_total",
    "preemptions_total": "vllm:num_preemptions_total",
    "prefix_cache_queries_total": "vllm:prefix_cache_queries_total",
    "prefix_cache_hits_total": "vllm:prefix_cache_hits_total",
}
HISTOGRAMS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "itl": "vllm:inter_token_latency_seconds",
    "e2e": "vllm:e2e_request_latency_seconds",
    "queue": "vllm:request_queue_time_seconds",
    "prefill": "vllm:request_prefill_time_seconds",
    "decode": "vllm:request_decode_time_seconds",
}


def oracle(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def summed(page: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return math.fsum(v for _, v in page[name])


Page = dict[str, list[tuple[dict[str, str], float]]]


def read(name: str, t: float = 100.0) -> tuple[MetricSnapshot, Page]:
    text = (REAL / f"{name}.metrics").read_text()
    return Schema().read(SeriesParser().parse(text), t=t).snapshot, oracle(text)


@pytest.mark.parametrize("name", PAGES)
def test_every_canonical_field_of_a_real_page(name: str) -> None:
    snap, page = read(name)
    assert snap.models == ("tiny",) and snap.engines == ("0",)
    for field, series in SCALARS.items():
        assert snap.scalars[field] == pytest.approx(summed(page, series)), field
    assert set(snap.unknown()) == {
        "requests_swapped",
        "spec_decode_drafts_total",
        "spec_decode_draft_tokens_total",
        "spec_decode_accepted_tokens_total",
    }
    assert not isinstance(snap.finished, Unknown)
    for reason in ("stop", "length", "abort", "error", "repetition"):
        expected = sum(v for lab, v in page["vllm:request_success_total"] if lab["finished_reason"] == reason)
        assert snap.finished[reason] == expected
    for key, series in HISTOGRAMS.items():
        hist = snap.histograms[key]
        assert isinstance(hist, Histogram), key
        assert hist.count == summed(page, series + "_count")
        assert hist.sum == pytest.approx(summed(page, series + "_sum"))
        bounds = [float(lab["le"]) for lab, _ in page[series + "_bucket"]]
        assert list(hist.bounds) == bounds  # read from the page, never assumed
    assert snap.cache_config["num_gpu_blocks"] == next(
        lab["num_gpu_blocks"] for lab, _ in page["vllm:cache_config_info"]
    )


def test_the_constrained_page_shows_the_queue_and_the_preemption() -> None:
    snap, _ = read("constrained")
    assert snap.scalars["requests_running"] == 4
    waiting, preemptions = snap.scalars["requests_waiting"], snap.scalars["preemptions_total"]
    assert is_known(waiting) and waiting > 0
    assert is_known(preemptions) and preemptions >= 1
    assert snap.cache_config["num_gpu_blocks_override"] == "16"


@pytest.mark.parametrize(("order", "restarted"), [(("idle", "loaded"), False), (("loaded", "idle"), True)])
def test_a_timeline_of_real_pages_tells_a_restart_by_counters_going_down(
    order: tuple[str, str], restarted: bool
) -> None:
    """``idle`` was captured before ``loaded`` on the same server: in that order counters only grow;
    the other way round they go down, as they do when a server restarts."""
    timeline = Timeline()
    for i, name in enumerate(order):
        timeline.add(read(name, t=100.0 + i)[0])
    assert (timeline.resets > 0) is restarted
    figures = timeline.figures(60.0, 10.0, ("ttft",))
    assert figures is not None
    # after a restart a rate waits for two scrapes of the new server; never a negative one
    assert is_known(figures.generation_tps) is not restarted
    assert not is_known(figures.generation_tps) or figures.generation_tps >= 0
