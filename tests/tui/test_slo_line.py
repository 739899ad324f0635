"""The dashboard's SLO line: shown when the workload has SLOs, judged on each frame."""

from __future__ import annotations

from sparktop.config import Settings
from sparktop.session.feeds import StaticFeed
from sparktop.smoke.slo import resolve
from sparktop.tui.app import make_app
from sparktop.tui.widgets.slobar import SloBar
from tests.support.frames import frame_at_end


async def test_the_line_shows_what_breaks_first_and_fits_80_columns() -> None:
    objectives = resolve(options=[("kv_cache_max_pct", 1.0)])
    app = make_app(Settings(), StaticFeed([frame_at_end(seconds=300)]), objectives=objectives)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        bar = app.screen.query_one(SloBar)
        assert bar.display and bar.region.height == 1 and bar.region.width == 80
        text = bar.text
        assert text.startswith(" SLO ") and "broken" in text
        assert text.index("✗ KV") < text.index("✓")  # the broken ones first
        shown = "".join(seg.text for seg in bar.render_line(0))
        assert len(shown) == 80 and "✗ KV" in shown


async def test_no_slos_no_line() -> None:
    app = make_app(Settings(), StaticFeed([frame_at_end(seconds=300)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert not app.screen.query_one(SloBar).display
