"""The dashboard: status bar, eight panels, the SLO line (when there are SLOs), key bar."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import Screen

from sparktop.model import Frame
from sparktop.tui import panels
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.panel import Panel
from sparktop.tui.widgets.replaybar import ReplayBar
from sparktop.tui.widgets.slobar import SloBar
from sparktop.tui.widgets.startup import StartupView, starting
from sparktop.tui.widgets.status import StatusBar


class DashboardScreen(Screen[None]):
    _panels: list[Panel] | None = None
    """The panels, found once (a query each frame costs more than drawing some of them)."""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield StartupView(id="startup")
        with Grid(id="panels"):
            for builder in panels.BUILDERS:
                yield Panel(builder, id=f"panel-{builder.__name__}")
        yield SloBar(id="slo")
        yield ReplayBar(id="replay")
        yield KeyBar(id="keys")

    def show(self, frame: Frame, paused: bool = False) -> None:
        show_bars(self, frame, paused)
        startup = self.query_one(StartupView)
        grid = self.query_one("#panels", Grid)
        slo = self.query_one(SloBar)
        if starting(frame):
            startup.display, grid.display, slo.display = True, False, False
            startup.show(frame)
            return
        startup.display, grid.display = False, True
        objectives = getattr(self.app, "objectives", ())
        slo.display = bool(objectives)
        if objectives:
            slo.show(frame, objectives)
        if self._panels is None:
            self._panels = list(self.query(Panel))
        for panel in self._panels:
            panel.show(frame)

    def show_status(self, frame: Frame, paused: bool) -> None:
        show_bars(self, frame, paused)


def show_bars(screen: Screen[None], frame: Frame, paused: bool) -> None:
    """The status bar, and the replay bar when the frame comes from a recording."""
    screen.query_one(StatusBar).show(frame, paused)
    bar = screen.query_one(ReplayBar)
    bar.display = frame.replay is not None
    bar.show(frame.replay)
