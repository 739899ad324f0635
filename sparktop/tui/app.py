"""The dashboard application.

``make_app(settings, feed)`` is the one factory the CLI, the tests and the profiling scripts use. The
app runs the feed as a worker on its own loop; the feed posts ``FrameReady`` messages, and a newer
frame replaces an older one still waiting in the queue (a slow terminal drops stale frames instead
of falling behind). Screens render the latest frame; pausing freezes what is drawn while the feed
keeps collecting.

SIGTERM, SIGHUP and SIGINT end the app the way ``q`` does (terminal restored, feed stopped, recording
closed), on every screen, also when the terminal has stopped reading or has gone: see
``TerminalOutput`` for why that needs more than Textual's own writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, ClassVar, Protocol, TextIO, cast

from textual.app import App, AutopilotCallbackType, ScreenStackError
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.filter import Monochrome, NoColor
from textual.message import Message
from textual.worker import Worker

from sparktop.config import Settings
from sparktop.model import Frame
from sparktop.session.feeds import Feed
from sparktop.session.fleet import FleetControl
from sparktop.smoke.slo import Objective
from sparktop.tui import partial
from sparktop.tui.screens.charts import ChartsScreen
from sparktop.tui.screens.dashboard import DashboardScreen
from sparktop.tui.screens.events import EventsScreen
from sparktop.tui.screens.fleet import FleetScreen
from sparktop.tui.screens.goto import GotoScreen
from sparktop.tui.screens.help import HelpScreen
from sparktop.tui.screens.marker import MarkerScreen
from sparktop.tui.themes import ThemeSpec, cycle_order, discover

SPANS = (60.0, 300.0, 1800.0)

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
GRACE_S = 2.0
"""How long an ending app waits for a terminal that takes nothing of what is left to write (the
restoring sequences included) before it stops writing to it. A slow terminal that takes some gets all."""
FEED_STOP_S = 8.0
"""How long the app waits, as it ends, for the feed to stop (its sources, then its closers: the
recording's last write, a demo's simulator and load); it takes well under a second."""


class TerminalOutput:
    """The terminal as Textual's writer thread sees it (``write``, ``flush``, ``fileno``).

    Textual's writer thread writes to a blocking stream, fed through a queue of 30 writes. When the
    terminal stops reading (a stalled or dropped SSH session, a loaded tmux), the write blocks, the
    queue fills and the app's loop blocks on it, so nothing scheduled on the loop (a signal's handler
    included) runs; an app that does end joins the blocked writer without a timeout; and a hang-up
    (EIO) kills the writer, leaving the loop blocked on the full queue for good. The charts screen
    writes several times as much as the others, so it got there first.

    This writes to a non-blocking descriptor of its own and waits for a slow terminal as before (the
    same back-pressure), but once the app is ending (``give_up``) only while the terminal keeps taking
    something; and a terminal that has gone ends the app rather than the writer thread.
    """

    def __init__(self, stream: TextIO, on_gone: Callable[[], None]) -> None:
        self._encoding = stream.encoding or "utf-8"
        self._errors = stream.errors or "strict"
        fd = stream.fileno()
        try:
            # its own open file, so O_NONBLOCK does not reach the shell sharing the terminal's
            self._fd = os.open(os.ttyname(fd), os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._fd = os.dup(fd)  # not a terminal that can be reopened: plain blocking writes
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLOUT)
        self._on_gone = on_gone
        self._patience: float | None = None
        self._deadline = 0.0
        self._final = False
        self.gone = False
        """The terminal has gone (or took nothing for too long while the app ended): writes are dropped."""

    def give_up(self, after_s: float, *, final: bool = False) -> None:
        """From now on, stop waiting for the terminal once it has taken nothing for ``after_s``;
        ``final`` when the app is ending for good (a signal), so that no resumption waits again.

        Safe in a signal handler: it only assigns attributes."""
        if self._patience is None or after_s < self._patience:
            self._deadline = time.monotonic() + after_s  # (first: the writer reads patience first)
            self._patience = after_s
        self._final = self._final or final

    def carry_on(self) -> None:
        """Wait for the terminal again (application mode resumed after a suspension)."""
        if not self._final:
            self._patience = None

    def write(self, text: str) -> int:
        data = memoryview(text.encode(self._encoding, self._errors))
        while data and not self.gone:
            try:
                data = data[os.write(self._fd, data) :]
            except BlockingIOError:
                patience = self._patience
                if patience is not None and time.monotonic() >= self._deadline:
                    self.gone = True
                else:
                    self._poll.poll(100)
            except OSError:  # EIO after a hang-up, or any other end of the terminal
                self.gone = True
                self._on_gone()
            else:
                patience = self._patience
                if patience is not None:  # it took something: it gets as long again
                    self._deadline = time.monotonic() + patience
        return len(text)

    def flush(self) -> None:
        """Every write is complete (or dropped) when it returns."""

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class SparktopDriver(LinuxDriver):
    """Textual's Linux driver writing through a ``TerminalOutput``."""

    def __init__(
        self, app: App[Any], *, debug: bool = False, mouse: bool = True, size: tuple[int, int] | None = None
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._stream = cast(TextIO, sys.__stderr__)
        self.output: TerminalOutput | None = None

    def start_application_mode(self) -> None:
        if self.output is None:
            loop = asyncio.get_running_loop()
            app = self._app

            def gone() -> None:  # in the writer thread: the terminal has hung up
                with contextlib.suppress(RuntimeError):  # the loop has closed: the app has ended
                    loop.call_soon_threadsafe(app.exit)

            self.output = TerminalOutput(self._stream, gone)
        self.output.carry_on()
        self._file = cast(Any, self.output)
        super().start_application_mode()  # type: ignore[no-untyped-call]

    def stop_application_mode(self) -> None:
        if self.output is not None:
            self.output.give_up(GRACE_S)
        super().stop_application_mode()

    def close(self) -> None:
        super().close()
        if self.output is not None:
            if self.output.gone:
                self._forget_terminal(self.output.fileno())
            self.output.close()
            self.output = None

    @staticmethod
    def _forget_terminal(fd: int) -> None:
        """Point this process's stdout and stderr, where they are the terminal that has gone, at
        /dev/null: a line printed after the view (where the recording went) would otherwise block on
        a terminal that no longer reads, or fail on one that has hung up."""
        with contextlib.suppress(OSError):
            device = os.fstat(fd).st_rdev
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                for std in (1, 2):
                    with contextlib.suppress(OSError):
                        info = os.fstat(std)
                        if stat.S_ISCHR(info.st_mode) and info.st_rdev == device:
                            os.dup2(null, std)
            finally:
                os.close(null)


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
        "fleet": "fleet",
    }
    SCREENS: ClassVar = {
        "dashboard": DashboardScreen,
        "charts": ChartsScreen,
        "events": EventsScreen,
        "fleet": FleetScreen,
    }
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
        Binding("escape", "go_back", "back", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        feed: Feed,
        themes: dict[str, ThemeSpec] | None = None,
        objectives: Sequence[Objective] = (),
    ) -> None:
        super().__init__()
        partial.install()  # screen updates send the changed cells only
        if self.no_color:
            # Textual answers NO_COLOR with greys, still colour codes; no-color.org asks for none
            self._filters = [f for f in self._filters if not isinstance(f, Monochrome)] + [NoColor()]
        self.settings = settings
        self.feed = feed
        self.objectives = tuple(objectives)
        """The workload's SLOs: the dashboard's SLO line judges them live."""
        self.themes = themes if themes is not None else discover()
        self.frame: Frame | None = None
        self.paused = False
        self.frames_received = 0
        self.frames_drawn = 0
        self._signalled = False
        self._loop_for_signals: asyncio.AbstractEventLoop | None = None
        self._feed_worker: Worker[None] | None = None
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

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        return SparktopDriver if driver is LinuxDriver else driver

    def run(self, *args: Any, **kwargs: Any) -> int | None:
        # the handlers stay until the loop has finished (the recording closes in its last moments)
        with self._ending_signals():
            return super().run(*args, **kwargs)

    async def run_async(
        self,
        *,
        headless: bool = False,
        inline: bool = False,
        inline_no_clear: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        auto_pilot: AutopilotCallbackType | None = None,
    ) -> int | None:
        self._loop_for_signals = asyncio.get_running_loop()
        if self._signalled:
            self.exit()
        with self._ending_signals():
            return await super().run_async(
                headless=headless,
                inline=inline,
                inline_no_clear=inline_no_clear,
                mouse=mouse,
                size=size,
                auto_pilot=auto_pilot,
            )

    @contextlib.contextmanager
    def _ending_signals(self) -> Iterator[None]:
        """SIGTERM, SIGHUP and SIGINT end the app while this lasts (where signals can be caught).

        Python handlers, not the loop's: they run in the main thread between two bytecodes, also
        while the loop is blocked writing to a terminal that does not read, which a handler waiting
        for the loop would never get past."""
        previous: dict[signal.Signals, Any] = {}
        for sig in ENDING_SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                previous[sig] = signal.signal(sig, self._on_ending_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                if signal.getsignal(sig) == self._on_ending_signal:
                    signal.signal(sig, handler)

    def _on_ending_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = True
        driver = self._driver
        if isinstance(driver, SparktopDriver) and driver.output is not None:
            driver.output.give_up(GRACE_S, final=True)
        loop = self._loop_for_signals
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the app is over
                loop.call_soon_threadsafe(self.exit)

    @property
    def extra_keys(self) -> tuple[tuple[str, str], ...]:
        """Keys the key bar lists before the usual ones: back to the fleet, on a server's screens."""
        return (("esc", "fleet"),) if self.fleet is not None and self.current_mode != "fleet" else ()

    @property
    def fleet(self) -> FleetControl | None:
        """The fleet, when the view watches several servers."""
        return self.feed if isinstance(self.feed, FleetControl) else None

    def on_mount(self) -> None:
        self.switch_mode("fleet" if self.fleet is not None else "dashboard")
        self._feed_worker = self.run_worker(
            self.feed.run(self._emit), name="feed", exclusive=True, exit_on_error=False
        )

    async def on_unmount(self) -> None:
        """Let the feed finish stopping (Textual has cancelled it) before the app ends, so that
        what its closers do (the recording's end, a demo's simulator and load stopped) is done
        when ``run`` returns; Textual itself does not wait for its workers."""
        worker = self._feed_worker
        if worker is None:
            return
        with contextlib.suppress(Exception):  # stopped, cancelled, failed or too slow: the app ends
            await asyncio.wait_for(asyncio.shield(worker.wait()), FEED_STOP_S)

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

    def open_target(self, index: int | None) -> None:
        """Follow one server of the fleet (its dashboard), or none (the fleet screen)."""
        fleet = self.fleet
        if fleet is None:
            return
        fleet.select(index)
        if self.frame is not None and self.frame.fleet is not None:
            self.frame = fleet.combine(self.frame.fleet.frames)  # the held frame, re-aimed
        mode = (
            "fleet" if index is None else ("dashboard" if self.current_mode == "fleet" else self.current_mode)
        )
        if self.current_mode != mode:
            self.switch_mode(mode)
        self.call_after_refresh(self._redraw_held)

    def action_go_back(self) -> None:
        """Esc: from a server's screens back to the fleet; else to the dashboard."""
        if self.fleet is not None and self.current_mode != "fleet":
            self.open_target(None)
        else:
            self.action_mode("dashboard")

    def action_mode(self, mode: str) -> None:
        fleet = self.fleet
        if fleet is not None and fleet.selected is None and mode != "fleet":
            # a server's screen from the fleet screen: the server under the cursor
            with contextlib.suppress(NoMatches, ScreenStackError):
                from sparktop.tui.widgets.fleet_table import FleetTable

                self.open_target(self.screen.query_one(FleetTable).cursor)
            if fleet.selected is None:
                self.open_target(0)
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
        self.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(heading, rows of (keys, what they do)) for every key the app answers, then the keys of
        the screen the help is opened on. Bindings of the same action, and the pairs in ``PAIRED``,
        share a row."""
        replay = self._replay_bindings()
        sections = [
            ("", self._rows([b for b in self._bindings_list() if b not in replay])),
            ("replay", self._rows(replay)),
        ]
        with contextlib.suppress(ScreenStackError):
            screen = self.screen
            # the keys the screen's class adds (not Textual's own, such as tab between widgets)
            own = [b for b in vars(type(screen)).get("BINDINGS", ()) if isinstance(b, Binding)]
            name = type(screen).__name__.removesuffix("Screen").lower()
            sections.append((f"{name} screen", self._rows(own, prefix=False)))
        return [(heading, rows) for heading, rows in sections if rows]

    def _rows(self, bindings: list[Binding], prefix: bool = True) -> list[tuple[str, str]]:
        keys: dict[str, list[str]] = {}
        what: dict[str, str] = {}
        for binding in bindings:
            action = PAIRED.get(binding.action, binding.action)
            display = self.get_key_display(binding)
            keys.setdefault(action, [])
            if display not in keys[action]:
                keys[action].append(display)
            text = HELP.get(action, binding.description) if prefix else binding.description
            what.setdefault(action, text)
        return [(" ".join(keys[action]), what[action]) for action in keys]

    def _bindings_list(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]

    def _replay_bindings(self) -> list[Binding]:
        return []


HELP = {
    "quit": "quit (recording is closed cleanly)",
    "pause": "pause the view; data keeps being collected",
    "span": "history span of the sparklines: 1 min, 5 min, 30 min",
    "mode('dashboard')": "dashboard (panels and sparklines)",
    "mode('charts')": "charts: larger plots with phase markers",
    "mode('events')": "events: startup and workload phases, errors, markers",
    "theme": "next theme (dark, light, high-contrast, your own)",
    "marker": "add a marker with a note at this moment",
    "help": "this help",
    "replay('toggle')": "play or pause",
    "replay('faster')": "faster / slower (0.25x to 64x)",
    "replay('back')": "step back / forward one scrape",
    "replay('previous_mark')": "previous / next event or marker",
    "replay('to_start')": "go to the start / the end",
    "goto": "go to a time (HH:MM:SS, +5m, -30s, 50%)",
}

PAIRED = {
    "go_back": "mode('dashboard')",  # esc: back to the dashboard (to the fleet with several servers)
    "replay('slower')": "replay('faster')",
    "replay('forward')": "replay('back')",
    "replay('next_mark')": "replay('previous_mark')",
    "replay('to_end')": "replay('to_start')",
}
"""Actions listed on the row of another (opposites share a row of the help)."""


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

    REPLAY_BINDINGS: ClassVar[list[Binding]] = [
        Binding("space", "replay('toggle')", "play/pause", key_display="space"),
        Binding("plus,equals_sign", "replay('faster')", "faster", key_display="+"),
        Binding("minus", "replay('slower')", "slower", key_display="-"),
        Binding("left", "replay('back')", "step back", key_display="←"),
        Binding("right", "replay('forward')", "step", key_display="→"),
        Binding("left_square_bracket", "replay('previous_mark')", "previous event", key_display="["),
        Binding("right_square_bracket", "replay('next_mark')", "next event", key_display="]"),
        Binding("home", "replay('to_start')", "start", key_display="home"),
        Binding("end", "replay('to_end')", "end", key_display="end"),
        Binding("g", "goto", "go to", key_display="g"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [*SparktopApp.BINDINGS, *REPLAY_BINDINGS]

    extra_keys = (
        ("space", "play"),
        ("+-", "speed"),
        ("←→", "step"),
        ("[]", "event"),
        ("home/end", "start/end"),
        ("g", "go to"),
    )

    def _replay_bindings(self) -> list[Binding]:
        return list(self.REPLAY_BINDINGS)

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
