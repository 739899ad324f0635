"""The fleet screen: one line per server, sortable; Enter opens that server's dashboard."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen

from sparktop.derive.fleet import SORT_KEYS, row_of, sort_rows, totals
from sparktop.model import Frame
from sparktop.tui.widgets.fleet_table import FleetTable
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.replaybar import ReplayBar

FLEET_KEYS = (("↑↓", "select"), ("enter", "open"), ("s", "sort"))


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "previous server", show=False),
        Binding("down,j", "move(1)", "next server", show=False),
        Binding("pageup", "move(-10)", "ten up", show=False),
        Binding("pagedown", "move(10)", "ten down", show=False),
        Binding("enter", "open", "open the server's dashboard"),
        Binding("s", "sort", "sort by the next column"),
    ]

    def compose(self) -> ComposeResult:
        yield FleetTable(id="fleet")
        yield ReplayBar(id="replay")
        yield KeyBar(FLEET_KEYS, id="keys")

    def show(self, frame: Frame, paused: bool = False) -> None:
        fleet = frame.fleet
        if fleet is None:
            return
        table = self.query_one(FleetTable)
        rows = [row_of(index, sub) for index, sub in enumerate(fleet.frames)]
        table.show(sort_rows(rows, table.sort_key), totals(rows), frame.t, paused)
        bar = self.query_one(ReplayBar)
        bar.display = frame.replay is not None
        bar.show(frame.replay)

    def show_status(self, frame: Frame, paused: bool) -> None:
        self.show(frame, paused)

    def action_move(self, step: int) -> None:
        self.query_one(FleetTable).move(step)

    def action_sort(self) -> None:
        table = self.query_one(FleetTable)
        keys = list(SORT_KEYS)
        table.sort_key = keys[(keys.index(table.sort_key) + 1) % len(keys)]
        table.rows = sort_rows(table.rows, table.sort_key)
        table.redraw()
        self.notify(f"sorted by {table.sort_key}", timeout=2)

    def action_open(self) -> None:
        opener = getattr(self.app, "open_target", None)
        if opener is not None:
            opener(self.query_one(FleetTable).cursor)
