"""A fleet: several targets watched at once, each in its own live feed.

Each target keeps its own sources and session (its own scraper, timeouts and rhythm), so a server
that hangs or dies costs the others nothing: its scrape times out on its own, its frame says so.
The fleet hands the view one frame per interval that carries every target's latest frame
(``Frame.fleet``); the frame itself is the followed target's (``select``), or the first's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Protocol

from sparktop.clock import Clock, SystemClock
from sparktop.model import Event, FleetView, Frame
from sparktop.session.core import Session
from sparktop.session.feeds import Emit, LiveFeed, finish

GATHER_SLACK = 0.5
"""After a target's new frame, the fleet waits up to this share of an interval for the others'
before it hands on what it has (a slow target is shown a scrape late, not waited for)."""


class _HasSession(Protocol):
    session: Session
    span_s: float


class FleetControl:
    """What views need of any fleet, live or replayed: its targets' sessions, the one followed,
    and the fleet frame."""

    def __init__(self, feeds: Sequence[_HasSession]) -> None:
        if not feeds:
            raise ValueError("a fleet needs at least one target")
        self._members: list[_HasSession] = list(feeds)
        self.selected: int | None = None
        """The target whose dashboard is open; None while the fleet screen is shown."""
        self._span_s = feeds[0].span_s

    @property
    def span_s(self) -> float:
        return self._span_s

    @span_s.setter
    def span_s(self, value: float) -> None:
        self._span_s = value
        for feed in self._members:
            feed.span_s = value

    @property
    def sessions(self) -> list[Session]:
        return [feed.session for feed in self._members]

    @property
    def session(self) -> Session:
        """The followed target's session (the first while none is)."""
        return self._members[self.selected or 0].session

    def select(self, index: int | None) -> None:
        """Follow one target (its frame becomes the fleet frame's own), or none."""
        if index is not None and not 0 <= index < len(self._members):
            raise IndexError(f"no target {index}")
        self.selected = index

    def combine(self, frames: Sequence[Frame]) -> Frame:
        """The fleet frame: the followed target's frame, carrying every target's."""
        main = frames[self.selected or 0]
        return replace(main, fleet=FleetView(tuple(frames), self.selected))


class FleetFeed(FleetControl):
    """Several live feeds; one frame per interval holding every target's latest one."""

    def __init__(
        self, feeds: Sequence[LiveFeed], *, interval: float = 1.0, clock: Clock | None = None
    ) -> None:
        super().__init__(feeds)
        self.feeds = list(feeds)
        self.interval = interval
        self.clock = clock or SystemClock()
        self._closers: list[Callable[[], Awaitable[object]]] = []

    async def run(self, emit: Emit) -> None:
        latest: list[Frame | None] = [None] * len(self.feeds)
        fresh: list[bool] = [False] * len(self.feeds)
        arrived = asyncio.Event()

        def store(index: int, frame: Frame) -> None:
            latest[index] = frame
            fresh[index] = True
            arrived.set()

        tasks = [
            asyncio.create_task(feed.run(functools.partial(store, i))) for i, feed in enumerate(self.feeds)
        ]
        try:
            while True:
                await arrived.wait()
                # the others' scrapes land close behind the first: gather them, but never wait
                # for a slow target longer than part of an interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval * GATHER_SLACK):
                        while not all(fresh):
                            arrived.clear()
                            await arrived.wait()
                arrived.clear()
                fresh[:] = [False] * len(fresh)
                now = self.clock.now()
                frames = [
                    frame if frame is not None else feed.session.frame(self._span_s, now=now)
                    for frame, feed in zip(latest, self.feeds, strict=True)
                ]
                emit(self.combine(frames))
        finally:
            await finish(tasks, self._closers)

    def add_closer(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Something to finish when the fleet stops, after every target's sources (its recording)."""
        self._closers.append(closer)

    def mark(self, note: str) -> None:
        """A marker on the followed target, or on every target from the fleet screen."""
        feeds = self.feeds if self.selected is None else [self.feeds[self.selected]]
        now = self.clock.now()
        for feed in feeds:
            feed.session.observe(Event(now, "marker", note, source="user"))
