"""The events log: startup phases, workload phases, state changes, errors, user markers.

Event text comes from servers, containers and recordings: it is cleaned of control sequences and
shown as plain text (never parsed as markup).
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import RichLog

from sparktop import fmt
from sparktop.model import Event, Frame
from sparktop.tui.screens.dashboard import show_bars
from sparktop.tui.widgets.keybar import KeyBar
from sparktop.tui.widgets.replaybar import ReplayBar
from sparktop.tui.widgets.status import StatusBar

LEVEL_CLASS = {"info": "events--info", "warning": "events--warning", "error": "events--error"}


def event_line(event: Event) -> tuple[str, str, str]:
    """(time, tag, text) of an event, cleaned for display."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
    tag = {
        "startup": "startup",
        "workload": "load",
        "marker": "MARK",
        "state": "state",
        "error": "error",
        "log": "log",
        "container": "docker",
    }.get(event.kind, event.kind)
    return stamp, tag, fmt.clean(event.text)


class EventsScreen(Screen[None]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "events--time",
        "events--tag",
        "events--info",
        "events--warning",
        "events--error",
        "events--marker",
    }

    def __init__(self) -> None:
        super().__init__()
        self._last: Event | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield RichLog(id="log", markup=False, highlight=False, wrap=True, auto_scroll=True)
        yield ReplayBar(id="replay")
        yield KeyBar(id="keys")

    def show(self, frame: Frame, paused: bool = False) -> None:
        show_bars(self, frame, paused)
        log = self.query_one(RichLog)
        events = frame.events
        start = 0
        if self._last is not None:
            for index in range(len(events) - 1, -1, -1):
                if events[index] is self._last:
                    start = index + 1
                    break
        fresh = events[start:]
        time_style = self.get_component_rich_style("events--time")
        tag_style = self.get_component_rich_style("events--tag")
        for event in fresh:
            stamp, tag, text = event_line(event)
            style = self.get_component_rich_style(
                "events--marker" if event.kind == "marker" else LEVEL_CLASS.get(event.level, "events--info")
            )
            line = Text()
            line.append(stamp + " ", time_style)
            line.append(f"{tag:<8}", tag_style)
            line.append(text, style)
            log.write(line)
        if events:
            self._last = events[-1]

    def show_status(self, frame: Frame, paused: bool) -> None:
        show_bars(self, frame, paused)
