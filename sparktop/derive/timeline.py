"""The Timeline: snapshots in, windowed figures out. Pure: time comes from the snapshots.

Counters are kept reset-corrected: when a counter goes down the server restarted, and the new value
is the increase since the restart (Prometheus ``rate()`` semantics). A restart, or a histogram
whose bucket bounds change (a different vLLM build came up), starts a new epoch; windows never span
two epochs, so the figures after a restart are the new server's only. The history kept is bounded
by ``retention_s``, so memory stays flat however long a session runs.

Decode speed has one definition (``decode_share``), shared with the whole-run report: an interval
between two scrapes in which tokens were generated is busy, and the requests that decoded in it are
the larger of the ``running`` gauge at either end (at least one); decode per user is generation
tokens per request-second, the aggregate is generation tokens per busy second. A busy second holds
at least one request-second, so per user never exceeds the aggregate.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import add, sub

from sparktop.derive import histogram
from sparktop.model import (
    HISTOGRAM_KEYS,
    Figures,
    Histogram,
    LatencyStats,
    MetricSnapshot,
    Num,
    Unknown,
    is_known,
)

COUNTER_KEYS: tuple[str, ...] = (
    "prompt_tokens_total",
    "generation_tokens_total",
    "preemptions_total",
    "prefix_cache_queries_total",
    "prefix_cache_hits_total",
    "spec_decode_drafts_total",
    "spec_decode_draft_tokens_total",
    "spec_decode_accepted_tokens_total",
)
QUANTILES = (0.5, 0.9, 0.95, 0.99)
QUANTILE_NAMES = ("p50", "p90", "p95", "p99")
NEED_TWO = "needs two scrapes in the window"


def counter_increase(previous: float, current: float) -> float:
    """Increase of a counter between two readings; a decrease means it restarted from 0."""
    return current - previous if current >= previous else current


def decode_share(running_before: Num | None, running_after: Num, generated: float) -> float:
    """How many requests decoded between two scrapes (see the module docstring): none if no token
    was generated, else the larger of the ``running`` gauge at either end, and at least one."""
    if not generated > 0:
        return 0.0
    before = running_before if is_known(running_before) else 0.0
    after = running_after if is_known(running_after) else 0.0
    return max(before, after, 1.0)


@dataclass(frozen=True, slots=True)
class _Hist:
    epoch: int
    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    count: float
    sum: float


@dataclass(frozen=True, slots=True)
class _Tick:
    t: float
    counters: Mapping[str, float]  # reset-corrected, only the known ones
    hists: Mapping[str, _Hist]  # reset-corrected, only the known ones
    finished: Mapping[str, float] | None  # reset-corrected
    running: Num  # the gauge at this scrape
    request_s: float  # request-seconds of running so far (see decode_share)
    busy_s: float  # seconds with at least one request running so far
    epoch: int  # counter resets seen so far: a window never starts before its end's epoch


class _Corrector:
    """Turns raw counter readings into reset-corrected cumulative values."""

    def __init__(self) -> None:
        self.raw: dict[str, float] = {}
        self.corrected: dict[str, float] = {}
        self.resets = 0

    def update(self, key: str, value: float) -> float:
        previous = self.raw.get(key)
        if previous is None:
            corrected = value
        else:
            if value < previous:
                self.resets += 1
            corrected = self.corrected[key] + counter_increase(previous, value)
        self.raw[key] = value
        self.corrected[key] = corrected
        return corrected


class Timeline:
    """Holds recent snapshots (reset-corrected) and derives figures over a window."""

    def __init__(self, retention_s: float = 1800.0) -> None:
        self.retention_s = retention_s
        self._ticks: list[_Tick] = []
        self._times: list[float] = []
        self._counters = _Corrector()
        self._finished = _Corrector()
        self._hist_raw: dict[str, Histogram] = {}
        self._hist_state: dict[str, _Hist] = {}
        self._epoch = 0
        self._hist_resets = 0
        self._restart_t = -math.inf
        self._latest: MetricSnapshot | None = None

    @property
    def latest(self) -> MetricSnapshot | None:
        return self._latest

    @property
    def resets(self) -> int:
        """Counter resets seen so far (server restarts show up as one or more)."""
        return max(self._counters.resets, self._hist_resets)

    def add(self, snap: MetricSnapshot) -> None:
        """Take in one snapshot; snapshots must come in time order (older ones are ignored)."""
        if self._times and snap.t <= self._times[-1]:
            return
        counters = {}
        for key in COUNTER_KEYS:
            value = snap.scalars.get(key)
            if is_known(value):
                counters[key] = self._counters.update(key, value)
        hists = {}
        for key in HISTOGRAM_KEYS:
            h = snap.histograms.get(key)
            if isinstance(h, Histogram):
                hists[key] = self._correct_histogram(key, h)
        finished = None
        if not isinstance(snap.finished, Unknown):
            finished = {r: self._finished.update(r, v) for r, v in snap.finished.items()}
        running = snap.scalars.get("requests_running", Unknown("not read"))
        last = self._ticks[-1] if self._ticks else None
        request_s = busy_s = 0.0
        if last is not None:
            key = "generation_tokens_total"
            generated = (
                counters[key] - last.counters[key] if key in counters and key in last.counters else 0.0
            )
            share = decode_share(last.running, running, generated)
            dt = snap.t - last.t
            request_s = last.request_s + share * dt
            busy_s = last.busy_s + (dt if share > 0 else 0.0)
        epoch = self.resets
        if last is not None and epoch != last.epoch:
            self._restart_t = snap.t
        self._ticks.append(_Tick(snap.t, counters, hists, finished, running, request_s, busy_s, epoch))
        self._times.append(snap.t)
        self._latest = snap
        self._trim(snap.t)

    def _correct_histogram(self, key: str, h: Histogram) -> _Hist:
        previous = self._hist_raw.get(key)
        state = self._hist_state.get(key)
        if previous is None or state is None or previous.bounds != h.bounds:
            self._epoch += 1
            new = _Hist(self._epoch, h.bounds, h.cumulative, h.count, h.sum)
        elif h.cumulative == previous.cumulative and h.count == previous.count and h.sum == previous.sum:
            new = state  # nothing observed since the last scrape
        else:
            increments = tuple(map(sub, h.cumulative, previous.cumulative))
            if h.count < previous.count or min(increments) < 0:
                # the server restarted: a new epoch, so windows hold the new server's latencies only
                self._hist_resets += 1
                self._epoch += 1
                new = _Hist(self._epoch, h.bounds, h.cumulative, h.count, h.sum)
            else:
                new = _Hist(
                    state.epoch,
                    h.bounds,
                    tuple(map(add, state.cumulative, increments)),
                    state.count + h.count - previous.count,
                    state.sum + h.sum - previous.sum,
                )
        self._hist_raw[key] = h
        self._hist_state[key] = new
        return new

    def _trim(self, now: float) -> None:
        cut = bisect.bisect_left(self._times, now - self.retention_s)
        # keep one tick at or before the retention edge so a full window stays computable
        cut = max(0, cut - 1)
        if cut > 256 or (cut and cut * 2 > len(self._times)):
            del self._ticks[:cut]
            del self._times[:cut]

    def _epoch_start(self) -> int:
        """Index of the first tick since the last restart (0 when none is kept)."""
        return bisect.bisect_left(self._times, self._restart_t)

    def _start(self, now: float, window_s: float) -> int:
        """Index of the newest tick at or before ``now - window_s`` (or the oldest tick)."""
        i = bisect.bisect_right(self._times, now - window_s) - 1
        return max(i, 0)

    def _first(self, index: int, wanted: Callable[[_Tick], bool]) -> _Tick | None:
        """The first tick from ``index`` on that satisfies ``wanted`` (usually ``index`` itself)."""
        ticks = self._ticks
        for i in range(index, len(ticks)):
            if wanted(ticks[i]):
                return ticks[i]
        return None

    def figures(
        self, window_s: float, rate_window_s: float | None = None, latency: tuple[str, ...] = HISTOGRAM_KEYS
    ) -> Figures | None:
        """Figures at the latest snapshot: latency percentiles over the trailing ``window_s``
        seconds, rates (tokens/s, requests/s...) over ``rate_window_s`` (default: the same)."""
        snap = self._latest
        if snap is None:
            return None
        ticks = self._ticks
        end = ticks[-1]
        # a window never reaches back before the last restart: figures are the new server's only
        restart = self._epoch_start()
        latency_start = max(self._start(end.t, window_s), restart)
        start_index = (
            latency_start if rate_window_s is None else max(self._start(end.t, rate_window_s), restart)
        )
        span = end.t - ticks[latency_start].t
        scalars = snap.scalars

        def rate(key: str) -> Num:
            current = scalars.get(key)
            if isinstance(current, Unknown):
                return current
            first = self._first(start_index, lambda t: key in t.counters)
            if first is None or key not in end.counters or end.t - first.t <= 0:
                return Unknown(NEED_TWO)
            return (end.counters[key] - first.counters[key]) / (end.t - first.t)

        generation_tps = rate("generation_tokens_total")
        decode_tps: Num
        decode_per_request: Num
        if isinstance(generation_tps, Unknown):
            decode_tps = decode_per_request = generation_tps
        else:
            first = self._first(start_index, lambda t: "generation_tokens_total" in t.counters) or end
            generated = end.counters["generation_tokens_total"] - first.counters["generation_tokens_total"]
            busy, request_s = end.busy_s - first.busy_s, end.request_s - first.request_s
            decode_tps = generated / busy if busy > 0 else 0.0
            decode_per_request = (
                generated / request_s if request_s > 0 else Unknown("no request ran in the window")
            )

        finished_window: Mapping[str, float] | Unknown
        requests_per_s: Num
        failed_per_s: Num
        if end.finished is None or isinstance(snap.finished, Unknown):
            finished_window = snap.finished if isinstance(snap.finished, Unknown) else Unknown("no data")
            requests_per_s = failed_per_s = finished_window
        else:
            first_f = self._first(start_index, lambda t: t.finished is not None) or end
            base = first_f.finished or {}
            finished_window = {r: v - base.get(r, 0.0) for r, v in end.finished.items()}
            f_span = end.t - first_f.t
            if f_span > 0:
                requests_per_s = math.fsum(finished_window.values()) / f_span
                failed = finished_window.get("abort", 0.0) + finished_window.get("error", 0.0)
                failed_per_s = failed / f_span
            else:
                requests_per_s = failed_per_s = Unknown(NEED_TWO)

        kv_usage = scalars.get("kv_cache_usage", Unknown("not read"))
        capacity = _kv_capacity(snap.cache_config)
        used: Num = (
            kv_usage * capacity
            if is_known(kv_usage) and is_known(capacity)
            else (kv_usage if isinstance(kv_usage, Unknown) else capacity)
        )

        return Figures(
            t=end.t,
            window_s=span,
            requests_running=scalars.get("requests_running", Unknown("not read")),
            requests_waiting=scalars.get("requests_waiting", Unknown("not read")),
            kv_cache_usage=kv_usage,
            kv_cache_capacity_tokens=capacity,
            kv_cache_used_tokens=used,
            prompt_tps=rate("prompt_tokens_total"),
            generation_tps=generation_tps,
            decode_tps=decode_tps,
            decode_tps_per_request=decode_per_request,
            preemptions_per_s=rate("preemptions_total"),
            preemptions_total=scalars.get("preemptions_total", Unknown("not read")),
            requests_per_s=requests_per_s,
            failed_per_s=failed_per_s,
            finished_in_window=finished_window,
            finished_total=snap.finished,
            spec_decode_mean_length=_plus_one(
                _ratio(
                    rate("spec_decode_accepted_tokens_total"),
                    rate("spec_decode_drafts_total"),
                    "no drafts in the window",
                )
            ),
            spec_decode_acceptance=_ratio(
                rate("spec_decode_accepted_tokens_total"),
                rate("spec_decode_draft_tokens_total"),
                "no draft tokens in the window",
            ),
            prefix_cache_hit_rate=_ratio(
                rate("prefix_cache_hits_total"),
                rate("prefix_cache_queries_total"),
                "no prefix-cache queries in the window",
            ),
            latency={
                key: self._latency(key, snap, latency_start) if key in latency else Unknown("not computed")
                for key in HISTOGRAM_KEYS
            },
            counter_resets=self.resets,
        )

    def _latency(self, key: str, snap: MetricSnapshot, start_index: int) -> LatencyStats | Unknown:
        current = snap.histograms.get(key)
        if isinstance(current, Unknown) or current is None:
            return current if isinstance(current, Unknown) else Unknown("not read")
        end = self._ticks[-1].hists.get(key)
        if end is None:
            return Unknown("not read")
        first_tick = self._first(start_index, lambda t: key in t.hists and t.hists[key].epoch == end.epoch)
        first = first_tick.hists[key] if first_tick is not None else end
        if first is end:
            return Unknown(NEED_TWO)
        buckets = histogram.delta(end.cumulative, first.cumulative)
        count = end.count - first.count
        p50, p90, p95, p99 = histogram.quantiles(QUANTILES, end.bounds, buckets)
        where = histogram.quantile_buckets(QUANTILES, end.bounds, buckets)
        return LatencyStats(
            p50,
            p90,
            p95,
            p99,
            histogram.mean(end.sum - first.sum, count),
            count,
            {name: b for name, b in zip(QUANTILE_NAMES, where, strict=True) if b is not None},
        )


def _plus_one(value: Num) -> Num:
    return value if isinstance(value, Unknown) else 1.0 + value


def _ratio(numerator: Num, denominator: Num, empty: str) -> Num:
    if isinstance(numerator, Unknown):
        return numerator
    if isinstance(denominator, Unknown):
        return denominator
    if denominator <= 0:
        return Unknown(empty)
    return numerator / denominator


def _kv_capacity(cache_config: Mapping[str, str]) -> Num:
    """KV-cache capacity in tokens from ``cache_config_info`` (newer builds say it directly)."""
    direct = cache_config.get("kv_cache_size_tokens")
    try:
        if direct:
            return float(direct)
        blocks = cache_config.get("num_gpu_blocks")
        size = cache_config.get("block_size")
        if blocks and size and blocks != "None":
            return float(blocks) * float(size)
    except ValueError:
        return Unknown("cache_config_info has a malformed size")
    return Unknown("no cache_config_info with num_gpu_blocks on the page")
