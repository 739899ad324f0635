"""Histogram quantiles with Prometheus ``histogram_quantile`` semantics, over bucket deltas.

``quantile(q, bounds, cumulative)`` is what ``histogram_quantile(q, sum by (le)
(rate(x_bucket[w])))`` returns when fed the bucket increases over the window: find the bucket where
the rank ``q * total`` falls and interpolate linearly inside it; the lowest bucket starts at 0
(unless its upper bound is <= 0); a rank in the +Inf bucket returns the upper bound of the highest
finite bucket. Buckets that decrease (a scrape taken mid-update) are made monotonic first, as
Prometheus does.

The interpolated value is a guess inside the bucket: all the histogram knows is that the quantile
lies between the bucket's bounds. ``quantile_buckets`` gives those bounds, so a view can show a
range (``100–250 ms``) where the bucket is wide, rather than a precise-looking figure.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from operator import sub

from sparktop.model import Num, Unknown

NO_OBSERVATIONS = "no observations in the window"


def quantiles(qs: Sequence[float], bounds: Sequence[float], cumulative: Sequence[float]) -> list[Num]:
    """Several quantiles of one histogram (the buckets are prepared once)."""
    if len(bounds) < 2 or len(bounds) != len(cumulative) or not math.isinf(bounds[-1]):
        return [Unknown("histogram needs a +Inf bucket and at least one finite bucket")] * len(qs)
    counts = list(accumulate(cumulative, max))
    if counts[0] < 0:
        counts = [max(c, 0.0) for c in counts]
    return [_quantile(q, bounds, counts) for q in qs]


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> Num:
    """The q-quantile (0 <= q <= 1) of a cumulative histogram whose last bound is +Inf."""
    return quantiles((q,), bounds, cumulative)[0]


Bucket = tuple[float, float]
"""(lower, upper): the quantile is above ``lower`` and at most ``upper`` (``inf`` for the +Inf bucket)."""


def quantile_buckets(
    qs: Sequence[float], bounds: Sequence[float], cumulative: Sequence[float]
) -> list[Bucket | None]:
    """For each q, the bucket its rank falls in (None when the histogram has no observations)."""
    if len(bounds) < 2 or len(bounds) != len(cumulative) or not math.isinf(bounds[-1]):
        return [None] * len(qs)
    counts = list(accumulate(cumulative, max))
    total = counts[-1]
    out: list[Bucket | None] = []
    for q in qs:
        if not total > 0 or not 0 <= q <= 1:
            out.append(None)
            continue
        index = min(bisect_left(counts, q * total, 0, len(counts) - 1), len(counts) - 1)
        upper = bounds[index]
        lower = bounds[index - 1] if index else (0.0 if upper > 0 else -math.inf)
        out.append((lower, upper))
    return out


def _quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> Num:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    total = counts[-1]
    if not total > 0:
        return Unknown(NO_OBSERVATIONS)
    rank = q * total
    # first bucket whose cumulative count reaches the rank (the +Inf bucket always does)
    index = min(bisect_left(counts, rank, 0, len(counts) - 1), len(counts) - 1)
    if index == len(bounds) - 1:
        return bounds[-2]
    upper = bounds[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = bounds[index - 1], counts[index - 1]
    in_bucket = counts[index] - below
    if in_bucket <= 0:
        return math.nan  # only for q == 0 over an empty lowest bucket, as in Prometheus (0/0)
    return lower + (upper - lower) * ((rank - below) / in_bucket)


def delta(now: Sequence[float], then: Sequence[float]) -> tuple[float, ...]:
    """Per-bucket increase between two cumulative readings (already reset-corrected)."""
    return tuple(map(sub, now, then))


def mean(sum_delta: float, count_delta: float) -> Num:
    """Windowed mean: delta(_sum) / delta(_count)."""
    if not count_delta > 0:
        return Unknown(NO_OBSERVATIONS)
    return sum_delta / count_delta
