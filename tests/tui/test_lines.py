"""Line widgets refresh only what changed: the changed lines, and within them the changed cells, so
a value that changes a digit re-sends a few cells to a remote terminal rather than its line."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from sparktop.tui.widgets.lines import LineWidget, changed_cells

RED, BLUE = Style(color="red"), Style(color="blue")


def strip(*parts: tuple[str, Style]) -> Strip:
    return Strip([Segment(text, style) for text, style in parts])


def test_a_changed_value_is_its_cells_only() -> None:
    before = strip(("running  ▁▂▃ ", RED), ("  11", BLUE))
    after = strip(("running  ▁▂▃ ", RED), ("  12", BLUE))
    assert changed_cells(before, after, 17) == (16, 17)


def test_a_change_in_the_middle_is_bounded_on_both_sides() -> None:
    before = strip(("ab", RED), ("cdef", BLUE), ("gh", RED))
    after = strip(("ab", RED), ("cXYf", BLUE), ("gh", RED))
    assert changed_cells(before, after, 8) == (3, 5)


def test_a_change_of_style_alone_is_the_whole_line() -> None:
    before = strip(("ok 12", RED))
    after = strip(("ok 12", BLUE))
    assert changed_cells(before, after, 5) == (0, 5)


def test_a_style_change_outside_the_changed_text_is_the_whole_line() -> None:
    # the text differs only at the end, but the label's colour changed too (a level changed)
    before = strip(("label ", RED), ("1", BLUE))
    after = strip(("label ", BLUE), ("2", BLUE))
    assert changed_cells(before, after, 7) == (0, 7)


def test_wide_characters_are_the_whole_line() -> None:
    before = strip(("日本 1", RED))
    after = strip(("日本 2", RED))
    assert changed_cells(before, after, 6) == (0, 6)


class Lines(LineWidget):
    def __init__(self) -> None:
        super().__init__(id="lines")
        self.rows = ["first line 1", "second line 2", "third line 3"]

    def build(self, width: int, height: int) -> list[Strip]:
        return [Strip([Segment(row)]) for row in self.rows]


class LinesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Lines()


async def test_the_widget_refreshes_the_changed_cells_of_the_changed_lines(monkeypatch: Any) -> None:
    app = LinesApp()
    async with app.run_test(size=(40, 5)) as pilot:
        widget = app.query_one(Lines)
        await pilot.pause()
        widget.render_line(0)  # the first drawing fills the cache
        refreshed: list[Region] = []
        monkeypatch.setattr(widget, "refresh", lambda *regions, **_: refreshed.extend(regions))
        widget.rows = ["first line 1", "second line 9", "third line 7"]
        widget.redraw()
        # one region for the run of changed lines, as wide as their changed cells
        assert refreshed == [Region(11, 1, 2, 2)]  # "2" at 12, "3" at 11
        refreshed.clear()
        widget.redraw()
        assert refreshed == []
