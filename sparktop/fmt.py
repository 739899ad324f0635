"""Formatting figures for people (tables, plain lines, the dashboard) and cleaning untrusted text.

Pure functions, no UI toolkit: the dashboard and the plain-text outputs share them so a figure reads
the same everywhere. Unknown values render as a dash by default; callers that have room show the
reason.
"""

from __future__ import annotations

import math
import re

from sparktop.model import Num, Unknown

DASH = "–"

# CSI/OSC/other escape sequences and C0/C1 control characters (tab and newline handled by callers)
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # other control characters
    # invisible format characters: zero-width spaces and joiners, direction marks, line and
    # paragraph separators, bidi embeddings, overrides and isolates (U+202E turns "exe.txt" into
    # "txt.exe" on screen), word joiners and the byte-order mark
    r"|[\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def clean(text: str, keep_newlines: bool = False) -> str:
    """Untrusted text (container logs, server answers, recordings) made safe for a terminal:
    escape sequences, control characters and invisible bidi and zero-width characters removed,
    tabs turned into spaces."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n")).replace("\t", "    ")
    if not keep_newlines:
        text = text.replace("\n", " ")
    return text


def num(value: Num | None, digits: int = 1, unit: str = "", unknown: str = DASH) -> str:
    """``12.3 tok/s``; a dash (or ``unknown``) when the value is not known."""
    if value is None or isinstance(value, Unknown):
        return unknown
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def pct(fraction: Num | None, digits: int = 1, unknown: str = DASH) -> str:
    """A 0..1 fraction as a percentage."""
    if fraction is None or isinstance(fraction, Unknown):
        return unknown
    return f"{fraction * 100:.{digits}f}%"


def si(value: Num | None, unit: str = "", unknown: str = DASH) -> str:
    """Compact: 950, 9.5k, 95k, 1.2M (keeps narrow columns narrow)."""
    if value is None or isinstance(value, Unknown):
        return unknown
    if math.isnan(value) or math.isinf(value):
        return num(value)
    magnitude = abs(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= factor:
            scaled = value / factor
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return f"{text}{suffix}{(' ' + unit) if unit else ''}"
    text = f"{value:.1f}" if magnitude < 100 and value != int(value) else f"{value:.0f}"
    return f"{text}{(' ' + unit) if unit else ''}"


def seconds(value: Num | None, unknown: str = DASH) -> str:
    """A latency: ``850 ms``, ``1.24 s``, ``2m05s``."""
    if value is None or isinstance(value, Unknown):
        return unknown
    if math.isnan(value) or math.isinf(value):
        return num(value)
    if value < 1.0:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.2f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


NARROW_BUCKET = 0.2
"""A histogram bucket narrower than this share of its upper bound is precise enough to show its
interpolated quantile as a figure; a wider one is shown as the range it is."""


def _edge(value: float) -> str:
    """A bucket bound, compact: ``100 ms``, ``2.5 s``, ``160 s``."""
    if value < 1.0:
        return f"{value * 1000:g} ms"
    return f"{value:g} s"


def seconds_range(lower: float, upper: float) -> str:
    """A latency known only to lie above ``lower`` and at most ``upper``: ``100–250 ms``,
    ``1–2.5 s``, ``≤ 1 ms`` (the lowest bucket), ``> 80 s`` (the +Inf bucket)."""
    if math.isinf(upper):
        return f"> {_edge(lower)}"
    if lower <= 0:
        return f"≤ {_edge(upper)}"
    low, high = _edge(lower), _edge(upper)
    for unit in (" ms", " s"):
        if low.endswith(unit) and high.endswith(unit):
            low = low[: -len(unit)]
            break
    return f"{low}–{high}"


def estimate(value: Num | None, bucket: tuple[float, float] | None, unknown: str = DASH) -> str:
    """A quantile read from a histogram: the figure where its bucket is narrow, the bucket's range
    where it is wide (``p50 100–250 ms`` rather than an interpolated ``175 ms``)."""
    if value is None or isinstance(value, Unknown) or bucket is None:
        return seconds(value, unknown)
    lower, upper = bucket
    if math.isfinite(upper) and upper - lower <= NARROW_BUCKET * abs(upper):
        return seconds(value, unknown)
    return seconds_range(lower, upper)


def duration(value: float) -> str:
    """An elapsed time: ``45s``, ``3m12s``, ``2h05m``."""
    total = max(0, int(value))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def gib(value: Num | None, unknown: str = DASH) -> str:
    """Bytes as GiB with one decimal."""
    if value is None or isinstance(value, Unknown):
        return unknown
    return f"{value / 1024**3:.1f} GiB"
