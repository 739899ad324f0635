"""Charts: larger time-series plots of the same series, with workload phases, startup phases and
user markers drawn on the time axis. The x axis is minutes before the frame's moment."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Grid
from textual.screen import Screen
from textual_plotext import PlotextPlot

from sparktop import fmt
from sparktop.model import Event, Frame
from sparktop.tui.screens.dashboard import show_bars
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.replaybar import ReplayBar
from sparktop.tui.widgets.status import StatusBar


@dataclass(frozen=True, slots=True)
class ChartSpec:
    key: str
    title: str
    series: tuple[tuple[str, str, str, float], ...]
    """(history series, label, colour variable, scale) per line."""


CHARTS = (
    ChartSpec(
        "queue",
        "Queue (requests)",
        (("running", "running", "spark-a", 1.0), ("waiting", "waiting", "spark-b", 1.0)),
    ),
    ChartSpec("kv", "KV cache (%)", (("kv_usage", "used", "spark-a", 100.0),)),
    ChartSpec(
        "ttft",
        "TTFT (s)",
        (
            ("ttft_p50", "p50", "spark-a", 1.0),
            ("ttft_p99", "p99", "spark-b", 1.0),
            ("client_ttft_p99", "client p99", "spark-c", 1.0),
        ),
    ),
    ChartSpec(
        "decode",
        "Decode (tok/s)",
        (("decode_tps", "total", "spark-a", 1.0), ("decode_per_user", "per user", "spark-b", 1.0)),
    ),
    ChartSpec("prefill", "Prefill (tok/s)", (("prompt_tps", "prompt", "spark-a", 1.0),)),
    ChartSpec(
        "gpu",
        "GPU (W, %)",
        (("gpu_power", "power W", "spark-a", 1.0), ("gpu_util", "util %", "spark-b", 1.0)),
    ),
)

MARKER_KINDS = ("workload", "startup", "marker")


def _rgb(app_variables: dict[str, str], name: str) -> tuple[int, int, int]:
    try:
        color = Color.parse(app_variables.get(name, "white"))
    except Exception:  # a colour we cannot parse plots in white
        return (255, 255, 255)
    return color.rgb


def markers(frame: Frame) -> list[Event]:
    """Phase and user markers within the history span (the start of each phase, not its end)."""
    start = frame.t - frame.history.span_s
    return [e for e in frame.events if e.kind in MARKER_KINDS and start <= e.t <= frame.t and _marks(e)]


def _marks(event: Event) -> bool:
    """The start of something: a workload phase, a startup phase, a marker (not ends or progress)."""
    if event.kind == "startup":
        return event.data.get("status") == "started"
    return event.data.get("boundary", "start") != "end"


class ChartsScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Grid(id="charts"):
            for spec in CHARTS:
                yield PlotextPlot(id=f"chart-{spec.key}")
        yield ReplayBar(id="replay")
        yield KeyBar(id="keys")

    def show(self, frame: Frame, paused: bool = False) -> None:
        show_bars(self, frame, paused)
        variables = self.app.theme_variables
        history = frame.history
        xs = [(t - frame.t) / 60.0 for t in history.t]
        marks = markers(frame)
        for spec in CHARTS:
            plot = self.query_one(f"#chart-{spec.key}", PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            names = [label for name, label, _, _ in spec.series if history.series.get(name)]
            plt.title(f"{spec.title}: {', '.join(names)}" if len(names) > 1 else spec.title)
            plt.xlim(-history.span_s / 60.0, 0)
            peak = 0.0
            for name, label, color, scale in spec.series:
                values = history.series.get(name, ())
                points = [(x, v * scale) for x, v in zip(xs, values, strict=False) if not math.isnan(v)]
                if not points:
                    continue
                peak = max(peak, *(v for _, v in points))
                plt.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    label=label if plot.size.height >= 12 else None,
                    color=_rgb(variables, color),
                    marker="braille",
                )
            muted = _rgb(variables, "spark-muted")
            canvas = _rgb(variables, "background")
            cols_per_minute = max(1.0, plot.size.width - 10) / max(history.span_s / 60.0, 1e-9)
            xs_marks = [(e.t - frame.t) / 60.0 for e in marks]
            for i, (event, x) in enumerate(zip(marks, xs_marks, strict=True)):
                plt.vline(x, muted)
                following = xs_marks[i + 1] if i + 1 < len(xs_marks) else 0.0
                room = int((following - x) * cols_per_minute) - 1
                label = fmt.clean(event.text)[: max(0, min(20, room))]
                if label and peak > 0 and plot.size.height >= 12:
                    # staggered rows, so labels of close markers do not write over each other
                    y = peak * (0.92 - 0.14 * (i % 3))
                    plt.text(label, x=x, y=y, color=muted, background=canvas)
            span_min = history.span_s / 60.0
            step = 1.0 if span_min <= 6 else 5.0
            ticks = [-k * step for k in range(int(span_min / step) + 1)]
            plt.xticks(ticks, [f"{t:g}" for t in ticks])
            plot.refresh()

    def show_status(self, frame: Frame, paused: bool) -> None:
        show_bars(self, frame, paused)
