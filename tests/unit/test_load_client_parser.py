"""The streaming client's HTTP/SSE parser: the same bytes give the same result however they are
split into reads, and the first-token rule ignores role-only and empty chunks."""

from __future__ import annotations

import asyncio
import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sparktop.workload.client import Exchange, Timeouts, _Connection, split_base_url


class Parser(_Connection):
    """The parser fed by hand (no socket): what a read would deliver, with its arrival time."""

    __slots__ = ()

    def _write(self, data: bytes) -> None:
        pass

    def _close(self) -> None:
        self.closed = True

    def feed(self, data: bytes, t: float) -> None:
        self._received(data, t)


def chunked(events: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


def sse(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    return sse({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n"
)
EVENTS = [
    chat({"role": "assistant", "content": ""}),
    chat({"reasoning_content": "Let me think"}),
    chat({"reasoning_content": " hard"}),
    chat({"content": "Hello"}) + chat({"content": " world"}),  # two events in one chunk
    chat({"content": "!"}, finish="length"),
    sse({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}}),
    b"data: [DONE]\n\n",
]
RESPONSE = HEAD + chunked(EVENTS)


async def run_reads(reads: list[bytes]) -> Exchange:
    parser = Parser()
    ex = Exchange(start=0.0)
    future = parser.begin(ex, b"", Timeouts())
    for i, data in enumerate(reads):
        parser.feed(data, float(i + 1))
        if future.done():
            break
    assert future.done(), "the response never completed"
    return future.result()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def test_one_read_gives_the_whole_story() -> None:
    ex = asyncio.run(run_reads([RESPONSE]))
    assert ex.ok and ex.done
    assert ex.first_token == 1.0 and ex.first_response == 1.0
    assert ex.chunks == 5  # 2 reasoning + 3 content; the role-only chunk does not count
    assert ex.gaps == [0.0, 0.0, 0.0, 0.0]
    assert (ex.prompt_tokens, ex.completion_tokens, ex.finish_reason) == (7, 5, "length")
    assert ex.response_id == "chatcmpl-1"


def test_role_only_and_empty_chunks_are_not_the_first_token() -> None:
    # each chunk in its own read, with its own arrival time
    reads = [HEAD] + [b"%x\r\n%b\r\n" % (len(e), e) for e in EVENTS] + [b"0\r\n\r\n"]
    ex = asyncio.run(run_reads(reads))
    assert ex.first_response == 2.0  # the role-only chunk: llama-benchy's "first response"
    assert ex.first_token == 3.0  # the first reasoning text
    assert ex.gaps == [1.0, 1.0, 0.0, 1.0]  # two content events arrived in one read
    assert ex.last_token == 6.0


@settings(max_examples=150)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_split_into_reads_gives_the_same_counts(cuts: list[int]) -> None:
    ex = asyncio.run(run_reads(split(RESPONSE, cuts)))
    assert ex.ok and ex.done
    assert ex.chunks == 5 and len(ex.gaps) == 4
    assert (ex.prompt_tokens, ex.completion_tokens, ex.finish_reason) == (7, 5, "length")
    assert ex.first_response is not None and ex.first_token is not None
    assert ex.first_response <= ex.first_token <= (ex.last_token or 0)


def test_error_body_becomes_a_one_line_reason() -> None:
    message = "max_tokens must be at least 1, got -3.\n\x1b[31mred"
    body = orjson.dumps({"error": {"message": message, "type": "BadRequestError", "code": 400}})
    response = (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
        % (
            len(body),
            body,
        )
    )
    ex = asyncio.run(run_reads([response[:20], response[20:]]))
    assert ex.status == 400 and not ex.ok
    assert ex.error == "HTTP 400: max_tokens must be at least 1, got -3. red"  # escapes removed


def test_error_event_mid_stream_is_a_failure_with_the_server_message() -> None:
    err = sse(
        {"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "code": 500}}
    )
    body = chunked([chat({"content": "Hi"}), err, b"data: [DONE]\n\n"])
    ex = asyncio.run(run_reads([HEAD + body]))
    assert not ex.ok
    assert ex.error == "error event mid-stream: EngineCore encountered an issue."
    assert ex.chunks == 1


def test_a_stream_without_tokens_or_done_is_not_a_success() -> None:
    ex = asyncio.run(run_reads([HEAD + chunked([chat({"role": "assistant", "content": ""})])]))
    assert ex.error is not None and ex.error.startswith("no token received")
    ex = asyncio.run(run_reads([HEAD + chunked([chat({"content": "a"}), chat({"content": "b"})])]))
    assert ex.error == "stream ended without [DONE] after 2 chunks"


def test_garbage_is_a_protocol_error_not_a_crash() -> None:
    ex = asyncio.run(run_reads([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]))
    assert ex.error == "not an HTTP/1.x response"
    ex = asyncio.run(run_reads([HEAD + b"zz\r\n"]))
    assert ex.error == "bad chunk size line"
    ex = asyncio.run(run_reads([HEAD + chunked([b"data: {not json}\n\n"])]))
    assert ex.error == "malformed SSE event (not JSON)"


def test_base_urls() -> None:
    assert split_base_url("http://127.0.0.1:8000") == ("http", "127.0.0.1", 8000, "")
    assert split_base_url("http://h:8000/v1/") == ("http", "h", 8000, "")
    assert split_base_url("https://proxy.example/llm/v1") == ("https", "proxy.example", 443, "/llm")
    for bad in ("127.0.0.1:8000", "ftp://h", "http://", "http://h:99999"):
        try:
            split_base_url(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
