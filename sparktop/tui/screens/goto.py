"""Go to a moment of a recording: ``14:05:00``, ``+5m``, ``-30s``, ``50%``."""

from __future__ import annotations

import re
import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

_OFFSET = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smh]?)$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def parse_target(text: str, position: float, start: float, end: float) -> float | None:
    """The moment ``text`` names, or None when it names none."""
    text = text.strip()
    if m := _OFFSET.match(text):
        sign, amount, unit = m.groups()
        seconds = float(amount) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]
        return position + seconds if sign == "+" else position - seconds
    if m := _PERCENT.match(text):
        return start + (end - start) * min(100.0, float(m.group(1))) / 100.0
    if m := _CLOCK.match(text):
        hours, minutes, seconds = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            return None
        day = time.localtime(position)
        base = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, hours, minutes, seconds, 0, 0, -1))
        # the recording may cross midnight: take the candidate day that falls inside it
        for candidate in (base, base + 86400, base - 86400):
            if start <= candidate <= end:
                return candidate
        return base
    return None


class GotoScreen(ModalScreen[float | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, position: float) -> None:
        super().__init__()
        self.position = position

    def compose(self) -> ComposeResult:
        with Vertical(id="marker-box"):
            yield Static(
                "Go to: HH:MM[:SS], +5m / -30s, or 50% (enter to go, escape to cancel)", id="goto-help"
            )
            yield Input(placeholder=time.strftime("%H:%M:%S", time.localtime(self.position)), id="goto-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        feed = getattr(self.app, "feed", None)
        recording = getattr(feed, "recording", None)
        start = getattr(recording, "start", self.position)
        end = getattr(recording, "end", self.position)
        target = parse_target(event.value, self.position, start, end)
        if target is None:
            self.query_one("#goto-help", Static).update(f"not a time: {event.value!r}; try 14:05, +5m or 50%")
            return
        self.dismiss(target)

    def action_cancel(self) -> None:
        self.dismiss(None)
