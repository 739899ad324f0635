"""``POST /v1/responses`` as vLLM 0.32 answers a plain text request (no tools, no stored state).

The ``input`` (a string, or a list of ``{"role", "content"}`` messages) and ``instructions`` (a
system message) go through the chat template like a chat request, so token counts match chat's.
The simulated model does not think here: the answer is one ``message`` output item with one
``output_text`` part. A body that ends at ``max_output_tokens`` is ``"status": "incomplete"`` with
``incomplete_details: {"reason": "max_output_tokens"}``.

Streaming sends ``event: <type>`` / ``data: <json>`` pairs, each with a ``sequence_number``:
``response.created``, ``response.in_progress``, then with the first tokens
``response.output_item.added`` and ``response.content_part.added``, one
``response.output_text.delta`` per engine step, and at the end ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done`` and ``response.completed`` (which
carries the whole response with its usage). No ``[DONE]`` follows.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from sparktop.sim import tokens
from sparktop.sim.openai_api import (
    GenerationRequest,
    Prompt,
    ServedModel,
    _bool,
    _generation,
    _int,
    _loads,
    _messages,
    _str_or_none,
    validation_error,
)


def parse_responses(body: bytes, served: ServedModel) -> GenerationRequest:
    """Validate a ``/v1/responses`` body (text input only)."""
    data = _loads(body)
    raw = data.get("input")
    if raw is None:
        raise validation_error(
            [{"type": "missing", "loc": ("body", "input"), "msg": "Field required", "input": data}]
        )
    messages: list[dict[str, Any]] = []
    instructions = _str_or_none(data, "instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    else:
        messages += _messages(data, "input")
    model = _str_or_none(data, "model")
    max_tokens = _int(data, "max_output_tokens", None)
    stream = _bool(data, "stream", False)
    prompt = Prompt(tokens.encode_chat(messages), messages=messages)
    # sampling fields the Responses API does not have are not read from its body
    shared: dict[str, Any] = {k: data[k] for k in ("temperature", "top_p", "seed") if k in data}
    return _generation(
        "responses",
        shared,
        served,
        model=model,
        prompt=prompt,
        max_tokens=max_tokens,
        stream=stream,
        options=None,
        logprobs=None,
        echo=False,
        thinking=False,
        instructions=instructions,
    )


def _item_id(rid: str) -> str:
    return "msg_" + hashlib.sha256(rid.encode()).hexdigest()[:16]


def _status(finish_reason: str) -> tuple[str, dict[str, str] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


def _usage(req: GenerationRequest, completion_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": req.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "input_tokens_per_turn": [],
            "cached_tokens_per_turn": [],
        },
        "output_tokens": completion_tokens,
        "output_tokens_details": {
            "reasoning_tokens": 0,
            "tool_output_tokens": 0,
            "output_tokens_per_turn": [],
            "tool_output_tokens_per_turn": [],
        },
        "total_tokens": req.prompt_tokens + completion_tokens,
    }


def _part(text: str, logprobs: list[Any] | None) -> dict[str, Any]:
    return {"annotations": [], "text": text, "type": "output_text", "logprobs": logprobs}


def _message(rid: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": _item_id(rid),
        "content": content,
        "role": "assistant",
        "status": status,
        "type": "message",
        "phase": None,
    }


def _response(
    req: GenerationRequest,
    *,
    rid: str,
    created: int,
    status: str,
    incomplete: dict[str, str] | None,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "created_at": created,
        "incomplete_details": incomplete,
        "instructions": req.instructions,
        "metadata": None,
        "model": req.model,
        "object": "response",
        "output": output,
        "parallel_tool_calls": True,
        "temperature": req.temperature,
        "tool_choice": "none",
        "tools": [],
        "top_p": req.top_p,
        "background": False,
        "max_output_tokens": req.max_tokens_requested,
        "max_tool_calls": None,
        "previous_response_id": None,
        "prompt": None,
        "reasoning": None,
        "service_tier": "auto",
        "status": status,
        "text": None,
        "top_logprobs": None,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "input_messages": None,
        "output_messages": None,
    }


def response_payload(
    req: GenerationRequest, *, rid: str, created: int, text: str, finish_reason: str, completion_tokens: int
) -> dict[str, Any]:
    """The non-streaming body."""
    status, incomplete = _status(finish_reason)
    return _response(
        req,
        rid=rid,
        created=created,
        status=status,
        incomplete=incomplete,
        output=[_message(rid, [_part(text, None)], "completed")],
        usage=_usage(req, completion_tokens),
    )


class ResponseEvents:
    """The event stream of one streamed response (see the module docstring)."""

    __slots__ = ("_delta_head", "_item", "_seq", "_started", "created", "request", "rid")

    def __init__(self, req: GenerationRequest, rid: str, created: int) -> None:
        self.request = req
        self.rid = rid
        self.created = created
        self._item = _item_id(rid)
        self._seq = 0
        self._started = False
        self._delta_head = b'event: response.output_text.delta\ndata: {"content_index":0,"delta":'

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self._seq
        payload["type"] = kind
        self._seq += 1
        ordered = dict(sorted(payload.items()))  # vLLM writes an event's own fields in this order
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(ordered) + b"\n\n"

    def _state(
        self,
        status: str,
        incomplete: dict[str, str] | None,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return _response(
            self.request, rid=self.rid, created=self.created, status=status, incomplete=incomplete,
            output=output, usage=usage,
        )  # fmt: skip

    def opening(self) -> bytes:
        """``response.created`` and ``response.in_progress``."""
        state = self._state("in_progress", None, [], None)
        return self._event("response.created", {"response": state}) + self._event(
            "response.in_progress", {"response": state}
        )

    def delta(self, text: str) -> bytes:
        """One step's text (after the item and part are announced, with the first)."""
        out = b""
        if not self._started:
            self._started = True
            out += self._event(
                "response.output_item.added",
                {"item": _message(self.rid, [], "in_progress"), "output_index": 0},
            )
            out += self._event(
                "response.content_part.added",
                {"content_index": 0, "item_id": self._item, "output_index": 0, "part": _part("", [])},
            )
        seq = self._seq
        self._seq += 1
        return (
            out
            + self._delta_head
            + orjson.dumps(text)
            + b',"item_id":"'
            + self._item.encode()
            + b'","logprobs":[],"output_index":0,"sequence_number":'
            + str(seq).encode()
            + b',"type":"response.output_text.delta"}\n\n'
        )

    def closing(self, text: str, finish_reason: str, completion_tokens: int) -> bytes:
        """The done events and ``response.completed``."""
        status, incomplete = _status(finish_reason)
        part = _part(text, None)
        item = _message(self.rid, [part], "completed")
        return (
            self._event(
                "response.output_text.done",
                {"content_index": 0, "item_id": self._item, "logprobs": [], "output_index": 0, "text": text},
            )
            + self._event(
                "response.content_part.done",
                {"content_index": 0, "item_id": self._item, "output_index": 0, "part": part},
            )
            + self._event("response.output_item.done", {"item": item, "output_index": 0})
            + self._event(
                "response.completed",
                {
                    "response": self._state(
                        status, incomplete, [item], _usage(self.request, completion_tokens)
                    )
                },
            )
        )
