"""Waiting on a condition, not on the clock: a loaded machine only makes the wait longer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(condition: Callable[[], object], within_s: float = 30.0, step: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or ``within_s`` real seconds pass; whether it held."""
    deadline = time.monotonic() + within_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)


def wait_until(condition: Callable[[], object], within_s: float = 30.0, step: float = 0.05) -> bool:
    """``eventually`` for code that is not async: poll, sleeping ``step`` between tries."""
    return poll(condition, bool, within_s, step)[1]


def poll(
    read: Callable[[], T], done: Callable[[T], object], within_s: float = 30.0, step: float = 0.05
) -> tuple[T, bool]:
    """Read until ``done(value)`` holds or ``within_s`` real seconds pass: the last value read, and
    whether it was done. A loaded machine only makes it take longer."""
    deadline = time.monotonic() + within_s
    while True:
        value = read()
        if done(value):
            return value, True
        if time.monotonic() >= deadline:
            return value, False
        time.sleep(step)
