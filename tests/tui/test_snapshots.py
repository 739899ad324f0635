"""Snapshots of every screen from one deterministic frame: at 80x24, 120x40 and 200x60 in the dark
theme and under ``NO_COLOR``, and at 80x24 in the light theme.

Baselines live in tests/tui/__snapshots__/; after a deliberate change to the look, check the new
pictures by eye (pytest writes an HTML report on failure) and update with --snapshot-update.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from sparktop.config import Settings
from sparktop.session.feeds import StaticFeed
from sparktop.smoke.slo import resolve
from sparktop.tui.app import make_app
from tests.support.fleets import StaticFleet, fleet_frames
from tests.support.frames import frame_at_end, starting_frame

LOOKS = [
    pytest.param((80, 24), "dark", id="80x24-dark"),
    pytest.param((120, 40), "dark", id="120x40-dark"),
    pytest.param((200, 60), "dark", id="200x60-dark"),
    pytest.param((80, 24), "no-color", id="80x24-no-color"),
    pytest.param((120, 40), "no-color", id="120x40-no-color"),
    pytest.param((200, 60), "no-color", id="200x60-no-color"),
    pytest.param((80, 24), "light", id="80x24-light"),
]
"""(terminal size, look): a theme, or ``no-color`` for the dark theme under ``NO_COLOR``."""


def settings_for(look: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if look == "no-color":
        monkeypatch.setenv("NO_COLOR", "1")
        return Settings(theme="dark")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return Settings(theme=look)


SCREENS = {"dashboard": (), "charts": ("c",), "events": ("e",), "help": ("question_mark",), "startup": ()}


@pytest.mark.parametrize(("size", "look"), LOOKS)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare: Any, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], look: str, screen: str
) -> None:
    frame = starting_frame() if screen == "startup" else frame_at_end(seconds=300)
    app = make_app(settings_for(look, monkeypatch), StaticFeed([frame]))

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)
        for key in SCREENS[screen]:
            await pilot.press(key)
            await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize(("size", "look"), LOOKS)
def test_dashboard_with_slos(
    snap_compare: Any, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], look: str
) -> None:
    """The SLO line under the panels: broken first (value and limit), uncertain, holding, unknown."""
    objectives = resolve(options=[("kv_cache_max_pct", 1.0), ("itl_p99_ms", 90.0)])
    app = make_app(
        settings_for(look, monkeypatch), StaticFeed([frame_at_end(seconds=300)]), objectives=objectives
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize(("size", "look"), LOOKS)
def test_fleet_screen(
    snap_compare: Any, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], look: str
) -> None:
    """Several servers: the fleet's totals, one line per server (a loaded one, one never reached)."""
    app = make_app(settings_for(look, monkeypatch), StaticFleet(fleet_frames()))

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
