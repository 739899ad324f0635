"""The help screen: every key, generated from the bindings so it stays true.

It fits 80x24 with the replay keys; where the screen's own keys make it longer than the terminal,
it scrolls (arrows, page up/down).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, list[tuple[str, str]]]
"""A heading ("" for none) and its rows of (keys, what they do)."""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "close"),
        Binding("question_mark", "dismiss", "close"),
        Binding("q", "dismiss", "close"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections
        self.rows = [row for _, rows in sections for row in rows]

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.rows), default=1)
        text = Text(end="")
        text.append("sparktop keys", "bold")
        text.append("  (escape or ? closes)", "dim")
        for heading, rows in self.sections:
            if heading:
                text.append(f"\n{heading}", "bold")
            for key, what in rows:
                text.append(f"\n  {key:>{width}}  ", "bold")
                text.append(what)
        with VerticalScroll(id="help-box"):
            yield Static(text, id="help-text")
