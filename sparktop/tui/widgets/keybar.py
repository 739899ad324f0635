"""The bottom line: the keys that matter, always visible (no mouse needed)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

KEYS = (
    ("q", "quit"),
    ("p", "pause"),
    ("w", "span"),
    ("c", "charts"),
    ("e", "events"),
    ("d", "main"),
    ("t", "theme"),
    ("m", "mark"),
    ("?", "help"),
)


class KeyBar(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--label"}

    def __init__(self, extra: tuple[tuple[str, str], ...] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.extra = extra

    def on_mount(self) -> None:
        self.render_keys()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.render_keys()

    def render_keys(self) -> None:
        key_style = self.get_component_rich_style("keybar--key")
        label_style = self.get_component_rich_style("keybar--label")
        text = Text(no_wrap=True, overflow="ellipsis")
        extra = tuple(getattr(self.app, "extra_keys", ())) + self.extra
        for key, label in (*extra, *KEYS):
            text.append(f" {key} ", key_style)
            text.append(f"{label} ", label_style)
        self.update(text)
