"""A dashboard panel: a title line with the headline figures, one sparkline per series, a note.

Drawn line by line (``render_line``) from cached strips that are rebuilt only when the frame, the
size or the theme changes: the cheapest way Textual offers to keep a dashboard near zero CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.model import Frame
from sparktop.tui import drawing
from sparktop.tui.panels import PanelView
from sparktop.tui.widgets.lines import LineWidget

LABEL_WIDTH = 10
VALUE_WIDTH = 10
MAX_SPARK_ROWS = 6


def fit_headline(text: str, room: int) -> str:
    """The headline's leading ``·``-separated figures that fit in ``room`` cells: a figure is
    dropped whole, never cut (``free 9.`` would read as 9); one that alone does not fit ends in …"""
    if len(text) <= room:
        return text
    kept = ""
    for part in text.split(" · "):
        longer = f"{kept} · {part}" if kept else part
        if len(longer) > room:
            break
        kept = longer
    if kept:
        return kept
    return text[: room - 1] + "…" if room > 1 else ""


class Panel(LineWidget):
    """One panel; ``builder`` turns a frame into what it shows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "panel--title",
        "panel--headline",
        "panel--badge",
        "panel--value",
        "panel--note",
        "panel--spark-a",
        "panel--spark-b",
        "panel--spark-c",
        "panel--ok",
        "panel--warn",
        "panel--bad",
        "panel--muted",
    }

    def __init__(self, builder: Callable[[Frame], PanelView], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.builder = builder
        self.frame: Frame | None = None
        self.view: PanelView | None = None

    def show(self, frame: Frame) -> None:
        self.frame, self.view = frame, self.builder(frame)
        self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        view, frame = self.view, self.frame
        base = self.base_style
        if view is None or frame is None or width <= 0 or height <= 0:
            return []
        style = self.style_of
        strips: list[Strip] = []
        title = [Segment(f" {view.title} ", style("panel--title"))]
        if view.badge:
            title.append(Segment(f"{view.badge} ", style("panel--badge")))
        title_len = sum(len(s.text) for s in title)
        headline = fmt.clean(view.headline)
        # the note where the rows leave a line to spare, or a warning (stale figures), which is worth
        # more than a row
        urgent = view.note_level in ("warn", "bad") and height >= 3
        note_lines = 1 if view.note and (height >= 3 + len(view.rows) or urgent) else 0
        free = height - 1 - note_lines
        rows = view.rows[: max(0, free)]
        spark_width = max(1, width - LABEL_WIDTH - VALUE_WIDTH - 2)
        history = frame.history
        axis = drawing.time_axis(
            history.t, frame.t, history.span_s, spark_width if rows else 0, frame.interval_s
        )
        # the time the sparklines cover, where the whole headline leaves room for it (the figures
        # come first); the title and the span each end in a space, the line in one more
        span = f"{axis.label} " if rows else ""
        if span and title_len + len(span) + len(headline) + 1 <= width:
            if view.badge:
                title.append(Segment(span, style("panel--title")))
            else:
                title[0] = Segment(title[0].text + span, style("panel--title"))
            title_len += len(span)
        headline = fit_headline(headline, width - title_len - 1)
        # the padding in the headline's style: one style sequence less to send when the headline
        # changes (nearly every second)
        pad = " " * max(0, width - title_len - len(headline) - 1)
        strips.append(Strip([*title, Segment(pad + headline + " ", style("panel--headline"))]))

        if view.lines:
            for text, level in view.lines[-free:] if free > 0 else ():
                line = text if len(text) <= width - 2 else text[: max(0, width - 3)] + "…"
                strips.append(Strip([Segment(" " + line, style("panel--value", f"panel--{level}"))]))
        if rows:
            compact = sum(1 for row in rows if row.compact)
            tall = len(rows) - compact
            per_row = max(1, min(MAX_SPARK_ROWS, (free - compact) // tall)) if tall else 1
            blank_label, blank_value = " " * LABEL_WIDTH, " " * (VALUE_WIDTH + 2)
            for row in rows:
                values = history.series.get(row.series, ())
                cols = drawing.columns(history.t, values, axis, row.how)
                lines = drawing.sparkline(cols, 1 if row.compact else per_row, row.top)
                spark_style = style(f"panel--spark-{row.color}")
                value_style = style("panel--value", f"panel--{row.level}")
                last = len(lines) - 1
                for i, line in enumerate(lines):
                    if i != last:
                        # an upper line of a tall sparkline: one segment, so one style sequence to
                        # send instead of three when the sparkline scrolls (the margins are blank)
                        strips.append(Strip([Segment(blank_label + line + blank_value, spark_style)]))
                        continue
                    # the label in its sparkline's colour (a legend), in the same segment: one
                    # style sequence less to send whenever the line changes
                    label = f" {row.label[: LABEL_WIDTH - 2]:<{LABEL_WIDTH - 1}}"  # a blank before the line
                    value = fmt.clean(row.value)
                    strips.append(
                        Strip(
                            [
                                Segment(label + line, spark_style),
                                Segment(" " + value.rjust(VALUE_WIDTH)[-VALUE_WIDTH:] + " ", value_style),
                            ]
                        )
                    )
        while len(strips) < height - note_lines:
            strips.append(Strip.blank(width, base))
        if note_lines:
            note = fmt.clean(view.note)
            if len(note) > width - 2:
                note = note[: max(0, width - 3)] + "…"
            strips.append(
                Strip(
                    [Segment(" " + note.ljust(width - 1), style("panel--note", f"panel--{view.note_level}"))]
                )
            )
        return strips
