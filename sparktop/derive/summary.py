"""Whole-run figures from a recording's raw observations: what a report publishes.

``RunSummary`` is fed scrape results and GPU samples in order and keeps only running sums, so a
day-long recording is summarised in one pass with constant memory. Counters and histograms are
reset-corrected the way the timeline does it (a decrease means the server restarted), so a run
that spans a restart still adds up.

Throughputs are over the busy time (intervals in which requests ran): idle minutes before and after
a benchmark do not dilute them. Decode per user is generation tokens over request-seconds of
running, which is what "decode tokens/s per user" means when the number of users varies; both follow
``derive.timeline.decode_share``, the dashboard's definition, so per user never exceeds the total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import add, sub

from sparktop.derive.histogram import mean as window_mean
from sparktop.derive.histogram import quantile_buckets, quantiles
from sparktop.derive.timeline import COUNTER_KEYS, QUANTILES, counter_increase, decode_share
from sparktop.model import GpuSample, Histogram, Num, ScrapeResult, Unknown, is_known

LATENCY_QUANTILES = QUANTILES
COUNTED = COUNTER_KEYS
"""Counters summed over a run (reset-corrected)."""
NOT_EXPOSED = "not exposed by this server"


@dataclass
class _HistSum:
    bounds: tuple[float, ...]
    totals: tuple[float, ...]
    count: float = 0.0
    sum: float = 0.0
    previous: Histogram | None = None


@dataclass
class RunSummary:
    """Accumulates a run's server-side and GPU figures; ``figures()`` gives them at the end."""

    first_t: float | None = None
    last_t: float | None = None
    busy_s: float = 0.0
    request_seconds: float = 0.0
    _previous: ScrapeResult | None = None
    _counters: dict[str, float] = field(default_factory=dict)
    _last_raw: dict[str, float] = field(default_factory=dict)
    _busy_gen: float = 0.0
    _busy_prompt: float = 0.0
    _finished: dict[str, float] = field(default_factory=dict)
    _finished_raw: dict[str, float] = field(default_factory=dict)
    _hists: dict[str, _HistSum] = field(default_factory=dict)
    peak_running: float | None = None
    peak_waiting: float | None = None
    peak_kv: float | None = None
    kv_capacity_tokens: float | None = None
    _power_sum: float = 0.0
    _power_n: int = 0
    _energy_first: tuple[float, float] | None = None
    _energy_total: float = 0.0
    _energy_raw: float | None = None
    _gen_during_energy: float = 0.0
    _gen_to_last_energy: float = 0.0
    """Tokens counted up to the first scrape after the latest energy reading (as the count starts at
    the first scrape after the first one): energy may be read less often than the server is scraped
    (a slow counter), and both must cover the same span."""
    _energy_checkpoint: bool = False
    _gen_raw_at_energy: float | None = None
    _temp_max: float | None = None
    scrapes: int = 0
    failed_scrapes: int = 0

    def add_scrape(self, result: ScrapeResult) -> None:
        snap = result.snapshot
        if snap is None:
            self.failed_scrapes += 1
            return
        self.scrapes += 1
        if self.first_t is None:
            self.first_t = result.t
        self.last_t = result.t
        s = snap.scalars
        increments: dict[str, float] = {}
        for key in COUNTED:
            value = s.get(key)
            if is_known(value):
                before = self._last_raw.get(key)
                inc = 0.0 if before is None else counter_increase(before, value)
                self._last_raw[key] = value
                self._counters[key] = self._counters.get(key, 0.0) + inc
                increments[key] = inc
        if not isinstance(snap.finished, Unknown):
            for reason, value in snap.finished.items():
                before = self._finished_raw.get(reason)
                self._finished[reason] = self._finished.get(reason, 0.0) + (
                    0.0 if before is None else counter_increase(before, value)
                )
                self._finished_raw[reason] = value
        previous = self._previous
        if previous is not None and previous.snapshot is not None:
            generated = increments.get("generation_tokens_total", 0.0)
            share = decode_share(
                previous.snapshot.scalars.get("requests_running"),
                s.get("requests_running", Unknown("-")),
                generated,
            )
            dt = result.t - previous.t
            if share > 0 and dt > 0:
                self.busy_s += dt
                self.request_seconds += share * dt
                self._busy_gen += generated
                self._busy_prompt += increments.get("prompt_tokens_total", 0.0)
        for key, value in (
            ("peak_running", s.get("requests_running")),
            ("peak_waiting", s.get("requests_waiting")),
            ("peak_kv", s.get("kv_cache_usage")),
        ):
            if is_known(value):
                current = getattr(self, key)
                setattr(self, key, value if current is None else max(current, value))
        for key, h in snap.histograms.items():
            if isinstance(h, Histogram):
                self._add_histogram(key, h)
        if "generation_tokens_total" in self._last_raw and self._energy_raw is not None:
            raw = self._last_raw["generation_tokens_total"]
            if self._gen_raw_at_energy is not None:
                self._gen_during_energy += counter_increase(self._gen_raw_at_energy, raw)
            self._gen_raw_at_energy = raw
            if self._energy_checkpoint:
                self._gen_to_last_energy = self._gen_during_energy
                self._energy_checkpoint = False
        self._previous = result

    def _add_histogram(self, key: str, h: Histogram) -> None:
        acc = self._hists.get(key)
        if acc is None or acc.bounds != h.bounds:
            # first reading (or a different build's buckets): count from here
            self._hists[key] = _HistSum(h.bounds, tuple(0.0 for _ in h.bounds), previous=h)
            return
        previous = acc.previous
        assert previous is not None
        increments = tuple(map(sub, h.cumulative, previous.cumulative))
        if h.count < previous.count or min(increments) < 0:
            increments, count, total = h.cumulative, h.count, h.sum
        else:
            count, total = h.count - previous.count, h.sum - previous.sum
        acc.totals = tuple(map(add, acc.totals, increments))
        acc.count += count
        acc.sum += total
        acc.previous = h

    def add_gpu(self, sample: GpuSample) -> None:
        power = [d.power_w for d in sample.devices if is_known(d.power_w)]
        if power:
            self._power_sum += math.fsum(power)
            self._power_n += 1
        energies = [d.energy_mj for d in sample.devices]
        if energies and all(is_known(e) for e in energies):
            energy = math.fsum(energies)  # type: ignore[arg-type]
            if self._energy_raw is not None:
                self._energy_total += counter_increase(self._energy_raw, energy)
            self._energy_raw = energy
            self._energy_checkpoint = True
        temps = [d.temperature_c for d in sample.devices if is_known(d.temperature_c)]
        if temps:
            hottest = max(temps)
            self._temp_max = hottest if self._temp_max is None else max(self._temp_max, hottest)

    # ----------------------------------------------------------------------------------------------

    def latency(self, key: str) -> dict[str, Num | list[float]]:
        """mean, p50, p90, p95, p99 (seconds) of a histogram over the run, and for each quantile
        ``pNN_bucket``: the [lower, upper] bounds of the bucket it lies in."""
        acc = self._hists.get(key)
        if acc is None:
            reason = Unknown("not recorded (no such histogram on the server's pages)")
            return dict.fromkeys(("mean", "p50", "p90", "p95", "p99", "count"), reason)
        p50, p90, p95, p99 = quantiles(LATENCY_QUANTILES, acc.bounds, acc.totals)
        out: dict[str, Num | list[float]] = {
            "mean": window_mean(acc.sum, acc.count),
            "p50": p50,
            "p90": p90,
            "p95": p95,
            "p99": p99,
            "count": acc.count,
        }
        # what the histogram really says of each quantile: the bucket it lies in
        for name, bucket in zip(
            ("p50", "p90", "p95", "p99"),
            quantile_buckets(LATENCY_QUANTILES, acc.bounds, acc.totals),
            strict=True,
        ):
            if bucket is not None:
                out[f"{name}_bucket"] = list(bucket)
        return out

    def figures(self) -> dict[str, Num | dict[str, Num | list[float]] | dict[str, float]]:
        busy = self.busy_s
        none_busy = Unknown("no requests ran during the recording")
        gen_tps: Num = self._busy_gen / busy if busy > 0 else none_busy
        prompt_tps: Num = self._busy_prompt / busy if busy > 0 else none_busy
        per_user: Num = self._busy_gen / self.request_seconds if self.request_seconds > 0 else none_busy
        span = (self.last_t - self.first_t) if self.first_t is not None and self.last_t is not None else 0.0
        finished = self._finished
        done = math.fsum(finished.values())
        failed = finished.get("abort", 0.0) + finished.get("error", 0.0)
        energy: Num = Unknown("no GPU energy readings")
        if self._energy_total > 0 and self._gen_to_last_energy > 0:
            energy = self._energy_total / 1000.0 / self._gen_to_last_energy
        elif self._energy_total > 0:
            energy = Unknown("no tokens generated while energy was read")
        return {
            "duration_s": span,
            "busy_s": busy,
            "ttft_s": self.latency("ttft"),
            "tpot_s": self.latency("tpot"),
            "itl_s": self.latency("itl"),
            "e2e_s": self.latency("e2e"),
            "queue_s": self.latency("queue"),
            "decode_tps_per_user": per_user,
            "decode_tps": gen_tps,
            "prefill_tps": prompt_tps,
            "request_throughput": done / span if span > 0 else Unknown("fewer than two scrapes"),
            "requests_finished": done,
            "requests_failed": failed,
            "finished_by_reason": dict(finished),
            "peak_running": self.peak_running if self.peak_running is not None else Unknown("not recorded"),
            "peak_waiting": self.peak_waiting if self.peak_waiting is not None else Unknown("not recorded"),
            "kv_cache_peak": self.peak_kv if self.peak_kv is not None else Unknown("not recorded"),
            "preemptions": self._counters.get("preemptions_total", Unknown("not recorded")),
            "generation_tokens": self._counters.get("generation_tokens_total", Unknown("not recorded")),
            "prompt_tokens": self._counters.get("prompt_tokens_total", Unknown("not recorded")),
            "gpu_power_avg_w": self._power_sum / self._power_n
            if self._power_n
            else Unknown("no GPU power readings"),
            "energy_per_token_j": energy,
            "gpu_temp_max_c": self._temp_max if self._temp_max is not None else Unknown("no GPU temperature"),
            **self.cache_and_speculation(),
        }

    def cache_and_speculation(self) -> dict[str, Num]:
        """Prefix-cache hit rate (hit tokens per queried token) and, with speculative decoding,
        the acceptance rate (accepted per draft token) and the mean acceptance length (tokens per
        decode step: 1 + accepted per draft), as vLLM defines them; unknown when not exposed."""
        c = self._counters

        def ratio(top: str, bottom: str, none: str) -> Num:
            if top not in c or bottom not in c:
                return Unknown(NOT_EXPOSED)
            return c[top] / c[bottom] if c[bottom] > 0 else Unknown(none)

        drafts = c.get("spec_decode_drafts_total")
        length: Num = Unknown(NOT_EXPOSED)
        if drafts is not None and "spec_decode_accepted_tokens_total" in c:
            accepted = c["spec_decode_accepted_tokens_total"]
            length = 1.0 + accepted / drafts if drafts > 0 else Unknown("no drafts during the run")
        return {
            "prefix_cache_hit_rate": ratio(
                "prefix_cache_hits_total",
                "prefix_cache_queries_total",
                "no prefix-cache queries during the run",
            ),
            "spec_decode_acceptance": ratio(
                "spec_decode_accepted_tokens_total",
                "spec_decode_draft_tokens_total",
                "no drafts during the run",
            ),
            "spec_decode_mean_length": length,
        }
