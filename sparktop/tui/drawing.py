"""Pure drawing: sparklines and bars as strings, tested without a terminal.

A sparkline's x axis is time: each column covers ``span / width`` seconds ending at ``now``, so
every panel's columns line up and a gap in the data (server unreachable) shows as a gap.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

EIGHTHS = " ▁▂▃▄▅▆▇█"
FULL = "█"


def columns(
    t: Sequence[float], values: Sequence[float], width: int, now: float, span: float, how: str = "mean"
) -> list[float]:
    """Values bucketed into ``width`` time columns; NaN where a column has no data.

    Column boundaries sit on multiples of the column's duration, so a column keeps its content as
    time passes and only the newest (still filling) column changes until the next one begins.
    ``t`` must be ascending (history is).
    """
    if width <= 0 or span <= 0:
        return [math.nan] * max(width, 0)
    step = span / width
    end = math.ceil(now / step) * step
    start = end - span
    stop_all = bisect_right(t, now)
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
        chars = []
        for level in levels:
            if level < 0 or level <= base:
                chars.append(" ")
            elif level >= base + 8:
                chars.append(FULL)
            else:
                chars.append(EIGHTHS[level - base])
        rows.append("".join(chars))
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
