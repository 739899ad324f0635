"""The exporter's HTTP server (aiohttp): ``GET /metrics`` is the page, ``GET /`` says where it is."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from sparktop.exporter.exposition import CONTENT_TYPE

log = logging.getLogger("sparktop.exporter")

INDEX = "sparktop exporter: the metrics are at /metrics\n"


def make_app(page: Callable[[], Awaitable[str]]) -> web.Application:
    """The application: ``page()`` gives the exposition text of one scrape."""

    async def metrics(request: web.Request) -> web.Response:
        try:
            text = await page()
        except Exception as exc:  # a bug costs this scrape, not the exporter
            log.exception("rendering the page failed")
            return web.Response(
                status=500,
                text=f"sparktop exporter: the page could not be made: {type(exc).__name__}\n",
            )
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=INDEX)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", index)
    return app


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on ``host:port`` (0: any free port); the runner (``cleanup()`` stops it) and the port.

    Raises ``OSError`` when the address cannot be bound.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    return runner, bound
