"""One generation request from the HTTP side: its output plan, its text, and what it sends.

``plan_output`` decides, from the request and a seeded generator, how many tokens the answer will
have and why it ends (``max_tokens``/``ignore_eos`` force the length; otherwise a plausible natural
length stops it with ``"stop"``), and for reasoning models how many of them are reasoning.
``GenerationStream`` turns the engine's token counts into SSE chunks or, for a non-streaming
request, one JSON body when it ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

import orjson

from sparktop.sim import tokens
from sparktop.sim.engine import Request
from sparktop.sim.openai_api import (
    DONE,
    ApiError,
    ChunkFormat,
    GenerationRequest,
    completion_payload,
)

ANSWER_MEDIAN_TOKENS = 260.0
REASONING_MEDIAN_TOKENS = 420.0


class Sink(Protocol):
    """Where a stream's bytes go (an HTTP connection)."""

    closed: bool

    def start_stream(self, status: int = 200, content_type: bytes = ...) -> None: ...
    def write(self, data: bytes) -> None: ...
    def end(self) -> None: ...
    def respond(
        self, status: int, body: bytes, content_type: bytes = ..., extra_headers: bytes = ...
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class OutputPlan:
    target: int
    finish_reason: str
    reasoning_tokens: int
    text_offset: int


def _lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return max(4, int(rng.lognormvariate(0.0, sigma) * median))


def plan_output(req: GenerationRequest, rng: random.Random) -> OutputPlan:
    """Length, finish reason and reasoning share of the answer to ``req``."""
    answer = _lognormal(rng, ANSWER_MEDIAN_TOKENS, 0.7)
    thinking = _lognormal(rng, REASONING_MEDIAN_TOKENS, 0.6) if req.thinking else 0
    offset = rng.randrange(len(tokens.STREAM))
    if req.ignore_eos:
        return OutputPlan(req.max_tokens, "length", min(thinking, req.max_tokens // 2), offset)
    natural = max(answer + thinking, req.min_tokens, 1)
    if natural >= req.max_tokens:
        return OutputPlan(req.max_tokens, "length", min(thinking, req.max_tokens), offset)
    return OutputPlan(natural, "stop", thinking, offset)


class GenerationStream:
    """The HTTP side of one engine request."""

    __slots__ = (
        "_fmt",
        "_parts",
        "_reasoning_parts",
        "created",
        "done",
        "engine_request",
        "last_emit",
        "plan",
        "request",
        "rid",
        "sent",
        "sink",
    )

    def __init__(
        self, request: GenerationRequest, plan: OutputPlan, sink: Sink, rid: str, created: int
    ) -> None:
        self.request = request
        self.plan = plan
        self.sink = sink
        self.rid = rid
        self.created = created
        self.sent = 0
        self.done = False
        self.last_emit = 0.0
        self._fmt = ChunkFormat(request, rid, created) if request.stream else None
        self._parts: list[str] = []
        self._reasoning_parts: list[str] = []
        self.engine_request = Request(
            request_id=rid,
            prompt_len=request.prompt_tokens,
            target=plan.target,
            finish_reason="stop" if plan.finish_reason == "stop" else "length",
            max_tokens=request.max_tokens,
            tag=self,
        )

    def open(self) -> None:
        """Send the response head (streaming requests answer 200 at once, as vLLM does)."""
        if self._fmt is not None:
            self.sink.start_stream()

    def emit(self, count: int, finished: bool) -> None:
        """``count`` new tokens; ``finished``: they are the last."""
        start = self.sent
        first = start == 0
        self.sent += count
        fmt = self._fmt
        plain = (
            not (first or finished or self.request.continuous_usage) and start >= self.plan.reasoning_tokens
        )
        if fmt is not None and plain:  # the hot path: one chunk of answer text
            self.sink.write(fmt.content(tokens.stream_text(self.plan.text_offset + start, count)))
            return
        split = min(max(self.plan.reasoning_tokens, start), self.sent)
        pieces: list[tuple[str, bool]] = []
        offset = self.plan.text_offset
        if split > start:
            pieces.append((tokens.stream_text(offset + start, split - start), True))
        if self.sent > split:
            pieces.append((tokens.stream_text(offset + split, self.sent - split), False))
        if fmt is None:
            for text, reasoning in pieces:
                (self._reasoning_parts if reasoning else self._parts).append(text)
            if finished:
                self.finish(self.plan.finish_reason)
            return
        out = fmt.role() if first and self.request.kind == "chat" else b""
        last = len(pieces) - 1
        usage_every = self.request.continuous_usage
        for i, (text, reasoning) in enumerate(pieces):
            out += fmt.delta(
                text,
                reasoning=reasoning,
                finish_reason=self.plan.finish_reason if finished and i == last else None,
                completion_tokens=self.sent if usage_every else None,
            )
        if finished:
            self.done = True
            self.sink.write(out + self._tail())
            self.sink.end()
        else:
            self.sink.write(out)

    def _tail(self) -> bytes:
        assert self._fmt is not None
        return (self._fmt.usage_chunk(self.sent) if self.request.include_usage else b"") + DONE

    def finish(self, reason: str) -> None:
        """End the response with ``reason`` (after the last tokens, or cut short: ``"abort"``)."""
        if self.done:
            return
        self.done = True
        if self._fmt is not None:
            self.sink.write(self._fmt.delta("", finish_reason=reason) + self._tail())
            self.sink.end()
            return
        body = completion_payload(
            self.request,
            rid=self.rid,
            created=self.created,
            text="".join(self._parts),
            reasoning="".join(self._reasoning_parts),
            finish_reason=reason,
            completion_tokens=self.sent,
        )
        self.sink.respond(200, orjson.dumps(body))

    def fail(self, err: ApiError) -> None:
        """End the response with an error (the engine died)."""
        if self.done:
            return
        self.done = True
        if self._fmt is not None:
            self.sink.write(ChunkFormat.error(err) + DONE)
            self.sink.end()
        else:
            self.sink.respond(err.status, err.body())
