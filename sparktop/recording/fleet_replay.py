"""Replaying a fleet recording: every server's rows through its own session, on one clock.

Each target is a ``ReplayFeed`` over its own rows (``Recording.for_target``); the fleet moves them
together (play, pause, speed, step, seek), so the fleet screen shows every server as it was at the
same moment, and Enter opens one server's dashboard at that moment. Markers are a moment, not a
server's: they are kept beside the file once (by the first target's feed) and shown on every server.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

from sparktop.model import Event, Frame, ReplayStatus
from sparktop.recording.reader import Recording
from sparktop.recording.replay import REPLAY_MARK, ReplayFeed
from sparktop.session.feeds import Emit
from sparktop.session.fleet import FleetControl


class FleetReplayFeed(FleetControl):
    """Frames of a fleet recording under the viewer's control."""

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
    ) -> None:
        self.recording = recording
        self.feeds = [
            ReplayFeed(
                recording.for_target(i),
                span_s=span_s,
                speed=speed,
                playing=playing,
                frame_every=frame_every,
                start_at=start_at,
                clock=clock,
                keep_markers=i == 0,
            )
            for i in range(len(recording.targets))
        ]
        super().__init__(self.feeds)
        self.frame_every = frame_every
        self._clock = clock
        for feed in self.feeds[1:]:  # the markers of earlier replays, on every server
            for marker in self.feeds[0].markers:
                feed.session.observe(Event(marker.t, "marker", marker.note, "user", data=REPLAY_MARK))

    # ----------------------------------------------------------------------------------------------
    # the shared state

    @property
    def first(self) -> ReplayFeed:
        return self.feeds[0]

    @property
    def position(self) -> float:
        return self.first.position

    @property
    def speed(self) -> float:
        return self.first.speed

    @property
    def playing(self) -> bool:
        return self.first.playing

    @property
    def added(self) -> int:
        return self.first.added

    @property
    def markers_file(self) -> object:
        return self.first.markers_file

    @property
    def save_problem(self) -> str | None:
        return self.first.save_problem

    def _each(self, act: Callable[[ReplayFeed], None]) -> None:
        for feed in self.feeds:
            act(feed)

    # ----------------------------------------------------------------------------------------------
    # controls (as ``ReplayFeed``'s, on every server at once)

    def seek(self, t: float) -> None:
        self._each(lambda feed: feed.seek(t))

    def toggle(self) -> None:
        at_end = not self.playing and self.position >= self.recording.end
        playing = not self.playing
        for feed in self.feeds:
            if at_end:
                feed.seek(self.recording.start)
            feed.playing = playing

    def faster(self) -> None:
        self._each(ReplayFeed.faster)

    def slower(self) -> None:
        self._each(ReplayFeed.slower)

    def step(self, steps: int) -> None:
        self._each(lambda feed: feed.step(steps))

    def _event_times(self) -> list[float]:
        """The events of the server followed (of every server from the fleet screen)."""
        if self.selected is not None:
            return self.feeds[self.selected].event_times
        return sorted(t for feed in self.feeds for t in feed.event_times)

    def next_mark(self) -> None:
        times = self._event_times()
        i = bisect.bisect_right(times, self.position + 1e-6)
        if i < len(times):
            self.seek(times[i])

    def previous_mark(self) -> None:
        times = self._event_times()
        i = bisect.bisect_left(times, self.position - 1e-6) - 1
        if i >= 0:
            self.seek(times[i])

    def to_start(self) -> None:
        self.seek(self.recording.start)

    def to_end(self) -> None:
        self._each(ReplayFeed.to_end)

    def mark(self, note: str) -> None:
        """A marker at this moment: kept beside the file once, shown on every server."""
        self.first.mark(note)
        for feed in self.feeds[1:]:
            feed.session.observe(Event(self.position, "marker", note, "user", data=REPLAY_MARK))

    # ----------------------------------------------------------------------------------------------
    # frames

    def status(self) -> ReplayStatus:
        return self.first.status()

    def frame(self) -> Frame:
        return self.combine([feed.frame() for feed in self.feeds])

    async def run(self, emit: Emit) -> None:
        last = self._clock()
        end = self.recording.end
        while True:
            now = self._clock()
            if self.playing:
                target = min(end, self.position + (now - last) * self.speed)
                for feed in self.feeds:
                    feed.advance(target)
                    if target >= end:
                        feed.playing = False
            last = now
            emit(self.frame())
            await asyncio.sleep(self.frame_every)
