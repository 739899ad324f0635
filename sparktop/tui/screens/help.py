"""The help screen: every key, generated from the bindings so it stays true."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "close"),
        Binding("question_mark", "dismiss", "close"),
        Binding("q", "dismiss", "close"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("sparktop keys\n\n", "bold")
        for key, what in self.rows:
            text.append(f"  {key:>6}  ", "bold")
            text.append(f"{what}\n")
        text.append("\n  escape or ? closes this help")
        with Vertical(id="help-box"):
            yield Static(text, id="help-text")
