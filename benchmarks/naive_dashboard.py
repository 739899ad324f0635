"""A naive Textual dashboard, the reference the real one is measured against in the same run.

Eight stock ``Sparkline`` widgets with a label each, every one updated with new data on every
refresh, as a first attempt at a dashboard would do it. Run: python benchmarks/naive_dashboard.py S
"""

from __future__ import annotations

import random
import sys

from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.widgets import Label, Sparkline


class Naive(App[None]):
    CSS = "Grid { grid-size: 2; } Sparkline { height: 1fr; }"

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self.rnd = random.Random(0)
        self.series = [[self.rnd.random() for _ in range(300)] for _ in range(8)]

    def compose(self) -> ComposeResult:
        with Grid():
            for i in range(8):
                yield Label(f"series {i}: 0.0", id=f"l{i}")
                yield Sparkline(self.series[i], id=f"s{i}")

    def on_mount(self) -> None:
        self.set_interval(self.interval, self.tick)

    def tick(self) -> None:
        for i, data in enumerate(self.series):
            data.append(self.rnd.random())
            del data[0]
            self.query_one(f"#s{i}", Sparkline).data = list(data)
            self.query_one(f"#l{i}", Label).update(f"series {i}: {data[-1]:.3f}")


if __name__ == "__main__":
    Naive(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0).run()
