"""From request records to the figures a benchmark reports: pure functions, no I/O.

Definitions follow ``vllm bench serve`` so figures sit next to its output, except where said:

- TTFT: first token - start, over successful requests. The first token is the first chunk that
  carries text or reasoning, as llama-benchy and aiperf count it; ``vllm bench serve`` counts the
  first chunk with any choice, so a chat stream's role-only first chunk. vLLM sends that chunk
  in the same step as the first token (a median 0.1 ms before it, measured on vLLM 0.32), so the
  two agree on vLLM; on a server that sends the role before the first token is computed,
  ``vllm bench serve`` would time that instead.
- TPOT: (E2EL - TTFT) / (output tokens - 1), for successful requests with more than one token.
- ITL: every gap between successive token-bearing chunks, pooled over successful requests
  (``vllm bench serve`` also counts the gap after a chat stream's role-only chunk: one more, near
  zero, per request).
- E2EL: end - start (``end`` is the arrival of the last token-bearing chunk).
- Throughputs divide successful requests and tokens by the duration (first start to last end,
  failed requests included, unless the caller knows the run's duration better).
- Peak output throughput: the most chunk arrivals in one 1-second bucket counted from the first
  successful start (as ``vllm bench serve``). Peak concurrency: the most requests in flight at
  once, from the exact sweep over the [start, end) intervals of every request sent, failed and
  cancelled ones included (``vllm bench serve`` 0.32 counts the successful requests active in the
  same 1-second bucket, which can exceed what was ever in flight at once).
- Percentiles interpolate linearly between order statistics (numpy's default); std is the
  population standard deviation.

Decode tokens/s per user has sparktop's one definition, the dashboard's and the report's:
decode tokens per request-second of decoding, here exactly from each request's own times,
sum of (output tokens - 1) / sum of (end - first token). When the requests of a step decode at one
speed (a lockstep closed loop) it equals llama-benchy's ``tg t/s (req)``, the mean over requests of
the same ratio; otherwise llama-benchy weights every request alike, sparktop every second alike.
The total decode rate is decode tokens per second in which at least one request decoded, so per
user never exceeds it; in a lockstep loop (requests of a batch decode together) it is llama-benchy's
``tg t/s (total)``, (output tokens - requests) / (last end - first first-token) per batch. The
prefill rate is llama-benchy's per batch, prompt tokens / (last first-token - first start),
averaged over the batches.

Warm-up records are counted apart and left out of every figure. Values that cannot be (a negative
token count, a prompt count unlike what was sent, a token before its request started, a gap
below zero) make the figures they feed unknown, with the reason, instead of a number. Failures
are grouped by kind: reasons that differ only in their numbers are one line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sparktop.model import ItlSummary, Num, RequestRecord, Unknown

NO_DATA = Unknown("no successful request")


DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "TTFT",
        "start to the first chunk carrying text or reasoning (llama-benchy's rule; vllm bench serve "
        "starts from a chat stream's role-only first chunk, which vLLM sends with the first token)",
    ),
    (
        "TPOT",
        "(E2EL - TTFT) / (output tokens - 1), output tokens as the server's usage counts them (the "
        "chunks when it sends none)",
    ),
    (
        "ITL",
        "every gap between successive token chunks, pooled over requests (vllm bench serve also "
        "counts the near-zero gap after a chat stream's role-only chunk)",
    ),
    ("E2EL", "start to the last token chunk"),
    (
        "Peak concurrent requests",
        "the most in flight at once, failed and cancelled ones included (vllm bench serve 0.32: the "
        "most successful requests active within one second)",
    ),
    (
        "Decode tok/s per user",
        "sum over requests of (output tokens - 1) / sum of (end - first token): decode tokens per "
        "request-second, as the dashboard and report count it (llama-benchy's tg t/s (req), a mean of "
        "per-request rates, is the same when the requests decode at one speed)",
    ),
    (
        "Decode tok/s total",
        "decode tokens per second in which at least one request decoded (llama-benchy's tg t/s "
        "(total) when a batch's requests decode together), so never below the per-user figure",
    ),
    (
        "Prefill tok/s total",
        "llama-benchy's pp t/s (total): per lockstep batch, prompt tokens / (last first token - "
        "first start), averaged over the batches",
    ),
)
"""How ``load`` defines what it prints, shown under its summary (keep in step with the code)."""


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
    """Decode tokens/s one user sees: decode tokens per request-second of decoding (the
    dashboard's and report's definition; llama-benchy's ``tg t/s (req)`` in a lockstep loop)."""
    decode_tps_total: Num
    """Decode tokens per second in which requests decoded (llama-benchy's ``tg t/s (total)`` in a
    lockstep loop); never below the per-user figure."""
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


def _union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the [start, end) spans."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


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


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")
_HTTP = re.compile(r"HTTP (\d{3})\b")


def _kind(error: str) -> str:
    """What a failure reason is without its numbers (an HTTP status is kept: it is the kind)."""
    status = _HTTP.match(error)
    rest = error[status.end() :] if status else error
    return (status.group(0) if status else "") + _NUMBER.sub("#", rest)


def _label(reasons: Sequence[str]) -> str:
    """One line for reasons of one kind: each number that varies shown as its range."""
    first = reasons[0]
    if all(r == first for r in reasons):
        return first
    split = [_NUMBER.split(r) for r in reasons]
    parts = list(split[0])
    for i in range(1, len(parts), 2):  # odd positions hold the numbers
        values = sorted({p[i] for p in split}, key=float)
        if len(values) > 1:
            parts[i] = f"{values[0]} to {values[-1]}"
    return "".join(parts)


def error_kinds(errors: Iterable[str | None]) -> dict[str, int]:
    """Failure reasons grouped by kind, the most frequent first: reasons that differ only in their
    numbers (chunks received before a reset, token counts in a server's message) are one kind,
    shown with each varying number as its range ("after 3 to 120 chunks"); different HTTP statuses
    are different kinds."""
    groups: dict[str, list[str]] = {}
    for error in errors:
        text = error or "unknown error"
        groups.setdefault(_kind(text), []).append(text)
    out: dict[str, int] = {}
    for reasons in sorted(groups.values(), key=len, reverse=True):
        label = _error_key(_label(reasons))
        out[label] = out.get(label, 0) + len(reasons)
    return out


# --------------------------------------------------------------------------------------------------
# values that cannot be


def _impossible(r: RequestRecord) -> tuple[str | None, str | None, str | None]:
    """Why a successful record's prompt count, output count or times cannot be right (None where
    they can): (prompt, output, times)."""
    prompt = output = times = None
    problem = r.usage_problem
    if problem is not None:
        if problem.startswith("prompt_tokens"):
            prompt = problem
        else:
            output = problem
    if prompt is None and r.prompt_tokens <= 0:
        prompt = f"prompt_tokens {r.prompt_tokens}"
    chunks = r.itl.count + 1 if r.first_token is not None else 0
    if output is None and r.output_tokens < chunks:
        output = f"completion_tokens {r.output_tokens}, fewer than the {chunks} chunks streamed"
    if r.first_token is not None and r.first_token < r.start:
        times = "its first token came before it was sent"
    elif r.end is not None and r.first_token is not None and r.end < r.first_token:
        times = "it ended before its first token"
    elif any(g < 0 for g in r.gaps):
        times = "a chunk came before the one before it"
    return prompt, output, times


def _unknown_because(what: str, found: Sequence[tuple[RequestRecord, str]], of: int) -> Unknown:
    r, reason = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return Unknown(f"{what} for {len(found)} of {of} successful requests: request {r.id}, {reason}{more}")


def _peak(measured: Sequence[RequestRecord], nothing: Unknown) -> Num:
    if not measured:
        return nothing
    open_ended = sum(r.end is None for r in measured)
    if open_ended:
        return Unknown(f"when {open_ended} of the requests ended was not recorded")
    return float(peak_concurrency(measured))


def summarize(records: Iterable[RequestRecord], duration_s: float | None = None) -> Summary:
    """The summary of ``records`` (warm-up records are counted apart and left out)."""
    all_records = list(records)
    measured = [r for r in all_records if not r.warmup]
    ok = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok]
    duration = duration_s if duration_s is not None else duration_of(measured)
    inputs = sum(r.prompt_tokens for r in ok)
    outputs = sum(r.output_tokens for r in ok)
    nothing = Unknown("only warm-up requests were made" if all_records else "no request was made")

    def rate(amount: float) -> Num:
        if duration is None:
            return nothing
        if duration <= 0:
            return Unknown("zero duration")
        return amount / duration

    tpots = [
        (r.end - r.first_token) / (r.output_tokens - 1)
        for r in ok
        if r.output_tokens > 1 and r.end is not None and r.first_token is not None
    ]
    decoding = [r for r in ok if _decode_rate(r) is not None]
    decode_seconds = math.fsum(r.end - r.first_token for r in decoding)  # type: ignore[operator]
    _, prefill_total = _batch_rates(ok)
    busy = _union_seconds((r.first_token, r.end) for r in decoding)  # type: ignore[misc]
    decode_total: Num = (
        sum(r.output_tokens - 1 for r in decoding) / busy if busy > 0 else Unknown("no decode to measure")
    )
    summary = Summary(
        successful=len(ok),
        failed=len(failed),
        duration_s=duration if duration is not None else nothing,
        request_throughput=rate(len(ok)),
        output_throughput=rate(outputs),
        total_token_throughput=rate(inputs + outputs),
        total_input_tokens=inputs,
        total_output_tokens=outputs,
        peak_output_throughput=peak_output_throughput(ok),
        peak_concurrency=_peak(measured, nothing),
        ttft_ms=latency_figures((x for x in map(_ttft, ok) if x is not None), reason=NO_DATA.reason),
        tpot_ms=latency_figures(tpots, reason="no successful request with more than one output token"),
        itl_ms=_itl(ok),
        e2el_ms=latency_figures((x for x in map(_e2el, ok) if x is not None), reason=NO_DATA.reason),
        decode_tps_per_user=(
            sum(r.output_tokens - 1 for r in decoding) / decode_seconds
            if decoding
            else Unknown("no decode to measure")
        ),
        decode_tps_total=decode_total,
        prefill_tps_total=prefill_total,
        errors=error_kinds(r.error for r in failed),
        warmup=len(all_records) - len(measured),
    )
    return _without_impossible(summary, ok)


def _without_impossible(s: Summary, ok: Sequence[RequestRecord]) -> Summary:
    """``s`` with every figure fed by a value that cannot be made unknown, with the reason."""
    prompts: list[tuple[RequestRecord, str]] = []
    outputs: list[tuple[RequestRecord, str]] = []
    times: list[tuple[RequestRecord, str]] = []
    for r in ok:
        prompt, output, time = _impossible(r)
        if prompt is not None:
            prompts.append((r, prompt))
        if output is not None:
            outputs.append((r, output))
        if time is not None:
            times.append((r, time))
    n = len(ok)
    if outputs:
        u = _unknown_because("impossible output token counts", outputs, n)
        s = replace(
            s,
            total_output_tokens=u,
            output_throughput=u,
            total_token_throughput=u,
            tpot_ms=LatencyFigures.unknown(u.reason),
            decode_tps_per_user=u,
            decode_tps_total=u,
        )
    if prompts:
        u = _unknown_because("impossible prompt token counts", prompts, n)
        s = replace(s, total_input_tokens=u, total_token_throughput=u, prefill_tps_total=u)
    if times:
        u = _unknown_because("impossible times", times, n)
        figures = LatencyFigures.unknown(u.reason)
        s = replace(
            s,
            ttft_ms=figures,
            tpot_ms=figures,
            itl_ms=figures,
            e2el_ms=figures,
            peak_output_throughput=u,
            decode_tps_per_user=u,
            decode_tps_total=u,
            prefill_tps_total=u,
        )
    return s


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
