"""A past range of one target, from Prometheus' ``query_range``, as the scrape results a replay is fed.

What a step's value is: Prometheus evaluates the target's series at each step time ``s`` and gives,
for each series, its newest sample at or before ``s``, if that sample is no older than the lookback
delta (5 minutes unless Prometheus runs with ``--query.lookback-delta``) and was not followed by a
staleness marker (the series left the page, or the target went away). The step's time is not the
sample's: so each step also asks ``timestamp(up)``, the time of the scrape whose samples the step
holds (a scrape stamps all its samples, ``up`` included, with one time).

Each scrape becomes one ``ScrapeResult`` stamped with its own time, as the live source
(``sparktop.prometheus.source``) returns it: steps that hold the same scrape again are dropped, and
the default step is half the scrape interval, so no scrape falls between two steps. The sequence is
then the one a live session saw, and so are the figures. A larger ``step`` skips scrapes (the
results are still real samples at their real times). ``up`` = 0 is ``unreachable`` (Prometheus does
not keep its ``lastError``); a stretch with no scrape at all is one ``unknown`` result.

Long ranges are read in chunks (Prometheus refuses more than 11,000 points per series, and one
chunk's answer is held in memory), and results are yielded chunk by chunk.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping, Sequence

from sparktop.model import ScrapeResult
from sparktop.prometheus.api import PromAPI, PromError, labels, number
from sparktop.prometheus.pages import PageBuilder, selector
from sparktop.prometheus.targets import DEFAULT_INTERVAL_S, PromTarget

MAX_POINTS = 10_000
"""Steps per query (Prometheus' limit is 11,000 points per series)."""
SAMPLE_BUDGET = 1_000_000
"""Samples per chunk (series x steps): bounds the memory one answer takes."""
ASSUMED_SERIES = 500
"""Series per target assumed before the first answer tells (a vLLM page has a few hundred)."""
NOT_KEPT = "Prometheus could not scrape it (up = 0); its reason is not kept in its history"
NO_SCRAPE = "Prometheus has no scrape of the target at this time"


def default_step(target: PromTarget) -> float:
    """Half the target's scrape interval: every scrape is the newest sample at one step at least."""
    return (target.interval_s or DEFAULT_INTERVAL_S) / 2


async def iter_history(
    api: PromAPI,
    target: PromTarget,
    start: float,
    end: float,
    *,
    step: float | None = None,
    max_points: int = MAX_POINTS,
    sample_budget: int = SAMPLE_BUDGET,
) -> AsyncIterator[list[ScrapeResult]]:
    """The target's scrapes made from ``start`` to ``end`` (Unix seconds, both included), in time
    order, a chunk at a time. Raises ``PromError``."""
    step = step or default_step(target)
    if not (step > 0 and end >= start):
        raise PromError("bad-range", f"not a range: {start:g} to {end:g} every {step:g} s")
    sel = selector(target.labels)
    values_q = selector(target.labels, "vllm:.+|up|scrape_duration_seconds")
    times_q = f"timestamp(up{sel})"
    builder = PageBuilder()
    last_t: float | None = None
    in_gap = False
    series = ASSUMED_SERIES
    k, steps = 0, math.ceil((end - start) / step)  # the last step at or after ``end``
    while k <= steps:
        points = max(1, min(max_points, sample_budget // max(1, series)))
        k_end = min(steps, k + points - 1)
        a, b = start + k * step, start + k_end * step
        matrix, times = await asyncio.gather(
            api.query_range(values_q, a, b, step), api.query_range(times_q, a, b, step)
        )
        series = max(1, len(matrix))
        chunk: list[ScrapeResult] = []
        by_step = _by_step(matrix)
        for s, scrape_t in _scrape_times(times, round(step * 1000)):
            if scrape_t is None:
                if not in_gap and last_t is not None:
                    chunk.append(ScrapeResult(s / 1000, "unknown", NO_SCRAPE))
                in_gap = True
                continue
            in_gap = False
            if (last_t is not None and scrape_t <= last_t) or not start <= scrape_t <= end:
                continue  # the same scrape again, or one outside the range
            last_t = scrape_t
            chunk.append(_result(builder, scrape_t, by_step.get(s, [])))
        yield chunk
        k = k_end + 1


async def fetch_history(
    api: PromAPI,
    targets: Sequence[PromTarget],
    start: float,
    end: float,
    *,
    step: float | None = None,
) -> dict[PromTarget, list[ScrapeResult]]:
    """Every target's scrapes over the range, read concurrently. Raises ``PromError``."""

    async def one(target: PromTarget) -> list[ScrapeResult]:
        out: list[ScrapeResult] = []
        async for chunk in iter_history(api, target, start, end, step=step):
            out.extend(chunk)
        return out

    results = await asyncio.gather(*(one(t) for t in targets))
    return dict(zip(targets, results, strict=True))


Sample = tuple[str, Mapping[str, str], float]


def _by_step(matrix: list[dict[str, object]]) -> dict[int, list[Sample]]:
    """Each step's samples (name, stored labels, value), keyed by the step's time in ms."""
    out: dict[int, list[Sample]] = {}
    for entry in matrix:
        metric = labels(entry.get("metric", {}))
        name = metric.get("__name__", "")
        for pair in _pairs(entry):
            out.setdefault(round(pair[0] * 1000), []).append((name, metric, number(pair[1])))
    return out


def _scrape_times(matrix: list[dict[str, object]], step_ms: int) -> list[tuple[int, float | None]]:
    """For each step (in ms, in order), the time of the scrape it holds; ``None`` once after steps
    that held none (a gap)."""
    found: dict[int, float] = {}
    for entry in matrix:
        for pair in _pairs(entry):
            found[round(pair[0] * 1000)] = number(pair[1])
    out: list[tuple[int, float | None]] = []
    previous: int | None = None
    for s in sorted(found):
        if previous is not None and s - previous > step_ms + 1:
            out.append((previous + step_ms, None))  # a gap: steps without a scrape
        out.append((s, found[s]))
        previous = s
    return out


def _pairs(entry: Mapping[str, object]) -> list[tuple[float, object]]:
    values = entry.get("values")
    if not isinstance(values, list):
        raise PromError("not-prometheus", "Prometheus' query_range answer holds malformed values")
    out = []
    for pair in values:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (int, float))):
            raise PromError("not-prometheus", "Prometheus' query_range answer holds a malformed sample")
        out.append((float(pair[0]), pair[1]))
    return out


def _result(builder: PageBuilder, t: float, samples: list[Sample]) -> ScrapeResult:
    target_labels: dict[str, str] = {}
    up: float | None = None
    latency: float | None = None
    page: list[Sample] = []
    for name, metric, value in samples:
        if name == "up":
            up = value
            target_labels = {k: v for k, v in metric.items() if k != "__name__"}
        elif name == "scrape_duration_seconds":
            latency = value
        elif name.startswith("vllm:"):
            page.append((name, metric, value))
    if up != 1.0:
        return ScrapeResult(t, "unreachable", NOT_KEPT)
    return builder.result(t, page, target_labels, latency_s=latency)
