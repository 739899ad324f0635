"""vLLM's startup as its log tells it: each phase with its time, the current one's progress, and,
when the start fails, the fatal line and what to do about it."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.container.phases import PHASE_TITLES, PHASES
from sparktop.model import Frame
from sparktop.tui import drawing
from sparktop.tui.widgets.lines import LineWidget


def startup_lines(frame: Frame, width: int) -> list[tuple[str, str]]:
    """(text, component class) lines of the startup view (pure: tested without a terminal)."""
    progress = frame.startup
    if progress is None:
        return [("waiting for vLLM's first log line", "startup--muted")]
    lines: list[tuple[str, str]] = [("vLLM is starting", "startup--title"), ("", "startup--muted")]
    seen = {phase.name: phase for phase in progress.phases}
    for name in PHASES:
        title = PHASE_TITLES.get(name, name)
        phase = seen.get(name)
        if phase is None:
            if name == "download":
                continue  # only shown when weights are downloaded
            lines.append((f"  ·  {title}", "startup--muted"))
            continue
        if phase.ended is not None:
            took = fmt.seconds(phase.ended - phase.started)
            detail = f"  {fmt.clean(phase.detail)}" if phase.detail else ""
            lines.append((f"  ✓  {title:<32} {took:>9}{detail}", "startup--done"))
        else:
            elapsed = fmt.seconds(max(0.0, frame.t - phase.started))
            bar = ""
            if progress.percent is not None and progress.current == name:
                bar = "  " + drawing.bar(progress.percent / 100, 20) + f" {progress.percent:.0f}%"
            lines.append((f"  ▶  {title:<32} {elapsed:>9}{bar}", "startup--current"))
    if progress.kv_cache_tokens is not None:
        concurrency = ""
        if progress.max_concurrency is not None:
            at = f" at {progress.max_concurrency_tokens:,} tokens" if progress.max_concurrency_tokens else ""
            concurrency = f", {progress.max_concurrency:.2f}x concurrency{at}"
        lines += [
            ("", "startup--muted"),
            (f"KV cache: {progress.kv_cache_tokens:,} tokens{concurrency}", "startup--text"),
        ]
    if progress.fatal:
        lines += [
            ("", "startup--muted"),
            ("startup failed:", "startup--bad"),
            (fmt.clean(progress.fatal), "startup--bad"),
        ]
        if progress.hint:
            lines.append((f"hint: {fmt.clean(progress.hint)}", "startup--text"))
    container = frame.container
    if container is not None:
        state = container.state if not container.error else f"{container.state}: {container.error}"
        lines += [
            ("", "startup--muted"),
            (f"container {fmt.clean(container.name)}: {fmt.clean(state)}", "startup--muted"),
        ]
    return [(text[: max(0, width - 2)], style) for text, style in lines]


class StartupView(LineWidget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "startup--title",
        "startup--text",
        "startup--muted",
        "startup--done",
        "startup--current",
        "startup--bad",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.frame: Frame | None = None

    def show(self, frame: Frame) -> None:
        self.frame = frame
        self.redraw()

    def build(self, width: int, height: int) -> list[Strip]:
        if self.frame is None:
            return []
        return [
            Strip([Segment(" " + text, self.style_of(style))])
            for text, style in startup_lines(self.frame, width)
        ]


def starting(frame: Frame) -> bool:
    """Whether the dashboard should show the startup instead of the panels."""
    progress = frame.startup
    if progress is None:
        return False
    return (not progress.ready and frame.server.state != "healthy") or progress.fatal is not None
