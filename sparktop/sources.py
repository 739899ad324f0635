"""Sources: loops that produce raw observations and hand them to a session.

Each runs as an asyncio task on the session's loop. Blocking work (NVML) runs in a thread; HTTP is
async. A source never raises out of its loop: whatever goes wrong becomes an observation (a scrape
result with a state, a GPU sample with a status) or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx
import orjson

from sparktop.clock import Clock
from sparktop.codec import DecodeError, decode
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import GpuSample, HostMemory, Unknown
from sparktop.session import Observation
from sparktop.vllm.scrape import Scraper

Observe = Callable[[Observation], None]
INFO_EVERY_S = 300.0


async def _pace(started: float, interval: float) -> None:
    """Sleep what is left of this interval (at least a tick, so a loop never spins)."""
    await asyncio.sleep(max(0.01, interval - (time.monotonic() - started)))


async def scrape_loop(scraper: Scraper, observe: Observe, interval: float) -> None:
    """Scrape every ``interval`` seconds; ask the server who it is when it first turns healthy and
    every few minutes after (a restarted server may serve another model or version)."""
    info_due = 0.0
    while True:
        started = time.monotonic()
        result = await scraper.scrape()
        observe(result)
        if result.state == "healthy" and started >= info_due:
            observe(await scraper.info())
            info_due = started + INFO_EVERY_S
        elif result.state in ("unreachable", "dead"):
            info_due = 0.0
        await _pace(started, interval)


async def gpu_loop(collector: NvmlCollector, observe: Observe, interval: float) -> None:
    """Collect in a thread (NVML calls block) every ``interval`` seconds."""
    try:
        while True:
            started = time.monotonic()
            observe(await asyncio.to_thread(collector.collect))
            await _pace(started, interval)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(collector.close)


_NOT_ANSWERING = Unknown("simulator not answering")
_NO_SIM = HostMemory(*([_NOT_ANSWERING] * 9))  # type: ignore[arg-type]


async def sim_gpu_loop(base_url: str, observe: Observe, interval: float, clock: Clock) -> None:
    """The simulated GB10 from a simulator's ``/sim/gpu`` (it may run in another process)."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            started = time.monotonic()
            sample: GpuSample
            try:
                response = await client.get(base_url + "/sim/gpu")
                response.raise_for_status()
                sample = decode(GpuSample, orjson.loads(response.content))
                sample = GpuSample(
                    clock.now(),
                    sample.status,
                    sample.detail,
                    sample.devices,
                    sample.memory,
                    simulated=True,
                    driver_version=sample.driver_version,
                )
            except (httpx.HTTPError, orjson.JSONDecodeError, DecodeError) as exc:
                detail = " ".join(str(exc).split())[:160] or type(exc).__name__
                sample = GpuSample(
                    clock.now(), "error", f"simulated GPU: {detail}", (), _NO_SIM, simulated=True
                )
            observe(sample)
            await _pace(started, interval)
