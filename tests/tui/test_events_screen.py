"""The events screen as an operator uses it over SSH: scrolling, searching, the server's log."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from rich.cells import cell_len

from sparktop.config import Settings
from sparktop.model import Event, TargetInfo
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.session.core import Session
from sparktop.session.feeds import Emit
from sparktop.tui.app import SparktopApp, make_app
from sparktop.tui.screens import events
from sparktop.tui.screens.dashboard import DashboardScreen
from tests.support.frames import T0
from tests.support.recordings import record

SIZES = [(80, 24), (120, 40)]


class SessionFeed:
    """A frame of a real session every few milliseconds; the test observes what the session gets."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.span_s = 300.0
        self.marks: list[str] = []

    async def run(self, emit: Emit) -> None:
        while True:
            emit(self.session.frame(self.span_s))
            await asyncio.sleep(0.02)

    def mark(self, note: str) -> None:
        self.marks.append(note)


def session_with_log(lines: int = 150, kind: str = "simulator") -> Session:
    target = TargetInfo("http://127.0.0.1:8000", kind, simulated=kind == "simulator")  # type: ignore[arg-type]
    session = Session(target, start=T0)
    session.observe(Event(T0, "state", "server healthy: ok", "sparktop"))
    for i in range(lines):
        session.observe(Event(T0 + 1 + i, "log", f"INFO [api_server.py:{i}] line {i} of the log", "vllm"))
    return session


def rows(view: events.LogView) -> list[str]:
    """The text of the rows on screen."""
    return [view.render_line(y).text for y in range(view.size.height)]


async def open_events(app: SparktopApp, pilot: object) -> events.LogView:
    await pilot.pause(0.1)  # type: ignore[attr-defined]
    await pilot.press("e")  # type: ignore[attr-defined]
    await pilot.pause(0.2)  # type: ignore[attr-defined]
    assert isinstance(app.screen, events.EventsScreen)
    return app.screen.query_one(events.LogView)


@pytest.mark.parametrize("size", SIZES)
async def test_log_lines_are_shown_cleaned_and_never_markup(size: tuple[int, int]) -> None:
    session = session_with_log(lines=5)
    session.observe(
        Event(T0 + 10, "log", "ERROR \x1b[31mred\x1b[0m \x1b]0;title\x07done [bold]x[/bold]", "vllm")
    )
    app = make_app(Settings(), SessionFeed(session))
    async with app.run_test(size=size) as pilot:
        view = await open_events(app, pilot)
        shown = "\n".join(rows(view))
        assert "line 4 of the log" in shown
        assert "server healthy" in shown  # events and log lines in one log
        assert "red done [bold]x[/bold]" in shown  # escapes gone, markup shown as typed
        assert "\x1b" not in shown and "\x07" not in shown and "title" not in shown
        assert not app.screen.query_one("#events-note").display


@pytest.mark.parametrize("size", SIZES)
async def test_scroll_keys_move_the_view(size: tuple[int, int]) -> None:
    session = session_with_log()
    feed = SessionFeed(session)
    app = make_app(Settings(), feed)
    async with app.run_test(size=size) as pilot:
        view = await open_events(app, pilot)
        bottom = view.max_scroll_y
        assert bottom > 0 and view.scroll_y == bottom  # follows the end
        assert "line 149 of" in rows(view)[-1] or any("line 149 of" in r for r in rows(view))
        await pilot.press("home")
        await pilot.pause()
        assert view.scroll_y == 0
        assert "server healthy" in rows(view)[0]
        await pilot.press("pagedown")
        await pilot.pause()
        assert view.scroll_y == view.size.height
        await pilot.press("down", "down")
        await pilot.pause()
        assert view.scroll_y == view.size.height + 2
        await pilot.press("up")
        await pilot.pause()
        assert view.scroll_y == view.size.height + 1
        await pilot.press("pageup")
        await pilot.pause()
        assert view.scroll_y == 1
        # reading back: new lines arrive without moving the view
        for i in range(150, 160):
            session.observe(Event(T0 + 1 + i, "log", f"INFO line {i} of the log", "vllm"))
        await pilot.pause(0.2)
        assert view.scroll_y == 1 and any("line 159 of" in e.text for e in view.entries)
        await pilot.press("end")
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y > bottom
        assert any("line 159 of" in r for r in rows(view))


@pytest.mark.parametrize("size", SIZES)
async def test_search_jumps_to_matches(size: tuple[int, int]) -> None:
    session = session_with_log()
    app = make_app(Settings(), SessionFeed(session))
    async with app.run_test(size=size) as pilot:
        view = await open_events(app, pilot)
        await pilot.press("home", "slash", *"LINE 42 ", "enter")
        await pilot.pause()
        assert isinstance(app.screen, events.EventsScreen)  # letters went into the search, not to the app
        assert view.current is not None and "line 42 of" in view.entries[view.current].text
        assert any("line 42 of" in r for r in rows(view))
        status = str(app.screen.query_one("#search-status").render())
        assert "1 of 1" in status
        # several matches: n and N go from one to the next
        await pilot.press("home", "slash", *"line 3", "enter")  # replaces the last search
        await pilot.pause()
        first = view.current
        assert first is not None and "line 3 of" in view.entries[first].text
        await pilot.press("n")
        await pilot.pause()
        assert view.current is not None and "line 30 of" in view.entries[view.current].text
        assert any("line 30 of" in r for r in rows(view))
        await pilot.press("N")
        await pilot.pause()
        assert view.current == first
        await pilot.press("N")  # round from the first to the last
        await pilot.pause()
        assert view.current is not None and "line 39 of" in view.entries[view.current].text
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query_one("#searchbar").display and view.pattern is None
        await pilot.press("escape")  # with no search open, escape is back to the dashboard
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_search_without_a_match_says_so() -> None:
    app = make_app(Settings(), SessionFeed(session_with_log(lines=20)))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_events(app, pilot)
        await pilot.press("slash", *"nowhere", "enter")
        await pilot.pause()
        assert view.current is None
        assert "no match" in str(app.screen.query_one("#search-status").render())


async def test_a_url_target_without_a_log_says_where_to_get_one() -> None:
    session = session_with_log(lines=0, kind="url")
    app = make_app(Settings(), SessionFeed(session))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_events(app, pilot)
        note = app.screen.query_one("#events-note")
        assert note.display
        assert "--log FILE" in str(note.render())
        session.observe(Event(T0 + 5, "log", "INFO a line from --log", "vllm"))
        await pilot.pause(0.2)
        assert not note.display


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        "INFO 11-24 01:39:23 [loggers.py:123] Engine 000: Avg prompt throughput: 1234.5 tokens/s, Running",
        "x" * 130,
        "名前 " * 30 + "終わり",
        "a  b   c" * 20,
    ],
)
@pytest.mark.parametrize("width", [1, 7, 24, 62, 103])
def test_wrapped_rows_fit_and_keep_every_character(text: str, width: int) -> None:
    pieces = events.wrap_offsets(text, width)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    for (_, b), (c, _) in itertools.pairwise(pieces):
        assert c in (b, b + 1) and (c == b or text[b] == " ")  # only the space at a break is dropped
    for a, b in pieces:
        assert cell_len(text[a:b]) <= width or b - a == 1


async def test_app_keys_still_work_on_the_events_screen() -> None:
    app = make_app(Settings(), SessionFeed(session_with_log(lines=5)))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_events(app, pilot)
        await pilot.press("p")  # not typed into the (hidden) search field
        await pilot.pause()
        assert app.paused


async def test_in_a_replay_a_short_log_leaves_home_and_end_to_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "run.sparktop"
    record(path, 60)
    with Recording.open(path) as rec:
        feed = ReplayFeed(rec, playing=False, start_at=rec.start + 30)
        app = make_app(Settings(), feed)
        async with app.run_test(size=(120, 40)) as pilot:
            view = await open_events(app, pilot)
            assert view.max_scroll_y == 0  # a few events: nothing to scroll
            await pilot.press("home")
            await pilot.pause(0.1)
            assert feed.position == rec.start
            await pilot.press("end")
            await pilot.pause(0.1)
            assert feed.position == rec.end
            assert any(e.text == "halfway" for e in view.entries)  # the view followed the replay
