"""The dashboard: status bar, eight panels, key bar."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import Screen

from sparktop.model import Frame
from sparktop.tui import panels
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.panel import Panel
from sparktop.tui.widgets.status import StatusBar


class DashboardScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Grid(id="panels"):
            for builder in panels.BUILDERS:
                yield Panel(builder, id=f"panel-{builder.__name__}")
        yield KeyBar(id="keys")

    def show(self, frame: Frame, paused: bool = False) -> None:
        self.query_one(StatusBar).show(frame, paused)
        for panel in self.query(Panel):
            panel.show(frame)

    def show_status(self, frame: Frame, paused: bool) -> None:
        self.query_one(StatusBar).show(frame, paused)
