"""Charts: larger time-series plots of the same series, with workload phases, startup phases and
user markers drawn on the time axis.

The x axis is time before the frame's moment, in seconds or minutes (named on every tick), fitted
to the history until it fills the span. Every line of a chart has its own glyph (braille, dots,
crosses), named in the chart's title line, so lines can be told apart without colour; under
``NO_COLOR`` the plots carry no colour at all. Phases and markers are numbered vertical lines, the
numbers in a band kept clear of the data, and named in the legend line under the charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.strip import Strip
from textual_plotext import Plot, PlotextPlot

from sparktop import fmt
from sparktop.model import Event, Frame
from sparktop.tui import drawing
from sparktop.tui.screens.dashboard import show_bars
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.lines import LineWidget
from sparktop.tui.widgets.replaybar import ReplayBar
from sparktop.tui.widgets.status import StatusBar


@dataclass(frozen=True, slots=True)
class Line:
    series: str
    """History series."""
    label: str
    color: str
    """Theme colour variable (spark-a, spark-b, spark-c)."""
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class ChartSpec:
    key: str
    title: str
    """With the unit of the y axis."""
    lines: tuple[Line, ...]
    top: float | None = None
    """The y axis's fixed top (KV cache: 100%); None: the largest value shown."""


GLYPHS = (("braille", "⠶⠶"), ("•", "••"), ("+", "++"))
"""(plotext marker, legend sample) of a chart's first, second and third line."""

CHARTS = (
    ChartSpec(
        "queue",
        "Queue (requests)",
        (Line("running", "running", "spark-a"), Line("waiting", "waiting", "spark-b")),
    ),
    ChartSpec("kv", "KV cache (%)", (Line("kv_usage", "used", "spark-a", 100.0),), top=100.0),
    ChartSpec(
        "ttft",
        "TTFT (s)",
        (
            Line("ttft_p50", "p50", "spark-a"),
            Line("ttft_p99", "p99", "spark-b"),
            Line("client_ttft_p99", "client p99", "spark-c"),
        ),
    ),
    ChartSpec(
        "decode",
        "Decode (tok/s)",
        (Line("decode_tps", "total", "spark-a"), Line("decode_per_user", "per user", "spark-b")),
    ),
    ChartSpec("prefill", "Prefill (tok/s)", (Line("prompt_tps", "prompt", "spark-a"),)),
    ChartSpec(
        "gpu",
        "GPU",
        (Line("gpu_power", "power W", "spark-a"), Line("gpu_util", "util %", "spark-b")),
    ),
    ChartSpec(
        "queue_time",
        "Queue time (s)",
        (Line("queue_p50", "p50", "spark-a"), Line("queue_p99", "p99", "spark-b")),
    ),
    ChartSpec(
        "prefill_time",
        "Prefill time (s)",
        (Line("prefill_p50", "p50", "spark-a"), Line("prefill_p99", "p99", "spark-b")),
    ),
    ChartSpec(
        "decode_time",
        "Decode time (s)",
        (Line("decode_p50", "p50", "spark-a"), Line("decode_p99", "p99", "spark-b")),
    ),
)

MARKER_KINDS = ("workload", "startup", "marker")
HEADROOM = 1.25
"""The y axis reaches this far above the largest value: the band on top holds the phase numbers."""


def _rgb(app_variables: dict[str, str], name: str) -> tuple[int, int, int]:
    try:
        color = Color.parse(app_variables.get(name, "white"))
    except Exception:  # a colour we cannot parse plots in white
        return (255, 255, 255)
    return color.rgb


def markers(frame: Frame, start: float | None = None) -> list[Event]:
    """Phase and user markers from ``start`` (default: the history span) to the frame's moment (the
    start of each phase, not its end)."""
    start = frame.t - frame.history.span_s if start is None else start
    return [e for e in frame.events if e.kind in MARKER_KINDS and start <= e.t <= frame.t and _marks(e)]


def _marks(event: Event) -> bool:
    """The start of something: a workload phase, a startup phase, a marker (not ends or progress)."""
    if event.kind == "startup":
        return event.data.get("status") == "started"
    return event.data.get("boundary", "start") != "end"


def time_unit(shown_s: float) -> tuple[str, float]:
    """The x axis's unit for a chart showing ``shown_s`` seconds: (suffix, seconds per unit)."""
    return ("s", 1.0) if shown_s <= 120 else ("m", 60.0)


def time_ticks(shown_s: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks from ``-shown`` to now in the axis's unit, at most ``max_ticks``, each label with its
    unit (``-30s``, ``-4m``) and the last one ``now``."""
    suffix, per_unit = time_unit(shown_s)
    extent = shown_s / per_unit
    steps = (5.0, 10.0, 15.0, 20.0, 30.0, 60.0) if suffix == "s" else (1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
    step = next((s for s in steps if extent / s + 1 <= max(2, max_ticks)), steps[-1])
    count = int(extent / step + 1e-9)
    ticks = [-k * step for k in range(count, -1, -1)]
    labels = [f"{t:g}{suffix}" if t else "now" for t in ticks]
    return ticks, labels


def value_ticks(top: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Round ticks from 0 up to ``top`` (1, 2, 2.5 or 5 times a power of ten apart), at most
    ``max_ticks``, labelled compactly (``0.025``, ``2.5k``)."""
    if not top > 0 or not math.isfinite(top):
        return [0.0], ["0"]
    rough = top / max(1, max_ticks - 1)
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= rough)
    ticks = [k * step for k in range(int(top / step + 1e-9) + 1)]
    return ticks, [fmt.si(t) if t >= 1000 else f"{t:.4g}" for t in ticks]


def phase_labels(xs: Sequence[float], left: float, right: float, columns: int) -> list[str]:
    """The number drawn at each phase line at ``xs`` (ascending): its own (``2``), or, for lines too
    close to have their own (each number needs its columns and one more), the first of them carries
    them all (``2-3``) and the others none."""
    extent = right - left
    cols = [(x - left) / extent * columns if extent > 0 else 0.0 for x in xs]
    out = [""] * len(xs)
    first = 0
    while first < len(xs):
        last = first
        while True:
            text = str(first + 1) if last == first else f"{first + 1}-{last + 1}"
            if last + 1 < len(xs) and cols[last + 1] < cols[first] + len(text) + 1:
                last += 1
                continue
            break
        out[first] = text
        first = last + 1
    return out


def legend_entries(marks: Sequence[Event]) -> list[str]:
    """``1 C-quick: 5 users`` per phase or marker, numbered as on the charts (text cleaned: phase
    names and markers come from recordings and users)."""
    return [f"{n} {fmt.clean(event.text).strip()}" for n, event in enumerate(marks, start=1)]


class ChartTitle(LineWidget):
    """A chart's title with the unit, then each line's glyph and name (in the line's colour)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--title",
        "chart--label",
        "chart--spark-a",
        "chart--spark-b",
        "chart--spark-c",
    }

    def __init__(self, spec: ChartSpec, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec
        self.present: tuple[bool, ...] = (True,) * len(spec.lines)

    def show(self, present: tuple[bool, ...]) -> None:
        if present != self.present:
            self.present = present
            self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        label = self.style_of("chart--label")
        lines = list(zip(GLYPHS, self.spec.lines, self.present, strict=False))
        for gap, space in (("  ", " "), (" ", "")):  # roomy, then compact where it does not fit
            segments = [Segment(f" {self.spec.title}", self.style_of("chart--title"))]
            for (_, sample), line, present in lines:
                segments.append(Segment(gap, label))
                segments.append(Segment(sample, self.style_of(f"chart--{line.color}")))
                segments.append(Segment(f"{space}{line.label}" + ("" if present else " –"), label))
            if sum(len(s.text) for s in segments) <= width:
                break
        return [Strip(segments)]


class PhaseLegend(LineWidget):
    """The phases and markers the charts number, on one line (shown when there are any)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"phases--title", "phases--number", "phases--text"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: tuple[str, ...] = ()

    def show(self, entries: Sequence[str]) -> None:
        entries = tuple(entries)
        if self.display != bool(entries):
            self.display = bool(entries)
        if entries != self.entries:
            self.entries = entries
            self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        number, text = self.style_of("phases--number"), self.style_of("phases--text")
        segments = [Segment(" phases ", self.style_of("phases--title"))]
        used = 8
        for i, entry in enumerate(self.entries):
            n, _, name = entry.partition(" ")
            more = len(self.entries) - i
            tail = f" +{more - 1} more" if more > 1 else ""
            if used + len(entry) + 2 + len(tail) > width and i:
                segments.append(Segment(f" +{more} more (e: events)", text))
                break
            segments += [Segment(f" {n}", number), Segment(f" {name} ", text)]
            used += len(entry) + 2
        return [Strip(segments)]


@dataclass(frozen=True, slots=True)
class PlotData:
    """What one chart shows; its ticks and phase numbers are fitted to the plot's size when drawn."""

    spec: ChartSpec
    lines: tuple[tuple[Line, list[tuple[float, float]]], ...]
    """Each line with its (x, value) points, x in the axis's unit before now."""
    left: float
    marks: list[float]
    """Phase and marker lines' x."""
    shown_s: float
    muted: str | tuple[int, int, int]
    canvas: str | tuple[int, int, int]
    no_color: bool
    variables: dict[str, str]


class ChartPlot(PlotextPlot):
    """A plot that lays out its figure when it is drawn, at its size then: a frame can arrive before
    the layout settles (the first one, or the only one when paused), and ticks counted for a size
    the plot no longer has would crowd or thin the axes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._data: PlotData | None = None
        self._drawn: tuple[PlotData, int, int] | None = None

    def draw(self, data: PlotData) -> None:
        self._data = data
        self.refresh()

    def render(self) -> RenderResult:
        data, width, height = self._data, self.size.width, self.size.height
        if data is not None and (
            self._drawn is None or self._drawn[0] is not data or self._drawn[1:] != (width, height)
        ):
            _figure(self.plt, data, width, height)
            self._drawn = (data, width, height)
        return super().render()


def _figure(plt: Plot, data: PlotData, width: int, height: int) -> None:
    spec, left = data.spec, data.left
    plt.clear_data()
    plt.clear_figure()
    plt.xlim(left, 0)
    peak = 0.0
    for (marker, _), (line, points) in zip(GLYPHS, data.lines, strict=False):
        if not points:
            continue
        peak = max(peak, *(v for _, v in points))
        plt.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker=marker,
            color="default" if data.no_color else _rgb(data.variables, line.color),
        )
    highest = spec.top or peak or 1.0
    top = highest * HEADROOM
    plt.ylim(0, top)
    plt.yticks(*value_ticks(highest, max(2, (height - 3) // 2)))
    if not any(points for _, points in data.lines):
        plt.text("no data in this span", x=left / 2, y=top / 2, color=data.muted, alignment="center")
    room = max(1, width - 8)  # the plot's columns, about: less the y axis
    for x, label in zip(data.marks, phase_labels(data.marks, left, 0.0, room), strict=True):
        plt.vline(x, data.muted)
        if label:
            plt.text(label, x=x, y=top, color=data.muted, background=data.canvas)
    ticks, labels = time_ticks(data.shown_s, max(2, room // 7))
    plt.xticks(ticks, labels)


class ChartsScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Grid(id="charts"):
            for spec in CHARTS:
                with Vertical(id=f"chart-{spec.key}", classes="chart"):
                    yield ChartTitle(spec, id=f"title-{spec.key}")
                    yield ChartPlot(id=f"plot-{spec.key}")
        yield PhaseLegend(id="phases")
        yield ReplayBar(id="replay")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        if self.app.no_color:
            # plotext's "clear" theme writes no colour codes at all
            for plot in self.query(ChartPlot):
                plot.theme = "clear"

    def show(self, frame: Frame, paused: bool = False) -> None:
        show_bars(self, frame, paused)
        no_color = self.app.no_color
        variables = self.app.theme_variables
        history = frame.history
        shown = drawing.shown_seconds(history.t, frame.t, history.span_s, frame.interval_s)
        shown = shown if shown > 0 else history.span_s
        _, per_unit = time_unit(shown)
        xs = [(t - frame.t) / per_unit for t in history.t]
        marks = markers(frame, frame.t - shown)
        self.query_one(PhaseLegend).show(legend_entries(marks))
        xs_marks = [(e.t - frame.t) / per_unit for e in marks]
        left = -shown / per_unit
        muted = "default" if no_color else _rgb(variables, "spark-muted")
        canvas = "default" if no_color else _rgb(variables, "surface")
        for spec in CHARTS:
            box = self.query_one(f"#chart-{spec.key}", Vertical)
            if not box.display:
                continue  # hidden on a short terminal: not worth plotting
            lines = []
            for line in spec.lines:
                values = history.series.get(line.series, ())
                points = [(x, v * line.scale) for x, v in zip(xs, values, strict=False) if not math.isnan(v)]
                lines.append((line, points))
            self.query_one(f"#title-{spec.key}", ChartTitle).show(tuple(bool(p) for _, p in lines))
            plot = self.query_one(f"#plot-{spec.key}", ChartPlot)
            plot.draw(PlotData(spec, tuple(lines), left, xs_marks, shown, muted, canvas, no_color, variables))

    def show_status(self, frame: Frame, paused: bool) -> None:
        show_bars(self, frame, paused)
