"""The OpenAI-compatible API as vLLM serves it: request validation, error bodies, response shapes.

Errors follow vLLM's ``ErrorResponse``: ``{"error": {"message", "type", "param", "code"}}``. Request
bodies that do not parse or do not fit the schema answer 400 with type ``"Bad Request"`` (vLLM's
``RequestValidationError`` handler, message in pydantic's words); an unknown model answers 404
``NotFoundError``; semantic checks (context length, max_tokens, sampling parameters) answer 400
``BadRequestError`` with vLLM's messages, ``(parameter=..., value=...)`` suffix included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sparktop.sim import tokens

Kind = Literal["chat", "completion"]


class ApiError(Exception):
    """An error answered as vLLM's ``ErrorResponse``."""

    def __init__(self, status: int, err_type: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.err_type = err_type
        self.message = message
        self.param = param

    def payload(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.err_type,
                "param": self.param,
                "code": self.status,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.payload())


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """A schema error as vLLM's ``RequestValidationError`` handler words it (400 "Bad Request")."""
    return ApiError(400, "Bad Request", repr(errors))


def bad_request(message: str, param: str | None = None, value: object = None) -> ApiError:
    """A ``VLLMValidationError``: the message gains ``(parameter=..., value=...)``."""
    extras = []
    if param is not None:
        extras.append(f"parameter={param}")
    if value is not None:
        extras.append(f"value={value}")
    text = f"{message} ({', '.join(extras)})" if extras else message
    return ApiError(400, "BadRequestError", text, param)


def model_not_found(model: str) -> ApiError:
    return ApiError(404, "NotFoundError", f"The model `{model}` does not exist.", "model")


def engine_dead() -> ApiError:
    return ApiError(
        500,
        "InternalServerError",
        "EngineCore encountered an issue. See stack trace (above) for the root cause.",
    )


NOT_FOUND_BODY = b'{"detail":"Not Found"}'
METHOD_NOT_ALLOWED_BODY = b'{"detail":"Method Not Allowed"}'


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What the server knows about the model it serves."""

    name: str
    root: str
    max_model_len: int
    reasoning: bool


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A validated completion or chat request."""

    kind: Kind
    model: str
    prompt_tokens: int
    max_tokens: int
    """Output tokens allowed (the request's value, or what is left of the context)."""
    max_tokens_requested: int | None
    min_tokens: int
    ignore_eos: bool
    stream: bool
    include_usage: bool
    continuous_usage: bool
    seed: int | None
    thinking: bool
    prompt_digest: int


# --------------------------------------------------------------------------------------------------
# schema checks (pydantic's messages)


def _loads(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    if not isinstance(data, dict):
        raise validation_error(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": data,
                }
            ]
        )
    return data


def _int(data: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        err = {
            "type": "int_parsing",
            "msg": "Input should be a valid integer, unable to parse string as an integer",
        }
    elif isinstance(value, float):
        err = {
            "type": "int_from_float",
            "msg": "Input should be a valid integer, got a number with a fractional part",
        }
    else:
        err = {"type": "int_type", "msg": "Input should be a valid integer"}
    raise validation_error([{**err, "loc": ("body", key), "input": value}])


def _float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None if value is None else float(value)
    raise validation_error(
        [
            {
                "type": "float_type",
                "loc": ("body", key),
                "msg": "Input should be a valid number",
                "input": value,
            }
        ]
    )


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise validation_error(
        [
            {
                "type": "bool_type",
                "loc": ("body", key),
                "msg": "Input should be a valid boolean",
                "input": value,
            }
        ]
    )


def _str_or_none(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise validation_error(
        [
            {
                "type": "string_type",
                "loc": ("body", key),
                "msg": "Input should be a valid string",
                "input": value,
            }
        ]
    )


# --------------------------------------------------------------------------------------------------
# requests


def check_model(requested: str | None, served: ServedModel) -> str:
    """The served name to answer with; 404 for any other model."""
    if requested is None or requested == served.name:
        return served.name
    raise model_not_found(requested)


def _prompt_ids(prompt: object) -> list[int]:
    """A completion ``prompt``: text, a token-id list, or a one-element batch of either."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return tokens.encode_prompt(prompt)
    if (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
    ):
        for t in prompt:
            if not 0 <= t < tokens.VOCAB_SIZE:
                raise bad_request(f"Token id {t} is out of vocabulary", "prompt")
        return list(prompt)
    if isinstance(prompt, list) and len(prompt) > 1:
        raise bad_request(
            "Batched prompts are not supported by sparktop's simulated server; send one prompt per request.",
            "prompt",
        )
    raise validation_error(
        [
            {
                "type": "value_error",
                "loc": ("body",),
                "msg": "Value error, Either prompt or prompt_embeds must be provided and non-empty.",
                "input": prompt,
            }
        ]
    )


def _messages_ids(messages: object) -> list[int]:
    if not isinstance(messages, list):
        if messages is None:
            raise validation_error(
                [{"type": "missing", "loc": ("body", "messages"), "msg": "Field required", "input": None}]
            )
        raise validation_error(
            [
                {
                    "type": "list_type",
                    "loc": ("body", "messages"),
                    "msg": "Input should be a valid list",
                    "input": messages,
                }
            ]
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise validation_error(
                [
                    {
                        "type": "missing",
                        "loc": ("body", "messages", i, "role"),
                        "msg": "Field required",
                        "input": m,
                    }
                ]
            )
    return tokens.encode_chat(messages)


def parse_generation(kind: Kind, body: bytes, served: ServedModel) -> GenerationRequest:
    """Validate a ``/v1/completions`` or ``/v1/chat/completions`` body in vLLM's order."""
    data = _loads(body)
    model = _str_or_none(data, "model")
    if kind == "chat":
        max_tokens = _int(data, "max_completion_tokens", None)
        if max_tokens is None:
            max_tokens = _int(data, "max_tokens", None)
    else:
        max_tokens = _int(data, "max_tokens", 16)
    min_tokens = _int(data, "min_tokens", 0) or 0
    n = _int(data, "n", 1)
    seed = _int(data, "seed", None)
    temperature = _float(data, "temperature")
    top_p = _float(data, "top_p")
    stream = _bool(data, "stream", False)
    ignore_eos = _bool(data, "ignore_eos", False)
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise validation_error(
            [
                {
                    "type": "model_type",
                    "loc": ("body", "stream_options"),
                    "msg": "Input should be a valid dictionary",
                    "input": options,
                }
            ]
        )
    if options is not None and not stream:
        raise validation_error(
            [
                {
                    "type": "value_error",
                    "loc": ("body",),
                    "msg": "Value error, Stream options can only be defined when `stream=True`.",
                    "input": data,
                }
            ]
        )
    include_usage = bool(options and _bool(options, "include_usage", True))
    continuous = bool(options and _bool(options, "continuous_usage_stats", False))
    kwargs = data.get("chat_template_kwargs")
    thinking = not (isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False)
    ids = _messages_ids(data.get("messages")) if kind == "chat" else _prompt_ids(data.get("prompt"))

    name = check_model(model, served)
    count = len(ids)
    limit = served.max_model_len
    if count >= limit:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, your request has {count} input "
            "tokens. Please reduce the length of the input messages.",
            "input_tokens",
            count,
        )
    if max_tokens is not None and count + max_tokens > limit:
        raise bad_request(
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
            f"context length is {limit} tokens and your request has {count} input tokens "
            f"({max_tokens} > {limit} - {count}).",
            "max_tokens",
            max_tokens,
        )
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens", max_tokens)
    allowed = max_tokens if max_tokens is not None else limit - count
    if min_tokens < 0:
        raise bad_request(
            f"min_tokens must be greater than or equal to 0, got {min_tokens}.", "min_tokens", min_tokens
        )
    if min_tokens > allowed:
        raise bad_request(
            f"min_tokens must be less than or equal to max_tokens={allowed}, got {min_tokens}.",
            "min_tokens",
            min_tokens,
        )
    if temperature is not None and (temperature < 0 or not math.isfinite(temperature)):
        raise bad_request(f"temperature must be non-negative, got {temperature}.", "temperature", temperature)
    if top_p is not None and not 0 < top_p <= 1:
        raise bad_request(f"top_p must be in (0, 1], got {top_p}.", "top_p", top_p)
    if n is not None and n != 1:
        if n < 1:
            raise bad_request(f"n must be at least 1, got {n}.", "n", n)
        raise bad_request("n > 1 is not supported by sparktop's simulated server.", "n", n)
    return GenerationRequest(
        kind=kind,
        model=name,
        prompt_tokens=count,
        max_tokens=allowed,
        max_tokens_requested=max_tokens,
        min_tokens=min_tokens,
        ignore_eos=ignore_eos,
        stream=stream,
        include_usage=include_usage,
        continuous_usage=continuous,
        seed=seed,
        thinking=thinking and served.reasoning,
        prompt_digest=hash_ids(ids),
    )


def hash_ids(ids: list[int]) -> int:
    """A stable digest of a token list (for seeding per-request randomness)."""
    h = 0xCBF29CE484222325
    for t in ids[:64]:
        h = ((h ^ t) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h ^ len(ids)


def parse_tokenize(body: bytes, served: ServedModel) -> dict[str, Any]:
    """``POST /tokenize``: the prompt's (or chat's) token ids."""
    data = _loads(body)
    check_model(_str_or_none(data, "model"), served)
    if "messages" in data:
        ids = _messages_ids(data.get("messages"))
    else:
        prompt = data.get("prompt")
        if not isinstance(prompt, str):
            raise validation_error(
                [
                    {
                        "type": "string_type",
                        "loc": ("body", "prompt"),
                        "msg": "Input should be a valid string",
                        "input": prompt,
                    }
                ]
            )
        ids = tokens.encode_prompt(prompt, add_special_tokens=_bool(data, "add_special_tokens", True))
    return {"count": len(ids), "max_model_len": served.max_model_len, "tokens": ids, "token_strs": None}


# --------------------------------------------------------------------------------------------------
# responses


def models_payload(served: ServedModel, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": served.name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": served.root,
                "parent": None,
                "max_model_len": served.max_model_len,
                "permission": [
                    {
                        "id": f"modelperm-{created:x}",
                        "object": "model_permission",
                        "created": created,
                        "allow_create_engine": False,
                        "allow_sampling": True,
                        "allow_logprobs": True,
                        "allow_search_indices": False,
                        "allow_view": True,
                        "allow_fine_tuning": False,
                        "organization": "*",
                        "group": None,
                        "is_blocking": False,
                    }
                ],
            }
        ],
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def completion_payload(
    req: GenerationRequest,
    *,
    rid: str,
    created: int,
    text: str,
    reasoning: str,
    finish_reason: str,
    completion_tokens: int,
) -> dict[str, Any]:
    """The non-streaming response body."""
    u = {**usage(req.prompt_tokens, completion_tokens), "prompt_tokens_details": None}
    if req.kind == "completion":
        return {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": req.model,
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                    "stop_reason": None,
                    "prompt_logprobs": None,
                }
            ],
            "usage": u,
        }
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "tool_calls": []}
    if req.thinking:
        message["reasoning"] = reasoning
        message["reasoning_content"] = reasoning
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
                "stop_reason": None,
            }
        ],
        "usage": u,
        "prompt_logprobs": None,
    }


class ChunkFormat:
    """Pre-rendered pieces of one stream's SSE chunks, so each token costs one JSON string encode."""

    __slots__ = ("_chat", "_head", "_plain_head", "_plain_tail", "_usage_head", "prompt_tokens")

    def __init__(self, req: GenerationRequest, rid: str, created: int) -> None:
        self._chat = req.kind == "chat"
        obj = b"chat.completion.chunk" if self._chat else b"text_completion"
        common = b'{"id":"' + rid.encode() + b'","object":"' + obj + b'","created":' + str(created).encode()
        common += b',"model":' + orjson.dumps(req.model)
        self._head = (
            b"data: "
            + common
            + (b',"choices":[{"index":0,"delta":{' if self._chat else b',"choices":[{"index":0,"text":')
        )
        self._usage_head = b"data: " + common + b',"choices":[],"usage":'
        self.prompt_tokens = req.prompt_tokens
        self._plain_head = self._head + (b'"content":' if self._chat else b"")
        self._plain_tail = (
            b'},"logprobs":null,"finish_reason":null}]}\n\n'
            if self._chat
            else b',"logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
        )

    def content(self, text: str) -> bytes:
        """The common chunk: answer text only (same bytes as ``delta(text)``, built faster)."""
        return self._plain_head + orjson.dumps(text) + self._plain_tail

    def role(self) -> bytes:
        """Chat's first chunk: the role alone."""
        return self._head + b'"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n'

    def delta(
        self,
        text: str,
        *,
        reasoning: bool = False,
        finish_reason: str | None = None,
        completion_tokens: int | None = None,
    ) -> bytes:
        """One chunk carrying ``text`` (as reasoning or content) and, on the last, the finish reason."""
        t = orjson.dumps(text)
        end = b"null" if finish_reason is None else b'"' + finish_reason.encode() + b'"'
        if self._chat:
            field = b'"reasoning":' + t + b',"reasoning_content":' + t if reasoning else b'"content":' + t
            out = self._head + field + b'},"logprobs":null,"finish_reason":' + end
        else:
            out = self._head + t + b',"logprobs":null,"finish_reason":' + end
        # vLLM leaves unset fields out of chat chunks but writes every field of completion chunks.
        out += b"}]" if self._chat and finish_reason is None else b',"stop_reason":null}]'
        if completion_tokens is not None:
            out += b',"usage":' + orjson.dumps(usage(self.prompt_tokens, completion_tokens))
        return out + b"}\n\n"

    def usage_chunk(self, completion_tokens: int) -> bytes:
        return self._usage_head + orjson.dumps(usage(self.prompt_tokens, completion_tokens)) + b"}\n\n"

    @staticmethod
    def error(err: ApiError) -> bytes:
        return b"data: " + err.body() + b"\n\n"


DONE = b"data: [DONE]\n\n"
