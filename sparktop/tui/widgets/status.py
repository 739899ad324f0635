"""The status bar: what is watched (target, model, profile, version) and how it goes (server state and
for how long, scrape health, workload progress, REC, SIMULATED, clock). Two lines."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.model import Frame, Unknown
from sparktop.tui.widgets.lines import LineWidget

STATE_SYMBOL = {
    "healthy": ("●", "status--good"),
    "starting": ("◌", "status--warn"),
    "unresponsive": ("◍", "status--warn"),
    "metrics-disabled": ("○", "status--warn"),
    "unreachable": ("✖", "status--bad"),
    "dead": ("✖", "status--bad"),
    "unknown": ("?", "status--muted"),
}


def _text(value: str | Unknown) -> str:
    return fmt.DASH if isinstance(value, Unknown) else fmt.clean(value)


class StatusBar(LineWidget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status--name",
        "status--text",
        "status--muted",
        "status--good",
        "status--warn",
        "status--bad",
        "status--badge",
        "status--rec",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.frame: Frame | None = None
        self.paused = False
        self._signature: object = None

    def show(self, frame: Frame, paused: bool = False) -> None:
        self.frame, self.paused = frame, paused
        signature = self._segments_text(frame, paused)
        if signature != self._signature:
            self._signature = signature
            self.redraw()

    def _segments_text(self, frame: Frame, paused: bool) -> tuple[tuple[tuple[str, str], ...], ...]:
        """Two lines of (text, component class) parts, then the clock (right-aligned on line two)."""
        target = frame.target
        first: list[tuple[str, str]] = [(" sparktop ", "status--name")]
        first.append((f" {fmt.clean(target.label)} ", "status--text"))
        first.append((f"│ {_text(target.model)} ", "status--text"))
        if not isinstance(target.profile, Unknown):
            first.append((f"│ {fmt.clean(target.profile)} ", "status--text"))
        first.append((f"│ vLLM {_text(target.version)} ", "status--muted"))
        if target.simulated or (frame.gpu is not None and frame.gpu.simulated):
            first.append((" SIMULATED ", "status--badge"))

        server = frame.server
        symbol, style = STATE_SYMBOL.get(server.state, ("?", "status--muted"))
        second: list[tuple[str, str]] = [
            (f" {symbol} {server.state} {fmt.duration(frame.t - server.since)} ", style)
        ]
        if server.scrape_ok:
            latency = fmt.seconds(server.scrape_latency_s) if server.scrape_latency_s is not None else ""
            second.append((f"│ scrape ok {latency} ", "status--muted"))
        elif server.state == "starting":
            second.append(("│ port open, HTTP not answering yet ", "status--muted"))
        elif server.state not in ("unknown",):
            second.append(
                (f"│ scrape ✖ {server.failed_scrapes}× {fmt.clean(server.detail)[:40]} ", "status--warn")
            )
        workload = frame.workload
        if workload is not None:
            total = f"/{workload.total}" if workload.total else ""
            failed = f" ✖{workload.failed}" if workload.failed else ""
            done = f"{workload.done}{total} ({workload.in_flight} in flight){failed}"
            text = f"│ load {fmt.clean(workload.phase)} {done} "
            second.append((text, "status--bad" if workload.failed else "status--text"))
        container = frame.container
        if container is not None:
            if container.state == "running":
                cpu = fmt.num(container.cpu_pct, 0, "%").replace(" %", "%")
                second.append((f"│ ctr {cpu} {fmt.gib(container.mem_bytes)} ", "status--muted"))
            else:
                why = f" ({fmt.clean(container.error)[:40]})" if container.error else ""
                second.append((f"│ container {container.state}{why} ", "status--bad"))
        if frame.recording is not None:
            rec = frame.recording
            if rec.ok:
                second.append((f"│ ● REC {rec.bytes / 1e6:.1f} MB ", "status--rec"))
            else:
                second.append((f"│ REC stopped: {fmt.clean(rec.detail)[:40]} ", "status--bad"))
        if frame.replay is not None:
            second.append(("│ REPLAY ", "status--badge"))
        if paused:
            second.append(("│ ⏸ PAUSED (still collecting) ", "status--warn"))
        clock = ((time.strftime(" %H:%M:%S ", time.localtime(frame.t)), "status--muted"),)
        return (tuple(first), tuple(second), clock)

    def build(self, width: int, height: int) -> list[Strip]:
        base = self.base_style
        if self.frame is None or not isinstance(self._signature, tuple):
            return []
        first, second, clock = self._signature
        strips = []
        for index, parts in enumerate((first, second)[:height]):
            segments = [Segment(text, self.style_of(style)) for text, style in parts]
            if index == 1:
                used = sum(len(text) for text, _ in parts)
                clock_text = clock[0][0]
                if used + len(clock_text) <= width:
                    segments.append(Segment(" " * (width - used - len(clock_text)), base))
                    segments.append(Segment(clock_text, self.style_of(clock[0][1])))
            strips.append(Strip(segments))
        return strips

    @property
    def text(self) -> str:
        """The bar as plain text (tests)."""
        if not isinstance(self._signature, tuple):
            return ""
        return "\n".join("".join(t for t, _ in line) for line in self._signature)
