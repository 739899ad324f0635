"""Every key, driven with Textual's Pilot against frames that keep coming."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

from textual.binding import Binding

from sparktop.config import Settings
from sparktop.model import Frame
from sparktop.session.feeds import Emit
from sparktop.tui.app import ReplayApp, SparktopApp, make_app
from sparktop.tui.screens.charts import ChartsScreen
from sparktop.tui.screens.dashboard import DashboardScreen
from sparktop.tui.screens.events import EventsScreen
from sparktop.tui.screens.fleet import FleetScreen
from sparktop.tui.screens.help import HelpScreen
from sparktop.tui.screens.marker import MarkerScreen
from sparktop.tui.widgets.status import StatusBar
from tests.support.frames import frame_at_end
from tests.support.waiting import eventually

README = Path(__file__).parents[2] / "README.md"


class TickingFeed:
    """A new frame (one second later) every few milliseconds, like a live feed sped up."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.span_s = 300.0
        self.marks: list[str] = []
        self.emitted = 0

    async def run(self, emit: Emit) -> None:
        while True:
            self.emitted += 1
            emit(replace(self.frame, t=self.frame.t + self.emitted))
            await asyncio.sleep(0.02)

    def mark(self, note: str) -> None:
        self.marks.append(note)


def is_paused(app: SparktopApp) -> bool:
    return app.paused


def app_with_feed() -> tuple[SparktopApp, TickingFeed]:
    feed = TickingFeed(frame_at_end(seconds=60))
    return make_app(Settings(), feed), feed


async def test_quit() -> None:
    app, _ = app_with_feed()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("z")  # a key with no binding leaves it running
        await pilot.pause()
        assert app.return_code is None and isinstance(app.screen, DashboardScreen)
        await pilot.press("q")
        assert await eventually(lambda: app.return_code == 0)
    assert not app.is_running


async def test_pause_freezes_the_view_while_frames_keep_coming() -> None:
    app, feed = app_with_feed()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("p")
        await pilot.pause(0.05)
        assert is_paused(app)
        status = app.screen.query_one(StatusBar)
        assert "PAUSED" in status.text
        assert status.frame is not None
        drawn, received, shown_t = app.frames_drawn, app.frames_received, status.frame.t
        await pilot.pause(0.3)
        assert app.frames_received > received  # still collecting
        assert app.frames_drawn == drawn  # nothing new drawn
        assert status.frame.t == shown_t
        await pilot.press("p")
        await pilot.pause(0.2)
        assert not is_paused(app) and app.frames_drawn > drawn
        assert "PAUSED" not in status.text
    assert feed.emitted > 10


async def test_span_cycles() -> None:
    app, feed = app_with_feed()
    async with app.run_test(size=(100, 30)) as pilot:
        seen = []
        for _ in range(3):
            await pilot.press("w")
            seen.append(feed.span_s)
        assert seen == [1800.0, 60.0, 300.0]


async def test_screens() -> None:
    app, _ = app_with_feed()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ChartsScreen)
        await pilot.press("e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, EventsScreen)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("e", "d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, DashboardScreen)


async def test_theme_cycles_through_the_files() -> None:
    app, _ = app_with_feed()
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "dark"
        names = []
        for _ in range(3):
            await pilot.press("t")
            names.append(app.theme)
        assert names == ["light", "high-contrast", "dark"]


async def test_marker_with_a_note() -> None:
    app, feed = app_with_feed()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MarkerScreen)
        await pilot.press(*"NVFP4 on", "enter")
        await pilot.pause()
        assert feed.marks == ["NVFP4 on"]
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("x", "escape")
        await pilot.pause()
        assert feed.marks == ["NVFP4 on"]
        assert isinstance(app.screen, DashboardScreen)


def readme_keys() -> str:
    """The README's paragraph that lists the keys, from "Keys (" to the signals that end sparktop."""
    text = README.read_text()
    start = text.index("Keys (keyboard only")
    return text[start : text.index("SIGTERM", start)]


def documented(binding: Binding, paragraph: str) -> bool:
    """Whether the README names the key of ``binding``: in backquotes, or as its prose spelling."""
    named = set(re.findall(r"`([^`]+)`", paragraph))  # `q`, `+`/`-`, `[` `]`
    words = set(re.split(r"[\s/,;()]+", paragraph))
    key = binding.key_display or binding.key.split(",")[0]
    prose = {
        "←": "arrows",
        "→": "arrows",
        "up": "arrows",
        "down": "arrows",
        "pageup": "PgUp",
        "pagedown": "PgDn",
    }
    if key in prose:
        return prose[key] in words
    return {"escape": "esc", "question_mark": "?"}.get(key, key) in named


async def test_help_opens_and_closes() -> None:
    app, _ = app_with_feed()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert any(key == "?" for key, _ in app.screen.rows)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


def test_the_readme_lists_every_key() -> None:
    paragraph = readme_keys()
    screens: list[type[object]] = [SparktopApp, ReplayApp, EventsScreen, FleetScreen]
    bindings = {b.key: b for owner in screens for b in vars(owner)["BINDINGS"] if isinstance(b, Binding)}
    assert len(bindings) > 20
    missing = [key for key, binding in bindings.items() if not documented(binding, paragraph)]
    assert missing == [], f"keys the README does not name: {missing}"
