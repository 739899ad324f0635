"""A widget drawn as cached lines, refreshing only the cells that changed.

Most of a dashboard does not change from one second to the next: a sparkline moves a column, a
value changes a digit. Rebuilding the lines is cheap; asking Textual to re-render and re-send them
is not. So each frame's lines are compared with the previous ones and only the runs of changed
cells are refreshed (with ``sparktop.tui.partial``, only those cells reach the terminal), and the
lines are handed to Textual's compositor as they are, without its per-line styling pass, which
keeps both CPU and the bytes sent to a remote terminal down.
"""

from __future__ import annotations

from rich.style import Style
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

GAP_CELLS = 12
"""Unchanged cells between two changes of a line above which they are sent apart: a cursor move
and a style sequence (about 30 bytes) cost less than re-sending a dozen cells."""


def _style_runs(strip: Strip) -> list[tuple[int, Style | None]]:
    """(end cell, style) of each run of one style (narrow text)."""
    runs: list[tuple[int, Style | None]] = []
    pos = 0
    for text, style, _ in strip:
        if not text:
            continue
        pos += len(text)
        if runs and runs[-1][1] == style:
            runs[-1] = (pos, style)
        else:
            runs.append((pos, style))
    return runs


def _cell_styles(strip: Strip) -> list[Style | None]:
    """The style of each cell of a line of narrow text."""
    out: list[Style | None] = []
    for text, style, _ in strip:
        out.extend([style] * len(text))
    return out


def changed_runs(before: Strip, after: Strip, width: int) -> list[tuple[int, int]]:
    """The runs of cells ``[start, end)`` of a line that differ between two versions of it, in text
    or style; runs closer than ``GAP_CELLS`` are one. The whole line where cells cannot be told
    from characters (wide characters)."""
    a, b = before.text, after.text
    if len(a) != width or len(b) != width or before.cell_length != width or after.cell_length != width:
        return [(0, width)]
    if _style_runs(before) == _style_runs(after):  # the usual case: only text changed
        cells = [cell for cell, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    else:
        pairs = zip(a, b, _cell_styles(before), _cell_styles(after), strict=True)
        cells = [cell for cell, (x, y, sx, sy) in enumerate(pairs) if x != y or sx != sy]
    runs: list[tuple[int, int]] = []
    if not cells:
        return runs
    start = last = cells[0]
    for cell in cells:
        if cell - last - 1 > GAP_CELLS:
            runs.append((start, last + 1))
            start = cell
        last = cell
    runs.append((start, last + 1))
    return runs


class LineWidget(Widget):
    """Subclasses implement ``build(width, height)``; call ``redraw()`` when their data changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: list[Strip] = []
        self._style_cache: dict[str, Style] = {}
        self._base_style: Style | None = None
        self._plain_box: bool | None = None
        self._filter_background: Color | None = None
        self._filter_key: tuple[tuple[int, ...], Color | None] | None = None
        self._filtered: dict[int, tuple[Strip, Strip]] = {}

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
        # the changed cells only (a value that changed a digit re-sends those cells, not its line),
        # a region per run of lines whose changes sit in the same cells, all in one refresh call
        # (each call costs Textual some bookkeeping)
        regions: list[Region] = []
        first, runs = -1, list[tuple[int, int]]()
        for y, (before, after) in enumerate(zip(old, new, strict=True)):
            here = changed_runs(before, after, width) if before != after else []
            if not here:
                new[y] = before  # the same object: what was derived from it (filtered) still holds
            if here != runs:
                regions.extend(Region(x1, first, x2 - x1, y - first) for x1, x2 in runs)
                first, runs = y, here
        regions.extend(Region(x1, first, x2 - x1, len(new) - first) for x1, x2 in runs)
        if regions:
            self.refresh(*regions)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._base_style = None
        self._plain_box = None
        self._filter_background = None
        self._filter_key = None
        self._strips = []

    def on_resize(self) -> None:
        self._strips = []
        self.refresh()

    def _current_strips(self) -> list[Strip]:
        width, height = self.size
        if len(self._strips) != height or (self._strips and self._strips[0].cell_length != width):
            self._strips = self._fit(self.build(width, height), width, height) if width and height else []
        return self._strips

    def render_line(self, y: int) -> Strip:
        strips = self._current_strips()
        if 0 <= y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width, self.base_style)

    def _plain(self) -> bool:
        """Whether Textual's per-line styling would leave these lines as they are: no border,
        outline, padding, tint, hatch or opacity (then ``render_lines`` hands them over itself)."""
        plain = self._plain_box
        if plain is None:
            styles = self.styles
            plain = (
                not any(edge for edge, _ in styles.border)
                and not any(edge for edge, _ in styles.outline)
                and not any(styles.padding)
                and not styles.tint.a
                and styles.text_opacity == 1.0
                and (not styles.has_rule("hatch") or styles.hatch == "none")
                and self._border_title is None
                and self._border_subtitle is None
            )
            self._plain_box = plain
        return plain and self.opacity == 1.0

    def render_lines(self, crop: Region) -> list[Strip]:
        """The cached lines of ``crop`` with the app's filters (NO_COLOR, dimming) applied.

        Textual's own path styles every line again (borders, padding, tint, opacity) and looks the
        widget's background up through its ancestors each time; a dashboard re-sends many lines a
        second, and for a widget with none of those styles that work changes nothing."""
        if not self._plain():
            return super().render_lines(crop)
        strips = self._current_strips()
        width = self.size.width
        filters = self.get_line_filters()
        if filters and self._filter_background is None:
            self._filter_background = self.background_colors[1]
        background = self._filter_background
        key = (tuple(id(line_filter) for line_filter in filters), background)
        if key != self._filter_key:
            self._filter_key, self._filtered = key, {}
        filtered = self._filtered
        x1, x2 = crop.column_span
        cropped = (x1, x2) != (0, width)
        out: list[Strip] = []
        for y in crop.line_range:
            source = strips[y] if 0 <= y < len(strips) else Strip.blank(width, self.base_style)
            # the filtered line is kept while its line is the same object (``redraw`` keeps the
            # lines that did not change): Textual's own filter cache hashes a key for every line
            done = filtered.get(y)
            if done is not None and done[0] is source:
                strip = done[1]
            else:
                strip = source
                for line_filter in filters:
                    strip = Strip(line_filter.apply(list(strip), background), width)  # type: ignore[arg-type]
                filtered[y] = (source, strip)
            out.append(strip.crop(x1, x2) if cropped else strip)
        return out
