"""The charts screen at 80x24, 120x40 and 200x60, in colour and under NO_COLOR: the time axis fitted
to a short history, numbered phases with a legend, a glyph per line, units on the axes, and no colour
at all from the plots under NO_COLOR."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from rich.style import Style
from rich.text import Text
from textual_plotext import PlotextPlot

from sparktop.config import Settings
from sparktop.model import Event, Frame, History
from sparktop.session.feeds import StaticFeed
from sparktop.tui.app import make_app
from sparktop.tui.screens import charts
from sparktop.tui.screens.charts import ChartTitle, PhaseLegend
from tests.support.frames import T0, frame_at_end

SIZES = [(80, 24), (120, 40), (200, 60)]
BRAILLE = range(0x2801, 0x2900)


def colour_mode(monkeypatch: pytest.MonkeyPatch, no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)


def plotted(plot: PlotextPlot) -> Text:
    """What the plot draws: plotext's output read back as rich text."""
    rendered = plot.render()
    assert isinstance(rendered, Text)
    return rendered


def with_phase_times(frame: Frame) -> Frame:
    """The frame with the server's queue, prefill and decode percentiles in its history."""
    series = dict(frame.history.series)
    for key in ("queue", "prefill", "decode"):
        series[f"{key}_p50"] = frame.history.series["ttft_p50"]
        series[f"{key}_p99"] = frame.history.series["ttft_p99"]
    return replace(frame, history=History(frame.history.t, series, frame.history.span_s))


@pytest.mark.parametrize("no_color", [False, True], ids=["dark", "no-color"])
@pytest.mark.parametrize("size", SIZES)
async def test_charts_fit_a_short_history_and_number_the_phases(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], no_color: bool
) -> None:
    colour_mode(monkeypatch, no_color)
    app = make_app(Settings(theme="dark"), StaticFeed([frame_at_end(seconds=34)]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.3)
        plot = app.screen.query_one("#plot-queue", PlotextPlot)
        rendered = plotted(plot)
        text = rendered.plain.splitlines()
        assert text[0].lstrip().startswith("┌")
        # seconds on the x axis, ending now: 34 s fill the width instead of its last 3 columns
        assert "-30s" in text[-1] and text[-1].rstrip().endswith("now")
        columns = {i for line in text for i, c in enumerate(line) if ord(c) in BRAILLE}
        assert max(columns) - min(columns) > (plot.size.width - 8) * 0.7
        # the numbers of the phases sit in a band above the data, and the legend names them
        assert "1" in text[1] and "2-3" in text[1]
        assert not any(ord(c) in BRAILLE or c == "•" for c in text[1])
        legend = app.screen.query_one(PhaseLegend).render_line(0).text
        assert "1 C-quick: 5 users" in legend and "2 switched to 10 users" in legend
        # every line its own glyph, named in the title
        title = app.screen.query_one("#title-queue", ChartTitle).render_line(0).text
        assert "⠶⠶" in title and "running" in title and "••" in title and "waiting" in title
        coloured = [s for s in rendered.spans if _has_colour(s.style)]
        assert bool(coloured) is not no_color


async def test_a_resized_chart_is_laid_out_for_its_new_size() -> None:
    """Ticks follow the plot's size when it is drawn, not when the frame came: with one frame and
    no more (a paused replay), a terminal resized after it draws what a fresh start at that size
    draws."""

    async def plain_after(sizes: list[tuple[int, int]]) -> str:
        app = make_app(Settings(), StaticFeed([frame_at_end(seconds=300)]))
        async with app.run_test(size=sizes[0]) as pilot:
            await pilot.pause(0.2)
            await pilot.press("c")
            await pilot.pause(0.3)
            for size in sizes[1:]:
                await pilot.resize_terminal(*size)
                await pilot.pause(0.3)
            return plotted(app.screen.query_one("#plot-queue", PlotextPlot)).plain

    resized = await plain_after([(80, 24), (200, 60)])
    assert resized == await plain_after([(200, 60)])
    assert resized != await plain_after([(80, 24)])


def _has_colour(style: str | Style) -> bool:
    parsed = Style.parse(style) if isinstance(style, str) else style
    return parsed.color is not None or parsed.bgcolor is not None


@pytest.mark.parametrize("size", [(120, 40), (200, 60)])
async def test_queue_prefill_and_decode_times_are_charted(size: tuple[int, int]) -> None:
    app = make_app(Settings(), StaticFeed([with_phase_times(frame_at_end(seconds=300))]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.3)
        for key in ("queue_time", "prefill_time", "decode_time"):
            rendered = plotted(app.screen.query_one(f"#plot-{key}", PlotextPlot))
            assert any(ord(c) in BRAILLE for c in rendered.plain)
            assert "-4m" in rendered.plain and "now" in rendered.plain
            title = app.screen.query_one(f"#title-{key}", ChartTitle).render_line(0).text
            assert "time (s)" in title and "p50" in title and "p99" in title and "–" not in title


async def test_a_chart_without_data_says_so() -> None:
    frame = frame_at_end(seconds=60)
    series = dict(frame.history.series)
    series["queue_p50"] = series["queue_p99"] = tuple(math.nan for _ in frame.history.t)
    frame = replace(frame, history=History(frame.history.t, series, frame.history.span_s))
    app = make_app(Settings(), StaticFeed([frame]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.3)
        rendered = plotted(app.screen.query_one("#plot-queue_time", PlotextPlot))
        assert "no data in this span" in rendered.plain
        title = app.screen.query_one("#title-queue_time", ChartTitle).render_line(0).text
        assert "p50 –" in title and "p99 –" in title


def test_time_ticks_name_their_unit() -> None:
    ticks, labels = charts.time_ticks(34.0, 6)
    assert labels[-1] == "now" and ticks[-1] == 0
    assert all(label.endswith("s") for label in labels[:-1]) and "-30s" in labels
    ticks, labels = charts.time_ticks(300.0, 6)
    assert all(label.endswith("m") for label in labels[:-1]) and min(ticks) >= -5
    assert charts.time_unit(90.0) == ("s", 1.0) and charts.time_unit(1800.0) == ("m", 60.0)


def test_value_ticks_are_round_and_readable() -> None:
    assert charts.value_ticks(0.05, 4)[1] == ["0", "0.02", "0.04"]
    assert charts.value_ticks(100.0, 5)[1] == ["0", "25", "50", "75", "100"]
    assert charts.value_ticks(7382.0, 4)[1] == ["0", "2.5k", "5.0k"]


def test_close_phase_lines_share_a_number() -> None:
    assert charts.phase_labels([-5.0, -3.0, -1.0], -5.0, 0.0, 50) == ["1", "2", "3"]
    assert charts.phase_labels([-5.0, -2.0, -2.0, -1.99], -5.0, 0.0, 50) == ["1", "2-4", "", ""]


def test_the_legend_cleans_what_recordings_and_users_wrote() -> None:
    marks = [Event(T0, "marker", "\x1b[31mred\x1b[0m\x1b]0;title\x07 phase\n2"), Event(T0, "workload", "B")]
    assert charts.legend_entries(marks) == ["1 red phase 2", "2 B"]
