"""Line widgets refresh only what changed: the changed lines, and within them the changed cells, so
a value that changes a digit re-sends a few cells to a remote terminal rather than its line."""

from __future__ import annotations

from typing import Any

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from sparktop.tui.widgets.lines import GAP_CELLS, LineWidget, changed_runs

RED, BLUE = Style(color="red"), Style(color="blue")


def strip(*parts: tuple[str, Style]) -> Strip:
    return Strip([Segment(text, style) for text, style in parts])


def test_a_changed_value_is_its_cells_only() -> None:
    before = strip(("running  ▁▂▃ ", RED), ("  11", BLUE))
    after = strip(("running  ▁▂▃ ", RED), ("  12", BLUE))
    assert changed_runs(before, after, 17) == [(16, 17)]


def test_a_change_in_the_middle_is_bounded_on_both_sides() -> None:
    before = strip(("ab", RED), ("cdef", BLUE), ("gh", RED))
    after = strip(("ab", RED), ("cXYf", BLUE), ("gh", RED))
    assert changed_runs(before, after, 8) == [(3, 5)]


def test_a_change_of_style_alone_is_a_change() -> None:
    before = strip(("ok 12", RED))
    after = strip(("ok 12", BLUE))
    assert changed_runs(before, after, 5) == [(0, 5)]
    recoloured = strip(("ok ", RED), ("12", BLUE))
    assert changed_runs(before, recoloured, 5) == [(3, 5)]


def test_a_style_change_outside_the_changed_text_is_part_of_the_change() -> None:
    # the text differs only at the end, but the label's colour changed too (a level changed)
    before = strip(("label ", RED), ("1", BLUE))
    after = strip(("label ", BLUE), ("2", BLUE))
    assert changed_runs(before, after, 7) == [(0, 7)]


def test_changes_far_apart_are_separate_runs_and_near_ones_one() -> None:
    """A status line whose age (left) and clock (right) change: the blank between is not sent."""
    gap = " " * (GAP_CELLS + 1)
    before = strip((f"age 1s{gap}12:00:01", RED))
    after = strip((f"age 2s{gap}12:00:02", RED))
    width = len(before.text)
    assert changed_runs(before, after, width) == [(4, 5), (width - 1, width)]
    near = " " * GAP_CELLS
    before = strip((f"a1{near}1", RED))
    after = strip((f"a2{near}2", RED))
    assert changed_runs(before, after, len(before.text)) == [(1, len(before.text))]


def test_identical_lines_have_no_runs() -> None:
    # the same cells in other segments: nothing to send
    assert changed_runs(strip(("ab", RED), ("cd", RED)), strip(("abcd", RED)), 4) == []


def test_wide_characters_are_the_whole_line() -> None:
    before = strip(("日本 1", RED))
    after = strip(("日本 2", RED))
    assert changed_runs(before, after, 6) == [(0, 6)]


class Lines(LineWidget):
    def __init__(self) -> None:
        super().__init__(id="lines")
        self.rows = ["first line 1", "second line 2", "third line 3"]

    def build(self, width: int, height: int) -> list[Strip]:
        return [Strip([Segment(row, self.base_style)]) for row in self.rows]


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
        # the changed cells of each changed line ("2" at 12, "3" at 11)
        assert refreshed == [Region(12, 1, 1, 1), Region(11, 2, 1, 1)]
        refreshed.clear()
        widget.rows = ["first line 1", "second line 5", "third line 75"]
        widget.redraw()
        # lines whose changes sit in the same cells share a region
        assert refreshed == [Region(12, 1, 1, 2)]
        refreshed.clear()
        widget.redraw()
        assert refreshed == []


class PaddedLines(Lines):
    DEFAULT_CSS = "PaddedLines { padding: 0 2; background: $panel; }"

    def __init__(self) -> None:
        LineWidget.__init__(self, id="padded")
        self.rows = ["padded first", "padded second"]


class BothApp(App[None]):
    CSS = "Lines { background: #2040a0; color: #ff6020; height: 3; }"

    def compose(self) -> ComposeResult:
        yield Lines()
        yield PaddedLines()


@pytest.mark.parametrize("no_color", [False, True])
async def test_the_lines_handed_over_are_textuals_own(no_color: bool, monkeypatch: Any) -> None:
    """The short path gives the compositor what Textual's styling pass would (filters included:
    NO_COLOR's); a widget with padding takes Textual's path."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = BothApp()
    async with app.run_test(size=(40, 8)) as pilot:
        await pilot.pause()
        plain, padded = app.query_one("#lines", Lines), app.query_one(PaddedLines)
        assert plain._plain() and not padded._plain()
        assert bool(app.get_line_filters()) or not no_color
        for widget in (plain, padded):
            for crop in (widget.size.region, Region(3, 1, 10, 2)):
                ours = widget.render_lines(crop)
                textuals = Widget.render_lines(widget, crop)
                assert [list(strip) for strip in ours] == [list(strip) for strip in textuals]
        plain.rows = ["changed", "second line 2", "third line 3"]
        plain.redraw()
        crop = plain.size.region
        assert [list(s) for s in plain.render_lines(crop)] == [
            list(s) for s in Widget.render_lines(plain, crop)
        ]
