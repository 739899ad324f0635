"""Partial screen updates that send only the cells that changed.

When part of a widget's line changes, Textual 8 re-sends that line from the widget's left edge to
the end of the change (its ``ChopsUpdate.render_segments`` crops a line on the right only). For a
dashboard whose sparklines move a column at a time, that is most of every line, every second,
over a link that may be slow. ``install`` replaces that one method with the same code cropping on
the left as well: the cursor moves to the first changed cell and only the changed cells are sent.

A cut never falls inside a wide character: where the cells left of the change hold one, the line
is sent from the widget's edge as before.
"""

from __future__ import annotations

from rich.color import ColorSystem
from rich.console import Console
from textual._compositor import ChopsUpdate
from textual.strip import Strip

_ORIGINAL = ChopsUpdate.render_segments


def _move_to(x: int, y: int) -> str:
    """The cursor to cell ``(x, y)`` (what ``rich.control.Control.move_to`` writes, made cheaply)."""
    return f"\x1b[{y + 1};{x + 1}H"


def _cells(strip: Strip, start: int, end: int, color_system: ColorSystem) -> str | None:
    """The terminal sequence of cells ``[start, end)`` of ``strip``, or None where the strip holds a
    wide character (its cells are not its characters: a cut might fall inside one)."""
    segments = list(strip)
    if sum(len(text) for text, _, _ in segments) != strip.cell_length:
        return None
    render = Strip.render_style
    out: list[str] = []
    pos = 0
    for text, style, _ in segments:
        after = pos + len(text)
        if after > start and text:
            piece = text[max(0, start - pos) : end - pos]
            out.append(piece if style is None else render(style, piece, color_system=color_system))
        if after >= end:
            break
        pos = after
    return "".join(out)


def render_segments(self: ChopsUpdate, console: Console) -> str:
    """Textual 8.2's ``ChopsUpdate.render_segments``, cropping each chop to the span on both sides."""
    color_system = console._color_system or ColorSystem.TRUECOLOR
    sequences: list[str] = []
    append = sequences.append
    chops = self.chops
    chop_ends = self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items(), strict=False):
            if strip is None:
                continue
            if x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(_move_to(x, y))
                append(strip.render(console))
                continue
            left = max(x1, x)
            cells = _cells(strip, left - x, min(end, x2) - x, color_system)
            if cells is None:  # from the chop's start, as Textual does
                append(_move_to(x, y))
                append(strip.crop(0, min(end, x2) - x).render(console))
            else:
                append(_move_to(left, y))
                append(cells)
        if y != last_y:
            append("\n")
    return "".join(sequences)


def install() -> None:
    """Use ``render_segments`` for the screen updates of this process (idempotent)."""
    ChopsUpdate.render_segments = render_segments  # type: ignore[method-assign]


def uninstall() -> None:
    """Textual's own again (tests compare the two)."""
    ChopsUpdate.render_segments = _ORIGINAL  # type: ignore[method-assign]
