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


class Panel(LineWidget):
    """One panel; ``builder`` turns a frame into what it shows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "panel--title",
        "panel--headline",
        "panel--badge",
        "panel--label",
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
        headline = fmt.clean(view.headline)[: max(0, width - title_len - 1)]
        # the note, where a blank line would be left above it, or a warning (stale figures), worth
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
        # the time the sparklines cover, where the headline leaves room for it; in the padding's style,
        # so the line costs no more to send when the headline changes
        span = axis.label if rows else ""
        if title_len + len(span) + len(headline) + 3 > width:  # two spaces between, at least
            span = ""
        pad = span.ljust(max(0, width - title_len - len(headline) - 1))
        strips.append(Strip([*title, Segment(pad, base), Segment(headline + " ", style("panel--headline"))]))

        if view.lines:
            for text, level in view.lines[-free:] if free > 0 else ():
                line = text if len(text) <= width - 2 else text[: max(0, width - 3)] + "…"
                strips.append(Strip([Segment(" " + line, style("panel--value", f"panel--{level}"))]))
        if rows:
            per_row = max(1, min(MAX_SPARK_ROWS, free // len(rows)))
            blank_label, blank_value = " " * LABEL_WIDTH, " " * (VALUE_WIDTH + 2)
            for row in rows:
                values = history.series.get(row.series, ())
                cols = drawing.columns(history.t, values, axis, row.how)
                lines = drawing.sparkline(cols, per_row, row.top)
                spark_style = style(f"panel--spark-{row.color}")
                value_style = style("panel--value", f"panel--{row.level}")
                label_style = style("panel--label")
                last = len(lines) - 1
                for i, line in enumerate(lines):
                    if i != last:
                        # an upper line of a tall sparkline: one segment, so one style sequence to
                        # send instead of three when the sparkline scrolls (the margins are blank)
                        strips.append(Strip([Segment(blank_label + line + blank_value, spark_style)]))
                        continue
                    value = fmt.clean(row.value)
                    strips.append(
                        Strip(
                            [
                                Segment(f" {row.label:<{LABEL_WIDTH - 1}}"[:LABEL_WIDTH], label_style),
                                Segment(line, spark_style),
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
