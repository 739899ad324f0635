"""The fleet screen over SSH: one line per server at any width, sortable, Enter and Esc."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktop.config import Settings
from sparktop.recording.fleet_replay import FleetReplayFeed
from sparktop.recording.reader import Recording
from sparktop.session.fleet import FleetControl
from sparktop.tui.app import ReplayApp, make_app
from sparktop.tui.screens.charts import ChartsScreen
from sparktop.tui.screens.dashboard import DashboardScreen
from sparktop.tui.screens.fleet import FleetScreen
from sparktop.tui.widgets.fleet_table import FleetTable, shorten
from sparktop.tui.widgets.status import StatusBar
from tests.support.fleets import StaticFleet, fleet_frames
from tests.support.recordings import record_fleet

SIZES = [(80, 24), (120, 40), (200, 60)]


def following(feed: FleetControl) -> int | None:
    """The server the view follows (read afresh: keys change it)."""
    return feed.selected


def table_text(table: FleetTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


@pytest.mark.parametrize("size", SIZES)
async def test_one_line_per_server_that_never_wraps(size: tuple[int, int]) -> None:
    feed = StaticFleet(fleet_frames())
    app = make_app(Settings(), feed)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        lines = table_text(app.screen.query_one(FleetTable))
        assert "2/3 healthy" in lines[0]
        rows = [line for line in lines[2:] if line.strip()]
        assert len(rows) == 3
        assert all(len(line) == size[0] for line in lines)
        assert "spark-b:8000" in rows[1] and "unreachable" in rows[1]
        for name in ("state", "TTFT p99", "KV", "decode/s"):  # what an operator needs first
            assert name in lines[1]
        if size[0] >= 120:
            assert "GPU W" in lines[1] and "mem free" in lines[1]


def test_a_long_name_is_cut_in_the_middle_where_names_differ_least() -> None:
    assert shorten("gemma4-26b-a4b-nvfp4", 12) == "gemma4…nvfp4"
    assert shorten("short", 12) == "short"
    assert len(shorten("x" * 50, 7)) == 7


async def test_sort_enter_and_escape() -> None:
    feed = StaticFleet(fleet_frames())
    app = make_app(Settings(), feed)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        await pilot.press("s")  # by state: the unreachable server first
        await pilot.pause()
        assert table.sort_key == "state" and table.rows[0].label == "spark-b:8000"
        assert "▶ spark-a" in table_text(table)[3]  # the cursor stays on its server
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and following(feed) == 2
        feed.resend()
        await pilot.pause()
        status = app.screen.query_one(StatusBar).render_line(0).text
        assert "spark-c:8000" in status
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen) and following(feed) is None
        await pilot.press("up", "c")  # a server's charts straight from the fleet
        await pilot.pause()
        assert isinstance(app.screen, ChartsScreen) and following(feed) == 0
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)


async def test_a_fleet_recording_replays_on_the_fleet_screen_on_one_clock(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    record_fleet(path, 40)
    with Recording.open(path) as rec:
        feed = FleetReplayFeed(rec, playing=False)
        app = make_app(Settings(), feed)
        assert isinstance(app, ReplayApp)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, FleetScreen)
            lines = table_text(app.screen.query_one(FleetTable))
            first = next(line for line in lines[2:] if line.strip())
            assert first.startswith("▶ ") and "-a:8000" in first
            await pilot.press("end")  # every server to the end, together
            await pilot.pause()
            assert {f.position for f in feed.feeds} == {rec.end}
            await pilot.press("down", "enter")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen) and following(feed) == 1
            await pilot.press("home")
            await pilot.pause()
            assert {f.position for f in feed.feeds} == {rec.start}
