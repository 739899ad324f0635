"""A simulated server on its own event loop in a daemon thread (for callers without asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from sparktop.model import GpuSample
from sparktop.sim.server import SimServer


class SimHandle:
    """A ``SimServer`` running in a daemon thread."""

    def __init__(self, server: SimServer, timeout: float) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._bound = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sparktop-sim", daemon=True)
        self._thread.start()
        if not self._bound.wait(timeout):
            raise TimeoutError("the simulated server did not bind its port in time")
        if self._error is not None:
            raise self._error

    @property
    def url(self) -> str:
        return self.server.url

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._bound.set()
            return
        self._bound.set()
        stop = asyncio.ensure_future(self._stop.wait())
        closed = asyncio.ensure_future(self.server.wait_closed())
        await asyncio.wait({stop, closed}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        closed.cancel()
        await self.server.stop()

    def crash(self, timeout: float = 10.0) -> None:
        """Kill the engine now, as ``--crash-after`` does at its time (tests that need the moment)."""
        asyncio.run_coroutine_threadsafe(self.server.crash(), self._loop).result(timeout)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the server answers HTTP (raises ``SimStartupError`` if startup failed)."""
        future = asyncio.run_coroutine_threadsafe(self.server.wait_ready(), self._loop)
        future.result(timeout)

    def gpu_sample(self) -> GpuSample:
        return self.server.gpu_sample()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down and join its thread."""
        if self._thread.is_alive() and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
