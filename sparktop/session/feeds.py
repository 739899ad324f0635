"""Feeds: where views get their frames. A live session, a fixed list (tests), a recording (replay).

A feed runs on the view's event loop and calls ``emit`` with a new frame every refresh interval;
the view decides what to do with it (draw it, or hold it while paused).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from sparktop.clock import Clock, SystemClock
from sparktop.model import Event, Frame, ScrapeResult, ServerInfo
from sparktop.session.core import Session

Emit = Callable[[Frame], None]

FRAME_SLACK = 1.5
"""A live frame waits for the next scrape up to this many intervals."""


class Feed(Protocol):
    span_s: float
    """The history span views ask for (1 min / 5 min / 30 min)."""

    async def run(self, emit: Emit) -> None:
        """Produce frames until cancelled."""
        ...

    def mark(self, note: str) -> None:
        """Add a user marker with a note at the current moment."""
        ...


SourceFactory = Callable[[Session], Coroutine[Any, Any, None]]


class ScrapeSource(Protocol):
    """What reads a target's vLLM figures: ``vllm.scrape.Scraper`` (its /metrics) or
    ``prometheus.source.PromScraper`` (its series, through Prometheus). Neither ever raises."""

    base: str

    async def scrape(self) -> ScrapeResult: ...

    async def info(self) -> ServerInfo: ...

    async def aclose(self) -> None: ...


class LiveFeed:
    """A session fed by live sources; a frame every ``interval`` seconds."""

    def __init__(
        self,
        session: Session,
        sources: Sequence[SourceFactory],
        *,
        interval: float = 1.0,
        span_s: float = 300.0,
        clock: Clock | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.session = session
        self.sources = list(sources)
        self.interval = interval
        self.span_s = span_s
        self.clock = clock or SystemClock()
        self.scraper: ScrapeSource | None = None
        """The target's scraper, when the feed has one (``scrape_now``)."""
        self._closers: list[Callable[[], Awaitable[object]]] = [on_close] if on_close is not None else []

    async def run(self, emit: Emit) -> None:
        fresh = asyncio.Event()

        def on_observation(obs: object) -> None:
            if isinstance(obs, ScrapeResult):
                fresh.set()

        self.session.sinks.append(on_observation)
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(source(self.session)) for source in self.sources
        ]
        try:
            while True:
                emit(self.session.frame(self.span_s, now=self.clock.now()))
                # The next frame follows the next scrape at once. Without one for half an interval
                # more (a hanging server), a frame goes anyway, so the clock and durations on screen
                # keep moving; the slack keeps a scrape that lands a little late from causing a
                # second frame in the same interval.
                # (asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event is set, and the feed would never stop)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval * FRAME_SLACK):
                        await fresh.wait()
                fresh.clear()
        finally:
            with contextlib.suppress(ValueError):
                self.session.sinks.remove(on_observation)
            await finish(tasks, self._closers)

    def mark(self, note: str) -> None:
        self.session.observe(Event(self.clock.now(), "marker", note, source="user"))

    async def scrape_now(self) -> None:
        """One scrape outside the rhythm (a run's first and last readings bracket its counters)."""
        if self.scraper is not None:
            self.session.observe(await self.scraper.scrape())

    def add_closer(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Something to finish when the feed stops (after the sources), e.g. a recording."""
        self._closers.append(closer)


async def finish(
    tasks: Sequence[asyncio.Task[None]], closers: Sequence[Callable[[], Awaitable[object]]]
) -> None:
    """Cancel a feed's sources and wait for them, then run its closers (a recording closes last,
    after every source has stopped handing it observations). Never raises."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for closer in closers:
        with contextlib.suppress(Exception):
            await closer()


class StaticFeed:
    """Emits the given frames once each, in order, then holds (snapshot and Pilot tests)."""

    def __init__(self, frames: Sequence[Frame], span_s: float = 300.0) -> None:
        self.frames = list(frames)
        self.span_s = span_s
        self.marks: list[str] = []

    async def run(self, emit: Emit) -> None:
        for frame in self.frames:
            emit(frame)
            await asyncio.sleep(0)
        await asyncio.Event().wait()

    def mark(self, note: str) -> None:
        self.marks.append(note)
