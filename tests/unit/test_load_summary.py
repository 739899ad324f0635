"""Summary maths against hand-computed cases and vllm bench serve's definitions."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparktop.codec import decode, encode
from sparktop.model import ItlSummary, RequestRecord, Unknown, WorkloadProgress
from sparktop.workload.summary import (
    error_kinds,
    itl_summary,
    latency_figures,
    peak_concurrency,
    percentile,
    summarize,
    summarize_phases,
    summary_dict,
)

T0 = 1_750_000_000.0


def rec(
    rid: int,
    start: float,
    first: float | None,
    gaps: tuple[float, ...] = (),
    *,
    out: int | None = None,
    prompt: int = 10,
    error: str | None = None,
    end: float | None = None,
    phase: str = "p",
    batch: int = 0,
    warmup: bool = False,
    usage_problem: str | None = None,
) -> RequestRecord:
    ok = error is None
    last = None if first is None else first + sum(gaps)
    return RequestRecord(
        id=rid,
        phase=phase,
        start=T0 + start,
        first_token=None if first is None else T0 + first,
        end=T0 + (end if end is not None else last if last is not None else start),
        prompt_tokens=prompt,
        output_tokens=out if out is not None else (len(gaps) + 1 if first is not None else 0),
        itl=itl_summary(gaps),
        ok=ok,
        status=200 if ok else 500,
        error=error,
        finish_reason="length" if ok else None,
        gaps=gaps,
        batch=batch,
        warmup=warmup,
        usage_problem=usage_problem,
    )


def hand_case() -> list[RequestRecord]:
    return [
        rec(0, 0.0, 0.5, (0.1, 0.2, 0.3), out=4, prompt=10),
        rec(1, 1.0, 1.2, (0.4,), out=2, prompt=20),
        rec(2, 0.2, None, error="HTTP 500: boom", end=0.3, prompt=30),
    ]


def test_percentile_interpolates_like_numpy() -> None:
    # numpy.percentile's default (linear) on these values
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)
    assert percentile([15.0, 20.0, 35.0, 40.0, 50.0], 40) == pytest.approx(29.0)
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latencies_follow_vllm_bench_serve_definitions() -> None:
    s = summarize(hand_case())
    # TTFT over successful requests: 500 and 200 ms
    assert s.ttft_ms.mean == pytest.approx(350.0)
    assert s.ttft_ms.median == pytest.approx(350.0)
    assert s.ttft_ms.p90 == pytest.approx(470.0)
    assert s.ttft_ms.p99 == pytest.approx(497.0)
    assert s.ttft_ms.std == pytest.approx(150.0)
    # TPOT excludes the first token: (1.1 - 0.5) / 3 and (1.6 - 1.2) / 1
    assert s.tpot_ms.mean == pytest.approx(300.0)
    assert s.tpot_ms.count == 2
    # ITL pools every gap of every successful response: 100, 200, 300, 400 ms
    assert s.itl_ms.mean == pytest.approx(250.0)
    assert s.itl_ms.median == pytest.approx(250.0)
    assert s.itl_ms.p90 == pytest.approx(370.0)
    assert s.itl_ms.p99 == pytest.approx(397.0)
    assert s.itl_ms.count == 4
    # E2EL: 1.1 and 0.6 s
    assert s.e2el_ms.mean == pytest.approx(850.0)


def test_counts_throughputs_and_peaks() -> None:
    s = summarize(hand_case())
    assert (s.successful, s.failed) == (2, 1)
    assert s.errors == {"HTTP 500: boom": 1}
    assert s.duration_s == pytest.approx(1.6)  # first start to last end, the failure included
    assert s.request_throughput == pytest.approx(2 / 1.6)
    assert s.total_input_tokens == 30  # successful requests only
    assert s.total_output_tokens == 6
    assert s.output_throughput == pytest.approx(6 / 1.6)
    assert s.total_token_throughput == pytest.approx(36 / 1.6)
    # chunk arrivals 0.5 0.6 0.8 | 1.1 1.2 1.6 in 1-second buckets from the first start
    assert s.peak_output_throughput == 3.0
    assert s.peak_concurrency == 2.0


def test_llama_benchy_decode_and_prefill_figures() -> None:
    s = summarize(hand_case())
    # per user: decode tokens per request-second, (3 + 1) over (0.6 + 0.4) s; llama-benchy's mean
    # of the two requests' rates (5.0 and 2.5) would weight the slow one's shorter decode alike
    assert s.decode_tps_per_user == pytest.approx(4.0)
    assert s.decode_tps_per_user <= s.decode_tps_total  # type: ignore[operator]
    # total: 4 decode tokens over the 1.0 s in which one of them decoded (0.5-1.1 and 1.2-1.6);
    # llama-benchy's batch span would count the 0.1 s in which neither did (4 / 1.1)
    assert s.decode_tps_total == pytest.approx(4 / 1.0)
    # prompt tokens 30 over last first-token 1.2 - first start 0
    assert s.prefill_tps_total == pytest.approx(25.0)


def test_decode_total_counts_the_seconds_in_which_requests_decoded() -> None:
    records = [
        rec(0, 0.0, 1.0, (1.0,), out=2, batch=0),  # decode 1 token over 1 s
        rec(1, 5.0, 6.0, (0.5,), out=2, batch=1),  # decode 1 token over 0.5 s
    ]
    s = summarize(records)
    assert s.decode_tps_total == pytest.approx(2 / 1.5)  # not the mean of the batches' 1.0 and 2.0
    assert s.decode_tps_per_user == pytest.approx(2 / 1.5)  # one request at a time: the same speed


def test_peak_concurrency_uses_half_open_intervals() -> None:
    back_to_back = [rec(0, 0.0, 0.5, (0.5,)), rec(1, 1.0, 1.5, (0.5,))]
    assert peak_concurrency(back_to_back) == 1
    overlapping = [*back_to_back, rec(2, 0.9, 1.0, (0.05,))]
    assert peak_concurrency(overlapping) == 2


def test_warmup_is_counted_apart() -> None:
    records = [*hand_case(), rec(9, -5.0, -4.0, (0.01,), warmup=True)]
    s = summarize(records)
    assert s.warmup == 1
    assert s.successful == 2
    assert s.duration_s == pytest.approx(1.6)


def test_phases_keep_their_order_and_warmup_phases_show_their_own_figures() -> None:
    records = [
        rec(0, 0.0, 0.1, (0.1,), phase="warm-up: x", warmup=True),
        rec(1, 1.0, 1.3, (0.1,), phase="x"),
        rec(2, 2.0, 2.2, (0.1,), phase="y"),
    ]
    phases = summarize_phases(records)
    assert list(phases) == ["warm-up: x", "x", "y"]
    assert phases["warm-up: x"].successful == 1
    assert phases["x"].ttft_ms.mean == pytest.approx(300.0)


def test_nothing_to_summarize_is_unknown_not_zero() -> None:
    s = summarize([])
    assert s.successful == 0
    assert isinstance(s.duration_s, Unknown)
    assert isinstance(s.request_throughput, Unknown)
    assert isinstance(s.ttft_ms.mean, Unknown)
    assert isinstance(s.peak_concurrency, Unknown)
    only_failures = summarize([rec(0, 0.0, None, error="connection refused", end=0.01)])
    assert only_failures.failed == 1
    assert only_failures.request_throughput == 0.0
    assert isinstance(only_failures.ttft_ms.p99, Unknown)


def test_single_token_responses_have_no_tpot_or_itl() -> None:
    s = summarize([rec(0, 0.0, 0.2, (), out=1)])
    assert isinstance(s.tpot_ms.mean, Unknown)
    assert isinstance(s.itl_ms.mean, Unknown)
    assert s.ttft_ms.mean == pytest.approx(200.0)


def test_records_without_raw_gaps_give_an_exact_mean_and_unknown_percentiles() -> None:
    kept = ItlSummary(count=3, mean=0.1, p50=0.1, p90=0.1, p99=0.1, max=0.1)
    r = RequestRecord(
        id=0,
        phase="x",
        start=T0,
        first_token=T0 + 0.2,
        end=T0 + 0.5,
        prompt_tokens=5,
        output_tokens=4,
        itl=kept,
        ok=True,
        status=None,
        error=None,
        finish_reason=None,
    )
    s = summarize([r])
    assert s.itl_ms.mean == pytest.approx(100.0)
    assert isinstance(s.itl_ms.p99, Unknown)
    assert isinstance(s.peak_output_throughput, Unknown)


def test_itl_summary_of_one_response() -> None:
    summary = itl_summary((0.3, 0.1, 0.2))
    assert summary.count == 3
    assert summary.mean == pytest.approx(0.2)
    assert summary.p50 == pytest.approx(0.2)
    assert summary.max == pytest.approx(0.3)
    empty = itl_summary(())
    assert empty.count == 0
    assert isinstance(empty.mean, Unknown)


@given(st.lists(st.floats(min_value=0.0, max_value=1e4, allow_nan=False), min_size=1, max_size=60))
def test_latency_figures_are_ordered_and_bounded(values: list[float]) -> None:
    fig = latency_figures(values, scale=1.0)
    assert fig.count == len(values)
    lo, hi = min(values), max(values)
    quantiles = [fig.median, fig.p90, fig.p95, fig.p99]
    assert all(isinstance(q, float) for q in quantiles)
    floats = [q for q in quantiles if isinstance(q, float)]
    assert all(lo - 1e-9 <= q <= hi + 1e-9 for q in floats)
    assert floats == sorted(floats)
    assert isinstance(fig.mean, float) and lo - 1e-6 <= fig.mean <= hi + 1e-6


def test_records_and_progress_round_trip_through_the_codec() -> None:
    for r in hand_case():
        assert decode(RequestRecord, encode(r)) == r
    progress = WorkloadProgress(t=T0, phase="C c=5", done=3, total=None, in_flight=2, failed=1, elapsed_s=1.5)
    assert decode(WorkloadProgress, encode(progress)) == progress
    unknown_itl = encode(rec(0, 0.0, 0.1))["itl"]
    assert unknown_itl["mean"] == {"unknown": "fewer than two token-bearing chunks"}
    assert math.isfinite(encode(hand_case()[0])["start"])


# --------------------------------------------------------------------------------------------------
# peak concurrency: every request sent and not yet finished


def test_peak_concurrency_counts_failed_requests_too() -> None:
    # two successes that never overlap, under four failures that were in flight all along
    records = [
        rec(0, 0.0, 0.2, (0.1,)),
        rec(1, 1.0, 1.2, (0.1,)),
        *(
            rec(2 + i, 0.05, None, error="connection reset mid-stream after 3 chunks", end=2.0)
            for i in range(4)
        ),
    ]
    assert summarize(records).peak_concurrency == 5.0


def test_peak_concurrency_holds_when_every_request_was_cancelled() -> None:
    cancelled = [
        rec(i, 0.1 * i, 0.5, (0.1,), error="cancelled (the run was stopped)", end=3.0) for i in range(3)
    ]
    s = summarize(cancelled)
    assert s.successful == 0 and s.peak_concurrency == 3.0


def test_peak_concurrency_leaves_warmup_out_and_says_when_ends_are_missing() -> None:
    records = [rec(0, 0.0, 0.2, (0.1,)), rec(1, 0.0, 0.2, (0.1,), warmup=True)]
    assert summarize(records).peak_concurrency == 1.0
    unended = [rec(0, 0.0, 0.2, (0.1,)), replace(rec(1, 0.0, None, error="failed"), end=None)]
    peak = summarize(unended).peak_concurrency
    assert isinstance(peak, Unknown) and "1 of the requests ended" in peak.reason


# --------------------------------------------------------------------------------------------------
# failures grouped by kind


def test_failure_reasons_are_grouped_by_kind() -> None:
    too_long = (
        "HTTP 400: This model's maximum context length is 256 tokens. However, you requested {} tokens."
    )
    errors = [
        "connection reset mid-stream after 3 chunks",
        "connection reset mid-stream after 120 chunks",
        "connection reset mid-stream after 4 chunks",
        too_long.format(300),
        too_long.format(412),
        "HTTP 500: boom",
        "HTTP 503: boom",
        "connection refused by 127.0.0.1:8000",
        "connection refused by 127.0.0.1:8000",
        "timeout: no data for 0.5 s while waiting for the first token",
    ]
    assert error_kinds(errors) == {
        "connection reset mid-stream after 3 to 120 chunks": 3,
        "HTTP 400: This model's maximum context length is 256 tokens. However, you requested 300 to 412 "
        "tokens.": 2,
        "connection refused by 127.0.0.1:8000": 2,
        "HTTP 500: boom": 1,
        "HTTP 503: boom": 1,
        "timeout: no data for 0.5 s while waiting for the first token": 1,
    }
    s = summarize([rec(i, 0.0, None, error=e, end=0.1) for i, e in enumerate(errors)])
    assert s.errors == error_kinds(errors) and s.failed == len(errors)


# --------------------------------------------------------------------------------------------------
# values that cannot be are unknown, with the reason


def test_a_negative_completion_count_makes_token_figures_unknown_not_negative() -> None:
    records = [rec(0, 0.0, 0.5, (0.1, 0.1), out=3), rec(1, 0.1, 0.6, (0.1, 0.1), out=-5)]
    s = summarize(records)
    for value in (
        s.total_output_tokens,
        s.output_throughput,
        s.total_token_throughput,
        s.decode_tps_per_user,
        s.decode_tps_total,
        s.tpot_ms.mean,
    ):
        assert isinstance(value, Unknown), value
        assert "request 1, completion_tokens -5, fewer than the 3 chunks streamed" in value.reason
    # what the counts do not feed is still known
    assert s.ttft_ms.mean == pytest.approx(500.0) and s.itl_ms.mean == pytest.approx(100.0)
    assert s.total_input_tokens == 20 and s.prefill_tps_total == pytest.approx(20 / 0.6)
    doc = summary_dict(s)
    assert doc["output_throughput"] is None and "completion_tokens -5" in doc["unknown"]["output_throughput"]


def test_a_prompt_count_the_client_knows_is_wrong_makes_prompt_figures_unknown() -> None:
    problem = "prompt_tokens 5 for a prompt of 64 tokens"
    s = summarize([rec(0, 0.0, 0.5, (0.1,), prompt=5, usage_problem=problem), rec(1, 0.0, 0.5, (0.1,))])
    for value in (s.total_input_tokens, s.total_token_throughput, s.prefill_tps_total):
        assert isinstance(value, Unknown) and problem in value.reason
    assert s.total_output_tokens == 4 and not isinstance(s.output_throughput, Unknown)
    negative = summarize([rec(0, 0.0, 0.5, (0.1,), prompt=-3)])
    assert (
        isinstance(negative.total_input_tokens, Unknown)
        and "prompt_tokens -3" in negative.total_input_tokens.reason
    )


def test_more_completion_tokens_than_asked_for_is_an_output_problem() -> None:
    problem = "completion_tokens 900, more than the 16 asked for"
    s = summarize([rec(0, 0.0, 0.5, (0.1,), out=900, usage_problem=problem)])
    assert isinstance(s.output_throughput, Unknown) and problem in s.output_throughput.reason
    assert s.total_input_tokens == 10


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (rec(0, 1.0, 0.5, (0.1,)), "its first token came before it was sent"),
        (rec(0, 0.0, 0.5, (0.1, -0.05, 0.1)), "a chunk came before the one before it"),
        (rec(0, 0.0, 0.5, (0.1,), end=0.4), "it ended before its first token"),
    ],
    ids=["token before start", "negative gap", "end before first token"],
)
def test_impossible_times_make_latencies_unknown(record: RequestRecord, reason: str) -> None:
    s = summarize([record, rec(1, 0.0, 0.3, (0.1, 0.1))])
    for value in (s.ttft_ms.p99, s.itl_ms.mean, s.e2el_ms.median, s.tpot_ms.mean, s.peak_output_throughput):
        assert isinstance(value, Unknown) and f"request 0, {reason}" in value.reason
    assert s.successful == 2 and s.total_output_tokens == (record.output_tokens + 3)


def test_a_run_stopped_during_its_warm_up_says_so() -> None:
    s = summarize([rec(0, 0.0, None, error="cancelled (the run was stopped)", end=1.0, warmup=True)])
    assert s.warmup == 1 and s.successful == 0
    for value in (s.peak_concurrency, s.duration_s, s.request_throughput):
        assert isinstance(value, Unknown) and value.reason == "only warm-up requests were made"
