"""Arrival processes and length distributions: statistics under a seed, vllm bench serve's bounds."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from sparktop.workload import arrivals


def gaps_of(times: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *times[:-1]], times, strict=True)]


@pytest.mark.parametrize(("rate", "burstiness"), [(2.0, 1.0), (0.3, 0.7), (5.0, 4.0)])
def test_gamma_gaps_have_the_asked_mean_and_spread(rate: float, burstiness: float) -> None:
    rng = random.Random(42)
    gaps = [arrivals.gap(rng, rate, burstiness) for _ in range(20000)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)
    # a gamma with shape k has coefficient of variation 1/sqrt(k): Poisson is 1, burstier is larger
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert cv == pytest.approx(1 / math.sqrt(burstiness), rel=0.05)


def test_a_fixed_count_ends_exactly_at_n_over_rate() -> None:
    times = arrivals.arrival_offsets(200, 0.3, 0.7, random.Random(42))
    assert len(times) == 200
    assert times[-1] == pytest.approx(200 / 0.3)
    assert all(b >= a for a, b in itertools.pairwise(times))
    assert min(gaps_of(times)) >= 0


def test_arrivals_are_deterministic_under_a_seed() -> None:
    a = arrivals.arrival_offsets(50, 1.5, 1.0, random.Random(42))
    b = arrivals.arrival_offsets(50, 1.5, 1.0, random.Random(42))
    c = arrivals.arrival_offsets(50, 1.5, 1.0, random.Random(43))
    assert a == b
    assert a != c


def test_infinite_rate_sends_everything_at_once_and_infinite_burstiness_is_regular() -> None:
    assert arrivals.arrival_offsets(5, math.inf, 1.0, random.Random(0)) == [0.0] * 5
    regular = arrivals.arrival_offsets(4, 2.0, math.inf, random.Random(0))
    assert regular == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_open_ended_stream_keeps_the_rate() -> None:
    stream = arrivals.arrival_stream(4.0, 1.0, random.Random(1))
    times = [next(stream) for _ in range(8000)]
    assert times[-1] / len(times) == pytest.approx(0.25, rel=0.04)


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        arrivals.arrival_offsets(3, 0.0, 1.0, random.Random(0))
    with pytest.raises(ValueError, match="burstiness"):
        arrivals.arrival_offsets(3, 1.0, -1.0, random.Random(0))


def test_random_lengths_use_vllm_bench_serve_bounds() -> None:
    # the published H/J runs logged "Sampling input_len from [399, 7600] and output_len from [49, 950]"
    assert arrivals.length_range(4000, 0.9) == (399, 7600)
    assert arrivals.length_range(500, 0.9) == (49, 950)
    assert arrivals.length_range(128, 0.0) == (128, 128)
    rng = random.Random(42)
    drawn = [arrivals.random_length(4000, 0.9, rng) for _ in range(5000)]
    assert min(drawn) >= 399 and max(drawn) <= 7600
    assert statistics.fmean(drawn) == pytest.approx((399 + 7600) / 2, rel=0.03)
    with pytest.raises(ValueError):
        arrivals.length_range(100, 1.0)


def test_conversation_lengths_look_like_the_published_sharegpt_replay() -> None:
    rng = random.Random(42)
    pairs = [arrivals.conversation_lengths(rng) for _ in range(20000)]
    prompts = [p for p, _ in pairs]
    outputs = [o for _, o in pairs]
    assert all(p >= 4 and o >= 4 and p <= 1024 and p + o <= 2048 for p, o in pairs)
    # the published run I averaged 241 prompt and 205 output tokens per request
    assert statistics.fmean(prompts) == pytest.approx(241, rel=0.06)
    assert statistics.fmean(outputs) == pytest.approx(205, rel=0.06)
    assert statistics.median(prompts) < statistics.fmean(prompts)  # long-tailed, like real chats
