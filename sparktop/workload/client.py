"""A lean HTTP/1.1 client for OpenAI-compatible streaming endpoints, on asyncio's event loop.

Why not a general client: a streamed chunk must cost a few microseconds and carry the time its bytes
arrived, so that hundreds of concurrent streams neither saturate the generator's core nor bend its
TTFT and inter-token gaps. Plain-HTTP connections are non-blocking sockets read by one thread of the
client's own (``_Receiver``) as soon as bytes arrive, each read with the kernel's receive timestamp
(``SO_TIMESTAMPNS``); the event loop parses what was read, in order, when it gets to it. So when 256
streams deliver in the same instant each still gets its own arrival time, and when the loop stalls
(a slow callback, a burst of parsing, a scrape) the chunks that arrive meanwhile keep theirs instead
of all getting the moment the loop read them: a zero gap after a long one, tail latency the server
never had.

What remains (the residual error): the kernel merges TCP segments that wait unread in a socket into
one, carrying the receive time of the last. The receiving thread reads at once while the loop
sleeps or waits on I/O, and within the interpreter's switch interval (5 ms; more on a machine whose
cores are all busy) while the loop computes, since the thread needs the interpreter lock for a
moment to read. Chunks of one stream that arrive closer together than that delay, while it lasts,
share the last one's time (the mean gap is unchanged; a few gaps are shifted by up to the delay).
A call that holds the lock for long (a long garbage collection) delays the reads by its length.
Over TLS, or where ``epoll`` is missing, an asyncio transport or the loop's own reader is used and
arrivals are stamped when the loop delivers them: loop stalls then bend the gaps as described.

Until a response's first token, each SSE event is parsed with orjson (to apply the first-token
rule: a chunk that carries content or reasoning text, not an empty or role-only one); after it,
token chunks are recognised by byte checks and only the rare chunk with a finish reason, usage or
an error is parsed.

Every failure is a result, never an exception: connection refused, reset or closed mid-stream,
HTTP errors (with the server's message, cleaned), malformed streams and timeouts each end the
exchange with ``error`` set. Server text is untrusted: it is cleaned and truncated before it is kept.
Keep-alive connections are pooled; a request whose reused connection turns out to be closed is
retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import platform
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson

from sparktop.fmt import clean
from sparktop.secrets import mask

perf_counter = time.perf_counter

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_ERROR_CHARS = 300


class BadUrl(ValueError):
    """A base URL the client cannot use."""


@dataclass(slots=True)
class Exchange:
    """What one request got. Times are ``time.perf_counter()`` seconds."""

    start: float
    sent: float | None = None
    """When the request's last byte was handed to the kernel."""
    status: int | None = None
    first_response: float | None = None
    """First SSE event (any, role-only included)."""
    first_token: float | None = None
    last_token: float | None = None
    end: float | None = None
    """When the exchange finished (response complete or failed)."""
    gaps: list[float] = field(default_factory=list)
    chunks: int = 0
    """Token-bearing chunks (the first included)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    """As the server's ``usage`` says, impossible values (negative) included."""
    usage_problem: str | None = None
    """A ``usage`` count that is not a whole number (kept out of the counts above)."""
    finish_reason: str | None = None
    error: str | None = None
    response_id: str | None = None
    done: bool = False
    """``data: [DONE]`` was seen."""
    body: bytes = b""
    """The body of a non-streaming response (JSON answers, error bodies)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


SERVER_FAULT = "server fault"
"""The prefix of the failures that only a misbehaving server causes (a stream past its
``max_tokens``, a response that never completes): the summary groups them under it."""


def chunk_cap(max_tokens: int) -> int:
    """The most token chunks a response asked for ``max_tokens`` tokens may carry before the client
    stops reading: each chunk carries at least one token, plus a margin for a final chunk with only
    a finish reason and other harmless extras."""
    return max_tokens + max(16, max_tokens // 10)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``idle``: longest wait for the next byte once a request is sent (a long prefill
    sends nothing until its first token, so keep it generous); ``total``: cap on a whole request
    (its deadline: a server that keeps streaming without ever finishing is cut off there)."""

    connect: float = 10.0
    idle: float = 600.0
    total: float | None = None


DEADLINE_S_PER_OUTPUT_TOKEN = 1.0
"""A request's default deadline allows this long per token asked for, after the first token (which
may take the idle timeout): decoding slower than a token a second is a stall, not a speed."""


def request_deadline(timeouts: Timeouts, max_tokens: int) -> float:
    """A streamed request's deadline in seconds: ``timeouts.total`` when set, else the idle timeout
    (the longest its first token may take) plus ``DEADLINE_S_PER_OUTPUT_TOKEN`` per token asked for."""
    if timeouts.total is not None:
        return timeouts.total
    return timeouts.idle + max(1, max_tokens) * DEADLINE_S_PER_OUTPUT_TOKEN


def split_base_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path prefix) of a server's base URL; a trailing ``/v1`` is dropped."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUrl(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadUrl(f"bad port in {url!r}") from None
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):
        prefix = prefix[:-3]
    return parts.scheme, parts.hostname, port, prefix


def _error_text(status: int, body: bytes) -> str:
    """``HTTP 400: <the server's message>`` from an error body (vLLM's ErrorResponse or FastAPI's)."""
    message = ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        message = body[:MAX_ERROR_CHARS].decode("utf-8", "replace")
    else:
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                message = str(err.get("message", ""))
            elif isinstance(err, str):
                message = err
            elif "detail" in data:
                message = str(data["detail"])
            elif "message" in data:
                message = str(data["message"])
    message = clean(message).strip()
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"


def _has_text(choice: Any) -> bool:
    """The first-token rule: the choice carries completion, content or reasoning text."""
    if not isinstance(choice, dict):
        return False
    if choice.get("text"):
        return True
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return bool(delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"))
    return False


# parser states
_HEAD, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _LENGTH, _UNTIL_CLOSE, _IDLE = range(8)


READ_BUFFER_BYTES = 256 * 1024
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)
"""Kernel receive timestamps (CLOCK_REALTIME, nanoseconds) on every read."""
_TIMESPEC = struct.Struct("@qq")
ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class _Connection:
    """The parser and exchange state of one keep-alive connection; one exchange at a time.

    Subclasses do the I/O and call ``_received`` on the event loop's thread with the bytes of one
    read and the time they arrived.
    """

    __slots__ = (
        "_buf",
        "_chunk_left",
        "_ex",
        "_future",
        "_keep_alive",
        "_last_rx",
        "_length_left",
        "_max_chunks",
        "_sse",
        "_sse_mode",
        "_state",
        "_timeouts",
        "_timer",
        "closed",
        "got_bytes",
        "reused",
    )

    def __init__(self) -> None:
        self._buf = bytearray()
        self._sse = bytearray()
        self._state = _IDLE
        self._ex: Exchange | None = None
        self._future: asyncio.Future[Exchange] | None = None
        self._chunk_left = 0
        self._length_left = 0
        self._sse_mode = False
        self._keep_alive = True
        self._timer: asyncio.TimerHandle | None = None
        self._timeouts = Timeouts()
        self._last_rx = 0.0
        self._max_chunks: int | None = None
        self.closed = False
        self.got_bytes = False
        self.reused = False

    # I/O (subclasses) ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _sent(self) -> None:
        """The whole request is in the kernel's hands."""
        if self._ex is not None and self._ex.sent is None:
            self._ex.sent = perf_counter()

    def _received(self, data: bytes, t: float) -> None:
        """New bytes that arrived at ``t`` (perf_counter)."""
        self._last_rx = perf_counter()
        self.got_bytes = True
        if self._ex is None:
            return  # bytes between exchanges: ignored (the next exchange starts with a head)
        try:
            if self._state == _CHUNK_SIZE and not self._buf:
                self._chunks(data, t)
            else:
                self._buf += data
                self._advance(t)
        except _ProtocolError as exc:
            self._fail(str(exc), t)
            self._abort()

    def _lost(self, exc: BaseException | None) -> None:
        """The connection closed (``exc`` None: an orderly close by the server)."""
        if self.closed and self._ex is None:
            return
        self.closed = True
        t = perf_counter()
        if self._ex is None:
            return
        if self._state == _UNTIL_CLOSE and exc is None:
            self._body_done(t)
            return
        ex = self._ex
        if not self.got_bytes:
            detail = "connection closed before any response"
        elif ex.chunks:
            detail = f"connection closed mid-stream after {ex.chunks} chunks"
        else:
            detail = "connection closed before the response was complete"
        if isinstance(exc, ConnectionResetError):
            detail = detail.replace("closed", "reset", 1)
        self._fail(detail, t)

    # the exchange -------------------------------------------------------------------------------

    def begin(
        self, ex: Exchange, request: bytes, timeouts: Timeouts, max_chunks: int | None = None
    ) -> asyncio.Future[Exchange]:
        """Send ``request``; the future is the exchange once it ends. ``max_chunks``: the most token
        chunks to read (beyond them the server is streaming past what was asked: the exchange
        fails and the connection is closed)."""
        assert self._ex is None
        loop = asyncio.get_running_loop()
        self._ex = ex
        self._future = loop.create_future()
        self._state = _HEAD
        self._sse_mode = False
        self._buf.clear()
        self._sse.clear()
        self._timeouts = timeouts
        self._max_chunks = max_chunks
        self.got_bytes = False
        self._last_rx = perf_counter()
        self._timer = loop.call_at(loop.time() + self._next_check(), self._check_timeout)
        future = self._future
        self._write(request)
        return future

    def _next_check(self) -> float:
        limits = [self._timeouts.idle]
        if self._timeouts.total is not None:
            limits.append(self._timeouts.total)
        return max(0.001, min(limits))

    def _check_timeout(self) -> None:
        ex = self._ex
        if ex is None:
            return
        now = perf_counter()
        total = self._timeouts.total
        if total is not None and now - ex.start >= total:
            self._fail(
                f"{SERVER_FAULT}: no complete response within the {total:g} s request deadline "
                f"({ex.chunks} token chunks read; connection closed)",
                now,
            )
            self._abort()
            return
        idle = self._timeouts.idle
        if now - self._last_rx >= idle:
            what = "first token" if ex.first_token is None else "next chunk"
            self._fail(f"timeout: no data for {idle:g} s while waiting for the {what}", now)
            self._abort()
            return
        wait = idle - (now - self._last_rx)
        if total is not None:
            wait = min(wait, total - (now - ex.start))
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + max(0.001, wait), self._check_timeout)

    def cancel(self) -> None:
        """Give up the current exchange (the caller was cancelled)."""
        if self._ex is not None:
            self._fail("cancelled", perf_counter())
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        self._close()

    def _finish(self, t: float) -> None:
        ex, fut = self._ex, self._future
        self._ex = None
        self._future = None
        self._state = _IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ex is None or fut is None:
            return
        ex.end = t
        if not fut.done():
            fut.set_result(ex)

    def _fail(self, error: str, t: float) -> None:
        ex = self._ex
        if ex is not None and ex.error is None:
            ex.error = error
        self._keep_alive = False
        self._finish(t)

    # parsing ------------------------------------------------------------------------------------

    def _chunks(self, data: bytes, t: float) -> None:
        """Whole chunks straight from the read (the usual case); anything else to ``_advance``."""
        pos = 0
        size_end = len(data)
        while pos < size_end:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(data[pos:eol], 16)
            except ValueError:
                break  # chunk extensions or garbage: the general parser decides
            start = eol + 2
            end = start + size
            if size == 0 or end + 2 > size_end:
                break
            if data[end : end + 2] != b"\r\n":
                raise _ProtocolError("bad chunk framing")
            self._payload(data[start:end], t)
            pos = end + 2
            if self._ex is None:
                return
        if pos < size_end:
            self._buf += data[pos:]
            self._advance(t)

    def _advance(self, t: float) -> None:
        buf = self._buf
        while self._ex is not None:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise _ProtocolError("response head too large")
                    return
                self._head(bytes(buf[:end]))
                del buf[: end + 4]
                if self._state == _IDLE:
                    return
            elif state == _CHUNK_SIZE:
                eol = buf.find(b"\r\n")
                if eol < 0:
                    if len(buf) > 1024:
                        raise _ProtocolError("bad chunk size line")
                    return
                try:
                    size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
                except ValueError:
                    raise _ProtocolError("bad chunk size line") from None
                del buf[: eol + 2]
                if size == 0:
                    self._state = _TRAILER
                else:
                    self._chunk_left = size
                    self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if not buf:
                    return
                n = self._chunk_left
                if len(buf) <= n:
                    self._payload(buf, t)
                    self._chunk_left -= len(buf)
                    buf.clear()
                    if self._chunk_left:
                        return
                else:
                    self._payload(buf[:n], t)
                    del buf[:n]
                    self._chunk_left = 0
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise _ProtocolError("bad chunk framing")
                del buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                del buf[: eol + 2]
                if eol == 0:
                    self._body_done(t)
                    return
            elif state == _LENGTH:
                if not buf:
                    if self._length_left == 0:
                        self._body_done(t)
                    return
                take = min(len(buf), self._length_left)
                self._payload(buf[:take] if take < len(buf) else buf, t)
                self._length_left -= take
                del buf[:take]
                if self._length_left == 0:
                    self._body_done(t)
                    return
            elif state == _UNTIL_CLOSE:
                if buf:
                    self._payload(buf, t)
                    buf.clear()
                return
            else:
                return

    def _head(self, head: bytes) -> None:
        ex = self._ex
        assert ex is not None
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise _ProtocolError("not an HTTP/1.x response")
        try:
            status = int(status_line[1])
        except ValueError:
            raise _ProtocolError("bad status line") from None
        if status == 100:
            return  # 100 Continue: the real head follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        ex.status = status
        version_11 = status_line[0] == "HTTP/1.1"
        connection = headers.get("connection", "").lower()
        self._keep_alive = ("close" not in connection) if version_11 else ("keep-alive" in connection)
        self._sse_mode = status == 200 and "text/event-stream" in headers.get("content-type", "")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif "content-length" in headers:
            try:
                self._length_left = int(headers["content-length"])
            except ValueError:
                raise _ProtocolError("bad content-length") from None
            if self._length_left < 0:
                raise _ProtocolError("bad content-length")
            self._state = _LENGTH
            if self._length_left == 0:
                self._body_done(perf_counter())
        else:
            self._keep_alive = False
            self._state = _UNTIL_CLOSE

    def _payload(self, data: bytes | bytearray, t: float) -> None:
        """Body bytes: SSE events, or a plain body to keep."""
        if not self._sse_mode:
            if len(self._sse) + len(data) > MAX_BODY_BYTES:
                raise _ProtocolError("response body too large")
            self._sse += data
            return
        sse = self._sse
        if not sse and data.startswith(b"data: ") and data.find(b"\n\n") == len(data) - 2:
            # the common case: one whole event per chunk
            self._event(bytes(data[6:-2]), t)
            return
        sse += data
        if b"\r" in sse:
            sse[:] = sse.replace(b"\r\n", b"\n")
        start = 0
        while True:
            end = sse.find(b"\n\n", start)
            if end < 0:
                break
            self._event_block(bytes(sse[start:end]), t)
            if self._ex is None:
                return
            start = end + 2
        if start:
            del sse[:start]
        if len(sse) > MAX_BODY_BYTES:
            raise _ProtocolError("SSE event too large")

    def _event_block(self, block: bytes, t: float) -> None:
        if block.startswith(b"data: ") and b"\n" not in block:
            self._event(block[6:], t)
            return
        data = [
            line[5:].lstrip(b" ") if line.startswith(b"data:") else b""
            for line in block.split(b"\n")
            if line.startswith(b"data:")
        ]
        if data:
            self._event(b"\n".join(data), t)

    def _event(self, payload: bytes, t: float) -> None:
        ex = self._ex
        assert ex is not None
        if ex.first_token is not None:
            # fast path: a token chunk carries a non-empty choices list
            if b'"choices":[{' in payload or b'"choices": [{' in payload:
                ex.gaps.append(t - ex.last_token)  # type: ignore[operator]
                ex.last_token = t
                ex.chunks += 1
                if self._max_chunks is not None and ex.chunks > self._max_chunks:
                    self._past_max_tokens()
                if b'"finish_reason":null' in payload or b'"finish_reason": null' in payload:
                    return
                if b'"finish_reason"' not in payload and b'"usage"' not in payload:
                    return
                self._parse(payload, ex, t, counted=True)
                return
            if payload == b"[DONE]":
                ex.done = True
                return
            self._parse(payload, ex, t, counted=False)
            return
        if ex.first_response is None:
            ex.first_response = t
        if payload == b"[DONE]":
            ex.done = True
            return
        self._parse(payload, ex, t, counted=False)

    def _parse(self, payload: bytes, ex: Exchange, t: float, counted: bool) -> None:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _ProtocolError("malformed SSE event (not JSON)") from None
        if not isinstance(data, dict):
            raise _ProtocolError("malformed SSE event (not an object)")
        if "error" in data:
            err = data["error"]
            status = err.get("code") if isinstance(err, dict) else None
            text = _error_text(status if isinstance(status, int) else 500, payload)
            ex.error = "error event mid-stream: " + text.split(": ", 1)[-1]
            return
        if ex.response_id is None and isinstance(data.get("id"), str):
            ex.response_id = clean(data["id"])[:100]
        usage = data.get("usage")
        if isinstance(usage, dict):
            for name in ("prompt_tokens", "completion_tokens"):
                value = usage.get(name)
                if type(value) is int:
                    setattr(ex, name, value)
                elif value is not None and ex.usage_problem is None:
                    ex.usage_problem = f"{name} is not a whole number: {clean(repr(value))[:40]}"
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return
        choice = choices[0]
        if isinstance(choice, dict):
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                ex.finish_reason = reason[:40]
        if counted:
            return
        if ex.first_token is None:
            if _has_text(choice):
                ex.first_token = t
                ex.last_token = t
                ex.chunks = 1
        else:
            # a choice chunk the fast path did not recognise (unusual JSON spacing)
            ex.gaps.append(t - ex.last_token)  # type: ignore[operator]
            ex.last_token = t
            ex.chunks += 1
            if self._max_chunks is not None and ex.chunks > self._max_chunks:
                self._past_max_tokens()

    def _past_max_tokens(self) -> None:
        """The stream carries more token chunks than it was asked for: stop reading (``_received``
        fails the exchange and closes the connection)."""
        raise _ProtocolError(
            f"{SERVER_FAULT}: streamed past max_tokens (more than {self._max_chunks} token chunks; "
            "connection closed)"
        )

    def _body_done(self, t: float) -> None:
        ex = self._ex
        assert ex is not None
        if self._sse_mode:
            if ex.error is None and ex.first_token is None:
                ex.error = "no token received" + ("" if ex.done else " (stream ended without [DONE])")
            elif ex.error is None and not ex.done:
                ex.error = f"stream ended without [DONE] after {ex.chunks} chunks"
        else:
            ex.body = bytes(self._sse)
            self._sse.clear()
            if ex.status is not None and ex.status >= 400:
                ex.error = _error_text(ex.status, ex.body)
        if not self._keep_alive:
            self._abort()
        self._finish(t)


class _TransportConnection(_Connection, asyncio.BufferedProtocol):
    """I/O through an asyncio transport (used for TLS): arrival times are read in the callback, on
    the event loop's thread, so a busy loop delays them (see the module docstring)."""

    __slots__ = ("_rbuf", "_rview", "transport")

    def __init__(self) -> None:
        super().__init__()
        self.transport: asyncio.Transport | None = None
        self._rbuf = bytearray(READ_BUFFER_BYTES)
        self._rview = memoryview(self._rbuf)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self._received(bytes(self._rview[:nbytes]), perf_counter())

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
            self._sent()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time of a read (``SO_TIMESTAMPNS``, wall clock), if it carried one."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return float(sec + nsec * 1e-9)
    return None


def _arrival(ancillary: list[tuple[int, int, bytes]], now: float) -> float:
    """A read's arrival time on perf_counter's timeline: the kernel's receive time moved from the
    wall clock, or ``now`` where the read carried none."""
    wall = _kernel_time(ancillary)
    return now if wall is None else min(now, wall - time.time() + now)


_Arrival = tuple["_SocketConnection", bytes | None, float, OSError | None]
"""What the receiving thread hands the loop: bytes and their arrival time, or the end of the
connection (``None``, with the error if it was not an orderly close)."""


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IoVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class _HeldRecv:
    """``recvmsg(2)`` on a non-blocking socket without letting go of the interpreter lock.

    Python's socket calls release the GIL around every system call; a thread that reads while the
    main thread computes then waits a switch interval (5 ms) to get it back after each read, so
    reading N sockets takes N x 5 ms and segments pile up (and merge) meanwhile. Called through
    ``ctypes.PyDLL`` the read keeps the lock: it never blocks (the socket is non-blocking), and
    one wake-up reads every socket that is ready. glibc on 64-bit Linux only (the structures'
    layout is known there); elsewhere the receiver uses the socket module's ``recvmsg_into``.
    """

    MSG_DONTWAIT = 0x40
    CONTROL_BYTES = 64

    def __init__(self, size: int) -> None:
        libc = ctypes.PyDLL(None, use_errno=True)
        self._recvmsg = libc.recvmsg
        self._recvmsg.restype = ctypes.c_ssize_t
        self._recvmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        self._data = ctypes.create_string_buffer(size)
        self._control = ctypes.create_string_buffer(self.CONTROL_BYTES)
        self._iov = _IoVec(ctypes.addressof(self._data), size)
        self._msg = _MsgHdr(
            None, 0, ctypes.pointer(self._iov), 1, ctypes.addressof(self._control), self.CONTROL_BYTES, 0
        )
        self._msg_address = ctypes.addressof(self._msg)
        self._data_address = ctypes.addressof(self._data)
        self._header = ctypes.sizeof(ctypes.c_size_t) + 2 * ctypes.sizeof(ctypes.c_int)
        self._write = libc.write
        self._write.restype = ctypes.c_ssize_t
        self._write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)

    @staticmethod
    def usable() -> bool:
        return (
            sys.platform.startswith("linux")
            and platform.libc_ver()[0] == "glibc"
            and ctypes.sizeof(ctypes.c_void_p) == 8
            and SO_TIMESTAMPNS is not None
        )

    def read(self, fd: int) -> tuple[bytes, float | None]:
        """The bytes waiting on ``fd`` (empty at the end of the stream) and the kernel's receive
        time of the last of them (wall clock), if it gave one. Raises ``OSError`` as recv does."""
        msg = self._msg
        msg.controllen = self.CONTROL_BYTES
        n = self._recvmsg(fd, self._msg_address, self.MSG_DONTWAIT)
        if n < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))  # BlockingIOError, ConnectionResetError... by errno
        data = ctypes.string_at(self._data_address, n)
        control = self._control.raw[: msg.controllen]
        pos = 0
        while pos + self._header <= len(control):
            length, level, kind = _CMSG_HEADER.unpack_from(control, pos)
            if length < self._header:
                break
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and length >= self._header + 16:
                sec, nsec = _TIMESPEC.unpack_from(control, pos + self._header)
                return data, sec + nsec * 1e-9
            pos += (length + 7) & ~7
        return data, None

    def poke(self, fd: int) -> None:
        """Write one byte to a non-blocking pipe, keeping the lock (a full pipe is already a wake-up)."""
        self._write(fd, b"x", 1)


_CMSG_HEADER = struct.Struct("@Nii")


class _Receiver:
    """Reads every plain-HTTP connection of a client on a thread of its own, as soon as bytes arrive.

    Why a thread: the kernel merges TCP segments that wait in a socket's receive queue into one
    buffer carrying the receive time of the last of them, so events a stalled event loop reads
    late come out of one read with one time, a zero gap after a long one. This thread does nothing
    but wait for bytes, read them with their receive time and queue them for the loop, so it reads
    promptly whatever the loop is doing: at once while the loop sleeps, blocks or waits on I/O,
    within the interpreter's switch interval (5 ms) while the loop runs Python code, since it reads
    every ready socket without giving up the lock (``_HeldRecv``). The loop parses what was read, in
    order, when it gets to it; the times are already fixed. It is woken through a pipe of its own,
    once per batch of reads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._conns: dict[int, _SocketConnection] = {}
        self._queue: deque[_Arrival] = deque()
        self._scheduled = False
        self._held: _HeldRecv | None = None
        if _HeldRecv.usable():
            with contextlib.suppress(OSError, AttributeError):
                self._held = _HeldRecv(READ_BUFFER_BYTES)
        self._buf = bytearray(READ_BUFFER_BYTES if self._held is None else 0)
        self._view = memoryview(self._buf)
        self._stop_r, self._stop_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        loop.add_reader(self._wake_r, self._deliver)
        self._epoll.register(self._stop_r, select.EPOLLIN)
        self._thread = threading.Thread(target=self._run, name="sparktop-receiver", daemon=True)
        self._thread.start()

    # the loop's side ----------------------------------------------------------------------------

    def add(self, conn: _SocketConnection) -> None:
        self._conns[conn.fd] = conn
        self._epoll.register(conn.fd, select.EPOLLIN)

    def remove(self, conn: _SocketConnection) -> None:
        """Stop reading ``conn`` (before its socket is closed, so its number can be reused)."""
        if self._conns.get(conn.fd) is conn:
            del self._conns[conn.fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(conn.fd)

    def close(self) -> None:
        """Stop the thread (on the loop's thread, after the connections were closed)."""
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._thread.join(timeout=5.0)
        self._deliver()
        with contextlib.suppress(RuntimeError):
            self._loop.remove_reader(self._wake_r)
        if not self._thread.is_alive():
            self._epoll.close()
            os.close(self._stop_r)
            os.close(self._wake_w)
        os.close(self._stop_w)
        os.close(self._wake_r)

    def _deliver(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._wake_r, 4096)
        self._scheduled = False  # before taking: an arrival queued from here on wakes the loop again
        queue = self._queue
        while queue:
            conn, data, t, exc = queue.popleft()
            if data is None:
                conn.ended(exc)
            else:
                conn._received(data, t)

    # the thread's side --------------------------------------------------------------------------

    def _run(self) -> None:
        poll = self._epoll.poll
        conns = self._conns
        stop = self._stop_r
        queue = self._queue
        while True:
            try:
                events = poll()
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return
            for fd, _ in events:
                if fd == stop:
                    return
                conn = conns.get(fd)
                if conn is not None:
                    self._read(fd, conn)
            if queue and not self._scheduled:
                self._scheduled = True
                if self._held is not None:
                    self._held.poke(self._wake_w)
                else:
                    with contextlib.suppress(OSError):
                        os.write(self._wake_w, b"x")

    def _read(self, fd: int, conn: _SocketConnection) -> None:
        wall: float | None = None
        try:
            if self._held is not None:
                data, wall = self._held.read(fd)
            elif conn.stamped:
                nbytes, ancillary, _, _ = conn.sock.recvmsg_into((self._view,), ANCILLARY_BYTES)
                data = bytes(self._view[:nbytes])
                wall = _kernel_time(ancillary)
            else:
                data = bytes(self._view[: conn.sock.recv_into(self._view)])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._forget(fd, conn)
            self._queue.append((conn, None, perf_counter(), exc))
            return
        now = perf_counter()
        if not data:
            self._forget(fd, conn)
            self._queue.append((conn, None, now, None))
            return
        t = now if wall is None else min(now, wall - time.time() + now)
        self._queue.append((conn, data, t, None))

    def _forget(self, fd: int, conn: _SocketConnection) -> None:
        """A connection that ended: no more reads (the level-triggered poll would repeat it)."""
        if self._conns.get(fd) is conn:
            with contextlib.suppress(KeyError):
                del self._conns[fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)


class _SocketConnection(_Connection):
    """I/O on a plain non-blocking socket: written from the event loop, read by the client's
    ``_Receiver`` (or, where the platform has no ``epoll``, by the event loop when it finds the
    socket readable).

    Each read takes the kernel's receive timestamp (``SO_TIMESTAMPNS``) when the platform offers
    it: the moment the bytes reached this host. That keeps TTFT exact when hundreds of streams
    deliver in the same instant and are read one after another.
    """

    __slots__ = ("_loop", "_out", "_receiver", "_rview", "fd", "sock", "stamped")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, receiver: _Receiver | None
    ) -> None:
        super().__init__()
        self._loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self._out = b""
        self.stamped = False
        self._receiver = receiver
        if SO_TIMESTAMPNS is not None and ANCILLARY_BYTES:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.stamped = True
            except OSError:
                pass
        if receiver is not None:
            self._rview = memoryview(b"")
            receiver.add(self)
        else:
            self._rview = memoryview(bytearray(READ_BUFFER_BYTES))
            loop.add_reader(self.fd, self._readable)

    def ended(self, exc: OSError | None) -> None:
        """The receiver saw the connection end (``exc`` None: closed by the server)."""
        self._close()
        self._lost(exc)

    def _readable(self) -> None:
        try:
            if self.stamped:
                nbytes, ancillary, _, _ = self.sock.recvmsg_into((self._rview,), ANCILLARY_BYTES)
            else:
                nbytes = self.sock.recv_into(self._rview)
                ancillary = []
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.ended(exc)
            return
        if nbytes == 0:
            self.ended(None)
            return
        self._received(bytes(self._rview[:nbytes]), _arrival(ancillary, perf_counter()))

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self.ended(exc)
            return
        if sent < len(data):
            self._out = data[sent:]
            self._loop.add_writer(self.fd, self._writable)
        else:
            self._sent()

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.ended(exc)
            return
        self._out = self._out[sent:]
        if not self._out:
            self._loop.remove_writer(self.fd)
            self._sent()

    def _close(self) -> None:
        if self.fd < 0:
            return
        if self._receiver is not None:
            self._receiver.remove(self)
        else:
            self._loop.remove_reader(self.fd)
        if self._out:
            self._loop.remove_writer(self.fd)
            self._out = b""
        with contextlib.suppress(OSError):
            self.sock.close()
        self.fd = -1
        self.closed = True


class _ProtocolError(Exception):
    pass


class OpenAIClient:
    """Requests to one server over pooled keep-alive connections (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
        user_agent: str = "sparktop",
        kernel_timestamps: bool = True,
    ) -> None:
        """``kernel_timestamps``: stamp arrivals with the kernel's receive time where the platform
        offers it (plain HTTP); otherwise, and always over TLS, when the event loop delivers them."""
        scheme, host, port, prefix = split_base_url(base_url)
        self.kernel_timestamps = kernel_timestamps
        self.host = host
        self.port = port
        self.prefix = prefix
        self.base_url = f"{scheme}://{host if ':' not in host else '[' + host + ']'}:{port}{prefix}"
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if scheme == "https" else None
        self.timeouts = timeouts or Timeouts()
        host_header = host if ":" not in host else f"[{host}]"
        default_port = 443 if scheme == "https" else 80
        authority = host_header if port == default_port else f"{host_header}:{port}"
        self._common = (
            f"Host: {authority}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: application/json, text/event-stream\r\n"
        ).encode("latin-1")
        self._auth = f"Authorization: Bearer {api_key}\r\n".encode("latin-1") if api_key else b""
        self._api_key = api_key
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._addresses: list[tuple[int, Any]] | None = None
        self._receiver: _Receiver | None = None

    def __repr__(self) -> str:  # never shows the API key
        return f"OpenAIClient({self.base_url!r})"

    async def __aenter__(self) -> OpenAIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for conn in [*self._idle, *self._busy]:
            conn.cancel()
        self._idle.clear()
        self._busy.clear()
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None

    def _request_bytes(self, method: str, path: str, body: bytes | None) -> bytes:
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode("latin-1") + self._common + self._auth
        if body is None:
            return head + b"\r\n"
        return (
            head
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    async def _connect(self, ex: Exchange) -> _Connection | None:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(self._open(loop), timeout=self.timeouts.connect)
        except TimeoutError:
            ex.error = f"timeout: could not connect within {self.timeouts.connect:g} s"
        except ConnectionRefusedError:
            ex.error = f"connection refused by {self.host}:{self.port}"
        except ssl.SSLError as exc:
            ex.error = f"TLS error: {clean(str(exc))[:MAX_ERROR_CHARS]}"
        except OSError as exc:
            ex.error = f"cannot connect to {self.host}:{self.port}: {clean(exc.strerror or str(exc))}"
        ex.end = perf_counter()
        return None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._ssl is not None or not self.kernel_timestamps:
            _, proto = await loop.create_connection(_TransportConnection, self.host, self.port, ssl=self._ssl)
            return proto
        if self._addresses is None:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError(f"cannot resolve {self.host}")
            self._addresses = [(family, address) for family, _, _, _, address in infos]
        error: OSError | None = None
        for family, address in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            if self._receiver is None and hasattr(select, "epoll"):
                self._receiver = _Receiver(loop)
            return _SocketConnection(loop, sock, self._receiver)
        assert error is not None
        raise error

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        start: float | None = None,
        exchange: Exchange | None = None,
        deadline: float | None = None,
        max_chunks: int | None = None,
    ) -> Exchange:
        """Send one request and return what came back (streamed or not). Never raises for server
        or network trouble; cancellation aborts the connection and propagates. ``exchange``, when
        given, is the one filled in (a caller may watch it while the response streams).
        ``deadline``: this request's cap in seconds (instead of ``timeouts.total``); ``max_chunks``:
        the most token chunks to read before giving up on a server streaming past its limit."""
        ex = exchange if exchange is not None else Exchange(start=perf_counter() if start is None else start)
        payload = self._request_bytes(method, path, body)
        timeouts = self.timeouts if deadline is None else replace(self.timeouts, total=deadline)
        for attempt in range(2):
            conn = self._take_idle()
            if conn is None:
                conn = await self._connect(ex)
                if conn is None:
                    return ex
            self._busy.add(conn)
            try:
                await conn.begin(ex, payload, timeouts, max_chunks)
            except asyncio.CancelledError:
                conn.cancel()
                raise
            finally:
                self._busy.discard(conn)
            stale = conn.reused and not conn.got_bytes and ex.status is None
            if ex.error is not None and stale and attempt == 0:
                ex.error = None  # a kept-alive connection the server had closed: try a new one
                ex.end = None
                continue
            if not conn.closed:
                self._idle.append(conn)
            if ex.error is not None and self._api_key:
                ex.error = mask(ex.error, (self._api_key,))  # a server may echo the key it was sent
            return ex
        return ex

    async def post_stream(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        start: float | None = None,
        exchange: Exchange | None = None,
        deadline: float | None = None,
        max_chunks: int | None = None,
    ) -> Exchange:
        """A streaming POST (``stream: true`` is the caller's to set); ``deadline`` and
        ``max_chunks`` as for ``request``."""
        return await self.request(
            "POST",
            path,
            orjson.dumps(payload),
            start=start,
            exchange=exchange,
            deadline=deadline,
            max_chunks=max_chunks,
        )

    async def get_json(self, path: str) -> tuple[Exchange, Any]:
        """GET a JSON document: the exchange, and the parsed body (None unless a 200 with JSON)."""
        ex = await self.request("GET", path)
        return ex, _json_or_none(ex)

    async def post_json(self, path: str, payload: Mapping[str, Any]) -> tuple[Exchange, Any]:
        ex = await self.request("POST", path, orjson.dumps(payload))
        return ex, _json_or_none(ex)


def _json_or_none(ex: Exchange) -> Any:
    if ex.status != 200 or ex.error is not None:
        return None
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.loads(ex.body)
    return None
