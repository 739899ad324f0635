"""The dashboard's sparklines at 80x24, 120x40 and 200x60, driven with Pilot: a short
history drawn from the right (not squeezed into the span's last columns), the span named, and a
stale warning kept where the rows fill the panel."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from sparktop.config import Settings
from sparktop.session.feeds import StaticFeed
from sparktop.tui.app import make_app
from sparktop.tui.widgets.panel import LABEL_WIDTH, VALUE_WIDTH, Panel
from tests.support.frames import frame_at_end

SIZES = [(80, 24), (120, 40), (200, 60)]


def panel_lines(panel: Panel) -> list[str]:
    return [panel.render_line(y).text for y in range(panel.size.height)]


@pytest.mark.parametrize("size", SIZES)
async def test_32_seconds_of_sparkline_from_the_right(size: tuple[int, int]) -> None:
    app = make_app(Settings(), StaticFeed([frame_at_end(seconds=32)]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        panel = app.screen.query_one("#panel-queue", Panel)
        lines = panel_lines(panel)
        spark_width = panel.size.width - LABEL_WIDTH - VALUE_WIDTH - 2
        row = next(line for line in lines if line.startswith(" running"))
        filled = [i for i, c in enumerate(row[LABEL_WIDTH : LABEL_WIDTH + spark_width]) if c != " "]
        assert filled[-1] == spark_width - 1
        assert len(filled) >= 32 // math.ceil(32 / spark_width)
        assert filled == list(range(filled[0], spark_width))
        assert f" {math.ceil(32 / spark_width) * spark_width} s " in lines[0]  # the time the width covers


async def test_a_full_span_is_named() -> None:
    app = make_app(Settings(), StaticFeed([frame_at_end(seconds=300)]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "5 min" in app.screen.query_one("#panel-queue", Panel).render_line(0).text


@pytest.mark.parametrize("size", SIZES)
async def test_a_stale_warning_outranks_a_row(size: tuple[int, int]) -> None:
    """The KV panel has three rows (the prefix-cache hit rate); at 80x24 they fill it, yet a stale
    warning still shows."""
    frame = frame_at_end(seconds=60)
    stale = replace(frame, t=frame.t + 30)
    app = make_app(Settings(), StaticFeed([stale]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        kv = panel_lines(app.screen.query_one("#panel-kv_cache", Panel))
        assert any("stale: last scrape" in line for line in kv)
        assert any(line.startswith(" used") for line in kv)


@pytest.mark.parametrize("size", [(120, 40), (200, 60)])
async def test_the_prefix_cache_hit_rate_is_one_line_under_the_main_rows(size: tuple[int, int]) -> None:
    app = make_app(Settings(), StaticFeed([frame_at_end(seconds=300)]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        kv = panel_lines(app.screen.query_one("#panel-kv_cache", Panel))
        preempt = next(i for i, line in enumerate(kv) if line.startswith(" preempt"))
        used = next(i for i, line in enumerate(kv) if line.startswith(" used"))
        assert kv[preempt + 1].startswith(" hit rate")
        assert preempt - used > 1  # the main rows keep the height
