"""The fleet table: the fleet's totals on top, then one line per server, never wrapped.

Columns are laid out by priority: the target's name and state always; then TTFT p99, KV use,
decode speed, running and waiting, GPU power, REC, memory pressure and what is left of memory, as
the width allows (the name takes what the figures leave, at least ``MIN_NAME``). A figure the
server does not give, or a stale one, is never shown as current: ``-`` and, for a stale row,
the state says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.derive.fleet import FleetRow, FleetTotals, Total
from sparktop.model import LatencyStats, Num, Unknown
from sparktop.tui.widgets.lines import LineWidget
from sparktop.tui.widgets.panel import fit_headline

MIN_NAME = 10


@dataclass(frozen=True)
class Column:
    key: str
    """The sort key it shows (``derive.fleet.SORT_KEYS``), or a name of its own."""
    title: str
    width: int
    cell: Callable[[FleetRow], str]
    priority: int
    """Lower first: the columns kept on a narrow terminal."""


def _num(value: Num, digits: int = 0) -> str:
    return "-" if isinstance(value, Unknown) else f"{value:,.{digits}f}"


def _ttft(row: FleetRow) -> str:
    stats = row.ttft_p99
    if not isinstance(stats, LatencyStats):
        return "-"
    return fmt.estimate(stats.p99, stats.buckets.get("p99"), unknown="-").replace(" ", "")


def _state(row: FleetRow) -> str:
    return f"{row.state}*" if row.stale and row.state == "healthy" else row.state


COLUMNS = (
    Column("state", "state", 12, _state, 0),
    Column("ttft", "TTFT p99", 10, _ttft, 1),
    Column("kv", "KV", 6, lambda r: fmt.pct(r.kv_usage, 1, unknown="-"), 2),
    Column("decode", "decode/s", 8, lambda r: _num(r.decode_tps), 3),
    Column("running", "run", 5, lambda r: _num(r.running), 4),
    Column("waiting", "wait", 5, lambda r: _num(r.waiting), 5),
    Column("power", "GPU W", 6, lambda r: _num(r.gpu_power_w), 6),
    Column("rec", "REC", 3, lambda r: "●" if r.recording else "", 7),
    Column("psi", "mem psi", 7, lambda r: fmt.pct(_fraction(r.memory_pressure_pct), 1, unknown="-"), 8),
    Column("avail", "mem free", 9, lambda r: fmt.gib(r.memory_available_bytes, unknown="-"), 9),
)
"""Every column, in the order drawn; ``priority`` decides which fit."""


def _fraction(pct: Num) -> Num:
    return pct if isinstance(pct, Unknown) else pct / 100.0


def fit_columns(width: int, longest: int = 0) -> tuple[int, list[Column]]:
    """(name width, the columns that fit ``width``): the name at least ``MIN_NAME`` wide, and no
    wider than the ``longest`` name needs (the figures stay next to the names on a wide terminal)."""
    chosen: list[Column] = []
    used = 2 + MIN_NAME  # the cursor mark and a blank, the name
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        if used + 1 + column.width <= width:
            chosen.append(column)
            used += 1 + column.width
    chosen.sort(key=COLUMNS.index)
    room = max(MIN_NAME, width - used + MIN_NAME)
    return min(room, max(MIN_NAME, longest)), chosen


def shorten(name: str, width: int) -> str:
    """``name`` in ``width`` cells, cut in the middle: servers' names often differ only at the end
    (``gemma4-26b-a4b-bf16``, ``gemma4-26b-a4b-nvfp4``, ports)."""
    if len(name) <= width:
        return name
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "…" + (name[-tail:] if tail else "")


def _total(total: Total, text: str, said: int | None) -> str:
    """A total, with how many servers it covers unless the headline said so once (``said``)."""
    if isinstance(total.value, Unknown):
        return "-"
    return text if total.known in (total.of, said) else f"{text} ({total.known} of {total.of})"


def headline(totals: FleetTotals, t: float, paused: bool) -> str:
    """The fleet's totals in one line: sums over the servers whose figure is known and current
    (how many those are is said once when it is the same for every figure, else per figure)."""
    each = (totals.running, totals.waiting, totals.decode_tps, totals.gpu_power_w, totals.kv_usage_max)
    known = {total.known for total in each if not isinstance(total.value, Unknown)}
    said = known.pop() if len(known) == 1 else None
    parts = [f"fleet {totals.healthy}/{totals.targets} healthy"]
    if said is not None and said < totals.targets:
        parts.append(f"figures of {said}")
    parts += [
        f"run {_total(totals.running, _num(totals.running.value), said)}",
        f"wait {_total(totals.waiting, _num(totals.waiting.value), said)}",
        f"decode {_total(totals.decode_tps, _num(totals.decode_tps.value), said)} tok/s",
        f"GPU {_total(totals.gpu_power_w, _num(totals.gpu_power_w.value), said)} W",
        f"KV max {_total(totals.kv_usage_max, fmt.pct(totals.kv_usage_max.value, 0, unknown='-'), said)}",
    ]
    stamp = time.strftime("%H:%M:%S", time.localtime(t))
    return " · ".join([*(["PAUSED"] if paused else []), stamp, *parts])


class FleetTable(LineWidget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "fleet--headline",
        "fleet--header",
        "fleet--row",
        "fleet--cursor",
        "fleet--good",
        "fleet--warn",
        "fleet--bad",
        "fleet--sorted",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[FleetRow] = []
        """The rows in the order shown."""
        self.totals: FleetTotals | None = None
        self.sort_key = "target"
        self.cursor = 0
        """The highlighted row's target (its ``index``, not its place: it stays on re-sorting)."""
        self.t = 0.0
        self.paused = False

    def show(self, rows: Sequence[FleetRow], totals: FleetTotals, t: float, paused: bool) -> None:
        self.rows, self.totals, self.t, self.paused = list(rows), totals, t, paused
        if rows and self.cursor not in {row.index for row in rows}:
            self.cursor = rows[0].index
        self.redraw()

    def move(self, step: int) -> None:
        places = [row.index for row in self.rows]
        if not places:
            return
        at = places.index(self.cursor) if self.cursor in places else 0
        self.cursor = places[max(0, min(len(places) - 1, at + step))]
        self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        style = self.style_of
        strips: list[Strip] = []
        if self.totals is not None:
            text = fit_headline(headline(self.totals, self.t, self.paused), width - 1)
            strips.append(Strip([Segment(" " + text, style("fleet--headline"))]))
        name_width, columns = fit_columns(width, max((len(fmt.clean(r.label)) for r in self.rows), default=0))
        header = [Segment("  " + "target".ljust(name_width)[:name_width], style("fleet--header"))]
        for column in columns:
            title = column.title + ("▼" if column.key == self.sort_key else "")
            header.append(Segment(" " + title.rjust(column.width)[-column.width :], style("fleet--header")))
        strips.append(Strip(header))
        for row in self.rows[: max(0, height - len(strips))]:
            selected = row.index == self.cursor
            base = style("fleet--cursor") if selected else style("fleet--row")
            name = fmt.clean(row.label)
            name = shorten(name, name_width)
            segments = [Segment(("▶ " if selected else "  ") + name.ljust(name_width), base)]
            for column in columns:
                cell = column.cell(row)
                level = _level(column.key, row)
                cell_style = base if level is None or selected else style(f"fleet--{level}")
                segments.append(Segment(" " + cell.rjust(column.width)[-column.width :], cell_style))
            strips.append(Strip(segments))
        return strips


def _level(key: str, row: FleetRow) -> str | None:
    """The colour a cell's figure is drawn in, where it means something."""
    if key == "state":
        if row.state == "healthy":
            return "warn" if row.stale else "good"
        return "bad" if row.state in ("unreachable", "dead", "unresponsive") else "warn"
    if key == "waiting" and not isinstance(row.waiting, Unknown) and row.waiting > 0:
        return "warn"
    if key == "kv" and not isinstance(row.kv_usage, Unknown) and row.kv_usage >= 0.9:
        return "bad"
    if key == "rec" and row.recording:
        return "bad"
    return None
