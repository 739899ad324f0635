"""The status bar: what is watched (target, model, profile, version, SIMULATED) and how it goes
(server state and for how long, stale figures, scrape health, PAUSED, REC, REPLAY, workload progress,
container, clock). Two lines.

Each line is laid out by priority for the width it has: when it does not fit, the least important
parts are shortened or dropped first, one step at a time (the ranks below). The state and its age,
stale figures, a failing scrape, PAUSED, REC, REPLAY and SIMULATED are shortened at most, never
dropped: they are what an operator glancing at the bar must not miss.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from textual.strip import Strip

from sparktop import fmt
from sparktop.model import Frame, TargetInfo, Unknown
from sparktop.scrape_state import figures_unread, scrape_state
from sparktop.secrets import redact_url
from sparktop.tui.panels import STALE_INTERVALS
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

# The order in which parts give way when a line is too narrow, least important first (a part's
# forms step down one rank at a time; a rank not reached leaves the part whole).
SCHEME = 10  # http:// off the target
SCRAPE_OK = 10  # "scrape ok 4ms" (the state already says healthy)
NAME = 20  # the " sparktop " badge
DETAIL = 20  # why a scrape failed, why REC stopped, why a container is down (the state stays)
PAUSED_NOTE = 25  # "(still collecting)"
LOAD_DETAIL = 30  # the load's phase and requests in flight
VERSION = 30
PROFILE = 40
CONTAINER = 40  # the container's CPU and memory
LOAD = 45  # the load's progress (failures stay)
REC_SIZE = 50  # the recording's size (REC stays)
LABELS = 50  # "model " before the model's name
SCRAPE_KIND = 55  # what failed in the scrape, and how stale the figures are (the ✖ count stays)
CLOCK = 60
SHORT_NAMES = 70  # target and model cut short, with an ellipsis

CLOCK_FORMAT = " %H:%M:%S "


class Part(NamedTuple):
    """A piece of a line: its text, its shorter forms with the rank at which each applies (an empty
    text drops the part), and its component class. (A named tuple: a dozen are made every frame.)"""

    text: str
    style: str
    cuts: tuple[tuple[int, str], ...] = ()


def _text(value: str | Unknown) -> str:
    return fmt.DASH if isinstance(value, Unknown) else fmt.clean(value)


def _name_key(name: str) -> str:
    """A name as compared for sameness: the last path part, lower case, letters and digits only
    (``nvidia/Gemma-4-26B-A4B-NVFP4`` and ``gemma4-26b-a4b-nvfp4`` are the same name)."""
    return re.sub(r"[^a-z0-9]", "", name.rsplit("/", 1)[-1].lower())


def _short(text: str, keep: int) -> str:
    return text if len(text) <= keep else text[: keep - 1] + "…"


Piece = tuple[str, str]
"""(text, component class) as drawn."""


def fit(parts: tuple[Part, ...], width: int) -> list[str]:
    """The texts of ``parts`` (empty for a part dropped) that fit in ``width`` columns, applying cuts
    in rank order until they do (or there are none left)."""
    texts = [part.text for part in parts]
    total = sum(map(len, texts))
    if total > width:
        steps = []
        for i, part in enumerate(parts):
            for rank, text in part.cuts:
                steps.append((rank, i, text))
        steps.sort()
        for _rank, i, text in steps:
            total += len(text) - len(texts[i])
            texts[i] = text
            if total <= width:
                break
    return texts


def lay_out(parts: tuple[Part, ...], right: int, width: int) -> tuple[list[Piece], list[Piece]]:
    """The pieces of a line at ``width``: those drawn from the left, and the last ``right`` parts,
    drawn against the right edge."""
    texts = fit(parts, width)
    pieces = [(text, part.style) for text, part in zip(texts, parts, strict=True)]
    split = len(pieces) - right
    return [p for p in pieces[:split] if p[0]], [p for p in pieces[split:] if p[0]]


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
        self._signature: tuple[tuple[Part, ...], tuple[Part, ...]] | None = None
        self._identity_cache: tuple[tuple[TargetInfo, bool], tuple[Part, ...]] | None = None
        self._first_line: tuple[tuple[Part, ...], int, tuple[list[Piece], list[Piece]]] | None = None

    def show(self, frame: Frame, paused: bool = False) -> None:
        self.frame, self.paused = frame, paused
        signature = self._parts(frame, paused)
        if signature != self._signature:
            self._signature = signature
            self.redraw()

    def _parts(self, frame: Frame, paused: bool) -> tuple[tuple[Part, ...], tuple[Part, ...]]:
        """Line one (its last part SIMULATED, when it is simulated) and line two (its last part the
        clock); the last part of each sits against the right edge."""
        badges = self._badges(frame)
        key = (frame.target, bool(badges))
        identity = self._identity_cache
        if identity is None or identity[0] != key:
            # what is watched rarely changes: its parts are kept from frame to frame
            identity = self._identity_cache = (key, self._identity(frame) + badges)
        return identity[1], self._state(frame, paused)

    @staticmethod
    def _identity(frame: Frame) -> tuple[Part, ...]:
        """What is watched: the target, the model (the served name), the serving profile when it is
        not the model's name again, vLLM's version."""
        target = frame.target
        label = fmt.clean(redact_url(target.label))
        bare = re.sub(r"^[a-z]+://", "", label)
        model = _text(target.model)
        parts = [
            Part(" sparktop ", "status--name", ((NAME, ""),)),
            Part(
                f" {label} ",
                "status--text",
                ((SCHEME, f" {bare} "), (SHORT_NAMES, f" {_short(bare, 16)} ")),
            ),
            Part(
                f"│ model {model} ",
                "status--text",
                ((LABELS, f"│ {model} "), (SHORT_NAMES + 1, f"│ {_short(model, 16)} ")),
            ),
        ]
        profile = target.profile
        if not isinstance(profile, Unknown) and (
            isinstance(target.model, Unknown) or _name_key(profile) != _name_key(target.model)
        ):
            parts.append(Part(f"│ profile {fmt.clean(profile)} ", "status--text", ((PROFILE, ""),)))
        parts.append(Part(f"│ vLLM {_text(target.version)} ", "status--muted", ((VERSION, ""),)))
        return tuple(parts)

    @staticmethod
    def _badges(frame: Frame) -> tuple[Part, ...]:
        if frame.target.simulated or (frame.gpu is not None and frame.gpu.simulated):
            return (Part(" SIMULATED ", "status--badge"),)
        return ()

    @staticmethod
    def _state(frame: Frame, paused: bool) -> tuple[Part, ...]:
        server = frame.server
        symbol, style = STATE_SYMBOL.get(server.state, ("?", "status--muted"))
        parts = [Part(f" {symbol} {server.state} {fmt.duration(frame.t - server.since)} ", style)]
        figures = frame.figures
        if (
            server.scrape_ok
            and figures is not None
            and frame.t - figures.t > STALE_INTERVALS * frame.interval_s
        ):
            # (a failing scrape says so below, and the state's age says for how long)
            parts.append(Part(f"│ stale {fmt.duration(frame.t - figures.t)} ", "status--warn"))
        if server.scrape_ok:
            latency = fmt.seconds(server.scrape_latency_s) if server.scrape_latency_s is not None else ""
            parts.append(Part(f"│ scrape ok {latency} ", "status--muted", ((SCRAPE_OK, ""),)))
        elif server.state == "starting":
            parts.append(
                Part("│ port open, HTTP not answering yet ", "status--muted", ((DETAIL, "│ no HTTP yet "),))
            )
        elif server.state != "unknown":
            # the scrape's outcome beside the state: a server can be healthy while its figures
            # cannot be read, and then what the panels show is stale (or missing)
            failed = f"│ scrape ✖ {server.failed_scrapes}× "
            kind = scrape_state(server)
            note = ""
            if figures_unread(server):
                note = f"figures stale {fmt.duration(frame.t - figures.t)} " if figures else "no figures "
            short = f"{failed}{kind} {note}"
            detail = fmt.clean(server.detail)[:40]
            parts.append(
                Part(
                    f"{short}{detail} " if detail else short,
                    "status--warn",
                    ((DETAIL, short), (SCRAPE_KIND, failed)),
                )
            )
        if paused:
            parts.append(
                Part("│ ⏸ PAUSED (still collecting) ", "status--warn", ((PAUSED_NOTE, "│ ⏸ PAUSED "),))
            )
        if frame.recording is not None:
            rec = frame.recording
            if rec.ok:
                parts.append(
                    Part(f"│ ● REC {rec.bytes / 1e6:.1f} MB ", "status--rec", ((REC_SIZE, "│ ● REC "),))
                )
            else:
                detail = fmt.clean(rec.detail)[:40]
                parts.append(Part(f"│ REC stopped: {detail} ", "status--bad", ((DETAIL, "│ REC stopped "),)))
        if frame.replay is not None:
            parts.append(Part("│ REPLAY ", "status--badge"))
        workload = frame.workload
        if workload is not None:
            total = f"/{workload.total}" if workload.total else ""
            failed = f" ✖{workload.failed}" if workload.failed else ""
            done = f"{workload.done}{total}"
            full = f"│ load {fmt.clean(workload.phase)} {done} ({workload.in_flight} in flight){failed} "
            least = f"│ load ✖{workload.failed} " if workload.failed else ""
            parts.append(
                Part(
                    full,
                    "status--bad" if workload.failed else "status--text",
                    ((LOAD_DETAIL, f"│ load {done}{failed} "), (LOAD, least)),
                )
            )
        container = frame.container
        if container is not None:
            if container.state == "running":
                cpu = fmt.num(container.cpu_pct, 0, "%").replace(" %", "%")
                parts.append(
                    Part(f"│ ctr {cpu} {fmt.gib(container.mem_bytes)} ", "status--muted", ((CONTAINER, ""),))
                )
            else:
                state = f"│ container {container.state} "
                why = f"({fmt.clean(container.error)[:40]}) " if container.error else ""
                parts.append(Part(state + why, "status--bad", ((DETAIL, state),)))
        clock = time.strftime(CLOCK_FORMAT, time.localtime(frame.t))
        parts.append(Part(clock, "status--muted", ((CLOCK, ""),)))
        return tuple(parts)

    def lines(self, width: int) -> list[tuple[list[Piece], list[Piece]]]:
        """Each line's pieces as drawn at ``width``: from the left, and against the right edge."""
        if self._signature is None or self.frame is None:
            return []
        first, second = self._signature
        cached = self._first_line
        if cached is None or cached[0] is not first or cached[1] != width:
            right = 1 if first[-1].style == "status--badge" else 0
            cached = self._first_line = (first, width, lay_out(first, right, width))
        return [cached[2], lay_out(second, 1, width)]

    def build(self, width: int, height: int) -> list[Strip]:
        base = self.base_style
        strips = []
        for left, right in self.lines(width)[:height]:
            segments = [Segment(text, self.style_of(style)) for text, style in left]
            if right:
                segments.append(Segment(" " * _gap(left, right, width), base))
            segments.extend(Segment(text, self.style_of(style)) for text, style in right)
            strips.append(Strip(segments))
        return strips

    @property
    def text(self) -> str:
        """The bar as plain text, as drawn at the widget's width (tests)."""
        width = self.size.width or 200
        return "\n".join(
            "".join(text for text, _ in left) + " " * _gap(left, right, width) + "".join(t for t, _ in right)
            for left, right in self.lines(width)
        )


def _gap(left: list[Piece], right: list[Piece], width: int) -> int:
    """The spaces that put ``right`` against the right edge (none if there is no room)."""
    if not right:
        return 0
    return max(0, width - sum(len(text) for text, _ in (*left, *right)))
