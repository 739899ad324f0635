"""Model time for the simulated server: real time scaled by a speed factor."""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Model time: the wall clock at start plus ``speed`` x monotonic time elapsed since."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed

    def mono_at(self, t: float) -> float:
        """The monotonic time at which model time ``t`` comes."""
        return self._mono0 + (t - self._wall0) / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, t: float) -> None:
        delay = self.mono_at(t) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
