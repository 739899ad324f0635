"""From request records to the figures a benchmark reports: pure functions, no I/O.

Definitions follow ``vllm bench serve`` so figures sit next to its output:

- TTFT: first token - start, over successful requests.
- TPOT: (E2EL - TTFT) / (output tokens - 1), for successful requests with more than one token.
- ITL: every gap between successive token-bearing chunks, pooled over successful requests.
- E2EL: end - start (``end`` is the arrival of the last token-bearing chunk).
- Throughputs divide successful requests and tokens by the duration (first start to last end,
  failed requests included, unless the caller knows the run's duration better).
- Peak output throughput: the most chunk arrivals in one 1-second bucket counted from the first
  successful start; peak concurrency: the most successful requests in flight at once, from the
  exact sweep over their [start, end) intervals (current ``vllm bench serve``).
- Percentiles interpolate linearly between order statistics (numpy's default); std is the
  population standard deviation.

Closed-loop runs also get llama-benchy's figures: decode tokens/s per user, mean over requests of
(output tokens - 1) / (end - first token), and per lockstep batch the total decode rate
(sum of output tokens - requests) / (last end - first first-token) and prefill rate
(prompt tokens / (last first-token - first start)), each averaged over the batches.

Warm-up records are counted apart and left out of every figure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sparktop.model import ItlSummary, Num, RequestRecord, Unknown

NO_DATA = Unknown("no successful request")


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """One latency over the successful requests, in milliseconds."""

    mean: Num
    median: Num
    p90: Num
    p95: Num
    p99: Num
    std: Num
    count: int

    @staticmethod
    def unknown(reason: str) -> LatencyFigures:
        u = Unknown(reason)
        return LatencyFigures(u, u, u, u, u, u, 0)


@dataclass(frozen=True, slots=True)
class Summary:
    """What a benchmark run reports, in the shape of ``vllm bench serve``'s result block."""

    successful: int | Unknown
    failed: int | Unknown
    duration_s: Num
    request_throughput: Num
    output_throughput: Num
    total_token_throughput: Num
    total_input_tokens: int | Unknown
    total_output_tokens: int | Unknown
    peak_output_throughput: Num
    peak_concurrency: Num
    ttft_ms: LatencyFigures
    tpot_ms: LatencyFigures
    itl_ms: LatencyFigures
    e2el_ms: LatencyFigures
    decode_tps_per_user: Num
    """llama-benchy's ``tg t/s (req)``: decode tokens/s one user sees."""
    decode_tps_total: Num
    """llama-benchy's ``tg t/s (total)``: decode tokens/s of a lockstep batch, averaged over batches."""
    prefill_tps_total: Num
    """llama-benchy's ``pp t/s (total)``: prompt tokens/s of a lockstep batch, averaged over batches."""
    errors: Mapping[str, int] = field(default_factory=dict)
    """Failed requests by reason."""
    warmup: int = 0
    """Warm-up requests seen and left out."""
    source: str = "sparktop"


# --------------------------------------------------------------------------------------------------
# order statistics


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ascending values, interpolated like numpy's default."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    pos = (n - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_figures(
    values: Iterable[float], scale: float = 1000.0, reason: str = "no data"
) -> LatencyFigures:
    """Mean, median, p90/p95/p99 and std of ``values`` times ``scale`` (seconds to ms by default)."""
    xs = sorted(v * scale for v in values)
    if not xs:
        return LatencyFigures.unknown(reason)
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / n)
    return LatencyFigures(
        mean=mean,
        median=percentile(xs, 50),
        p90=percentile(xs, 90),
        p95=percentile(xs, 95),
        p99=percentile(xs, 99),
        std=std,
        count=n,
    )


def itl_summary(gaps: Sequence[float]) -> ItlSummary:
    """One response's gaps summarised (what a ``RequestRecord`` carries next to the raw gaps)."""
    if not gaps:
        u = Unknown("fewer than two token-bearing chunks")
        return ItlSummary(0, u, u, u, u, u)
    xs = sorted(gaps)
    return ItlSummary(
        count=len(xs),
        mean=math.fsum(xs) / len(xs),
        p50=percentile(xs, 50),
        p90=percentile(xs, 90),
        p99=percentile(xs, 99),
        max=xs[-1],
    )


# --------------------------------------------------------------------------------------------------
# the summary


def _ttft(r: RequestRecord) -> float | None:
    return None if r.first_token is None else r.first_token - r.start


def _e2el(r: RequestRecord) -> float | None:
    return None if r.end is None else r.end - r.start


def duration_of(records: Iterable[RequestRecord]) -> float | None:
    """First start to last end (or start, for a request that never ended), over every request."""
    first = math.inf
    last = -math.inf
    for r in records:
        first = min(first, r.start)
        last = max(last, r.start if r.end is None else r.end)
    return None if first == math.inf else max(0.0, last - first)


def peak_concurrency(records: Iterable[RequestRecord]) -> int:
    """The most requests in flight at once over their [start, end) intervals."""
    events: list[tuple[float, int]] = []
    for r in records:
        if r.end is not None:
            events.append((r.start, 1))
            events.append((r.end, -1))
    events.sort()  # at equal times -1 sorts first: half-open intervals
    now = peak = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak


def peak_output_throughput(records: Sequence[RequestRecord]) -> Num:
    """The most token-bearing chunks arriving in one 1-second bucket (from the first start)."""
    if not records:
        return NO_DATA
    if any(r.first_token is not None and r.itl.count > len(r.gaps) for r in records):
        return Unknown("per-chunk arrival times were not recorded")
    origin = min(r.start for r in records)
    buckets: Counter[int] = Counter()
    for r in records:
        if r.first_token is None:
            continue
        t = r.first_token
        buckets[int(t - origin)] += 1
        for gap in r.gaps:
            t += gap
            buckets[int(t - origin)] += 1
    return float(max(buckets.values())) if buckets else NO_DATA


def _itl(ok: Sequence[RequestRecord]) -> LatencyFigures:
    if not ok:
        return LatencyFigures.unknown(NO_DATA.reason)
    if any(r.itl.count > len(r.gaps) for r in ok):
        # Records from a tool that kept only per-request summaries: the pooled mean is exact,
        # pooled percentiles are not knowable.
        count = sum(r.itl.count for r in ok)
        total = math.fsum(r.itl.mean * r.itl.count for r in ok if not isinstance(r.itl.mean, Unknown))
        u = Unknown("per-chunk gaps were not recorded")
        mean: Num = total / count * 1000.0 if count else Unknown("no inter-token gaps")
        return LatencyFigures(mean, u, u, u, u, u, count)
    return latency_figures(
        (g for r in ok for g in r.gaps), reason="no response had more than one token-bearing chunk"
    )


def _decode_rate(r: RequestRecord) -> float | None:
    if r.output_tokens > 1 and r.first_token is not None and r.end is not None and r.end > r.first_token:
        return (r.output_tokens - 1) / (r.end - r.first_token)
    return None


def _batch_rates(ok: Sequence[RequestRecord]) -> tuple[Num, Num]:
    """llama-benchy's per-batch total decode and prefill rates, averaged over the batches."""
    batches: dict[tuple[str, int], list[RequestRecord]] = {}
    for r in ok:
        batches.setdefault((r.phase, r.batch), []).append(r)
    decode: list[float] = []
    prefill: list[float] = []
    for batch in batches.values():
        firsts = [r.first_token for r in batch if r.first_token is not None]
        ends = [r.end for r in batch if r.end is not None]
        if not firsts or not ends:
            continue
        span = max(ends) - min(firsts)
        generated = sum(r.output_tokens for r in batch)
        if span > 0 and generated > len(batch):
            decode.append((generated - len(batch)) / span)
        pp_span = max(firsts) - min(r.start for r in batch)
        if pp_span > 0:
            prefill.append(sum(r.prompt_tokens for r in batch) / pp_span)
    no = Unknown("no batch with a measurable span")
    return (
        math.fsum(decode) / len(decode) if decode else no,
        math.fsum(prefill) / len(prefill) if prefill else no,
    )


def _error_key(error: str | None) -> str:
    text = error or "unknown error"
    return text if len(text) <= 120 else text[:117] + "..."


def summarize(records: Iterable[RequestRecord], duration_s: float | None = None) -> Summary:
    """The summary of ``records`` (warm-up records are counted apart and left out)."""
    all_records = list(records)
    measured = [r for r in all_records if not r.warmup]
    ok = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok]
    duration = duration_s if duration_s is not None else duration_of(measured)
    inputs = sum(r.prompt_tokens for r in ok)
    outputs = sum(r.output_tokens for r in ok)

    def rate(amount: float) -> Num:
        if duration is None:
            return Unknown("no request was made")
        if duration <= 0:
            return Unknown("zero duration")
        return amount / duration

    tpots = [
        (r.end - r.first_token) / (r.output_tokens - 1)
        for r in ok
        if r.output_tokens > 1 and r.end is not None and r.first_token is not None
    ]
    rates = [x for x in (_decode_rate(r) for r in ok) if x is not None]
    decode_total, prefill_total = _batch_rates(ok)
    return Summary(
        successful=len(ok),
        failed=len(failed),
        duration_s=duration if duration is not None else Unknown("no request was made"),
        request_throughput=rate(len(ok)),
        output_throughput=rate(outputs),
        total_token_throughput=rate(inputs + outputs),
        total_input_tokens=inputs,
        total_output_tokens=outputs,
        peak_output_throughput=peak_output_throughput(ok),
        peak_concurrency=float(peak_concurrency(ok)) if ok else NO_DATA,
        ttft_ms=latency_figures((x for x in map(_ttft, ok) if x is not None), reason=NO_DATA.reason),
        tpot_ms=latency_figures(tpots, reason="no successful request with more than one output token"),
        itl_ms=_itl(ok),
        e2el_ms=latency_figures((x for x in map(_e2el, ok) if x is not None), reason=NO_DATA.reason),
        decode_tps_per_user=math.fsum(rates) / len(rates) if rates else Unknown("no decode to measure"),
        decode_tps_total=decode_total,
        prefill_tps_total=prefill_total,
        errors=dict(Counter(_error_key(r.error) for r in failed).most_common()),
        warmup=len(all_records) - len(measured),
    )


def summarize_phases(records: Iterable[RequestRecord]) -> dict[str, Summary]:
    """One summary per phase, in the order the phases first appear (warm-up phases included,
    summarised as their own figures so they can be shown apart)."""
    groups: dict[str, list[RequestRecord]] = {}
    for r in records:
        groups.setdefault(r.phase, []).append(r)
    out: dict[str, Summary] = {}
    for phase, group in groups.items():
        warmup_only = all(r.warmup for r in group)
        out[phase] = summarize([_as_measured(r) for r in group] if warmup_only else group)
    return out


def _as_measured(r: RequestRecord) -> RequestRecord:
    return replace(r, warmup=False)


# --------------------------------------------------------------------------------------------------
# plain data (load --json, report --format json)


def _plain(v: object) -> object:
    return None if isinstance(v, Unknown) else v


def _latency_dict(fig: LatencyFigures) -> dict[str, object]:
    return {k: _plain(getattr(fig, k)) for k in ("mean", "median", "p90", "p95", "p99", "std")}


def summary_dict(s: Summary) -> dict[str, Any]:
    """The summary as plain JSON: numbers or null, with ``unknown`` giving each null's reason."""
    out: dict[str, Any] = {}
    unknown: dict[str, str] = {}
    for key in (
        "successful",
        "failed",
        "duration_s",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "total_input_tokens",
        "total_output_tokens",
        "peak_output_throughput",
        "peak_concurrency",
        "decode_tps_per_user",
        "decode_tps_total",
        "prefill_tps_total",
    ):
        value = getattr(s, key)
        out[key] = _plain(value)
        if isinstance(value, Unknown):
            unknown[key] = value.reason
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
        fig: LatencyFigures = getattr(s, key)
        out[key] = _latency_dict(fig)
        for stat in ("mean", "median", "p90", "p99"):
            value = getattr(fig, stat)
            if isinstance(value, Unknown):
                unknown[f"{key}.{stat}"] = value.reason
    out["errors"] = dict(s.errors)
    out["warmup"] = s.warmup
    out["source"] = s.source
    out["unknown"] = unknown
    return out
