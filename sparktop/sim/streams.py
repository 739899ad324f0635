"""One generation request from the HTTP side: its output plans, its text, and what it sends.

``plan_output`` decides, from the request and a seeded generator, how many tokens an answer will
have and why it ends (``max_tokens``/``ignore_eos`` force the length; otherwise a plausible natural
length stops it with ``"stop"``), and for reasoning models how many of them are reasoning.

A ``Generation`` is one API request; its ``n`` choices are ``GenerationStream`` s, each its own
engine request (they compete in the batch as vLLM's parallel-sampling children do). Streaming, each
choice writes its chunks to the shared connection as its tokens come (``chunks.py``), and the last
choice to finish writes the usage chunk and ``[DONE]``; otherwise the last one to finish sends the
whole body. ``/v1/responses`` answers are written by ``responses_api.ResponseEvents``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from sparktop.sim import logprobs as lp
from sparktop.sim import tokens
from sparktop.sim.chunks import DONE, ChunkFormat
from sparktop.sim.engine import Request
from sparktop.sim.openai_api import ApiError, ChoiceResult, GenerationRequest, completion_payload
from sparktop.sim.responses_api import ResponseEvents, response_payload

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
    """Length, finish reason and reasoning share of one answer to ``req``."""
    answer = _lognormal(rng, ANSWER_MEDIAN_TOKENS, 0.7)
    thinking = _lognormal(rng, REASONING_MEDIAN_TOKENS, 0.6) if req.thinking else 0
    offset = rng.randrange(len(tokens.STREAM))
    if req.ignore_eos:
        return OutputPlan(req.max_tokens, "length", min(thinking, req.max_tokens // 2), offset)
    natural = max(answer + thinking, req.min_tokens, 1)
    if natural >= req.max_tokens:
        return OutputPlan(req.max_tokens, "length", min(thinking, req.max_tokens), offset)
    return OutputPlan(natural, "stop", thinking, offset)


class Generation:
    """One API request: its choices and the response they share."""

    __slots__ = (
        "_events",
        "_prompt_logprobs",
        "_role_sent",
        "choices",
        "created",
        "done",
        "fingerprint",
        "pending",
        "reported",
        "request",
        "rid",
        "sink",
    )

    def __init__(
        self,
        request: GenerationRequest,
        plans: list[OutputPlan],
        sink: Sink,
        rid: str,
        created: int,
        fingerprint: str = "",
    ) -> None:
        self.request = request
        self.sink = sink
        self.rid = rid
        self.created = created
        self.fingerprint = fingerprint
        self.done = False
        self.pending = len(plans)
        self.reported = 0
        """Choices whose end the server's metrics have recorded."""
        self._role_sent = False
        self._events = (
            ResponseEvents(request, rid, created) if request.kind == "responses" and request.stream else None
        )
        self._prompt_logprobs = (
            lp.prompt_entries(request.prompt_ids, request.prompt_pieces, request.prompt_logprobs)
            if request.prompt_logprobs is not None and request.kind != "responses"
            else None
        )
        self.choices = [GenerationStream(self, i, plan) for i, plan in enumerate(plans)]

    def open(self) -> None:
        """Send the response head (streaming requests answer 200 at once, as vLLM does)."""
        if not self.request.stream:
            return
        self.sink.start_stream()
        if self._events is not None:
            self.sink.write(self._events.opening())

    # for the choices -----------------------------------------------------------------------------

    def roles(self) -> bytes:
        """Chat's first chunks, one per choice, sent with the first tokens of any choice."""
        if self._role_sent or self.request.kind != "chat":
            return b""
        self._role_sent = True
        req = self.request
        ids = req.prompt_ids if req.return_token_ids else None
        return b"".join(c.fmt.role(ids, req.continuous_usage) for c in self.choices if c.fmt is not None)

    def choice_done(self) -> None:
        """A choice has sent its last tokens; the last one ends the response."""
        self.pending -= 1
        if self.pending > 0 or self.done:
            return
        self.done = True
        req = self.request
        sink = self.sink
        if self._events is not None:
            (choice,) = self.choices
            sink.write(self._events.closing(choice.text(), choice.plan_finish, choice.sent))
            sink.end()
            return
        if req.stream:
            first = self.choices[0].fmt
            assert first is not None
            tail = first.usage_chunk(sum(c.sent for c in self.choices)) if req.include_usage else b""
            sink.write(tail + DONE)
            sink.end()
            return
        if req.kind == "responses":
            (choice,) = self.choices
            body = response_payload(
                req, rid=self.rid, created=self.created, text=choice.text(),
                finish_reason=choice.plan_finish, completion_tokens=choice.sent,
            )  # fmt: skip
        else:
            body = completion_payload(
                req,
                rid=self.rid,
                created=self.created,
                system_fingerprint=self.fingerprint,
                choices=[c.result() for c in self.choices],
                prompt_logprobs=self._prompt_logprobs,
            )
        sink.respond(200, orjson.dumps(body))

    @property
    def prompt_logprobs(self) -> list[dict[str, Any] | None] | None:
        return self._prompt_logprobs

    @property
    def events(self) -> ResponseEvents | None:
        return self._events

    # ending early -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """The client went away: nothing more is sent."""
        self.done = True
        for choice in self.choices:
            choice.done = True

    def fail(self, err: ApiError) -> None:
        """End the response with an error (the engine died)."""
        if self.done:
            return
        self.cancel()
        if self.request.stream:
            self.sink.write(ChunkFormat.error(err) + DONE)
            self.sink.end()
        else:
            self.sink.respond(err.status, err.body())


class GenerationStream:
    """One choice of a request: one engine request and the chunks its tokens become."""

    __slots__ = (
        "_fast",
        "_ids",
        "_logprobs",
        "_parts",
        "_reasoning_parts",
        "done",
        "engine_request",
        "fmt",
        "group",
        "index",
        "last_emit",
        "plan",
        "plan_finish",
        "sent",
    )

    def __init__(self, group: Generation, index: int, plan: OutputPlan) -> None:
        request = group.request
        self.group = group
        self.index = index
        self.plan = plan
        self.plan_finish = plan.finish_reason
        self.sent = 0
        self.done = False
        self.last_emit = 0.0
        chunked = request.stream and request.kind != "responses"
        self.fmt = (
            ChunkFormat(request, group.rid, group.created, index, group.fingerprint) if chunked else None
        )
        self._fast = not request.continuous_usage and request.logprobs is None
        """A middle chunk of answer text can take the pre-rendered path."""
        self._ids: list[int] | None = [] if request.return_token_ids else None
        self._logprobs = self._new_logprobs(request)
        self._parts: list[str] = []
        self._reasoning_parts: list[str] = []
        self.engine_request = Request(
            request_id=f"{group.rid}-{index}" if index else group.rid,
            prompt_len=request.prompt_tokens,
            target=plan.target,
            finish_reason="stop" if plan.finish_reason == "stop" else "length",
            max_tokens=request.max_tokens,
            tag=self,
        )

    @staticmethod
    def _new_logprobs(request: GenerationRequest) -> lp.CompletionLogprobs | list[dict[str, Any]] | None:
        if request.logprobs is None or request.kind == "responses":
            return None
        if request.kind == "chat":
            return []
        return lp.CompletionLogprobs(request.logprobs)

    @property
    def rid(self) -> str:
        return self.group.rid

    def text(self) -> str:
        return "".join(self._parts)

    def emit(self, count: int, finished: bool) -> None:
        """``count`` new tokens; ``finished``: they are the last."""
        start = self.sent
        self.sent += count
        fmt = self.fmt
        if fmt is not None and self._fast and start and not finished and start >= self.plan.reasoning_tokens:
            # the hot path: one chunk of answer text
            position = self.plan.text_offset + start
            text = tokens.stream_text(position, count)
            ids = self._ids
            if ids is None:
                self.group.sink.write(fmt.content(text))
            else:
                self.group.sink.write(fmt.content_ids(text, tokens.stream_ids_json(position, count)))
            return
        if self.group.events is not None:
            self._emit_event(start, finished)
            return
        split = min(max(self.plan.reasoning_tokens, start), self.sent)
        offset = self.plan.text_offset
        pieces: list[tuple[int, int, bool]] = []  # (stream position, tokens, is reasoning)
        if split > start:
            pieces.append((offset + start, split - start, True))
        if self.sent > split:
            pieces.append((offset + split, self.sent - split, False))
        if fmt is None:
            self._collect(pieces)
            if finished:
                self._finished()
            return
        self._stream(fmt, pieces, start == 0, finished)

    def _collect(self, pieces: list[tuple[int, int, bool]]) -> None:
        """A non-streaming answer keeps its text (and ids, log-probabilities) for the body."""
        for position, count, reasoning in pieces:
            text = tokens.stream_text(position, count)
            (self._reasoning_parts if reasoning else self._parts).append(text)
            if self._ids is not None:
                self._ids.extend(tokens.stream_ids(position, count))
            self._add_logprobs(position, count)

    def _add_logprobs(self, position: int, count: int) -> None:
        logprobs = self._logprobs
        if logprobs is None:
            return
        if isinstance(logprobs, list):
            top = self.group.request.logprobs
            logprobs.extend(lp.chat_entries(position, count, top or 0))
        else:
            logprobs.add_generated(position, count)

    def _stream(
        self, fmt: ChunkFormat, pieces: list[tuple[int, int, bool]], first: bool, finished: bool
    ) -> None:
        group = self.group
        req = group.request
        out = group.roles() if first else b""
        last = len(pieces) - 1
        prefix = ""
        prompt_ids = None
        if first and req.kind == "completion" and (req.echo or req.return_token_ids):
            prompt_ids = req.prompt_ids
            if req.echo:
                prefix = "" if req.return_token_ids else req.prompt_text or ""
                if isinstance(self._logprobs, lp.CompletionLogprobs) and group.prompt_logprobs is not None:
                    self._logprobs.add_prompt(req.prompt_pieces, group.prompt_logprobs)
        done_so_far = self.sent - sum(count for _, count, _ in pieces)
        for i, (position, count, reasoning) in enumerate(pieces):
            done_so_far += count
            text = tokens.stream_text(position, count)
            self._add_logprobs(position, count)
            is_last = finished and i == last
            out += fmt.delta(
                prefix + text,
                reasoning=reasoning,
                finish_reason=self.plan_finish if is_last else None,
                ids=tokens.stream_ids(position, count) if self._ids is not None else None,
                logprobs=self._take_logprobs(),
                prompt_ids=prompt_ids,
                completion_tokens=done_so_far if req.continuous_usage else None,
                fingerprint=is_last and not req.include_usage,
            )
            prefix = ""
            prompt_ids = None
        group.sink.write(out)
        if finished:
            self._finished()

    def _take_logprobs(self) -> dict[str, Any] | None:
        logprobs = self._logprobs
        if logprobs is None:
            return None
        if isinstance(logprobs, list):
            self._logprobs = []
            return {"content": logprobs}
        return logprobs.take()

    def _emit_event(self, start: int, finished: bool) -> None:
        events = self.group.events
        assert events is not None
        text = tokens.stream_text(self.plan.text_offset + start, self.sent - start)
        self._parts.append(text)
        self.group.sink.write(events.delta(text))
        if finished:
            self._finished()

    def _finished(self) -> None:
        self.done = True
        self.group.choice_done()

    def result(self) -> ChoiceResult:
        """This choice in a non-streaming body."""
        logprobs: dict[str, Any] | None = None
        if isinstance(self._logprobs, list):
            logprobs = {"content": self._logprobs}
        elif self._logprobs is not None:
            group = self.group
            req = group.request
            if req.echo and group.prompt_logprobs is not None:
                echoed = lp.CompletionLogprobs(self._logprobs.top)
                echoed.add_prompt(req.prompt_pieces, group.prompt_logprobs)
                start = echoed.offset
                echoed.text_offset += [start + o for o in self._logprobs.text_offset]
                echoed.tokens += self._logprobs.tokens
                echoed.token_logprobs += self._logprobs.token_logprobs
                echoed.top_logprobs += self._logprobs.top_logprobs
                logprobs = echoed.payload()
            else:
                logprobs = self._logprobs.payload()
        return ChoiceResult(
            index=self.index,
            text=self.text(),
            reasoning="".join(self._reasoning_parts),
            finish_reason=self.plan_finish,
            completion_tokens=self.sent,
            token_ids=self._ids,
            logprobs=logprobs,
        )

    def finish(self, reason: str) -> None:
        """End this choice with ``reason`` now (cut short: ``"abort"``)."""
        if self.done:
            return
        self.plan_finish = reason
        fmt = self.fmt
        if fmt is not None:
            req = self.group.request
            self.group.sink.write(
                fmt.delta(
                    "",
                    finish_reason=reason,
                    ids=[] if self._ids is not None else None,
                    fingerprint=not req.include_usage,
                )
            )
        self._finished()
