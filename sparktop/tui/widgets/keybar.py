"""The bottom line: the keys, always visible (no mouse needed).

Every key the screen answers is listed at any width from 80 columns: on one line when they fit,
then with tighter spacing, then (replay's many keys) on two lines, replay's keys above the others.
Narrower than that, the line is cut with an ellipsis; ``?`` lists them all.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
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

Keys = tuple[tuple[str, str], ...]


def width_of(keys: Keys, *, tight: bool = False) -> int:
    """Columns ``keys`` take on one line (`` k label `` each, or ``k label `` when ``tight``)."""
    around = 2 if tight else 3
    return sum(len(key) + len(label) + around for key, label in keys)


def arrange(extra: Keys, width: int) -> tuple[tuple[Keys, ...], bool]:
    """The rows the keys go on at ``width`` and whether they are drawn tight: one row if it fits,
    tight or not; else the extra (replay) keys on a row above the others."""
    everything = (*extra, *KEYS)
    for tight in (False, True):
        if width_of(everything, tight=tight) <= width:
            return (everything,), tight
    if not extra:
        return (everything,), True
    tight = max(width_of(extra), width_of(KEYS)) > width
    return (extra, KEYS), tight


class KeyBar(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--label"}

    def __init__(self, extra: Keys = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.extra = extra
        self.rows: tuple[Keys, ...] = ()
        """The keys as they are drawn, row by row (tests)."""

    def on_mount(self) -> None:
        self.render_keys()

    def on_resize(self, event: events.Resize) -> None:
        self.render_keys()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.render_keys()

    def render_keys(self) -> None:
        key_style = self.get_component_rich_style("keybar--key")
        label_style = self.get_component_rich_style("keybar--label")
        extra = tuple(getattr(self.app, "extra_keys", ())) + self.extra
        width = self.size.width or self.app.size.width
        rows, tight = arrange(extra, width)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for index, row in enumerate(rows):
            if index:
                text.append("\n")
            self._append(text, row, tight, key_style, label_style)
        self.rows = rows
        if self.styles.height is None or self.styles.height.value != len(rows):
            self.styles.height = len(rows)
        self.update(text)

    @staticmethod
    def _append(text: Text, row: Keys, tight: bool, key_style: Style, label_style: Style) -> None:
        for key, label in row:
            text.append(key if tight else f" {key} ", key_style)
            text.append(f" {label} " if tight else f"{label} ", label_style)
