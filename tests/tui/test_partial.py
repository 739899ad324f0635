"""Screen updates send only the changed cells, and leave the screen as Textual's own would.

A small terminal model applies what each version writes (cursor moves, style sequences, text) to a
screen that shows the new frame everywhere except inside the updated spans, which hold stale cells:
after the update the screen must show the new frame, with each cell's style, either way.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from sparktop.config import Settings
from sparktop.session.feeds import StaticFeed
from sparktop.tui import partial
from sparktop.tui.app import make_app

STYLES = [None, Style(color="red"), Style(color="blue", bold=True), Style(bgcolor="green")]
SEQUENCE = re.compile(r"\x1b\[(\d+);(\d+)H|\x1b\[([\d;]*)m|(\n)|(.)", re.DOTALL)
Cell = tuple[str, str]


def console() -> Console:
    return Console(color_system="truecolor", force_terminal=True, width=200)


def apply(screen: list[list[Cell]], written: str) -> None:
    """Write ``written`` onto ``screen`` (cells of character and the SGR in force)."""
    x = y = 0
    sgr = ""
    for move_y, move_x, codes, newline, char in SEQUENCE.findall(written):
        if move_y:
            y, x = int(move_y) - 1, int(move_x) - 1
        elif newline:
            continue  # every span starts with a cursor move
        elif char:
            screen[y][x] = (char, sgr)
            if cell_len(char) == 2:
                screen[y][x + 1] = ("", sgr)
            x += cell_len(char)
        else:
            sgr = "" if codes in ("", "0") else codes


def cells_of(strip: Strip) -> list[Cell]:
    out: list[Cell] = []
    for text, style, _ in strip:
        sgr = "" if style is None else Strip.render_ansi(style, console()._color_system)
        for char in text:
            out.append((char, sgr))
            if cell_len(char) == 2:
                out.append(("", sgr))
    return out


Lines = list[list[Strip]]
Spans = list[tuple[int, int, int]]


def update(lines: Lines, spans: Spans) -> tuple[ChopsUpdate, list[list[Cell]]]:
    """A ChopsUpdate of lines made of chops (one per widget), and the screen those lines show."""
    chops, ends, screen = [], [], []
    for line in lines:
        x, row = 0, {}
        line_ends = []
        for strip in line:
            row[x] = strip
            x += strip.cell_length
            line_ends.append(x)
        chops.append(row)
        ends.append(line_ends)
        screen.append([cell for strip in line for cell in cells_of(strip)])
    return ChopsUpdate(chops, spans, ends), screen


def stale(screen: list[list[Cell]], spans: Spans) -> list[list[Cell]]:
    out = [list(row) for row in screen]
    for y, x1, x2 in spans:
        for x in range(x1, min(x2, len(out[y]))):
            out[y][x] = ("?", "9")
    return out


def strips(draw: st.DrawFn, wide: bool) -> Strip:
    alphabet = "ab █▁▂·" + ("日本" if wide else "")
    segments = draw(
        st.lists(
            st.tuples(st.text(alphabet, min_size=1, max_size=6), st.sampled_from(STYLES)),
            min_size=1,
            max_size=4,
        )
    )
    return Strip([Segment(text, style) for text, style in segments])


@st.composite
def updates(draw: st.DrawFn) -> tuple[Lines, Spans]:
    wide = draw(st.booleans())
    count = draw(st.integers(1, 3))
    lines = [[strips(draw, wide) for _ in range(draw(st.integers(1, 3)))] for _ in range(count)]
    spans = []
    for y, line in enumerate(lines):
        # a span never cuts a wide character (Textual's own update would not draw it either)
        cuts, x = [0], 0
        for char in "".join(strip.text for strip in line):
            x += cell_len(char)
            cuts.append(x)
        if draw(st.booleans()):
            x1, x2 = sorted(draw(st.lists(st.sampled_from(cuts), min_size=2, max_size=2, unique=True)))
            spans.append((y, x1, x2))
    if not spans:
        spans.append((0, 0, sum(strip.cell_length for strip in lines[0])))
    return lines, spans


@settings(max_examples=300, deadline=None)
@given(updates())
def test_the_screen_after_an_update_is_the_new_frame_as_with_textuals_own(
    case: tuple[Lines, Spans],
) -> None:
    lines, spans = case
    chops, frame = update(lines, spans)
    ours, theirs = stale(frame, spans), stale(frame, spans)
    apply(ours, partial.render_segments(chops, console()))
    apply(theirs, partial._ORIGINAL(chops, console()))
    assert theirs == frame  # the model reads Textual's own output right
    assert ours == frame


def test_a_change_in_the_middle_of_a_widgets_line_sends_those_cells_only() -> None:
    spark = Strip([Segment(" running   ", Style(color="red")), Segment("▁▂▃▄▅▆▇█", Style(color="blue"))])
    chops, _ = update([[spark]], [(0, 15, 17)])
    written = partial.render_segments(chops, console())
    assert written.startswith("\x1b[1;16H") and "running" not in written
    assert re.sub(r"\x1b\[[\d;]*[mH]", "", written) == "▅▆"
    textuals = partial._ORIGINAL(chops, console())
    assert "running" in textuals  # from the widget's edge
    assert len(written) < len(textuals) / 2


def test_a_line_with_a_wide_character_is_sent_from_the_widgets_edge() -> None:
    line = Strip([Segment("日本 abc", Style(color="red"))])
    chops, frame = update([[line]], [(0, 6, 7)])
    written = partial.render_segments(chops, console())
    assert written.startswith("\x1b[1;1H") and "日本" in written
    screen = stale(frame, [(0, 6, 7)])
    apply(screen, written)
    assert screen == frame


def test_the_app_installs_it() -> None:
    partial.uninstall()
    assert ChopsUpdate.render_segments is partial._ORIGINAL
    make_app(Settings(), StaticFeed([]))
    assert ChopsUpdate.render_segments is partial.render_segments
