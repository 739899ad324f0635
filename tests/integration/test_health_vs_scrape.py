"""A server whose /health answers 200 while its /metrics fails or stalls: healthy, yet its figures
are not read. The plain line, the events and the status bar say both facts, through the real
scraper against a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import generate_latest

from sparktop.clock import FakeClock
from sparktop.commands.watch import format_line
from sparktop.config import Settings
from sparktop.model import Frame, TargetInfo
from sparktop.session.core import Session
from sparktop.session.feeds import StaticFeed
from sparktop.sim.vllm_metrics import VllmMetrics
from sparktop.tui.app import make_app
from sparktop.tui.widgets.status import StatusBar
from sparktop.vllm.scrape import Scraper
from tests.support.fault_server import FaultServer, Route


def page() -> bytes:
    m = VllmMetrics("m", engines=1, cache_config={"block_size": "16", "num_gpu_blocks": "100"})
    m.inc("vllm:generation_tokens", 100)
    m.set("vllm:num_requests_running", 2)
    m.observe("vllm:time_to_first_token_seconds", 0.2)
    return generate_latest(m.registry)


class Watcher:
    """The real scrape path into a session, one scrape at a time, 5 s apart on a fake clock."""

    def __init__(self, url: str) -> None:
        self.clock = FakeClock()
        self.scraper = Scraper(url, self.clock, connect_timeout=0.3, read_timeout=0.3)
        self.session = Session(TargetInfo(url, "url"), start=self.clock.now(), interval_s=5.0)

    async def scrape(self) -> Frame:
        self.clock.advance(5.0)
        self.session.observe(await self.scraper.scrape())
        return self.session.frame(60)

    def events(self) -> list[str]:
        return [e.text for e in self.session.events if e.kind == "state"]


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    srv = FaultServer({"/metrics": Route(body=page()), "/health": Route(body=b"")})
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def watcher(server: FaultServer) -> AsyncIterator[Watcher]:
    w = Watcher(server.url)
    yield w
    await w.scraper.aclose()


async def test_metrics_failing_on_a_healthy_server_is_said_on_the_line_and_in_the_events(
    server: FaultServer, watcher: Watcher
) -> None:
    ok = format_line(await watcher.scrape())
    assert " state=healthy running=2 " in ok and ok.endswith(" scrape=ok")
    server.routes["/metrics"] = Route(status=500, body=b"Internal Server Error")
    line = format_line(await watcher.scrape())
    assert " state=healthy scrape=http-500 /metrics: HTTP 500" in line
    server.routes["/metrics"] = Route(body=page())
    assert format_line(await watcher.scrape()).endswith(" scrape=ok")
    assert watcher.events() == [
        "server healthy: ok",
        "figures not read: /metrics: HTTP 500 (scrape http-500; the server is still healthy)",
        "figures read again (scrape ok)",
    ]


async def test_a_stalled_metrics_page_never_reads_as_plain_healthy(
    server: FaultServer, watcher: Watcher
) -> None:
    server.routes["/metrics"] = Route(mode="hang")
    line = format_line(await watcher.scrape())
    assert " state=healthy scrape=timeout /metrics: no answer within 0.3 s" in line
    (event,) = watcher.events()
    assert event == (
        "server healthy (/health answers), but its figures are not read: "
        "/metrics: no answer within 0.3 s (scrape timeout)"
    )
    assert not any(e.startswith("server healthy:") for e in watcher.events())


async def test_an_unreadable_metrics_page_is_its_own_scrape_state(
    server: FaultServer, watcher: Watcher
) -> None:
    server.routes["/metrics"] = Route(body=b"\x00\xffnot an exposition {{{\n")
    line = format_line(await watcher.scrape())
    assert " scrape=no-vllm-series " in line


async def test_the_status_bar_says_the_figures_are_stale_while_the_server_is_healthy(
    server: FaultServer, watcher: Watcher
) -> None:
    await watcher.scrape()
    server.routes["/metrics"] = Route(status=500, body=b"")
    await watcher.scrape()
    frame = await watcher.scrape()
    app = make_app(Settings(), StaticFeed([frame]))
    async with app.run_test(size=(160, 24)) as pilot:
        await pilot.pause(0.1)
        bar = app.screen.query_one(StatusBar).text.splitlines()[1]
    assert "● healthy" in bar
    assert "│ scrape ✖ 2× http-500 figures stale 10s /metrics: HTTP 500" in bar
