"""Building a live session: the sources for a target, wired into a session and a feed.

Used by ``watch`` (dashboard and headless), ``demo`` and the benchmarks, so every entry point
collects the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sparktop.clock import Clock, SystemClock
from sparktop.model import TargetInfo
from sparktop.session.core import Session
from sparktop.session.feeds import LiveFeed, ScrapeSource, SourceFactory
from sparktop.vllm.scrape import Scraper

GpuMode = Literal["nvml", "sim", "none"]


@dataclass
class LiveOptions:
    interval: float = 1.0
    window_s: float = 60.0
    rate_window_s: float = 10.0
    span_s: float = 300.0
    gpu: GpuMode = "nvml"
    gpu_container: str | None = None
    extra_sources: Sequence[SourceFactory] = field(default_factory=tuple)
    on_close: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)
    scrape_after: asyncio.Event | None = None
    """The first scrape waits for this (up to ``PRIME_WAIT_S``): set by a source that reads
    back history first, so the first line or frame already carries it."""
    sim_log: bool = False
    """Follow the simulated Spark's log over HTTP (``/sim/log``): the target is the simulator."""


PRIME_WAIT_S = 5.0


def live_feed(
    target: TargetInfo,
    url: str,
    options: LiveOptions,
    clock: Clock | None = None,
    *,
    scraper: ScrapeSource | None = None,
) -> LiveFeed:
    """A feed that scrapes ``url`` (or reads the target through ``scraper``: its series in a
    Prometheus) and collects GPU readings, plus any extra sources."""
    from sparktop.session.sources import gpu_loop, scrape_loop, sim_gpu_loop, sim_log_loop

    clock = clock or SystemClock()
    if scraper is None:
        scraper = Scraper(url, clock)
    sim_log_read: asyncio.Event | None = None
    if options.sim_log:
        sim_log_read = asyncio.Event()
        if options.scrape_after is None:  # the first frame knows the startup the log tells
            options.scrape_after = sim_log_read
    session = Session(
        target,
        window_s=options.window_s,
        rate_window_s=options.rate_window_s,
        history_s=max(1800.0, options.span_s),
        start=clock.now(),
        interval_s=options.interval,
    )

    async def scraping(session: Session) -> None:
        if options.scrape_after is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PRIME_WAIT_S):
                    await options.scrape_after.wait()
        await scrape_loop(scraper, session.observe, options.interval)

    sources: list[SourceFactory] = [scraping]
    if options.gpu == "nvml":
        from sparktop.gpu.nvml import NvmlCollector

        collector = NvmlCollector(clock=clock, container=options.gpu_container)
        sources.append(lambda s: gpu_loop(collector, s.observe, options.interval))
    elif options.gpu == "sim":
        sources.append(lambda s: sim_gpu_loop(scraper.base, s.observe, options.interval, clock))
    if sim_log_read is not None:
        sources.append(lambda s: sim_log_loop(scraper.base, s.observe, clock=clock, primed=sim_log_read))
    sources.extend(options.extra_sources)

    async def close() -> None:
        await scraper.aclose()
        for hook in options.on_close:
            await hook()

    feed = LiveFeed(
        session, sources, interval=options.interval, span_s=options.span_s, clock=clock, on_close=close
    )
    feed.scraper = scraper
    return feed


@dataclass(frozen=True)
class Probe:
    """What a quick look at a server says before a session starts."""

    simulated: bool
    model: str | None


async def probe(url: str, timeout_s: float = 2.0, *, model: bool = True) -> Probe:
    """Is it the simulated Spark (it answers ``/sim/stats``)? Which model does it serve (unless not
    asked: ``model=False`` saves a hanging server's timeouts)? Never raises."""
    import httpx

    simulated = False
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            answer = await client.get(url.rstrip("/") + "/sim/stats")
            simulated = answer.status_code == 200 and answer.headers.get("content-type", "").startswith(
                "application/json"
            )
    except httpx.HTTPError:
        pass
    if not model:
        return Probe(simulated, None)
    scraper = Scraper(url, connect_timeout=timeout_s, read_timeout=timeout_s)
    async with scraper:
        info = await scraper.info()
    return Probe(simulated, info.models[0] if info.models else None)
