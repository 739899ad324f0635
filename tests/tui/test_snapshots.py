"""Snapshots of every screen in two themes and two sizes, from one deterministic frame.

Baselines live in tests/tui/__snapshots__/; after a deliberate change to the look, check the new
pictures by eye (pytest writes an HTML report on failure) and update with --snapshot-update.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from sparktop.config import Settings
from sparktop.feeds import StaticFeed
from sparktop.smoke.slo import resolve
from sparktop.tui.app import make_app
from tests.support.frames import frame_at_end, starting_frame

SCREENS = {"dashboard": (), "charts": ("c",), "events": ("e",), "help": ("question_mark",), "startup": ()}


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Any, theme: str, size: tuple[int, int], screen: str) -> None:
    frame = starting_frame() if screen == "startup" else frame_at_end(seconds=300)
    app = make_app(Settings(theme=theme), StaticFeed([frame]))

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)
        for key in SCREENS[screen]:
            await pilot.press(key)
            await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard_with_slos(snap_compare: Any, theme: str, size: tuple[int, int]) -> None:
    """The SLO line under the panels: broken first (value and limit), uncertain, holding, unknown."""
    objectives = resolve(options=[("kv_cache_max_pct", 1.0), ("itl_p99_ms", 90.0)])
    app = make_app(Settings(theme=theme), StaticFeed([frame_at_end(seconds=300)]), objectives=objectives)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
