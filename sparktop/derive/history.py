"""Bounded history of the plotted series: one point per scrape, kept for ``capacity_s`` seconds."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from sparktop.model import History

SERIES: tuple[str, ...] = (
    "running",
    "waiting",
    "kv_usage",
    "preemptions_per_s",
    "ttft_p50",
    "ttft_p99",
    "client_ttft_p50",
    "client_ttft_p99",
    "gen_tps",
    "decode_tps",
    "decode_per_user",
    "prompt_tps",
    "requests_per_s",
    "failed_per_s",
    "gpu_util",
    "gpu_power",
    "gpu_temp",
    "mem_gpu_bytes",
    "mem_available_bytes",
    "prefix_hit_rate",
    "spec_acceptance",
    "queue_p50",
    "queue_p99",
    "prefill_p50",
    "prefill_p99",
    "decode_p50",
    "decode_p99",
)
"""Every series a view may plot, in a fixed order. ``queue_*``, ``prefill_*`` and ``decode_*`` are the
server histograms' window percentiles of the time requests spend queued, in prefill and in decode;
``prefix_hit_rate`` and ``spec_acceptance`` are NaN where the server has no prefix cache or drafts."""


class HistoryStore:
    """Parallel lists of times and values; old points are dropped in batches (amortised O(1))."""

    def __init__(self, capacity_s: float = 1800.0) -> None:
        self.capacity_s = capacity_s
        self._t: list[float] = []
        self._values: dict[str, list[float]] = {name: [] for name in SERIES}

    def __len__(self) -> int:
        return len(self._t)

    def append(self, t: float, values: Mapping[str, float]) -> None:
        """One point; series missing from ``values`` get NaN (unknown at that moment)."""
        if self._t and t <= self._t[-1]:
            return
        self._t.append(t)
        nan = math.nan
        for name, column in self._values.items():
            column.append(values.get(name, nan))
        cut = bisect.bisect_left(self._t, t - self.capacity_s)
        if cut > 512 or (cut and cut * 2 > len(self._t)):
            del self._t[:cut]
            for column in self._values.values():
                del column[:cut]

    def view(self, span_s: float, now: float | None = None) -> History:
        """The points of the last ``span_s`` seconds (up to ``now``, default the newest point)."""
        if not self._t:
            return History((), {name: () for name in SERIES}, span_s)
        end_t = self._t[-1] if now is None else now
        start = bisect.bisect_left(self._t, end_t - span_s)
        stop = bisect.bisect_right(self._t, end_t)
        return History(
            tuple(self._t[start:stop]),
            {name: tuple(column[start:stop]) for name, column in self._values.items()},
            span_s,
        )
