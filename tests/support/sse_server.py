"""A loopback HTTP/1.1 server that streams scripted SSE responses with real delays.

For the edge cases the simulator does not produce on purpose: a role-only chunk long before the
first token, an empty first chunk, a stream cut off without ``[DONE]``, a server that stops
answering. Real sockets, real chunked transfer encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    chunked body ("chunked"), close the socket ("close"), or keep it open and silent ("hang")."""

    steps: list[tuple[float, bytes]] = field(default_factory=list)
    end: str = "chunked"
    status: int = 200


@dataclass
class ScriptedServer:
    script: Script
    port: int = 0
    requests: int = 0
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
            writer.write(
                b"HTTP/1.1 %d X\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                b"connection: close\r\n\r\n" % self.script.status
            )
            await writer.drain()
            for delay, data in self.script.steps:
                if delay:
                    await asyncio.sleep(delay)
                writer.write(b"%x\r\n%b\r\n" % (len(data), data))
                await writer.drain()
            if self.script.end == "chunked":
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            elif self.script.end == "hang":
                await asyncio.sleep(3600)
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
