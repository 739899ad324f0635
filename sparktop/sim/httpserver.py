"""A lean HTTP/1.1 server on asyncio's Protocol API, enough for vLLM's API and nothing more.

Why not a framework: a streamed token must cost a few microseconds so that hundreds of concurrent
streams can be fed from one engine step without a task switch per token. A handler answers a
request with ``respond`` (one whole response) or ``start_stream`` + ``write`` + ``end`` (chunked
transfer encoding, written straight to the socket). Requests on one connection are answered in
order (keep-alive and pipelining); ``Expect: 100-continue`` and chunked request bodies are handled;
oversized or malformed requests get 4xx and the connection is closed.

``bind_socket`` binds and listens before anything is served, as vLLM does: clients can connect while
the engine starts, and their requests wait in the kernel's accept queue until ``start_serving``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

_log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_BUFFERED_OUT = 32 * 1024 * 1024
"""A client that leaves this much unread is dropped."""

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n")
    return _date_cache[1]


class HttpRequest:
    """One parsed request."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "peer", "query", "started", "streamed")

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        peer: str,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.peer = peer
        self.started = time.monotonic()
        self.streamed = False


Handler = Callable[[HttpRequest, "HttpConnection"], Awaitable[None] | None]
ResponseHook = Callable[[HttpRequest, int], None]


class _BadRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _decode_chunked(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body from ``buf[start:]``: (body, end offset), or None while incomplete."""
    body = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise _BadRequest(400, "invalid chunk size") from None
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (bytes(body), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest(413, "body too large")
        pos += size + 2


class HttpConnection(asyncio.Protocol):
    """One client connection."""

    server_header = b"server: uvicorn\r\n"

    def __init__(
        self, handler: Handler, on_response: ResponseHook | None, connections: set[HttpConnection]
    ) -> None:
        self._handler = handler
        self._on_response = on_response
        self._connections = connections
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False
        self._request: HttpRequest | None = None
        self._streaming = False
        self._continue_sent = False
        self._task: asyncio.Task[None] | None = None
        self.peer = "-"
        self.closed = False
        self.on_close: Callable[[], None] | None = None
        """Called once if the client goes away before the current response ends."""

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connections.discard(self)
        if self._busy and self.on_close is not None:
            callback, self.on_close = self.on_close, None
            callback()

    # requests -----------------------------------------------------------------------------------

    def _next(self) -> None:
        try:
            request = self._parse()
        except _BadRequest as exc:
            self._fail(exc.status, str(exc))
            return
        if request is None:
            return
        self._busy = True
        self._request = request
        self._continue_sent = False
        try:
            result = self._handler(request, self)
        except Exception:  # a handler bug must not take the server down
            _log.exception("handler failed for %s %s", request.method, request.path)
            if self._streaming:
                self.end()
            elif self._busy:
                self.respond(500, b'{"detail":"Internal Server Error"}')
            return
        if result is not None:
            task = asyncio.ensure_future(result)
            task.add_done_callback(self._handler_done)
            self._task = task

    def _handler_done(self, task: asyncio.Future[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        _log.error("handler failed", exc_info=task.exception())
        if self.closed:
            return
        # A failed handler: answer 500 if nothing was sent yet, else cut the stream short.
        if self._streaming:
            self.end()
        elif self._busy:
            self.respond(500, b'{"detail":"Internal Server Error"}')

    def _parse(self) -> HttpRequest | None:
        buf = self._buf
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise _BadRequest(431, "request head too large")
            return None
        lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "invalid request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "invalid header line")
            headers[name.lower()] = value.strip()
        body_start = head_end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _decode_chunked(buf, body_start)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            body, end = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest(400, "invalid content-length") from None
            if length < 0:
                raise _BadRequest(400, "invalid content-length")
            if length > MAX_BODY_BYTES:
                raise _BadRequest(413, "body too large")
            end = body_start + length
            if len(buf) < end:
                self._maybe_continue(headers)
                return None
            body = bytes(buf[body_start:end])
        del buf[:end]
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        path, _, query = target.partition("?")
        return HttpRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers=headers,
            body=body,
            keep_alive=keep_alive,
            peer=self.peer,
        )

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if (
            not self._continue_sent
            and headers.get("expect", "").lower() == "100-continue"
            and self._transport
        ):
            self._continue_sent = True
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _fail(self, status: int, detail: str) -> None:
        if self._transport is None or self.closed:
            return
        body = b'{"detail":"' + detail.encode() + b'"}'
        self._transport.write(self._head(status, b"application/json", len(body), False) + body)
        self._transport.close()

    # responses ----------------------------------------------------------------------------------

    def _head(
        self, status: int, content_type: bytes, length: int | None, keep_alive: bool, extra: bytes = b""
    ) -> bytes:
        out = b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown").encode())
        out += _date_header() + self.server_header
        if length is None:
            out += b"transfer-encoding: chunked\r\n"
        else:
            out += b"content-length: %d\r\n" % length
        if content_type:
            out += b"content-type: " + content_type + b"\r\n"
        out += extra
        if not keep_alive:
            out += b"connection: close\r\n"
        return out + b"\r\n"

    def respond(
        self, status: int, body: bytes, content_type: bytes = b"application/json", extra_headers: bytes = b""
    ) -> None:
        """Send one whole response and finish the request."""
        req = self._request
        if self.closed or self._transport is None or req is None:
            return
        payload = b"" if req.method == "HEAD" else body
        self._transport.write(
            self._head(status, content_type, len(body), req.keep_alive, extra_headers) + payload
        )
        self._finish(status)

    def start_stream(
        self, status: int = 200, content_type: bytes = b"text/event-stream; charset=utf-8"
    ) -> None:
        """Send the head of a chunked response; then ``write`` and ``end``."""
        req = self._request
        if self.closed or self._transport is None or req is None:
            return
        self._streaming = True
        req.streamed = True
        self._status = status
        self._transport.write(self._head(status, content_type, None, req.keep_alive))

    def write(self, data: bytes) -> None:
        """One chunk of a streamed response (dropped if the client has gone)."""
        transport = self._transport
        if self.closed or transport is None or not data:
            return
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        if transport.get_write_buffer_size() > MAX_BUFFERED_OUT:
            transport.abort()

    def end(self) -> None:
        """Finish a streamed response."""
        if not self._streaming:
            return
        self._streaming = False
        if not self.closed and self._transport is not None:
            self._transport.write(b"0\r\n\r\n")
        self._finish(self._status)

    def _finish(self, status: int) -> None:
        req = self._request
        self._busy = False
        self._request = None
        self.on_close = None
        self._task = None
        if req is not None and self._on_response is not None:
            self._on_response(req, status)
        if req is None or not req.keep_alive:
            if self._transport is not None:
                self._transport.close()
            return
        if self._buf:
            asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        if not self._busy and not self.closed:
            self._next()

    def abort(self) -> None:
        """Drop the connection now."""
        if self._transport is not None:
            self._transport.abort()


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket: clients can connect before anything is served."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpServer:
    """Serves ``handler`` on a socket bound up front; ``start_serving`` begins answering."""

    def __init__(
        self, sock: socket.socket, handler: Handler, on_response: ResponseHook | None = None
    ) -> None:
        self.sock = sock
        self._handler = handler
        self._on_response = on_response
        self._server: asyncio.Server | None = None
        self.connections: set[HttpConnection] = set()

    @property
    def port(self) -> int:
        address: Any = self.sock.getsockname()
        return int(address[1])

    async def start_serving(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self._handler, self._on_response, self.connections),
            sock=self.sock,
            backlog=2048,
        )

    async def close(self) -> None:
        """Stop listening and drop every connection (pending connects are reset)."""
        if self._server is not None:
            self._server.close()
        else:
            self.sock.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
