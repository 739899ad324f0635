"""The SLO line: which objectives hold now (a workload with SLOs: a profile's [smoke] table, demo).

One line: the count, then the broken objectives with value and limit, the uncertain ones (a limit
inside a histogram bucket), the names of those that hold, and the unknown ones, dimmed; what does
not fit the width is cut, the broken ones first to stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.model import Frame
from sparktop.smoke.live import LiveJudgement, live_verdict, summary
from sparktop.smoke.slo import Objective
from sparktop.tui.widgets.lines import LineWidget

MARK = {
    "fail": ("✗", "slo--bad"),
    "uncertain": ("?", "slo--warn"),
    "pass": ("✓", "slo--good"),
    "skip": ("–", "slo--muted"),
}


class SloBar(LineWidget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"slo--label", "slo--good", "slo--warn", "slo--bad", "slo--muted"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.judgements: list[LiveJudgement] = []
        self._signature: tuple[tuple[str, str], ...] = ()

    def show(self, frame: Frame, objectives: Sequence[Objective]) -> None:
        self.judgements = live_verdict(frame, objectives)
        signature = self.parts()
        if signature != self._signature:
            self._signature = signature
            self.redraw()

    def parts(self) -> tuple[tuple[str, str], ...]:
        if not self.judgements:
            return ()
        out = [(f" SLO {summary(self.judgements)} ", "slo--label")]
        for j in self.judgements:
            mark, style = MARK[j.judgement]
            out.append((f" {mark} {fmt.clean(j.text)}", style))
        return tuple(out)

    def build(self, width: int, height: int) -> list[Strip]:
        if not self._signature or height < 1:
            return []
        segments = []
        used = 0
        for text, style in self._signature:
            if used + len(text) > width:
                if used + 2 <= width:
                    segments.append(Segment(" …", self.style_of("slo--muted")))
                break
            segments.append(Segment(text, self.style_of(style)))
            used += len(text)
        return [Strip(segments)]

    @property
    def text(self) -> str:
        """The line as plain text (tests)."""
        return "".join(t for t, _ in self._signature)
