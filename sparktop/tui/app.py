"""The dashboard application.

``make_app(settings, feed)`` is the one factory the CLI, the tests and the profiling scripts use. The
app runs the feed as a worker on its own loop; the feed posts ``FrameReady`` messages, and a newer
frame replaces an older one still waiting in the queue (a slow terminal drops stale frames instead
of falling behind). Screens render the latest frame; pausing freezes what is drawn while the feed
keeps collecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import ClassVar, Protocol, cast

from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message

from sparktop.config import Settings
from sparktop.feeds import Feed
from sparktop.model import Frame
from sparktop.smoke.slo import Objective
from sparktop.tui.screens.charts import ChartsScreen
from sparktop.tui.screens.dashboard import DashboardScreen
from sparktop.tui.screens.events import EventsScreen
from sparktop.tui.screens.goto import GotoScreen
from sparktop.tui.screens.help import HelpScreen
from sparktop.tui.screens.marker import MarkerScreen
from sparktop.tui.themes import ThemeSpec, cycle_order, discover

SPANS = (60.0, 300.0, 1800.0)


class FrameReady(Message):
    """A new frame from the feed."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)


class SparktopApp(App[int]):
    CSS_PATH = "sparktop.tcss"
    TITLE = "sparktop"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-normal"), (170, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # noqa: RUF012
    MODES: ClassVar[dict[str, str]] = {  # type: ignore[assignment]
        "dashboard": "dashboard",
        "charts": "charts",
        "events": "events",
    }
    SCREENS: ClassVar = {"dashboard": DashboardScreen, "charts": ChartsScreen, "events": EventsScreen}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("p", "pause", "pause"),
        Binding("w", "span", "span"),
        Binding("d", "mode('dashboard')", "dashboard"),
        Binding("c", "mode('charts')", "charts"),
        Binding("e", "mode('events')", "events"),
        Binding("t", "theme", "theme"),
        Binding("m", "marker", "mark"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("escape", "mode('dashboard')", "back", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        feed: Feed,
        themes: dict[str, ThemeSpec] | None = None,
        objectives: Sequence[Objective] = (),
    ) -> None:
        super().__init__()
        self.settings = settings
        self.feed = feed
        self.objectives = tuple(objectives)
        """The workload's SLOs: the dashboard's SLO line judges them live."""
        self.themes = themes if themes is not None else discover()
        self.frame: Frame | None = None
        self.paused = False
        self.frames_received = 0
        self.frames_drawn = 0
        for spec in self.themes.values():
            self.register_theme(spec.theme)
        wanted = settings.theme if settings.theme in self.themes else "dark"
        with contextlib.suppress(Exception):
            self.theme = wanted

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        # a Textual built-in theme (or one without [series]) still gets series colours
        for key, fallback in (
            ("spark-a", "primary"),
            ("spark-b", "secondary"),
            ("spark-c", "success"),
            ("spark-muted", "foreground-muted"),
        ):
            variables.setdefault(key, variables.get(fallback, "white"))
        return variables

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            # a kill or a dropped SSH session ends the app cleanly: terminal restored, recording closed
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit)
        self.switch_mode("dashboard")
        self.run_worker(self.feed.run(self._emit), name="feed", exclusive=True, exit_on_error=False)

    def _emit(self, frame: Frame) -> None:
        self.post_message(FrameReady(frame))

    def on_frame_ready(self, message: FrameReady) -> None:
        self.frames_received += 1
        self.frame = message.frame
        if not self.paused:
            self.draw()

    def draw(self) -> None:
        frame = self.frame
        if frame is None:
            return
        if self._show_on_screen(frame, "show"):
            self.frames_drawn += 1

    def _show_on_screen(self, frame: Frame, method: str) -> bool:
        """Hand the frame to the current screen, unless it is not ready (composing, closing)."""
        try:
            screen = self.screen
        except ScreenStackError:
            return False
        show = getattr(screen, method, None)
        if show is None or not screen.is_mounted:
            return False
        try:
            show(frame, self.paused)
        except NoMatches:
            return False
        return True

    # ----------------------------------------------------------------------------------------------
    # actions

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.frame is not None:
            # redraw the status bar so it says PAUSED (or not), with the frame held
            self.draw() if not self.paused else self._draw_status_only()

    def _draw_status_only(self) -> None:
        if self.frame is not None:
            self._show_on_screen(self.frame, "show_status")

    def action_span(self) -> None:
        current = self.feed.span_s
        later = [s for s in SPANS if s > current]
        self.feed.span_s = later[0] if later else SPANS[0]
        self.notify(f"history span: {_span_name(self.feed.span_s)}", timeout=2)

    def action_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)
            self.call_after_refresh(self._redraw_held)

    def _redraw_held(self) -> None:
        if self.frame is not None:
            self._show_on_screen(self.frame, "show")

    def action_theme(self) -> None:
        order = cycle_order(list(self.themes))
        current = self.theme if self.theme in order else order[0]
        self.theme = order[(order.index(current) + 1) % len(order)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_marker(self) -> None:
        def done(note: str | None) -> None:
            if note:
                self.feed.mark(note)
                self.notify("marker added", timeout=2)

        self.push_screen(MarkerScreen(), done)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[tuple[str, str]]:
        """(key, what it does) for every key the app answers."""
        rows = []
        for binding in self._bindings_list():
            rows.append((binding.key_display or binding.key, HELP.get(binding.action, binding.description)))
        return rows

    def _bindings_list(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]


HELP = {
    "quit": "quit (recording is closed cleanly)",
    "pause": "pause the view; data keeps being collected",
    "span": "history span of the sparklines: 1 min, 5 min, 30 min",
    "mode('dashboard')": "dashboard (panels and sparklines)",
    "mode('charts')": "charts: larger plots with phase markers",
    "mode('events')": "events: startup phases, workload phases, errors, markers",
    "theme": "next theme (dark, light, high-contrast, your own)",
    "marker": "add a marker with a note at this moment",
    "help": "this help",
    "replay('toggle')": "replay: play or pause",
    "replay('faster')": "replay: faster (up to 64x)",
    "replay('slower')": "replay: slower (down to 0.25x)",
    "replay('forward')": "replay: step forward one scrape",
    "replay('back')": "replay: step back one scrape",
    "replay('next_mark')": "replay: next event or marker",
    "replay('previous_mark')": "replay: previous event or marker",
    "replay('to_start')": "replay: go to the start",
    "replay('to_end')": "replay: go to the end",
    "goto": "replay: go to a time (HH:MM:SS, +5m, -30s, 50%)",
}


def _span_name(span: float) -> str:
    return f"{span / 60:g} min"


class ReplayControls(Protocol):
    """What the replay keys drive (``sparktop.recording.replay.ReplayFeed``)."""

    position: float

    def toggle(self) -> None: ...
    def faster(self) -> None: ...
    def slower(self) -> None: ...
    def step(self, steps: int) -> None: ...
    def next_mark(self) -> None: ...
    def previous_mark(self) -> None: ...
    def to_start(self) -> None: ...
    def to_end(self) -> None: ...
    def seek(self, t: float) -> None: ...


class ReplayApp(SparktopApp):
    """The same dashboard, with the replay keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *SparktopApp.BINDINGS,
        Binding("space", "replay('toggle')", "play/pause", key_display="space"),
        Binding("plus,equals_sign", "replay('faster')", "faster", key_display="+"),
        Binding("minus", "replay('slower')", "slower", key_display="-"),
        Binding("right", "replay('forward')", "step", key_display="→"),
        Binding("left", "replay('back')", "step back", key_display="←"),
        Binding("right_square_bracket", "replay('next_mark')", "next event", key_display="]"),
        Binding("left_square_bracket", "replay('previous_mark')", "previous event", key_display="["),
        Binding("home", "replay('to_start')", "start", key_display="home"),
        Binding("end", "replay('to_end')", "end", key_display="end"),
        Binding("g", "goto", "go to", key_display="g"),
    ]

    extra_keys = (("space", "play"), ("+-", "speed"), ("←→", "step"), ("[]", "event"), ("g", "go to"))

    @property
    def controls(self) -> ReplayControls:
        return cast(ReplayControls, self.feed)

    def action_replay(self, command: str) -> None:
        controls = self.controls
        if command == "forward":
            controls.step(1)
        elif command == "back":
            controls.step(-1)
        else:
            getattr(controls, command)()
        self._push_frame()

    def _push_frame(self) -> None:
        frame = getattr(self.feed, "frame", None)
        if callable(frame):
            self.frame = frame()
            self.draw()

    def action_goto(self) -> None:
        def done(target: float | None) -> None:
            if target is not None:
                self.controls.seek(target)
                self._push_frame()

        self.push_screen(GotoScreen(self.controls.position), done)


def make_app(
    settings: Settings,
    feed: Feed,
    themes: dict[str, ThemeSpec] | None = None,
    objectives: Sequence[Objective] = (),
) -> SparktopApp:
    """The dashboard on ``feed`` (live, replay or fixed frames), judging ``objectives`` live."""
    if hasattr(feed, "toggle") and hasattr(feed, "seek"):
        return ReplayApp(settings, feed, themes, objectives)
    return SparktopApp(settings, feed, themes, objectives)
