"""The replay keys the README lists, pressed with Pilot against a real recording: `space` play/pause,
`+`/`-` speed, arrows step, `[` `]` previous or next event, `home`/`end`, `g` go to a time. Each is
checked by where the replay stands and by what the dashboard then shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from sparktop.config import Settings
from sparktop.recording.reader import Recording
from sparktop.recording.replay import MARK_KINDS, ReplayFeed
from sparktop.tui.app import ReplayApp, make_app
from sparktop.tui.screens.goto import GotoScreen
from sparktop.tui.widgets.status import StatusBar
from tests.support.recordings import record
from tests.support.waiting import eventually


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Recording]:
    path = tmp_path / "session.sparktop"
    record(path, 120)
    rec = Recording.open(path)
    yield rec
    rec.close()


def shown_at(app: ReplayApp) -> float | None:
    """The moment the status bar's frame stands at."""
    frame = app.screen.query_one(StatusBar).frame
    return frame.t if frame is not None else None


def playing(feed: ReplayFeed) -> bool:
    return feed.playing


async def press(pilot: Pilot[int], app: ReplayApp, feed: ReplayFeed, *keys: str) -> float:
    """Press ``keys``; the replay's position, once the dashboard shows it."""
    await pilot.press(*keys)
    assert await eventually(lambda: shown_at(app) == feed.position), (shown_at(app), feed.position)
    return feed.position


async def test_replay_keys_move_the_replay_and_the_view(recording: Recording) -> None:
    feed = ReplayFeed(recording, playing=False)
    app = make_app(Settings(), feed)
    assert isinstance(app, ReplayApp)
    start, end, interval = recording.start, recording.end, feed.interval
    events = sorted(set(recording.times(MARK_KINDS)))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await press(pilot, app, feed, "home") == start

        # space plays: the view moves on by itself; space again holds it
        await pilot.press("space")
        assert playing(feed)
        assert await eventually(lambda: (shown_at(app) or start) > start + interval)
        await pilot.press("space")
        assert not playing(feed)
        held = await press(pilot, app, feed)
        await pilot.pause(0.3)
        assert feed.position == held == shown_at(app)

        # + and - step through the speeds
        speed = feed.speed
        await pilot.press("plus")
        assert feed.speed > speed
        await pilot.press("minus", "minus")
        assert feed.speed < speed

        # arrows step one scrape interval, paused
        here = await press(pilot, app, feed, "home")
        assert await press(pilot, app, feed, "right") == pytest.approx(here + interval, abs=1e-6)
        assert await press(pilot, app, feed, "right", "right") == pytest.approx(here + 3 * interval, abs=1e-6)
        assert await press(pilot, app, feed, "left") == pytest.approx(here + 2 * interval, abs=1e-6)
        assert not feed.playing

        # ] and [ jump between the recorded events and markers
        at = await press(pilot, app, feed, "right_square_bracket")
        assert at == min(t for t in events if t > here + 2 * interval)
        following = await press(pilot, app, feed, "right_square_bracket")
        assert following == min(t for t in events if t > at)
        assert await press(pilot, app, feed, "left_square_bracket") == at

        # end and home
        assert await press(pilot, app, feed, "end") == end
        assert await press(pilot, app, feed, "home") == start

        # g asks for a time and goes there
        await pilot.press("g")
        assert await eventually(lambda: isinstance(app.screen, GotoScreen))
        await pilot.press(*"+30s", "enter")
        assert await eventually(lambda: not isinstance(app.screen, GotoScreen))
        assert await press(pilot, app, feed) == pytest.approx(start + 30, abs=1e-6)
