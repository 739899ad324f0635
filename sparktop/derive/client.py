"""Client-side figures over a window, from sparktop's own request records (pure).

Records arrive when their request ends. TTFT belongs to the moment of the first token, so a
request counts for TTFT in the window that holds its first token (once it has ended and its record
arrived); for end-to-end latency, TPOT and failures it counts in the window where it ended.
Percentiles follow ``vllm bench serve``'s definitions, through the load generator's summary code.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from sparktop.model import ClientFigures, Num, RequestRecord, Unknown
from sparktop.workload.summary import error_kinds, percentile

NONE_YET = Unknown("no request of sparktop's finished in the window")


def _ended(record: RequestRecord) -> float:
    return record.end if record.end is not None else record.start


def _first_token(record: RequestRecord) -> float:
    return record.first_token if record.first_token is not None else _ended(record)


class _TimeIndex:
    """Records sorted by one of their times, oldest dropped beyond ``retention_s``."""

    def __init__(self, key: Callable[[RequestRecord], float], retention_s: float) -> None:
        self.key = key
        self.retention_s = retention_s
        self.times: list[float] = []
        self.records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        t = self.key(record)
        index = bisect.bisect_right(self.times, t)
        self.times.insert(index, t)
        self.records.insert(index, record)
        cut = bisect.bisect_left(self.times, self.times[-1] - self.retention_s)
        if cut > 256:
            del self.times[:cut]
            del self.records[:cut]

    def between(self, start: float, end: float) -> list[RequestRecord]:
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_right(self.times, end)
        return [r for r in self.records[lo:hi] if not r.warmup]


class ClientWindow:
    """Recent request records and their windowed figures."""

    def __init__(self, retention_s: float = 300.0) -> None:
        self._by_end = _TimeIndex(_ended, retention_s)
        self._by_first_token = _TimeIndex(_first_token, retention_s)

    def add(self, record: RequestRecord) -> None:
        self._by_end.add(record)
        self._by_first_token.add(record)

    def __len__(self) -> int:
        return len(self._by_end.records)

    def figures(self, now: float, window_s: float) -> ClientFigures | None:
        """Figures over ``[now - window_s, now]``; None before any record."""
        if not self._by_end.records:
            return None
        ended = self._by_end.between(now - window_s, now)
        ok = [r for r in ended if r.ok]
        failures = error_kinds(r.error for r in ended if not r.ok)
        ttft = sorted(
            r.first_token - r.start
            for r in self._by_first_token.between(now - window_s, now)
            if r.ok and r.first_token is not None and _ended(r) <= now
        )
        e2e = sorted(r.end - r.start for r in ok if r.end is not None)
        tpot = sorted(
            (r.end - r.first_token) / (r.output_tokens - 1)
            for r in ok
            if r.end is not None and r.first_token is not None and r.output_tokens > 1
        )
        return ClientFigures(
            ttft_p50=_pct(ttft, 50),
            ttft_p99=_pct(ttft, 99),
            tpot_p50=_pct(tpot, 50),
            e2e_p50=_pct(e2e, 50),
            completed=len(ok),
            failed=len(ended) - len(ok),
            failures=dict(failures),
        )


def _pct(values: list[float], p: float) -> Num:
    return percentile(values, p) if values else NONE_YET
