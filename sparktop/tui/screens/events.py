"""The events screen: startup phases, workload phases, state changes, errors, user markers and the
server's log lines, in one log that scrolls (arrows, PgUp/PgDn, Home/End) and searches (``/``).

Event text and log lines come from servers, containers and recordings: they are cleaned of control
sequences (``fmt.clean``) and drawn as plain text, never parsed as markup.

Frames carry the events; the log lines are the session's latest (``Session.logs``, a bounded list
the feed's session keeps in memory), read at each frame the screen is shown. The screen keeps what
it has shown (up to ``MAX_ENTRIES``), so the history reaches further back than either list.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from sparktop import fmt
from sparktop.model import Event, Frame
from sparktop.tui.screens.dashboard import show_bars
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.replaybar import ReplayBar
from sparktop.tui.widgets.status import StatusBar

LEVEL_CLASS = {"info": "events--info", "warning": "events--warning", "error": "events--error"}
MAX_ENTRIES = 5000
"""Lines the screen keeps; the oldest go first."""
TAG_WIDTH = 8
PREFIX_WIDTH = 9 + TAG_WIDTH
"""``HH:MM:SS `` and the tag: continuation rows of a wrapped line start under its text."""
MIN_TEXT_WIDTH = 24
"""Narrower than this beside the prefix, a line's text goes under it instead."""
_LOG_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


def event_line(event: Event) -> tuple[str, str, str]:
    """(time, tag, text) of an event, cleaned for display."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
    tag = {
        "startup": "startup",
        "workload": "load",
        "marker": "MARK",
        "state": "state",
        "error": "error",
        "log": "log",
        "container": "docker",
    }.get(event.kind, event.kind)
    return stamp, tag, fmt.clean(event.text)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the log: an event or a server log line, cleaned."""

    t: float
    stamp: str
    tag: str
    text: str
    style: str
    """The component class its text is drawn with."""


def entry_of(event: Event) -> Entry:
    stamp, tag, text = event_line(event)
    if event.kind == "marker":
        style = "events--marker"
    elif event.kind == "log":
        level = _LOG_LEVEL.search(text[:80])
        if level is None:
            style = "events--log"
        else:
            style = "events--warning" if level[1] == "WARNING" else "events--error"
    else:
        style = LEVEL_CLASS.get(event.level, "events--info")
    return Entry(event.t, stamp, tag[:TAG_WIDTH], text, style)


def wrap_offsets(text: str, width: int) -> list[tuple[int, int]]:
    """Where the rows of ``text`` wrapped at ``width`` cells start and end: at the last space that
    fits (the space itself dropped), else cut where the row is full. Plain slicing, no styles, so a
    long history wraps again quickly when the terminal is resized."""
    width = max(1, width)
    rows: list[tuple[int, int]] = []
    start, size = 0, len(text)
    narrow = text.isascii()  # one cell per character
    while True:
        if narrow:
            limit = start + width
        else:
            cells, limit = 0, start
            while limit < size:
                cell = get_character_cell_size(text[limit])
                if cells + cell > width:
                    break
                cells, limit = cells + cell, limit + 1
            limit = max(limit, start + 1)  # a character wider than the row still gets one
        if limit >= size:
            rows.append((start, size))
            return rows
        cut = text.rfind(" ", start, limit + 1)
        if cut > start:
            rows.append((start, cut))
            start = cut + 1
        else:
            rows.append((start, limit))
            start = limit


def _segments(
    text: str, start: int, end: int, style: Style, marks: Sequence[tuple[int, int]], mark: Style
) -> list[Segment]:
    """``text[start:end]`` in ``style``, with the parts inside ``marks`` in ``mark``."""
    out: list[Segment] = []
    at = start
    for mark_start, mark_end in marks:
        a, b = max(mark_start, at), min(mark_end, end)
        if a >= b:
            continue
        if a > at:
            out.append(Segment(text[at:a], style))
        out.append(Segment(text[a:b], style + mark))
        at = b
    if at < end or not out:
        out.append(Segment(text[at:end], style))
    return out


def search_pattern(query: str) -> re.Pattern[str] | None:
    """What ``/`` looks for: the text as typed, any case; None for nothing."""
    query = fmt.clean(query).strip()
    return re.compile(re.escape(query), re.IGNORECASE) if query else None


class LogView(ScrollView, can_focus=False):
    """The lines, wrapped to the width with continuation rows under the text. Each line's rows are
    kept and the row where it starts is known, so a search brings its match into view and only the
    rows on screen are drawn (the line API): a long history costs nothing to scroll."""

    # never focused: the screen's keys scroll it, without animation (each frame of one costs bytes
    # over SSH), and a key it cannot use goes on to the app (home and end in a replay)
    DEFAULT_CSS = "LogView { overflow-x: hidden; overflow-y: scroll; }"
    """The scroll bar always there: the width lines are wrapped to does not change with it."""

    def __init__(
        self, style: Callable[[str], Style], *, max_entries: int = MAX_ENTRIES, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._style = style
        self.max_entries = max_entries
        self.entries: list[Entry] = []
        self._rows: list[Strip] = []
        self._starts: list[int] = []
        """The first row of each entry."""
        self._width = 0
        self._styles: tuple[Style, ...] = ()
        self.pattern: re.Pattern[str] | None = None
        self.current: int | None = None
        """The entry of the current match."""

    # ----------------------------------------------------------------------------------------------
    # content

    def add(self, entries: Sequence[Entry]) -> None:
        """Append lines; a view at the end follows them, one scrolled back stays where it is."""
        if not entries:
            return
        following = self.scroll_y >= self.max_scroll_y
        for entry in entries:
            self.entries.append(entry)
            self._starts.append(len(self._rows))
            self._rows.extend(self._render_entry(entry, len(self.entries) - 1))
        extra = len(self.entries) - self.max_entries
        if extra > 0:
            self._drop(extra, following)
        self._resize_virtual()
        if following:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def clear(self) -> None:
        self.entries.clear()
        self._rows.clear()
        self._starts.clear()
        self.current = None
        self._resize_virtual()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def _drop(self, count: int, following: bool) -> None:
        gone = self._starts[count]
        del self.entries[:count]
        del self._rows[:gone]
        self._starts = [start - gone for start in self._starts[count:]]
        if self.current is not None:
            self.current = self.current - count if self.current >= count else None
        if not following:  # the rows under the eyes stay under the eyes
            self.scroll_to(y=max(0, self.scroll_y - gone), animate=False)

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._width, len(self._rows))

    # ----------------------------------------------------------------------------------------------
    # drawing

    def _render_entry(self, entry: Entry, index: int) -> list[Strip]:
        width = self._width
        if width <= 0:
            return [Strip.blank(0)]
        style = self._style(entry.style)
        marks: list[tuple[int, int]] = []
        mark = style
        if self.pattern is not None:
            mark = self._style("events--current" if index == self.current else "events--match")
            marks = [(m.start(), m.end()) for m in self.pattern.finditer(entry.text) if m.end() > m.start()]
        prefix = [
            Segment(entry.stamp + " ", self._style("events--time")),
            Segment(f"{entry.tag:<{TAG_WIDTH}}", self._style("events--tag")),
        ]
        text = entry.text
        if width - PREFIX_WIDTH >= MIN_TEXT_WIDTH:
            pieces = wrap_offsets(text, width - PREFIX_WIDTH)
            indent = [Segment(" " * PREFIX_WIDTH)]
            firsts = [prefix, *([indent] * (len(pieces) - 1))]
        else:  # too narrow to indent: the time and tag on a row of their own
            pieces = wrap_offsets(text, width)
            return [Strip(prefix), *(Strip(_segments(text, a, b, style, marks, mark)) for a, b in pieces)]
        return [
            Strip([*first, *_segments(text, a, b, style, marks, mark)])
            for first, (a, b) in zip(firsts, pieces, strict=True)
        ]

    def _rerender(self, index: int) -> None:
        """Draw one entry again (a match's highlight changed: its rows, not their number)."""
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._rows)
        rows = self._render_entry(self.entries[index], index)
        if len(rows) == end - start:
            self._rows[start:end] = rows
        else:  # cannot happen (styles do not change wrapping), but never leave the rows out of step
            self._rewrap()

    def _rewrap(self) -> None:
        """Wrap every entry again (a new width or theme), keeping the top line in view."""
        top = self.top_entry()
        self._rows, self._starts = [], []
        for index, entry in enumerate(self.entries):
            self._starts.append(len(self._rows))
            self._rows.extend(self._render_entry(entry, index))
        self._resize_virtual()
        if top is not None and self.scroll_y < self.max_scroll_y:
            self.scroll_to(y=self._starts[top], animate=False)
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._rewrap()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if not self.is_mounted:
            return
        styles = tuple(self._style(name) for name in EventsScreen.COMPONENT_CLASSES)
        if styles != self._styles:  # a new theme (focus and hover change nothing here)
            self._styles = styles
            self._rewrap()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._rows):
            strip = self._rows[index].crop_extend(scroll_x, scroll_x + width, self.rich_style)
        else:
            strip = Strip.blank(width, self.rich_style)
        return strip.apply_style(self.rich_style)

    # ----------------------------------------------------------------------------------------------
    # moving about

    def top_entry(self) -> int | None:
        """The entry whose row is at the top of the view."""
        if not self._starts:
            return None
        return max(0, bisect.bisect_right(self._starts, round(self.scroll_y)) - 1)

    def show_entry(self, index: int) -> None:
        """Scroll so the entry's first row sits a third of the way down the view."""
        self.scroll_to(y=max(0, self._starts[index] - self.size.height // 3), animate=False)

    def matches(self) -> list[int]:
        pattern = self.pattern
        if pattern is None:
            return []
        return [i for i, entry in enumerate(self.entries) if pattern.search(entry.text)]

    def search(self, pattern: re.Pattern[str] | None) -> None:
        """Look for ``pattern`` (None: stop); then ``step`` goes from match to match."""
        before = self.matches()
        self.pattern = pattern
        self.current = None
        for index in sorted({*before, *self.matches()}):
            self._rerender(index)
        self.refresh()

    def step(self, direction: int) -> tuple[int, int] | None:
        """The next (1) or previous (-1) match from the current one (the first: from the top of
        the view), brought into view; (its place among the matches from 1, how many), or None when
        nothing matches. Goes round at either end."""
        found = self.matches()
        if not found:
            return None
        if direction < 0:
            origin = self.current if self.current is not None else self.top_entry() or 0
            place = bisect.bisect_left(found, origin) - 1
        elif self.current is not None:
            place = bisect.bisect_right(found, self.current)
        else:
            place = bisect.bisect_left(found, self.top_entry() or 0)
        place %= len(found)
        previous, self.current = self.current, found[place]
        if previous is not None and previous < len(self.entries):
            self._rerender(previous)
        self._rerender(self.current)
        self.show_entry(self.current)
        self.refresh()
        return place + 1, len(found)


def session_logs(screen: Screen[None]) -> Sequence[Event] | None:
    """The latest log lines of the app's feed's session; None when the feed has no session (fixed
    frames), so nothing can be said about a log. Frames carry events only: the lines are read here,
    from memory (no I/O), on the app's loop like the feed that fills them."""
    session = getattr(getattr(screen.app, "feed", None), "session", None)
    logs = getattr(session, "logs", None)
    return tuple(logs) if logs is not None else None


def _after(items: Sequence[Event], last: Event | None) -> tuple[Sequence[Event], bool]:
    """The items after ``last``, and whether they follow on from what was shown. ``last`` gone with
    only later items: the bounded list moved on (a gap). Gone with earlier ones: another session
    (a replay went back), so the view starts again."""
    if last is None:
        return items, True
    for index in range(len(items) - 1, -1, -1):
        if items[index] is last:
            return items[index + 1 :], True
    return items, bool(items) and items[0].t >= last.t


def no_log_note(frame: Frame) -> str:
    """Why there are no log lines to show."""
    if frame.target.kind == "url":
        return (
            "No server log: a server watched by URL sends none. To see vLLM's log here, write it to "
            "a file (vllm serve ... > FILE 2>&1) and watch with --log FILE."
        )
    if frame.target.kind == "replay":
        return "No server log lines in the recording up to here."
    return "No server log lines yet."


class EventsScreen(Screen[None]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "events--time",
        "events--tag",
        "events--info",
        "events--warning",
        "events--error",
        "events--marker",
        "events--log",
        "events--match",
        "events--current",
    }
    DEFAULT_CSS = """
    EventsScreen > .events--log { color: $foreground; }
    EventsScreen > .events--match { text-style: reverse; }
    EventsScreen > .events--current { color: $background; background: $warning; text-style: bold; }
    #events-note { height: auto; background: $surface; color: $spark-muted; padding: 0 1; display: none; }
    #searchbar { height: 1; background: $panel; display: none; }
    #search-label { width: auto; color: $accent; text-style: bold; }
    #search-input { width: 1fr; height: 1; border: none; padding: 0; background: $panel; }
    #search-input:focus { border: none; }
    #search-status { width: auto; color: $spark-muted; padding: 0 1; }
    """
    AUTO_FOCUS = None
    """Nothing takes the keys but the screen, until ``/`` opens the search (a hidden field with
    the focus would swallow them)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "search", key_display="/"),
        Binding("n", "step(1)", "next match", show=False),
        Binding("N", "step(-1)", "previous match", show=False),
        Binding("escape", "leave_search", "close the search", show=False),
        Binding("up", "scroll('up')", "scroll up", show=False),
        Binding("down", "scroll('down')", "scroll down", show=False),
        Binding("pageup", "scroll('page_up')", "page up", show=False),
        Binding("pagedown", "scroll('page_down')", "page down", show=False),
        Binding("home", "scroll('home')", "first line", show=False),
        Binding("end", "scroll('end')", "last line", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._last_event: Event | None = None
        self._last_log: Event | None = None
        self._log_shown = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(id="events-note", markup=False)
        yield LogView(self.get_component_rich_style, id="log")
        with Horizontal(id="searchbar"):
            yield Static("/", id="search-label", markup=False)
            yield Input(id="search-input", max_length=200, disabled=True)
            yield Static("", id="search-status", markup=False)
        yield ReplayBar(id="replay")
        yield KeyBar(extra=(("/", "search"),), id="keys")

    # ----------------------------------------------------------------------------------------------
    # frames

    def show(self, frame: Frame, paused: bool = False) -> None:
        show_bars(self, frame, paused)
        view = self.query_one(LogView)
        logs = session_logs(self)
        events, events_follow = _after(frame.events, self._last_event)
        lines, logs_follow = _after(logs or (), self._last_log)
        if not (events_follow and logs_follow):  # another session (a replay's seek): start again
            view.clear()
            self._log_shown = False
            events, lines = frame.events, logs or ()
            self._last_event = self._last_log = None
        if frame.events:
            self._last_event = frame.events[-1]
        if logs:
            self._last_log = logs[-1]
        fresh = sorted((*events, *lines), key=lambda event: event.t)  # stable: arrival order in a tie
        view.add([entry_of(event) for event in fresh])
        self._log_shown = self._log_shown or bool(lines)
        note = self.query_one("#events-note", Static)
        missing = logs is not None and not self._log_shown
        note.display = missing
        if missing:
            note.update(no_log_note(frame))
        if fresh and view.pattern is not None:
            self._say_matches(None)

    def show_status(self, frame: Frame, paused: bool) -> None:
        show_bars(self, frame, paused)

    # ----------------------------------------------------------------------------------------------
    # keys

    def action_scroll(self, where: str) -> None:
        view = self.query_one(LogView)
        if view.max_scroll_y <= 0:  # (the scroll bar is always shown: it says nothing)
            raise SkipAction()  # nothing to scroll: the key means what it means elsewhere (replay)
        {
            "up": lambda: view.scroll_up(animate=False),
            "down": lambda: view.scroll_down(animate=False),
            "page_up": lambda: view.scroll_page_up(animate=False),
            "page_down": lambda: view.scroll_page_down(animate=False),
            "home": lambda: view.scroll_home(animate=False),
            "end": lambda: view.scroll_end(animate=False),
        }[where]()

    def action_search(self) -> None:
        self.query_one("#searchbar").display = True
        field = self.query_one("#search-input", Input)
        field.disabled = False
        field.focus()
        field.select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        pattern = search_pattern(event.value)
        view = self.query_one(LogView)
        if pattern is None:
            self._leave()
            return
        if view.pattern is None or view.pattern.pattern != pattern.pattern:
            view.search(pattern)
        self.set_focus(None)  # n and N are keys again, not letters of the search
        self._say_matches(view.step(1))

    def action_step(self, direction: int) -> None:
        view = self.query_one(LogView)
        if view.pattern is None:
            raise SkipAction()
        self._say_matches(view.step(direction))

    def action_leave_search(self) -> None:
        if not self.query_one("#searchbar").display:
            raise SkipAction()  # escape goes back to the dashboard
        self._leave()

    def _leave(self) -> None:
        self.query_one("#searchbar").display = False
        self.query_one("#search-input", Input).disabled = True
        self.query_one(LogView).search(None)
        self.query_one("#search-status", Static).update("")
        self.set_focus(None)

    def _say_matches(self, place: tuple[int, int] | None) -> None:
        view = self.query_one(LogView)
        status = self.query_one("#search-status", Static)
        if place is None and view.current is not None:
            found = view.matches()
            if view.current in found:
                place = found.index(view.current) + 1, len(found)
        if place is None:
            count = len(view.matches())
            text = "no match" if not count else f"{count} matches · enter"
        else:
            text = f"{place[0]} of {place[1]}"
        status.update(f"{text} · n next · N previous · esc close")
