"""The SSE chunks of a streamed chat or completion answer, byte for byte as vLLM 0.32 writes them.

One ``ChunkFormat`` per choice pre-renders what its chunks share (id, object, created, model, the
choice's index), so the common chunk, one piece of answer text, costs one JSON string encode.

vLLM leaves unset fields out of chat chunks (``exclude_unset``) but writes every field of completion
chunks. Shapes:

- chat, first chunk of every choice (all sent with the first tokens of any): ``delta: {"role":
  "assistant", "content": ""}``, then ``prompt_token_ids`` (the ids with ``return_token_ids``, else
  null) and ``prompt_text: null`` after ``choices``;
- chat, text: ``{"index", "delta": {"content"|"reasoning"}, "logprobs", "finish_reason",
  "token_ids"}``, the last also ``"stop_reason"`` before ``token_ids``;
- completion: ``{"index", "text", "logprobs", "finish_reason", "stop_reason", "prompt_token_ids",
  "token_ids"}``, ``prompt_token_ids`` set on a choice's first chunk with ``return_token_ids`` or
  ``echo``;
- ``usage`` on every chunk with ``continuous_usage_stats`` (per choice; chat's also has
  ``completion_tokens_details: null``, and its first chunk counts 0 tokens);
- the last chunk of a choice carries ``system_fingerprint`` unless a usage chunk follows: then that
  chunk (``choices: []``, the usage summed over the choices) carries it, and ``[DONE]`` ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from sparktop.sim.openai_api import ApiError, GenerationRequest, usage

DONE = b"data: [DONE]\n\n"


class ChunkFormat:
    """Pre-rendered pieces of one choice's SSE chunks."""

    __slots__ = (
        "_chat",
        "_common",
        "_fingerprint",
        "_head",
        "_ids_tail",
        "_plain_head",
        "_plain_tail",
        "prompt_tokens",
    )

    def __init__(
        self, req: GenerationRequest, rid: str, created: int, index: int = 0, system_fingerprint: str = ""
    ) -> None:
        self._chat = chat = req.kind == "chat"
        obj = b"chat.completion.chunk" if chat else b"text_completion"
        common = b'{"id":"' + rid.encode() + b'","object":"' + obj + b'","created":' + str(created).encode()
        common += b',"model":' + orjson.dumps(req.model)
        self._common = common
        choice = b',"choices":[{"index":' + str(index).encode()
        self._head = b"data: " + common + choice + (b',"delta":{' if chat else b',"text":')
        self._fingerprint = orjson.dumps(system_fingerprint)
        self.prompt_tokens = req.prompt_tokens
        self._plain_head = self._head + (b'"content":' if chat else b"")
        self._plain_tail = (
            b'},"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n'
            if chat
            else b',"logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,'
            b'"token_ids":null}]}\n\n'
        )
        self._ids_tail = (
            b'},"logprobs":null,"finish_reason":null,"token_ids":'
            if chat
            else b',"logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":null,'
            b'"token_ids":'
        )

    def content(self, text: str) -> bytes:
        """The common chunk: answer text only (same bytes as ``delta(text)``, built faster)."""
        return self._plain_head + orjson.dumps(text) + self._plain_tail

    def content_ids(self, text: str, ids_json: bytes) -> bytes:
        """The common chunk with ``return_token_ids``: answer text and its token ids (as JSON)."""
        return self._plain_head + orjson.dumps(text) + self._ids_tail + ids_json + b"}]}\n\n"

    def _usage(self, completion_tokens: int) -> bytes:
        u: dict[str, Any] = usage(self.prompt_tokens, completion_tokens)
        if self._chat:
            u["completion_tokens_details"] = None
        return b',"usage":' + orjson.dumps(u)

    def role(self, prompt_ids: Sequence[int] | None = None, with_usage: bool = False) -> bytes:
        """Chat's first chunk of a choice: the role alone."""
        out = self._head + b'"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]'
        if with_usage:
            out += self._usage(0)
        ids = b"null" if prompt_ids is None else orjson.dumps(list(prompt_ids))
        return out + b',"prompt_token_ids":' + ids + b',"prompt_text":null}\n\n'

    def delta(
        self,
        text: str,
        *,
        reasoning: bool = False,
        finish_reason: str | None = None,
        ids: list[int] | None = None,
        logprobs: dict[str, Any] | None = None,
        prompt_ids: Sequence[int] | None = None,
        completion_tokens: int | None = None,
        fingerprint: bool = False,
    ) -> bytes:
        """One chunk carrying ``text`` (as reasoning or content) and, on the last, the finish reason.

        ``completion_tokens``: the choice's count so far, for continuous usage; ``fingerprint``: this
        is the last chunk of the stream (no usage chunk follows)."""
        t = orjson.dumps(text)
        end = b"null" if finish_reason is None else orjson.dumps(finish_reason)
        lp = b"null" if logprobs is None else orjson.dumps(logprobs)
        token_ids = b"null" if ids is None else orjson.dumps(ids)
        if self._chat:
            field = b'"reasoning":' + t if reasoning else b'"content":' + t
            out = self._head + field + b'},"logprobs":' + lp + b',"finish_reason":' + end
            if finish_reason is not None:
                out += b',"stop_reason":null'
            out += b',"token_ids":' + token_ids + b"}]"
        else:
            prompt = b"null" if prompt_ids is None else orjson.dumps(list(prompt_ids))
            out = (
                self._head + t + b',"logprobs":' + lp + b',"finish_reason":' + end + b',"stop_reason":null'
                b',"prompt_token_ids":' + prompt + b',"token_ids":' + token_ids + b"}]"
            )
        if completion_tokens is not None:
            out += self._usage(completion_tokens)
        if fingerprint:
            out += b',"system_fingerprint":' + self._fingerprint
        return out + b"}\n\n"

    def usage_chunk(self, completion_tokens: int) -> bytes:
        """The chunk after the last choice's last one: ``choices: []``, the usage of all choices."""
        return (
            b"data: "
            + self._common
            + b',"choices":[],"usage":'
            + orjson.dumps(usage(self.prompt_tokens, completion_tokens))
            + b',"system_fingerprint":'
            + self._fingerprint
            + b"}\n\n"
        )

    @staticmethod
    def error(err: ApiError) -> bytes:
        return b"data: " + err.body() + b"\n\n"
