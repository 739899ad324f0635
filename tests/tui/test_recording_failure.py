"""A recording that fails (a full disk, an unwritable path) stops with a message on the status bar,
and the dashboard carries on drawing what it collects."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from sparktop.config import Settings
from sparktop.recording.attach import start_recording
from sparktop.recording.writer import Recorder
from sparktop.session.core import Observation, Session
from sparktop.session.feeds import LiveFeed
from sparktop.tui.app import SparktopApp, make_app
from sparktop.tui.screens.dashboard import DashboardScreen
from sparktop.tui.widgets.status import StatusBar
from tests.support.recordings import TARGET, observations
from tests.support.waiting import eventually


def live(session: Session) -> LiveFeed:
    """A feed whose session observes a realistic stream, a few seconds' worth every tick."""
    stream = cast(Iterator[Observation], observations(100_000))

    async def source(ses: Session) -> None:
        for obs in stream:
            ses.observe(obs)
            await asyncio.sleep(0.002)

    return LiveFeed(session, [source], interval=0.1)


def recording(session: Session, path: Path) -> None:
    start_recording(session, path=path, directory=path.parent, what="watch", simulated=False, settings={})


def status_text(app: SparktopApp) -> str:
    return app.screen.query_one(StatusBar).text


def shown_until(app: SparktopApp) -> float:
    """The time of the latest GPU sample the status bar's frame holds (one a second is observed)."""
    frame = app.screen.query_one(StatusBar).frame
    return frame.gpu.t if frame is not None and frame.gpu is not None else 0.0


async def carries_on(app: SparktopApp) -> None:
    """What is collected keeps reaching the screen, and the dashboard stays up."""
    drawn, until = app.frames_drawn, shown_until(app)
    assert await eventually(lambda: app.frames_drawn >= drawn + 5 and shown_until(app) >= until + 5)
    assert isinstance(app.screen, DashboardScreen) and app.return_code is None


async def test_a_full_disk_stops_the_recording_and_the_dashboard_carries_on(tmp_path: Path) -> None:
    session = Session(TARGET)
    path = tmp_path / "full.sparktop"
    recording(session, path)
    (recorder,) = [sink for sink in session.sinks if isinstance(sink, Recorder)]
    pages = recorder._db.execute("PRAGMA page_count").fetchone()[0]
    recorder._db.execute(f"PRAGMA max_page_count={pages + 6}")  # the disk fills a few pages on
    app = make_app(Settings(), live(session))
    async with app.run_test(size=(200, 60)) as pilot:
        assert await eventually(lambda: "REC stopped" in status_text(app)), status_text(app)
        assert "disk full" in status_text(app)
        await carries_on(app)
        await pilot.press("c")
        assert await eventually(lambda: not isinstance(app.screen, DashboardScreen))
        await pilot.press("d")
        await carries_on(app)
        assert "REC stopped: disk full" in status_text(app)
    recorder.close()
    assert path.stat().st_size > 0


async def test_an_unwritable_path_records_nothing_and_the_dashboard_carries_on(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    session = Session(TARGET)
    recording(session, blocker / "sub" / "r.sparktop")
    assert not any(isinstance(sink, Recorder) for sink in session.sinks)
    app = make_app(Settings(), live(session))
    async with app.run_test(size=(200, 60)):
        assert await eventually(lambda: "REC stopped" in status_text(app)), status_text(app)
        await carries_on(app)
