"""Several servers at a glance: one row of headline figures per target, the fleet's totals, orders.

Every figure is taken from the target's own frame (derived once, in its session); nothing here
computes a statistic of its own except the totals, which are sums (and a maximum) over the targets
whose figure is known, and say how many those are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sparktop.model import Frame, LatencyStats, Num, ServerState, Unknown, is_known

STALE_INTERVALS = 2.0
"""A target's figures are stale once its last good scrape is this many intervals old."""


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One target's headline figures at a frame."""

    index: int
    """Its place among the targets as given (the fleet's order)."""
    label: str
    state: ServerState
    stale: bool
    """Its figures are older than ``STALE_INTERVALS`` scrapes (shown, but not as current)."""
    running: Num
    waiting: Num
    kv_usage: Num
    ttft_p99: LatencyStats | Unknown
    """The server's TTFT histogram over the window (its p99 and that quantile's bucket)."""
    decode_tps: Num
    gpu_power_w: Num
    memory_available_bytes: Num
    memory_pressure_pct: Num
    """PSI ``some avg10``: % of the last 10 s some task stalled on memory."""
    recording: bool
    simulated: bool


def _unknown(why: str) -> Unknown:
    return Unknown(why)


def fmt_detail(detail: str) -> str:
    """Why a target has no figures: its scrape's detail, or that none came yet."""
    return detail or "no figures yet"


def row_of(index: int, frame: Frame) -> FleetRow:
    """The row of the target whose frame this is."""
    figures = frame.figures
    server = frame.server
    missing: Unknown = _unknown(fmt_detail(server.detail))
    stale = not server.scrape_ok or (
        server.last_ok is not None and frame.t - server.last_ok > STALE_INTERVALS * frame.interval_s
    )
    ttft: LatencyStats | Unknown
    if figures is None:
        ttft = missing
    else:
        found = figures.latency.get("ttft")
        ttft = found if found is not None else _unknown("no TTFT histogram")
    power: Num = _unknown("no GPU readings")
    available: Num = _unknown("no memory readings")
    pressure: Num = _unknown("no memory readings")
    gpu = frame.gpu
    if gpu is not None:
        available, pressure = gpu.memory.available_bytes, gpu.memory.psi_some_avg10
        readings = [d.power_w for d in gpu.devices]
        if readings and all(is_known(p) for p in readings):
            power = math.fsum(p for p in readings if not isinstance(p, Unknown))
        elif readings:
            power = next(p for p in readings if isinstance(p, Unknown))
        else:
            power = _unknown(gpu.detail or "no GPU device")
    recording = frame.recording
    return FleetRow(
        index=index,
        label=frame.target.label,
        state=server.state,
        stale=stale,
        running=figures.requests_running if figures is not None else missing,
        waiting=figures.requests_waiting if figures is not None else missing,
        kv_usage=figures.kv_cache_usage if figures is not None else missing,
        ttft_p99=ttft,
        decode_tps=figures.decode_tps if figures is not None else missing,
        gpu_power_w=power,
        memory_available_bytes=available,
        memory_pressure_pct=pressure,
        recording=recording is not None and recording.ok,
        simulated=frame.target.simulated,
    )


@dataclass(frozen=True, slots=True)
class Total:
    """A sum (or maximum) over the targets whose figure is known: ``known`` of ``of``."""

    value: Num
    known: int
    of: int


@dataclass(frozen=True, slots=True)
class FleetTotals:
    targets: int
    healthy: int
    running: Total
    waiting: Total
    decode_tps: Total
    gpu_power_w: Total
    kv_usage_max: Total
    """The fullest KV cache of the fleet (a sum of fractions means nothing)."""


def _total(values: Sequence[Num], how: Callable[[list[float]], float] = math.fsum) -> Total:
    known = [v for v in values if not isinstance(v, Unknown)]
    value: Num = how(known) if known else Unknown("known for no target")
    return Total(value, len(known), len(values))


def totals(rows: Sequence[FleetRow]) -> FleetTotals:
    """The fleet's totals; a stale target's figures are left out (they are not current)."""
    fresh = [row for row in rows if not row.stale]

    def of(name: str) -> list[Num]:
        return [getattr(row, name) for row in fresh] + [Unknown("stale")] * (len(rows) - len(fresh))

    return FleetTotals(
        targets=len(rows),
        healthy=sum(1 for row in rows if row.state == "healthy"),
        running=_total(of("running")),
        waiting=_total(of("waiting")),
        decode_tps=_total(of("decode_tps")),
        gpu_power_w=_total(of("gpu_power_w")),
        kv_usage_max=_total(of("kv_usage"), max),
    )


_STATE_ORDER = {
    "dead": 0,
    "unreachable": 1,
    "unresponsive": 2,
    "metrics-disabled": 3,
    "starting": 4,
    "unknown": 5,
    "healthy": 6,
}


def _p99(row: FleetRow) -> Num:
    return row.ttft_p99.p99 if isinstance(row.ttft_p99, LatencyStats) else row.ttft_p99


SORT_KEYS: dict[str, Callable[[FleetRow], Num | str | int]] = {
    "target": lambda row: row.index,
    "state": lambda row: _STATE_ORDER.get(row.state, 5),
    "running": lambda row: row.running,
    "waiting": lambda row: row.waiting,
    "kv": lambda row: row.kv_usage,
    "ttft": _p99,
    "decode": lambda row: row.decode_tps,
    "power": lambda row: row.gpu_power_w,
}
"""The orders the fleet screen offers, in the order ``s`` steps through them."""

ASCENDING = frozenset({"target", "state"})
"""Orders that put the first target (or the worst state) on top; the others put the largest
figure on top (the busiest, the slowest), which is what an operator looks for."""


def sort_rows(rows: Sequence[FleetRow], key: str) -> list[FleetRow]:
    """The rows in the order ``key`` names; unknown figures last, ties in the fleet's order."""
    get = SORT_KEYS[key]
    ascending = key in ASCENDING

    def order(row: FleetRow) -> tuple[int, float, int]:
        value = get(row)
        if isinstance(value, (Unknown, str)):
            return (1, 0.0, row.index)
        number = float(value)
        return (0, number if ascending else -number, row.index)

    return sorted(rows, key=order)
