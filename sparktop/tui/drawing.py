"""Pure drawing: sparklines and bars as strings, tested without a terminal.

A sparkline's x axis is time, drawn from the right: the newest scrape is the last column. Until
the history fills the span, each column is one scrape (or a whole number of scrapes, once there
are more scrapes than columns), so 32 seconds of data draw as 32 columns rather than squeezed into
the span's last few; once the span is full each column covers ``span / width`` seconds and the
picture scrolls. Columns sit on a grid fixed in time, so a column keeps its content as time passes,
every panel's columns line up, and a gap in the data (server unreachable) shows as a gap.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

EIGHTHS = " ▁▂▃▄▅▆▇█"
FULL = "█"

LATE_INTERVALS = 1.0
"""A scrape more than this many intervals overdue leaves its column blank (a gap, not the last value)."""


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """Where the columns of a sparkline sit in time: ``width`` columns of ``step`` seconds, the last
    ending at ``end``. ``shown_s`` is how many seconds of the span the data covers."""

    end: float
    step: float
    width: int
    span_s: float
    shown_s: float

    @property
    def full(self) -> bool:
        return self.shown_s >= self.span_s

    @property
    def label(self) -> str:
        """The time the sparkline's width covers: ``5 min`` once the history fills the span; until
        then its columns times their step (``40 s``, then ``80 s``... as the columns grow coarser),
        the left of it blank where there is no data yet. It changes when the columns do, not at
        every scrape (a label that ticks every second costs a remote terminal bytes every second)."""
        covered = self.step * self.width
        if self.full or self.shown_s <= 0 or covered >= self.span_s - _TOLERANCE:
            return span_name(self.span_s)
        return _axis_seconds(covered)


def span_name(span_s: float) -> str:
    """``5 min``, ``1 min``, ``30 s``, ``1.5 min``."""
    if span_s >= 60:
        return f"{span_s / 60:.3g} min"
    return f"{span_s:.3g} s"


def _axis_seconds(value: float) -> str:
    """``12.5 s``, ``40 s``, ``119 s``, ``2 min``, ``4m50s``."""
    if value < 120:
        return f"{value:.3g} s"
    total = round(value)
    minutes, secs = divmod(total, 60)
    return f"{minutes} min" if secs == 0 else f"{minutes}m{secs:02d}s"


_TOLERANCE = 1e-4
"""Of a step or an interval: epoch seconds carry rounding errors far larger than 1e-9 of a step."""


def _latest_slot(last: float, now: float, interval: float) -> float:
    """The newest scrape's slot, or the slot of a scrape overdue by more than ``LATE_INTERVALS``
    (then the slots after the newest scrape are shown, empty)."""
    missed = max(0, math.floor((now - last) / interval - LATE_INTERVALS + _TOLERANCE))
    return last + missed * interval


def shown_seconds(t: Sequence[float], now: float, span: float, interval: float) -> float:
    """How many seconds of the span the history ``t`` covers at ``now`` (each point stands for its
    scrape interval): the span itself once the history reaches back that far, 0 without history."""
    if not t or span <= 0:
        return 0.0
    interval = interval if interval > 0 else 1.0
    shown = min(span, _latest_slot(t[-1], now, interval) - t[0] + interval)
    return span if shown >= span - interval / 2 else shown


def time_axis(t: Sequence[float], now: float, span: float, width: int, interval: float) -> TimeAxis:
    """The axis for history times ``t`` (ascending, within the span) at ``now``.

    One column per scrape while the scrapes fit; ``k`` scrapes per column once there are more
    (k grows one at a time, so the picture halves, thirds... rather than jumping to the full
    span's scale); ``span / width`` seconds per column once that is wider. The grid's phase follows
    the scrapes (each scrape sits mid-column), so a scrape's small lateness never moves it into its
    neighbour's column and leaves a blank one behind.
    """
    interval = interval if interval > 0 else 1.0
    width = max(width, 0)
    if width == 0 or span <= 0 or not t:
        return TimeAxis(now, span / width if width and span > 0 else 1.0, width, span, 0.0)
    last = t[-1]
    latest = _latest_slot(last, now, interval)
    shown = shown_seconds(t, now, span, interval)
    if width * interval >= span:
        step = interval
    else:
        per_column = max(1, math.ceil(shown / interval / width - _TOLERANCE))
        step = per_column * interval
        if shown >= span or step * width >= span:
            step = span / width
    phase = math.fmod(last + interval / 2, interval)
    end = phase + math.ceil((latest + interval / 2 - phase) / step - _TOLERANCE) * step
    return TimeAxis(end, step, width, span, shown)


def columns(t: Sequence[float], values: Sequence[float], axis: TimeAxis, how: str = "mean") -> list[float]:
    """Values bucketed into the axis's columns; NaN where a column has no data.

    ``t`` must be ascending (history is). A column of several points shows their mean, or their
    largest value with ``how="max"`` (a spike must not average away).
    """
    width, step = axis.width, axis.step
    if width <= 0:
        return []
    start = axis.end - width * step
    stop_all = min(bisect_right(t, axis.end), len(values))  # a series the history lacks is no data
    out: list[float] = []
    lo = bisect_left(t, start, 0, stop_all)
    for col in range(width):
        hi = bisect_left(t, start + (col + 1) * step, lo, stop_all) if col < width - 1 else stop_all
        if hi <= lo:
            out.append(math.nan)
            continue
        chunk = values[lo:hi]
        total = sum(chunk)
        if total != total:  # some NaN (unknown) in the column: use the known values only
            chunk = [v for v in chunk if v == v]
            if not chunk:
                out.append(math.nan)
                lo = hi
                continue
            total = sum(chunk)
        out.append(max(chunk) if how == "max" else total / len(chunk))
        lo = hi
    return out


def sparkline(cols: Sequence[float], height: int = 1, top: float | None = None) -> list[str]:
    """Rows (top first) of a block-character chart of ``cols``.

    ``top`` is the value of a full column (default: the largest value). A known value always shows at
    least the lowest block, so zero differs from no data (blank).
    """
    if height <= 0:
        return []
    known = [v for v in cols if v == v]
    peak = top if top is not None else (max(known) if known else 0.0)
    if not peak > 0:
        peak = 1.0
    cells = height * 8
    levels = [-1 if v != v else max(1, min(cells, round(max(v, 0.0) / peak * cells))) for v in cols]
    rows = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        # no data (-1) and levels at or below this row are blank; above it, full
        rows.append(
            "".join(
                [
                    " " if level <= base else FULL if level >= base + 8 else EIGHTHS[level - base]
                    for level in levels
                ]
            )
        )
    return rows


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighths for the last cell)."""
    if width <= 0:
        return ""
    if fraction != fraction:
        return " " * width
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    rest = round((cells - full) * 8)
    partial = " ▏▎▍▌▋▊▉█"[rest] if full < width else ""
    return (FULL * full + partial).ljust(width)[:width]
