"""A widget drawn as cached lines, refreshing only the lines that changed.

Most of a dashboard does not change from one second to the next: a sparkline gains a column every
few seconds, a value changes a digit. Rebuilding the lines is cheap; asking Textual to re-render and
re-send them is not. So each frame's lines are compared with the previous ones and only the changed
lines are refreshed, which keeps both CPU and the bytes sent to a remote terminal down.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


def _styles(strip: Strip, lo: int, hi: int) -> list[tuple[int, Style | None]]:
    """(end cell, style) of each run of one style over the cells ``[lo, hi)`` (narrow text only)."""
    runs: list[tuple[int, Style | None]] = []
    pos = 0
    for text, style, _ in strip:
        start, pos = pos, pos + len(text)
        if pos <= lo or not text:
            continue
        if start >= hi:
            break
        end = min(pos, hi)
        if runs and runs[-1][1] == style:
            runs[-1] = (end, style)
        else:
            runs.append((end, style))
    return runs


def changed_cells(before: Strip, after: Strip, width: int) -> tuple[int, int]:
    """The cells ``[start, end)`` of a line that differ between two versions of it (the whole line
    where that cannot be told cheaply: wide characters, or a change of style alone)."""
    a, b = before.text, after.text
    if a == b or len(a) != width or len(b) != width or before.cell_length != width:
        return 0, width
    start = 0
    while a[start] == b[start]:
        start += 1
    end = width
    while a[end - 1] == b[end - 1]:
        end -= 1
    # the same characters around the change must also keep their styles
    if _styles(before, 0, start) != _styles(after, 0, start):
        return 0, width
    if _styles(before, end, width) != _styles(after, end, width):
        return 0, width
    return start, end


class LineWidget(Widget):
    """Subclasses implement ``build(width, height)``; call ``redraw()`` when their data changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: list[Strip] = []
        self._style_cache: dict[str, Style] = {}
        self._base_style: Style | None = None

    def build(self, width: int, height: int) -> list[Strip]:
        raise NotImplementedError

    def style_of(self, *names: str) -> Style:
        """The combined rich style of component classes (cached until the theme changes)."""
        key = " ".join(names)
        style = self._style_cache.get(key)
        if style is None:
            style = Style.combine(self.get_component_rich_style(name) for name in names)
            self._style_cache[key] = style
        return style

    @property
    def base_style(self) -> Style:
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def _fit(self, strips: list[Strip], width: int, height: int) -> list[Strip]:
        base = self.base_style
        out = [
            strip if strip.cell_length == width else strip.crop(0, width).adjust_cell_length(width, base)
            for strip in strips[:height]
        ]
        while len(out) < height:
            out.append(Strip.blank(width, base))
        return out

    def redraw(self) -> None:
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        new = self._fit(self.build(width, height), width, height)
        old = self._strips
        self._strips = new
        if len(old) != len(new) or (old and old[0].cell_length != width):
            self.refresh()
            return
        # one refresh per run of changed lines, as wide as the changed cells of that run: a value
        # that changed a digit re-sends those cells, not its whole line (each call costs Textual
        # some bookkeeping, so runs rather than single lines)
        first, left, right = -1, width, 0
        for y, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                start, end = changed_cells(before, after, width)
                if first < 0:
                    first = y
                left, right = min(left, start), max(right, end)
            elif first >= 0:
                self.refresh(Region(left, first, right - left, y - first))
                first, left, right = -1, width, 0
        if first >= 0:
            self.refresh(Region(left, first, right - left, len(new) - first))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._base_style = None
        self._strips = []

    def on_resize(self) -> None:
        self._strips = []
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if len(self._strips) != height or (self._strips and self._strips[0].cell_length != width):
            self._strips = self._fit(self.build(width, height), width, height) if width and height else []
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.base_style)
