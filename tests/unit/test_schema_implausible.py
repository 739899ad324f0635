"""Values a server cannot mean become unknown with the cause, never a figure shown as fact."""

from __future__ import annotations

import math

import pytest

from sparktop.model import Histogram, MetricSnapshot, Unknown
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema, declares_vllm

GOOD = (
    'vllm:num_requests_running{engine="0",model_name="m"} 2\n'
    'vllm:num_requests_waiting{engine="0",model_name="m"} 1\n'
    'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5\n'
    'vllm:generation_tokens_total{engine="0",model_name="m"} 100\n'
    'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 3\n'
    'vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1\n'
    'vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0",model_name="m"} 2\n'
    'vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 3\n'
    'vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 3\n'
    'vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 2.5\n'
)


def read(text: str) -> MetricSnapshot:
    return Schema().read(SeriesParser().parse(text), t=1.0).snapshot


def replaced(old: str, new: str) -> MetricSnapshot:
    assert old in GOOD
    return read(GOOD.replace(old, new))


def test_a_good_page_is_read_as_it_is() -> None:
    snap = read(GOOD)
    assert snap.scalars["requests_running"] == 2 and snap.scalars["kv_cache_usage"] == 0.5
    assert isinstance(snap.histograms["ttft"], Histogram) and snap.finished == {"stop": 3}


@pytest.mark.parametrize(
    ("line", "value", "field", "cause"),
    [
        ("vllm:num_requests_running", "-2", "requests_running", "-2 on the page: a count cannot be negative"),
        ("vllm:num_requests_waiting", "NaN", "requests_waiting", "is NaN on the page"),
        ("vllm:kv_cache_usage_perc", "1.7", "kv_cache_usage", "1.7 on the page: a fraction of the KV cache"),
        ("vllm:kv_cache_usage_perc", "-0.1", "kv_cache_usage", "must be 0..1"),
        ("vllm:generation_tokens_total", "+Inf", "generation_tokens_total", "inf on the page"),
    ],
)
def test_an_impossible_gauge_or_counter_is_unknown_with_its_value(
    line: str, value: str, field: str, cause: str
) -> None:
    old = next(x for x in GOOD.splitlines() if x.startswith(line + "{"))
    snap = replaced(old, old.rsplit(" ", 1)[0] + " " + value)
    got = snap.scalars[field]
    assert isinstance(got, Unknown) and cause in got.reason and line in got.reason
    assert snap.scalars[
        "generation_tokens_total" if field != "generation_tokens_total" else "requests_running"
    ]


def test_a_negative_finished_count_is_unknown() -> None:
    snap = replaced('finished_reason="stop",model_name="m"} 3', 'finished_reason="stop",model_name="m"} -1')
    assert isinstance(snap.finished, Unknown) and "cannot be negative" in snap.finished.reason


@pytest.mark.parametrize(
    ("old", "new", "cause"),
    [
        (
            'le="1.0",model_name="m"} 2',
            'le="1.0",model_name="m"} 0',
            "buckets are not cumulative: le=1 holds 0",
        ),
        ('le="0.1",model_name="m"} 1', 'le="0.1",model_name="m"} NaN', "not cumulative"),
        (
            'seconds_count{engine="0",model_name="m"} 3',
            'seconds_count{engine="0",model_name="m"} 7',
            "_count = 7",
        ),
        (
            'seconds_sum{engine="0",model_name="m"} 2.5',
            'seconds_sum{engine="0",model_name="m"} -4',
            "_sum = -4",
        ),
    ],
)
def test_a_broken_histogram_is_unknown_with_the_cause(old: str, new: str, cause: str) -> None:
    ttft = replaced(old, new).histograms["ttft"]
    assert isinstance(ttft, Unknown) and cause in ttft.reason


def test_a_histogram_without_count_is_unknown_not_zero_observations() -> None:
    text = "\n".join(line for line in GOOD.splitlines() if "_count" not in line)
    ttft = read(text).histograms["ttft"]
    assert isinstance(ttft, Unknown) and "no _count" in ttft.reason


def test_a_series_listed_twice_is_unknown_not_summed() -> None:
    twice = 'vllm:num_requests_running{engine="0",model_name="m"} 2\n'
    snap = read(GOOD + twice)
    got = snap.scalars["requests_running"]
    assert isinstance(got, Unknown) and "listed twice" in got.reason
    assert snap.scalars["requests_waiting"] == 1  # the rest of the page still counts
    bucket = 'vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1\n'
    assert isinstance(read(GOOD + bucket).histograms["ttft"], Unknown)
    success = 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 3\n'
    assert isinstance(read(GOOD + success).finished, Unknown)


def test_two_engines_are_still_added() -> None:
    other = GOOD.replace('engine="0"', 'engine="1"')
    snap = read(GOOD + other)
    assert snap.scalars["requests_running"] == 4 and snap.scalars["kv_cache_usage"] == 0.5
    ttft = snap.histograms["ttft"]
    assert isinstance(ttft, Histogram) and ttft.count == 6 and math.isclose(ttft.sum, 5.0)


def test_a_page_with_only_help_and_type_lines_declares_vllm() -> None:
    text = "# HELP vllm:num_requests_running Number of requests.\n# TYPE vllm:num_requests_running gauge\n"
    assert declares_vllm(text) and not declares_vllm(
        "# TYPE python_info gauge\nprocess_cpu_seconds_total 1\n"
    )
