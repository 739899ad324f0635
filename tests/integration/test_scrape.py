"""The scraper against real loopback servers that misbehave in every way it must survive."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import generate_latest

from sparktop.clock import FakeClock
from sparktop.derive.timeline import Timeline
from sparktop.model import ScrapeResult, TargetInfo, Unknown
from sparktop.session.core import Session
from sparktop.session.feeds import FRAME_SLACK, LiveFeed
from sparktop.session.sources import scrape_loop
from sparktop.sim.vllm_metrics import VllmMetrics
from sparktop.vllm.scrape import BadTarget, Scraper, base_url
from tests.support.fault_server import FaultServer, Route, SilentListener
from tests.support.net import free_port
from tests.support.waiting import eventually


def scraper(url: str, clock: FakeClock | None = None) -> Scraper:
    return Scraper(url, clock or FakeClock(), connect_timeout=0.3, read_timeout=0.3)


def page(generated: int = 100, running: int = 2) -> bytes:
    m = VllmMetrics("m", engines=1, cache_config={"block_size": "16", "num_gpu_blocks": "100"})
    m.inc("vllm:generation_tokens", generated)
    m.set("vllm:num_requests_running", running)
    m.observe("vllm:time_to_first_token_seconds", 0.2)
    return generate_latest(m.registry)


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    srv = FaultServer({"/metrics": Route(body=page()), "/health": Route(body=b"")})
    await srv.start()
    yield srv
    await srv.stop()


def test_base_url() -> None:
    assert base_url("localhost:8000") == "http://localhost:8000"
    assert base_url("http://h:8000/metrics") == "http://h:8000"
    assert base_url("https://h/x/metrics/") == "https://h/x"
    for bad in ("ftp://h", "http://", "http://h:99999x"):
        with pytest.raises(BadTarget):
            base_url(bad)


async def test_healthy(server: FaultServer) -> None:
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == "healthy", r.detail
    assert r.snapshot is not None and r.snapshot.scalars["generation_tokens_total"] == 100
    assert r.series_keys and all(k.startswith("vllm:") for k in r.series_keys)
    assert len(r.series_values) == len(r.series_keys)
    assert r.latency_s is not None


async def test_unreachable_when_nothing_listens() -> None:
    async with scraper(f"http://127.0.0.1:{free_port()}", FakeClock()) as s:
        r = await s.scrape()
    assert r.state == "unreachable" and r.snapshot is None
    assert r.detail


async def test_starting_when_tcp_connects_but_http_hangs() -> None:
    listener = SilentListener()
    try:
        async with scraper(listener.url, FakeClock()) as s:
            r = await asyncio.wait_for(s.scrape(), timeout=5)
        assert r.state == "starting", r.detail
    finally:
        listener.close()


async def test_hang_after_healthy_is_unresponsive_then_recovers(server: FaultServer) -> None:
    async with scraper(server.url) as s:
        assert (await s.scrape()).state == "healthy"
        server.routes["/metrics"].mode = "hang"
        server.routes["/health"].mode = "hang"
        r = await asyncio.wait_for(s.scrape(), timeout=5)
        assert r.state == "unresponsive", r.detail
        server.routes["/metrics"].mode = "ok"
        server.routes["/health"].mode = "ok"
        assert (await s.scrape()).state == "healthy"


async def test_engine_dead(server: FaultServer) -> None:
    server.routes["/health"] = Route(status=503, body=b"")
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == "dead"
    assert r.snapshot is not None  # the API process still serves the last figures


async def test_metrics_disabled(server: FaultServer) -> None:
    server.routes["/metrics"] = Route(
        body=b"# TYPE python_gc_objects_collected_total counter\n"
        b'python_gc_objects_collected_total{generation="0"} 3.0\n'
    )
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == "metrics-disabled"
    assert r.snapshot is not None
    assert isinstance(r.snapshot.scalars["requests_running"], Unknown)


@pytest.mark.parametrize(
    ("route", "expect_state", "expect_detail"),
    [
        (Route(status=500, body=b"Internal Server Error"), "healthy", "HTTP 500"),
        (Route(mode="truncate", body=page()[:300]), "healthy", "cut short"),
        (Route(mode="reset"), "healthy", "/metrics"),
        (Route(status=404, body=b"nope"), "metrics-disabled", "404"),
    ],
)
async def test_metrics_failures_keep_server_state(
    server: FaultServer, route: Route, expect_state: str, expect_detail: str
) -> None:
    server.routes["/metrics"] = route
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == expect_state
    assert expect_detail in r.detail
    assert r.snapshot is None


async def test_slow_metrics_beyond_timeout(server: FaultServer) -> None:
    server.routes["/metrics"] = Route(mode="slow", delay=2.0, body=page())
    async with scraper(server.url) as s:
        r = await asyncio.wait_for(s.scrape(), timeout=5)
    assert r.snapshot is None and "no answer" in r.detail


async def test_reset_everywhere_is_unreachable(server: FaultServer) -> None:
    server.routes["/metrics"] = Route(mode="reset")
    server.routes["/health"] = Route(mode="reset")
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == "unreachable"


async def test_garbage_page_does_not_break_anything(server: FaultServer) -> None:
    server.routes["/metrics"] = Route(
        body=b"\xff\xfe garbage {{{\n\x00\x1b[2J\nvllm:num_requests_running 3\n"
    )
    async with scraper(server.url) as s:
        r = await s.scrape()
    assert r.state == "healthy"
    assert r.snapshot is not None and r.snapshot.skipped_lines == 2
    assert r.snapshot.scalars["requests_running"] == 3


async def test_server_goes_away_restarts_and_counters_reset(server: FaultServer) -> None:
    clock = FakeClock()
    timeline = Timeline()
    async with scraper(server.url, clock) as s:
        for generated in (100, 300):
            r = await s.scrape()
            assert r.snapshot is not None
            timeline.add(r.snapshot)
            server.routes["/metrics"].body = page(generated=generated + 200)
            clock.advance(1.0)
        await server.stop()
        assert (await s.scrape()).state == "unreachable"
        clock.advance(1.0)
        server.routes["/metrics"].body = page(generated=50)  # restarted: counters from zero
        await server.start()
        r = await s.scrape()
        assert r.state == "healthy" and r.snapshot is not None
        timeline.add(r.snapshot)
        figures = timeline.figures(window_s=60.0)
        assert figures is not None and figures.counter_resets >= 1
        # one scrape of the new server: no rate yet, rather than one mixing both servers
        assert isinstance(figures.generation_tps, Unknown)
        clock.advance(1.0)
        server.routes["/metrics"].body = page(generated=150)
        r = await s.scrape()
        assert r.snapshot is not None
        timeline.add(r.snapshot)
    figures = timeline.figures(window_s=60.0)
    assert figures is not None
    assert figures.generation_tps == pytest.approx(100.0)  # the new server's 50 -> 150 over 1 s


def badge(session: Session) -> bool:
    return session.target.simulated


async def test_info(server: FaultServer) -> None:
    server.routes["/version"] = Route(body=b'{"version": "0.23.0"}', content_type="application/json")
    server.routes["/v1/models"] = Route(
        body=b'{"object":"list","data":[{"id":"gemma","object":"model","root":"google/gemma","max_model_len":131072}]}',
        content_type="application/json",
    )
    async with scraper(server.url) as s:
        info = await s.info()
    assert info.version == "0.23.0" and info.models == ("gemma",)
    assert info.max_model_len == 131072 and info.root == "google/gemma"
    assert info.simulated is False
    session = Session(TargetInfo(server.url, "url"))
    session.observe(info)
    assert session.target.model == "gemma" and not badge(session)

    server.routes["/version"] = Route(
        body=b'{"version": "0.23.0", "sparktop_simulated": true}', content_type="application/json"
    )
    async with scraper(server.url) as s:
        info = await s.info()
    assert info.simulated is True  # the simulated Spark says so, even when it poses as vLLM
    session.observe(info)
    assert badge(session)  # the SIMULATED badge, in a live watch as in its replay

    server.routes["/version"] = Route(body=b"not json")
    server.routes["/v1/models"] = Route(status=401, body=b"")
    async with scraper(server.url) as s:
        info = await s.info()
    assert isinstance(info.version, Unknown) and info.models == ()


async def test_live_frames_follow_scrapes_and_keep_coming_while_the_server_hangs(
    server: FaultServer,
) -> None:
    """One frame per scrape (a scrape landing a little late must not cause a second frame in the
    same interval); while the server hangs, frames still come, so the clock on screen moves."""
    interval = 0.2
    # a hung scrape lasts as long as the test: a feed that waited for it would send no frame at all
    # while it hangs, however long the test waits
    s = Scraper(server.url, connect_timeout=2.0, read_timeout=600.0)
    session = Session(TargetInfo(server.url, "url"), window_s=5.0, rate_window_s=1.0)
    scrapes: list[float] = []

    def on_observation(obs: object) -> None:
        if isinstance(obs, ScrapeResult):
            scrapes.append(time.monotonic())

    session.sinks.append(on_observation)
    feed = LiveFeed(session, [lambda ses: scrape_loop(s, ses.observe, interval)], interval=interval)
    frames: list[float] = []
    task = asyncio.create_task(feed.run(lambda frame: frames.append(time.monotonic())))
    try:
        assert await eventually(lambda: len(scrapes) >= 10)
        steady_frames, steady = len(frames), list(scrapes)
        server.routes["/metrics"].mode = "hang"
        server.routes["/health"].mode = "hang"
        frames_before, scrapes_before = len(frames), len(scrapes)
        kept_coming = await eventually(lambda: len(frames) >= frames_before + 3)
        scrapes_during_hang = len(scrapes) - scrapes_before
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await s.aclose()
    assert len(steady) >= 10
    # a scrape later than the slack lets a frame go out without it; any other extra frame is a bug
    late = sum(b - a > interval * FRAME_SLACK for a, b in itertools.pairwise(steady))
    assert len(steady) - 1 <= steady_frames <= len(steady) + 1 + late, (steady_frames, len(steady), late)
    assert kept_coming, f"{len(frames) - frames_before} frames while the server hung"
    assert scrapes_during_hang <= 1, scrapes_during_hang  # at most the one under way as the hang began
