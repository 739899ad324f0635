"""Run a simulated server in the foreground until SIGINT/SIGTERM, a crash or a failed startup."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from sparktop.sim.server import SimConfig, SimServer


async def serve(config: SimConfig, announce: Callable[[SimServer], None] | None = None) -> int:
    """Serve ``config``; 0 when stopped by a signal, 1 when the simulated vLLM failed or crashed.

    ``announce(server)`` runs once the port is bound (before any log line), e.g. to print the URL.
    Raises ``OSError`` when the port cannot be bound.
    """
    sim = SimServer(config)
    await sim.start()
    if announce is not None:
        announce(sim)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    stopped = asyncio.ensure_future(stop.wait())
    closed = asyncio.ensure_future(sim.wait_closed())
    try:
        await asyncio.wait({stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        closed.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if stop.is_set() and sim.state != "stopped":
        await sim.stop()
        return 0
    await sim.stop()
    return sim.exit_code
