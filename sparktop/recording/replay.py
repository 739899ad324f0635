"""Replay: a recording fed back through a fresh session, at any speed, from any moment.

The feed keeps a position on the recording's clock. Playing moves it forward by real time times
the speed; every observation up to the position goes into the session, exactly as it did live, and
the frame is taken at the position. Seeking rebuilds the session from far enough back to fill the
windows and the history a frame shows, so the figures at any moment equal the live ones.

Markers added during a replay (``m``) are saved next to the recording (``markers.py``), never into
it; a replay shows them, and those of earlier replays, among the recording's own events.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from sparktop.model import Event, Frame, ReplayStatus, Unknown
from sparktop.recording.format import RecordingError
from sparktop.recording.markers import Marker, MarkerError, read_markers, save_markers
from sparktop.recording.reader import Recording
from sparktop.session.core import Session
from sparktop.session.feeds import Emit

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
MARK_KINDS = ("event",)
REPLAY_MARK = {"added": "replay"}
"""The data of a marker added in a replay (one added live has none)."""


@dataclass
class _Cursor:
    arrivals: Iterator[tuple[float, object]]
    pending: tuple[float, object] | None = None


class ReplayFeed:
    """Frames from a recording, under the viewer's control (play, pause, speed, step, seek)."""

    def __init__(
        self,
        recording: Recording,
        *,
        span_s: float = 300.0,
        speed: float = 1.0,
        playing: bool = True,
        frame_every: float = 0.1,
        start_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        keep_markers: bool = True,
    ) -> None:
        self.recording = recording
        self.span_s = span_s
        self.speed = speed
        self.playing = playing
        self.frame_every = frame_every
        self.interval = recording.setting("interval", 1.0)
        self.window_s = recording.setting("window", 60.0)
        self.rate_window_s = recording.setting("rate_window", 10.0)
        self._clock = clock
        self.keep_markers = keep_markers
        """Save markers added here next to the recording, and show those saved before."""
        self.markers: list[Marker] = []
        """The markers of replays (this one's and earlier ones'), oldest first."""
        self.added = 0
        """Markers added in this replay."""
        self.markers_file: Path | None = None
        """Where they were saved (None: nothing saved yet)."""
        self.markers_problem: str | None = None
        """Why the markers of earlier replays could not be read."""
        self.save_problem: str | None = None
        """Why the latest marker could not be saved (None: saved, or none added)."""
        self._extra: list[Event] = []
        """Events that are not in the recording: replay markers, and why they could not be saved."""
        if keep_markers:
            self.markers, self.markers_problem = read_markers(recording.path)
            self._extra = [Event(m.t, "marker", m.note, "user", data=REPLAY_MARK) for m in self.markers]
            if self.markers_problem is not None:
                self._extra.append(
                    Event(recording.start, "error", self.markers_problem, "sparktop", "warning")
                )
        self._event_times = sorted([*recording.times(MARK_KINDS), *(m.t for m in self.markers)])
        self.session = self._new_session()
        self._cursor: _Cursor | None = None
        self.position = recording.start
        self.error: str | None = None
        self.seek(recording.start if start_at is None else start_at)

    # ----------------------------------------------------------------------------------------------
    # state

    def _new_session(self) -> Session:
        # the session learns the model and version from the recorded info rows, as the live one did
        target = replace(
            self.recording.target,
            kind="replay",
            simulated=self.recording.simulated,
            model=Unknown("not known yet"),
            version=Unknown("not known yet"),
            max_model_len=None,
        )
        return Session(
            target,
            window_s=self.window_s,
            rate_window_s=self.rate_window_s,
            history_s=max(1800.0, self.span_s),
            start=self.recording.start,
            interval_s=self.interval,
        )

    def _feed_until(self, t: float) -> None:
        """Give the session every observation up to ``t``."""
        cursor = self._cursor
        if cursor is None:
            return
        try:
            while True:
                arrival = cursor.pending if cursor.pending is not None else next(cursor.arrivals)
                cursor.pending = None
                if arrival[0] > t:
                    cursor.pending = arrival
                    return
                self.session.observe(arrival[1])  # type: ignore[arg-type]
        except StopIteration:
            self._cursor = None
        except RecordingError as exc:
            self._cursor = None
            self.error = str(exc)
            self.session.observe(
                Event(t, "error", f"recording unreadable from here: {exc}", "sparktop", "error")
            )

    def _arrivals(self, start: float) -> Iterator[tuple[float, object]]:
        """The recording's observations from ``start``, with the events it does not hold at their
        moments (a snapshot: a marker added later is already in the session)."""
        extra = tuple((e.t, e) for e in self._extra if e.t >= start)
        if not extra:
            return self.recording.arrivals(t_from=start)
        return heapq.merge(self.recording.arrivals(t_from=start), extra, key=lambda arrival: arrival[0])

    def seek(self, t: float) -> None:
        """Jump to ``t`` (clamped to the recording)."""
        t = min(max(t, self.recording.start), self.recording.end)
        lookback = self.span_s + max(self.window_s, self.rate_window_s) + 2 * self.interval
        if self._cursor is not None and self.position <= t <= self.position + lookback:
            self.position = t  # close ahead: just play forward
            self._feed_until(t)
            return
        self.session = self._new_session()
        self.error = None
        start = max(self.recording.start, t - lookback)
        earlier = self.recording.last_before("info", start)
        if earlier is not None:  # what the server said about itself before the window still holds
            self.session.observe(earlier)  # type: ignore[arg-type]
        self._cursor = _Cursor(self._arrivals(start))
        self.position = t
        self._feed_until(t)

    # ----------------------------------------------------------------------------------------------
    # controls

    def advance(self, t: float) -> None:
        """Play forward to ``t`` (a fleet moves its servers together)."""
        self.position = t
        self._feed_until(t)

    @property
    def event_times(self) -> list[float]:
        """When the recording's events and the markers happened, in order."""
        return self._event_times

    def toggle(self) -> None:
        if not self.playing and self.position >= self.recording.end:
            self.seek(self.recording.start)
        self.playing = not self.playing

    def faster(self) -> None:
        later = [s for s in SPEEDS if s > self.speed]
        self.speed = later[0] if later else SPEEDS[-1]

    def slower(self) -> None:
        earlier = [s for s in SPEEDS if s < self.speed]
        self.speed = earlier[-1] if earlier else SPEEDS[0]

    def step(self, steps: int) -> None:
        self.playing = False
        self.seek(self.position + steps * self.interval)

    def next_mark(self) -> None:
        i = bisect.bisect_right(self._event_times, self.position + 1e-6)
        if i < len(self._event_times):
            self.seek(self._event_times[i])

    def previous_mark(self) -> None:
        i = bisect.bisect_left(self._event_times, self.position - 1e-6) - 1
        if i >= 0:
            self.seek(self._event_times[i])

    def to_start(self) -> None:
        self.seek(self.recording.start)

    def to_end(self) -> None:
        self.playing = False
        self.seek(self.recording.end)

    def mark(self, note: str) -> None:
        """A marker at the replay's position, shown at once and saved next to the recording; where
        it cannot be saved (a read-only folder), an event says why and it lasts this replay only."""
        event = Event(self.position, "marker", note, "user", data=REPLAY_MARK)
        self.session.observe(event)
        bisect.insort(self._extra, event, key=lambda e: e.t)
        bisect.insort(self._event_times, event.t)
        self.added += 1
        if not self.keep_markers:
            return
        marker = Marker(event.t, note)
        bisect.insort(self.markers, marker, key=lambda m: m.t)
        try:
            self.markers_file = save_markers(self.recording.path, self.markers)
            self.save_problem = None
        except MarkerError as exc:
            self.save_problem = f"marker not saved: {exc}"
            problem = Event(self.position, "error", self.save_problem, "sparktop", "warning")
            self.session.observe(problem)
            bisect.insort(self._extra, problem, key=lambda e: e.t)

    # ----------------------------------------------------------------------------------------------
    # frames

    def status(self) -> ReplayStatus:
        return ReplayStatus(self.position, self.recording.start, self.recording.end, self.speed, self.playing)

    def frame(self) -> Frame:
        self.session.replay = self.status()
        return self.session.frame(self.span_s, now=self.position)

    async def run(self, emit: Emit) -> None:
        last = self._clock()
        while True:
            now = self._clock()
            if self.playing:
                target = min(self.recording.end, self.position + (now - last) * self.speed)
                self.position = target
                self._feed_until(target)
                if target >= self.recording.end:
                    self.playing = False
            last = now
            emit(self.frame())
            await asyncio.sleep(self.frame_every)
