"""A loopback HTTP/1.1 server that streams scripted SSE responses with real delays.

For the edge cases the simulator does not produce on purpose: a role-only chunk long before the
first token, an empty first chunk, a stream cut off without ``[DONE]``, a server that stops
answering, a server that streams forever. Real sockets, real chunked transfer encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson


def chat_chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def usage_chunk(prompt: int, completion: int) -> bytes:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "scripted",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


DONE = b"data: [DONE]\n\n"


@dataclass
class Script:
    """Each step: wait ``delay`` seconds, then send ``data`` as one HTTP chunk. ``end``: finish the
    chunked body ("chunked"), close the socket ("close"), reset it ("reset"), keep it open and
    silent ("hang"), or send ``forever`` as one chunk every ``every`` seconds until the client
    hangs up ("forever")."""

    steps: list[tuple[float, bytes]] = field(default_factory=list)
    end: str = "chunked"
    status: int = 200
    forever: bytes = b""
    every: float = 0.001


@dataclass
class ScriptedServer:
    """Answers every request with ``script``, or with ``script_for(n)`` for the n-th (from 0)
    request that is not ``/v1/models``; any other GET (``/metrics``, ``/health``: the probes of a
    command run against it) answers 404. ``hung_up``: streams the client closed while the server
    was still sending ("forever")."""

    script: Script
    port: int = 0
    requests: int = 0
    script_for: Callable[[int], Script] | None = None
    streams: int = 0
    hung_up: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            self.requests += 1
            path = head.split(b" ", 2)[1]
            if path == b"/v1/models":
                body = b'{"object":"list","data":[{"id":"scripted","object":"model"}]}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
                    % (len(body), body)
                )
                await writer.drain()
                writer.close()
                return
            if head.startswith(b"GET "):
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            script = self.script if self.script_for is None else self.script_for(self.streams)
            self.streams += 1
            writer.write(
                b"HTTP/1.1 %d X\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                b"connection: close\r\n\r\n" % script.status
            )
            await writer.drain()
            for delay, data in script.steps:
                if delay:
                    await asyncio.sleep(delay)
                writer.write(b"%x\r\n%b\r\n" % (len(data), data))
                await writer.drain()
            if script.end == "chunked":
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            elif script.end == "hang":
                await asyncio.sleep(3600)
            elif script.end == "forever":
                framed = b"%x\r\n%b\r\n" % (len(script.forever), script.forever)
                try:
                    while not reader.at_eof():
                        await asyncio.sleep(script.every)
                        writer.write(framed)
                        await writer.drain()
                except ConnectionError:
                    pass
                self.hung_up += 1
                return
            elif script.end == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


# --------------------------------------------------------------------------------------------------
# a server that paces its chunks exactly, in a process of its own


def _paced_chunk(rid: str) -> bytes:
    return (
        b'data: {"id":"%b","object":"text_completion","created":1,"model":"paced",'
        b'"choices":[{"index":0,"text":" tok","logprobs":null,"finish_reason":null}]}\n\n' % rid.encode()
    )


def _paced_tail(rid: str, count: int) -> bytes:
    return (
        b'data: {"id":"%b","object":"text_completion","created":1,"model":"paced","choices":[],'
        b'"usage":{"prompt_tokens":4,"completion_tokens":%d,"total_tokens":%d}}\n\n'
        % (rid.encode(), count, count + 4)
    ) + DONE


def _serve_paced(streams: int, count: int, period: float) -> None:
    """The child process: once ``streams`` requests have arrived, each gets one response of
    ``count`` token chunks, one every ``period`` seconds, all sent from one thread (so nothing in
    this process competes with the sends). The moment each chunk was handed to the kernel
    (``time.perf_counter``: CLOCK_MONOTONIC, the clock the client stamps with too) is printed as
    one JSON line per response: ``{"id": response id, "sent": [...]}``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
        b"connection: close\r\n\r\n"
    )
    for batch in itertools.count():
        conns: list[socket.socket] = []
        while len(conns) < streams:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            request_head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in request_head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(head)
            conns.append(conn)
        ids = [f"cmpl-paced-{batch}-{n}" for n in range(streams)]
        framed = [b"%x\r\n%b\r\n" % (len(c), c) for c in map(_paced_chunk, ids)]
        sent: list[list[float]] = [[] for _ in conns]
        t0 = time.perf_counter() + period
        for i in range(count):
            delay = t0 + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            for n, conn in enumerate(conns):
                sent[n].append(time.perf_counter())
                conn.sendall(framed[n])
        for n, conn in enumerate(conns):
            tail = _paced_tail(ids[n], count)
            conn.sendall(b"%x\r\n%b\r\n0\r\n\r\n" % (len(tail), tail))
            conn.close()
        # the reports once every response is complete: the test reads them after its requests end
        for n in range(streams):
            sys.stdout.write(orjson.dumps({"id": ids[n], "sent": sent[n]}).decode() + "\n")
        sys.stdout.flush()


class PacedServer:
    """A loopback server in its own process that streams ``count`` completion chunks ``period``
    seconds apart to each of ``streams`` requests at once (whatever the test process is doing) and
    tells when it sent each."""

    def __init__(self, streams: int = 1, count: int = 30, period: float = 0.02) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.sse_server",
                "paced",
                str(streams),
                str(count),
                repr(period),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise RuntimeError("the paced server did not start")

    def sent(self) -> tuple[str, list[float]]:
        """The next finished response: its id and when each chunk was sent (blocks until one is
        reported)."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the paced server ended")
        report = orjson.loads(line)
        return str(report["id"]), [float(t) for t in report["sent"]]

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()

    def __enter__(self) -> PacedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "paced":
        _serve_paced(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
