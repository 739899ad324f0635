"""Waiting on a condition, not on the clock: a loaded machine only makes the wait longer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(condition: Callable[[], object], within_s: float = 30.0, step: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or ``within_s`` real seconds pass; whether it held."""
    deadline = time.monotonic() + within_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)
