"""A tiny HTTP/1.1 server on loopback whose every route can be told to misbehave.

A route can also echo the request's Authorization header back in an OpenAI-style error body, as
some servers and proxies do when they reject a key (``401 Invalid API key: Bearer sk-...``).

Real sockets, real HTTP: the scraper under test cannot tell it from a server that truly hangs,
resets, truncates or restarts.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field

from tests.support.net import free_port as free_port  # noqa: PLC0414  (importable from here too)

JSON = "application/json"


def _headers(head: bytes) -> dict[str, str]:
    """A request's header fields, names lower-cased."""
    fields = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if ":" in f)}


@dataclass
class Route:
    """What a path answers. ``mode``: ok | hang | reset | truncate | slow | echo-auth (``body``
    is then an OpenAI error object whose message quotes the request's Authorization header)."""

    status: int = 200
    body: bytes = b""
    mode: str = "ok"
    delay: float = 0.0
    content_type: str = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class FaultServer:
    routes: dict[str, Route] = field(default_factory=dict)
    port: int = 0
    requests: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections: clients now get 'connection refused'."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                headers = _headers(request)
                await reader.readexactly(int(headers.get("content-length", "0") or 0))
                path = request.split(b" ", 2)[1].decode()
                route = self.routes.get(path, Route(status=404, body=b"not found"))
                if route.mode == "echo-auth":
                    message = f"Invalid API key: {headers.get('authorization', '(none)')}"
                    error = {"message": message, "type": "AuthenticationError", "code": route.status}
                    route = Route(route.status, json.dumps({"error": error}).encode(), content_type=JSON)
                if route.mode == "hang":
                    await asyncio.sleep(3600)
                if route.mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    writer.transport.abort()
                    return
                if route.mode == "slow":
                    await asyncio.sleep(route.delay)
                head = (
                    f"HTTP/1.1 {route.status} X\r\ncontent-type: {route.content_type}\r\n"
                    f"content-length: {len(route.body) + (1000 if route.mode == 'truncate' else 0)}\r\n\r\n"
                ).encode()
                writer.write(head + route.body)
                await writer.drain()
                if route.mode == "truncate":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


class SilentListener:
    """A socket that is bound and listening but never accepts: TCP connects, HTTP hangs (vLLM loading)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()
