"""Window quantiles follow Prometheus' histogram_quantile."""

from __future__ import annotations

import math
from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from sparktop.derive.histogram import delta, mean, quantile
from sparktop.model import Unknown

INF = math.inf


def promql_bucket_quantile(q: float, bounds: list[float], counts: list[float]) -> float:
    """An independent transcription of Prometheus' bucketQuantile (promql/quantile.go)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -INF
    if q > 1:
        return INF
    if not math.isinf(bounds[-1]):
        return math.nan
    fixed = []
    prev = 0.0
    for c in counts:  # ensureMonotonic
        prev = max(prev, c)
        fixed.append(prev)
    if len(bounds) < 2:
        return math.nan
    observations = fixed[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = bisect_left(fixed[:-1], rank)  # sort.Search(len-1, count >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], fixed[b]
    if b > 0:
        start = bounds[b - 1]
        count -= fixed[b - 1]
        rank -= fixed[b - 1]
    if count == 0:
        return math.nan
    return start + (end - start) * (rank / count)


@st.composite
def histograms(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    finite = sorted(set(draw(st.lists(st.floats(0.0005, 3000, allow_nan=False), min_size=1, max_size=25))))
    bounds = [*finite, INF]
    increments = draw(st.lists(st.integers(0, 50), min_size=len(bounds), max_size=len(bounds)))
    cumulative, total = [], 0.0
    for inc in increments:
        total += inc
        cumulative.append(total)
    return bounds, cumulative


@given(histograms(), st.floats(0, 1))
def test_matches_promql(h: tuple[list[float], list[float]], q: float) -> None:
    bounds, counts = h
    expected = promql_bucket_quantile(q, bounds, counts)
    got = quantile(q, bounds, counts)
    if math.isnan(expected):
        assert isinstance(got, Unknown) or math.isnan(got)
        if counts[-1] == 0:
            assert isinstance(got, Unknown)
    else:
        assert not isinstance(got, Unknown)
        assert got == expected or math.isclose(got, expected, rel_tol=1e-12)


def test_hand_checked_examples() -> None:
    bounds = [0.1, 0.5, 1.0, INF]
    # 10 observations: 2 <= 0.1, 6 in (0.1, 0.5], 2 in (0.5, 1]
    counts = [2.0, 8.0, 10.0, 10.0]
    assert quantile(0.5, bounds, counts) == 0.1 + 0.4 * (3 / 6)  # rank 5 -> 3 of 6 into the 2nd bucket
    assert quantile(0.1, bounds, counts) == 0.05  # rank 1 of 2 in [0, 0.1]
    assert quantile(1.0, bounds, counts) == 1.0
    # rank in the +Inf bucket -> highest finite bound
    assert quantile(0.99, bounds, [0.0, 0.0, 1.0, 10.0]) == 1.0
    assert quantile(0.5, bounds, [0.0] * 4) == Unknown("no observations in the window")
    assert quantile(-0.1, bounds, counts) == -INF and quantile(1.1, bounds, counts) == INF
    # a decreasing bucket (scrape mid-update) is made monotonic
    assert quantile(0.5, bounds, [2.0, 1.0, 4.0, 4.0]) == 0.1  # as [2, 2, 4, 4]: rank 2 ends bucket 1
    assert isinstance(quantile(0.5, [0.1, 0.5], [1.0, 2.0]), Unknown)


def test_delta_and_mean() -> None:
    assert delta((5.0, 9.0, 10.0), (1.0, 2.0, 3.0)) == (4.0, 7.0, 7.0)
    assert mean(3.0, 4.0) == 0.75
    assert isinstance(mean(0.0, 0.0), Unknown)
