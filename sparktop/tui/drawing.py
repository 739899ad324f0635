"""Pure drawing: sparklines and bars as strings, tested without a terminal.

A sparkline's x axis is time: each column covers ``span / width`` seconds ending at ``now``, so
every panel's columns line up and a gap in the data (server unreachable) shows as a gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EIGHTHS = " ▁▂▃▄▅▆▇█"
FULL = "█"


def columns(
    t: Sequence[float], values: Sequence[float], width: int, now: float, span: float, how: str = "mean"
) -> list[float]:
    """Values bucketed into ``width`` time columns ending at ``now``; NaN where a column has no data."""
    if width <= 0:
        return []
    sums = [0.0] * width
    counts = [0] * width
    peaks = [-math.inf] * width
    start = now - span
    scale = width / span if span > 0 else 0.0
    for ti, v in zip(t, values, strict=False):
        if v != v or ti < start or ti > now:  # NaN or outside
            continue
        col = min(width - 1, int((ti - start) * scale))
        sums[col] += v
        counts[col] += 1
        peaks[col] = max(peaks[col], v)
    if how == "max":
        return [peaks[i] if counts[i] else math.nan for i in range(width)]
    return [sums[i] / counts[i] if counts[i] else math.nan for i in range(width)]


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
