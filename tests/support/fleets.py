"""Fleets of deterministic frames for view tests: one loaded server, others in other states."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sparktop.model import Frame, ScrapeResult, TargetInfo
from sparktop.session.core import Session
from sparktop.session.feeds import Emit, LiveFeed
from sparktop.session.fleet import FleetFeed
from tests.support.frames import T0, frame_at_end

SECONDS = 120
NOW = T0 + 2 + SECONDS


def loaded(label: str) -> Frame:
    """A loaded, healthy server's frame (the same figures under another name)."""
    frame = frame_at_end(SECONDS)
    return replace(frame, target=replace(frame.target, label=label))


def unreachable(label: str) -> Frame:
    """A server that never answered."""
    session = Session(TargetInfo(label, "url"), start=T0)
    for i in range(3):
        session.observe(ScrapeResult(NOW - 3 + i, "unreachable", "connection refused"))
    return session.frame(300.0, now=NOW)


def fleet_frames() -> list[Frame]:
    return [loaded("spark-a:8000"), unreachable("spark-b:8000"), loaded("spark-c:8000")]


class StaticFleet(FleetFeed):
    """A fleet whose targets' frames are fixed: emitted once, then again on each ``resend``."""

    def __init__(self, frames: list[Frame]) -> None:
        sessions = [Session(frame.target, start=T0) for frame in frames]
        super().__init__([LiveFeed(session, []) for session in sessions])
        self.frames = frames
        self._again = asyncio.Event()

    async def run(self, emit: Emit) -> None:
        while True:
            emit(self.combine(self.frames))
            await self._again.wait()
            self._again.clear()

    def resend(self) -> None:
        self._again.set()
