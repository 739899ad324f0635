"""The simulated server's one time base: the wall clock, with modelled durations divided by a speed.

At ``speed`` X the simulated Spark behaves as a Spark X times faster. The engine's step costs are
scaled by ``1 / X`` (``EngineConfig.time_scale``) and every other modelled delay (a startup phase, a
fault's timer, the stats interval) is slept for ``seconds / X``; the clock itself is never scaled.
So everything the server exposes is in wall seconds, the base its clients and sparktop's scraper
measure in: histogram observations (TTFT, ITL, E2E...), log timestamps, ``created`` fields and the
GPU's readings. Latencies are the modelled Spark's divided by X; counters count the same events,
so their rates per wall second are X times the Spark's, as a client sees them.
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Wall time (``time.time()`` at start, advanced by the monotonic clock) and scaled delays."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.time_scale = 1.0 / speed
        """Wall seconds per modelled second."""
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Wall-clock seconds (epoch based), steady even if the system clock is changed."""
        return self._wall0 + (time.monotonic() - self._mono0)

    def scaled(self, model_seconds: float) -> float:
        """How long a modelled duration lasts here (wall seconds)."""
        return model_seconds * self.time_scale

    def mono_at(self, t: float) -> float:
        """The monotonic time at which ``now()`` reaches ``t``."""
        return self._mono0 + (t - self._wall0)

    async def sleep(self, model_seconds: float) -> None:
        """Wait out a modelled duration (``model_seconds / speed`` wall seconds)."""
        await asyncio.sleep(max(0.0, model_seconds) * self.time_scale)

    async def sleep_until(self, t: float) -> None:
        """Wait until ``now()`` reaches ``t``."""
        delay = self.mono_at(t) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
