"""The replay bar: play state, speed, where we are in the recording, and the replay keys."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.model import ReplayStatus
from sparktop.tui import drawing
from sparktop.tui.widgets.lines import LineWidget


def position_text(status: ReplayStatus) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(status.position))
    return (
        f"{clock}  {fmt.duration(status.position - status.start)} / {fmt.duration(status.end - status.start)}"
    )


class ReplayBar(LineWidget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"replay--state", "replay--track", "replay--text"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: ReplayStatus | None = None

    def show(self, status: ReplayStatus | None) -> None:
        if status != self.status:
            self.status = status
            self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        status = self.status
        if status is None:
            return []
        state = f" {'▶' if status.playing else '⏸'} {status.speed:g}× "
        where = f" {position_text(status)} "
        room = max(0, width - len(state) - len(where))
        span = status.end - status.start
        fraction = (status.position - status.start) / span if span > 0 else 1.0
        track = drawing.bar(fraction, room)
        return [
            Strip(
                [
                    Segment(state, self.style_of("replay--state")),
                    Segment(track, self.style_of("replay--track")),
                    Segment(where, self.style_of("replay--text")),
                ]
            )
        ]
