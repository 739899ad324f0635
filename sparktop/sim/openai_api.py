"""The OpenAI-compatible API as vLLM 0.32 serves it: request validation, error bodies, response bodies.

Errors follow vLLM's ``ErrorResponse``: ``{"error": {"message", "type", "param", "code"}}``. Request
bodies that do not parse or do not fit the schema answer 400 with type ``"Bad Request"`` (vLLM's
``RequestValidationError`` handler: ``"1 validation error:\n  {...}"`` in pydantic's words, the
location dotted into ``param``); an unknown model answers 404 ``NotFoundError``; semantic checks
(context length, max_tokens, sampling parameters) answer 400 ``BadRequestError`` with vLLM's
messages, ``(parameter=..., value=...)`` suffix included where vLLM names the parameter.

A request asks for ``n`` choices (each its own engine request), and may ask for log-probabilities
(chat: ``logprobs``/``top_logprobs``; completions: ``logprobs: k``), the prompt's
(``prompt_logprobs``), the prompt echoed (completions' ``echo``) and the token ids
(``return_token_ids``); the streamed chunks are in ``chunks.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sparktop.sim import tokens
from sparktop.sim.logprobs import MAX_LOGPROBS
from sparktop.sim.prefix import block_hashes

Kind = Literal["chat", "completion", "responses"]
MAX_N = 16384
"""vLLM's ``VLLM_MAX_N_SEQUENCES`` default."""


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


_ERROR_KEYS = ("type", "loc", "msg", "input", "ctx")
_MAX_REPORTED_ERRORS = 10
_MAX_ERROR_INPUT_CHARS = 200


def _error_input(value: object) -> str:
    """A validation error's ``input`` as vLLM bounds it: containers described, the rest as text."""
    if isinstance(value, (list, tuple, dict)):
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = value if isinstance(value, str) else str(value)
    return text[:_MAX_ERROR_INPUT_CHARS] + "...[truncated]" if len(text) > _MAX_ERROR_INPUT_CHARS else text


def _dotted(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _format_error(err: dict[str, Any] | str) -> str:
    if isinstance(err, str):
        return err
    shown: dict[str, Any] = {}
    for key in _ERROR_KEYS:
        if key not in err:
            continue
        value = err[key]
        if key == "loc":
            value = _dotted(tuple(value))
        elif key == "input":
            value = _error_input(value)
        shown[key] = value
    return str(shown)


def validation_error(errors: list[dict[str, Any] | str]) -> ApiError:
    """Schema errors as vLLM 0.32's ``RequestValidationError`` handler words them (400 "Bad Request"):
    ``"N validation error(s):"`` then one line per error (at most ten), ``param`` the first
    error's location, dotted (``body.max_tokens``)."""
    count = len(errors)
    label = "error" if count == 1 else "errors"
    message = f"{count} validation {label}:\n" + "".join(
        f"  {_format_error(e)}\n" for e in errors[:_MAX_REPORTED_ERRORS]
    )
    if count > _MAX_REPORTED_ERRORS:
        message += f"  ...and {count - _MAX_REPORTED_ERRORS} more {label}\n"
    first = errors[0] if errors else None
    param = _dotted(tuple(first["loc"])) if isinstance(first, dict) and "loc" in first else None
    return ApiError(400, "Bad Request", message.rstrip(), param)


def bad_request(
    message: str, param: str | None = None, value: object = None, *, named: bool = True
) -> ApiError:
    """A ``VLLMValidationError``: the message gains ``(parameter=..., value=...)``; one raised without
    naming its parameter (``named=False``) has no suffix and a ``null`` param."""
    if not named:
        return ApiError(400, "BadRequestError", message, None)
    extras = []
    if param is not None:
        extras.append(f"parameter={param}")
    if value is not None:
        extras.append(f"value={value}")
    text = f"{message} ({', '.join(extras)})" if extras else message
    return ApiError(400, "BadRequestError", text, param)


def model_not_found(model: str, served: str) -> ApiError:
    return ApiError(
        404, "NotFoundError", f"The model `{model}` does not exist. Valid aliases: {served}.", "model"
    )


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
    prefix_block_size: int = 0
    """KV-cache block size when prefix caching is on (prompts then carry their block hashes); 0: off."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A validated completion, chat or responses request."""

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
    prefix_hashes: tuple[int, ...] = ()
    """The prompt's prefix identity (``prefix.block_hashes``), when the server caches prefixes."""
    n: int = 1
    """Choices asked for: each is its own engine request."""
    logprobs: int | None = None
    """Alternatives per generated token (chat's ``top_logprobs``, completions' ``logprobs``); None: no
    log-probabilities."""
    prompt_logprobs: int | None = None
    echo: bool = False
    return_token_ids: bool = False
    prompt_ids: tuple[int, ...] = ()
    """The prompt's token ids, kept when the answer shows them (``return_token_ids``, echo)."""
    prompt_text: str | None = None
    """A completion's prompt text, kept for ``echo``."""
    prompt_pieces: tuple[str, ...] = ()
    """The text of each prompt token, kept for ``echo`` and ``prompt_logprobs``."""
    temperature: float = 1.0
    top_p: float = 1.0
    instructions: str | None = None
    """``/v1/responses``: the system message given as ``instructions``."""


# --------------------------------------------------------------------------------------------------
# schema checks (pydantic's messages)


def _loads(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        # FastAPI parses with the standard library: its position and words are the ones reported
        pos, msg = 0, "Expecting value"
        try:
            json.loads(body)
        except json.JSONDecodeError as exc:
            pos, msg = exc.pos, exc.msg
        except (UnicodeDecodeError, RecursionError):
            pass
        raise validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": msg},
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
    raise validation_error([{"type": err["type"], "loc": ("body", key), "msg": err["msg"], "input": value}])


def _float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None if value is None else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            err = {
                "type": "float_parsing",
                "msg": "Input should be a valid number, unable to parse string as a number",
            }
    else:
        err = {"type": "float_type", "msg": "Input should be a valid number"}
    raise validation_error([{"type": err["type"], "loc": ("body", key), "msg": err["msg"], "input": value}])


_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))


def _bool(data: Mapping[str, Any], key: str, default: bool, loc: tuple[str, ...] = ("body",)) -> bool:
    """A boolean as pydantic's lax mode reads one: also ``"yes"``/``"no"``, ``1``/``0``..."""
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, (str, int, float)):
        err = {"type": "bool_parsing", "msg": "Input should be a valid boolean, unable to interpret input"}
    else:
        err = {"type": "bool_type", "msg": "Input should be a valid boolean"}
    raise validation_error([{"type": err["type"], "loc": (*loc, key), "msg": err["msg"], "input": value}])


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
    raise model_not_found(requested, served.name)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request's prompt: its token ids, and its text when it was given as text."""

    ids: list[int]
    text: str | None = None
    messages: list[dict[str, Any]] | None = None

    def pieces(self) -> list[str]:
        """The text of each token (what echo and prompt logprobs show)."""
        if self.messages is not None:
            return tokens.chat_pieces(self.messages)
        if self.text is not None:
            return tokens.prompt_pieces(self.text)
        return [tokens.piece_text(t) for t in self.ids]


def _prompt(prompt: object) -> Prompt:
    """A completion ``prompt``: text, a token-id list, or a one-element batch of either."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str) and prompt:
        return Prompt(tokens.encode_prompt(prompt), prompt)
    if (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
    ):
        for t in prompt:
            if not 0 <= t < tokens.VOCAB_SIZE:
                raise bad_request(f"Token id {t} is out of vocabulary", named=False)
        return Prompt(list(prompt))
    if isinstance(prompt, list) and len(prompt) > 1:
        raise bad_request(
            "Batched prompts are not supported by sparktop's simulated server; send one prompt per request.",
            "prompt",
        )
    if isinstance(prompt, list):
        raise bad_request("You must pass at least one prompt", named=False)
    raise bad_request("Either prompt or prompt_embeds must be provided and non-empty.", "prompt")


def _messages(data: Mapping[str, Any], field: str = "messages") -> list[dict[str, Any]]:
    messages = data.get(field)
    if not isinstance(messages, list):
        if messages is None:
            raise validation_error(
                [{"type": "missing", "loc": ("body", field), "msg": "Field required", "input": data}]
            )
        raise validation_error(
            [
                {
                    "type": "list_type",
                    "loc": ("body", field),
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
                        "loc": ("body", field, i, "role"),
                        "msg": "Field required",
                        "input": m,
                    }
                ]
            )
    return messages


def _messages_ids(data: Mapping[str, Any]) -> list[int]:
    return tokens.encode_chat(_messages(data))


def _logprob_number(data: Mapping[str, Any], key: str) -> int | None:
    """vLLM's own check, before the schema's: a log-probability count must be a number."""
    value = data.get(key)
    if value is not None and not isinstance(value, (int, float)):
        raise bad_request(f"`{key}` must be an integer.", key, value)
    return _int(data, key, None)


def _check_logprob_counts(data: Mapping[str, Any], kind: Kind) -> None:
    """The request models' ``check_logprobs`` validators (they run before the schema's checks)."""
    prompt_logprobs = _logprob_number(data, "prompt_logprobs")
    if prompt_logprobs is not None:
        if data.get("stream") and (prompt_logprobs > 0 or prompt_logprobs == -1):
            raise bad_request("`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs")
        if prompt_logprobs < 0 and prompt_logprobs != -1:
            raise bad_request(
                "`prompt_logprobs` must be a positive value or -1.", "prompt_logprobs", prompt_logprobs
            )
    if kind == "completion":
        logprobs = _logprob_number(data, "logprobs")
        if logprobs is not None and logprobs < 0 and logprobs != -1:
            raise bad_request("`logprobs` must be a positive value or -1.", "logprobs", logprobs)
        return
    top = _logprob_number(data, "top_logprobs")
    if top is not None:
        if top < 0 and top != -1:
            raise bad_request("`top_logprobs` must be a positive value or -1.", "top_logprobs", top)
        if (top == -1 or top > 0) and not data.get("logprobs"):
            raise bad_request("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs")


def _check_logprob_limit(count: int | None, what: str, param: str) -> None:
    if count is None or count == 0:
        return
    wanted = tokens.VOCAB_SIZE if count == -1 else count
    if wanted > MAX_LOGPROBS:
        raise bad_request(
            f"Requested {what} logprobs of {wanted}, which is greater than max allowed: {MAX_LOGPROBS}",
            param,
            wanted,
        )


def parse_generation(kind: Kind, body: bytes, served: ServedModel) -> GenerationRequest:
    """Validate a ``/v1/completions`` or ``/v1/chat/completions`` body in vLLM's order: its own
    checks of the raw body, the schema, the model, the lengths, then the sampling parameters."""
    data = _loads(body)
    if kind == "chat":
        if data.get("stream_options") and not data.get("stream"):
            raise bad_request("Stream options can only be defined when `stream=True`.", "stream_options")
        _check_logprob_counts(data, kind)
    else:
        _check_logprob_counts(data, kind)
        if data.get("stream_options") and not data.get("stream"):
            raise bad_request("Stream options can only be defined when `stream=True`.", "stream_options")
        if data.get("prompt") is None or data.get("prompt") == "":
            raise bad_request("Either prompt or prompt_embeds must be provided and non-empty.", "prompt")
    model = _str_or_none(data, "model")
    if kind == "chat":
        max_tokens = _int(data, "max_completion_tokens", None)
        if max_tokens is None:
            max_tokens = _int(data, "max_tokens", None)
        wants_logprobs = _bool(data, "logprobs", False)
        top = _int(data, "top_logprobs", None)
        logprobs = (top or 0) if wants_logprobs else None
        echo = False
    else:
        max_tokens = _int(data, "max_tokens", 16)
        logprobs = _int(data, "logprobs", None)
        echo = _bool(data, "echo", False)
    stream = _bool(data, "stream", False)
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
    kwargs = data.get("chat_template_kwargs")
    thinking = not (isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False)
    if kind == "chat":
        messages = _messages(data)
        prompt = Prompt(tokens.encode_chat(messages), messages=messages)
    else:
        prompt = _prompt(data.get("prompt"))
    return _generation(
        kind,
        data,
        served,
        model=model,
        prompt=prompt,
        max_tokens=max_tokens,
        stream=stream,
        options=options,
        logprobs=logprobs,
        echo=echo,
        thinking=thinking,
    )


def _generation(
    kind: Kind,
    data: Mapping[str, Any],
    served: ServedModel,
    *,
    model: str | None,
    prompt: Prompt,
    max_tokens: int | None,
    stream: bool,
    options: Mapping[str, Any] | None,
    logprobs: int | None,
    echo: bool,
    thinking: bool,
    max_tokens_param: str = "max_tokens",
    instructions: str | None = None,
) -> GenerationRequest:
    """The checks every generation endpoint shares, after its own parsing."""
    min_tokens = _int(data, "min_tokens", 0) or 0
    n = _int(data, "n", 1)
    seed = _int(data, "seed", None)
    temperature = _float(data, "temperature")
    top_p = _float(data, "top_p")
    ignore_eos = _bool(data, "ignore_eos", False)
    return_token_ids = _bool(data, "return_token_ids", False)
    prompt_logprobs = _int(data, "prompt_logprobs", None)
    include_usage = bool(
        stream and options and _bool(options, "include_usage", True, ("body", "stream_options"))
    )
    continuous = bool(
        stream and options and _bool(options, "continuous_usage_stats", False, ("body", "stream_options"))
    )
    ids = prompt.ids

    name = check_model(model, served)
    limit = served.max_model_len
    if max_tokens is not None and max_tokens > limit:
        raise bad_request(
            f"{max_tokens_param}={max_tokens} cannot be greater than max_model_len={limit}. "
            "Please request fewer output tokens.",
            max_tokens_param,
            max_tokens,
        )
    count = len(ids)
    if count > limit:
        # a text prompt is tokenized only up to one token past the limit
        shown = min(count, limit + 1) if prompt.text is not None or prompt.messages is not None else count
        qualifier = "at least " if shown == limit + 1 else ""
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, your prompt contains "
            f"{qualifier}{shown} input tokens, which exceeds this limit even without any output tokens. "
            "Please reduce the length of the input prompt.",
            "input_tokens",
            shown,
        )
    allowed = limit - count if max_tokens is None else min(max_tokens, limit - count)
    if n is None:
        n = 1
    if n < 1:
        raise bad_request(f"n must be at least 1, got {n}.", named=False)
    if n > MAX_N:
        raise bad_request(
            f"n must be at most {MAX_N}, got {n}. To increase this limit, set the VLLM_MAX_N_SEQUENCES "
            "environment variable.",
            named=False,
        )
    if temperature is not None:
        if not math.isfinite(temperature):
            raise bad_request(
                f"temperature must be a finite number, got {temperature}.", "temperature", temperature
            )
        if temperature < 0:
            raise bad_request(
                f"temperature must be non-negative, got {temperature}.", "temperature", temperature
            )
        if temperature > 2:
            raise bad_request(
                f"temperature must be in [0, 2], got {temperature}.", "temperature", temperature
            )
    if top_p is not None and not 0 < top_p <= 1:
        raise bad_request(f"top_p must be in (0, 1], got {top_p}.", "top_p", top_p)
    if allowed < 1:
        raise bad_request(f"max_tokens must be at least 1, got {allowed}.", "max_tokens", allowed)
    if min_tokens < 0:
        raise bad_request(f"min_tokens must be greater than or equal to 0, got {min_tokens}.", named=False)
    if min_tokens > allowed:
        raise bad_request(
            f"min_tokens must be less than or equal to max_tokens={allowed}, got {min_tokens}.", named=False
        )
    _check_logprob_limit(logprobs, "sample", "logprobs")
    if echo and logprobs is not None and prompt_logprobs is None:
        prompt_logprobs = logprobs  # vLLM scores the echoed prompt with the same number of alternatives
    _check_logprob_limit(prompt_logprobs, "prompt", "prompt_logprobs")
    if prompt_logprobs is not None and prompt_logprobs < 0:
        prompt_logprobs = None
    wants_pieces = echo or bool(prompt_logprobs is not None)
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
        prefix_hashes=block_hashes(ids, served.prefix_block_size) if served.prefix_block_size else (),
        n=n,
        logprobs=logprobs,
        prompt_logprobs=prompt_logprobs,
        echo=echo,
        return_token_ids=return_token_ids,
        prompt_ids=tuple(ids) if (return_token_ids or wants_pieces) else (),
        prompt_text=prompt.text if echo else None,
        prompt_pieces=tuple(prompt.pieces()) if wants_pieces else (),
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        instructions=instructions,
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
        ids = _messages_ids(data)
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


def fingerprint(version: str, *parts: object) -> str:
    """``system_fingerprint`` as vLLM's default ``--fingerprint-mode full`` writes it for one GPU:
    ``vllm-<version>-<8 hex digits of the configuration's hash>``."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:8]
    return f"vllm-{version.split('+', 1)[0]}-{digest}"


@dataclass(frozen=True, slots=True)
class ChoiceResult:
    """One finished choice of a non-streaming answer."""

    index: int
    text: str
    reasoning: str
    finish_reason: str
    completion_tokens: int
    token_ids: list[int] | None = None
    logprobs: dict[str, Any] | None = None


def completion_payload(
    req: GenerationRequest,
    *,
    rid: str,
    created: int,
    system_fingerprint: str,
    choices: list[ChoiceResult],
    prompt_logprobs: list[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The non-streaming response body (vLLM 0.32's fields, in its order)."""
    generated = sum(c.completion_tokens for c in choices)
    u = {
        **usage(req.prompt_tokens, generated),
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    prompt_ids = list(req.prompt_ids) if req.return_token_ids else None
    if req.kind == "completion":
        echoed = ("" if req.return_token_ids else req.prompt_text or "") if req.echo else ""
        return {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": req.model,
            "choices": [
                {
                    "index": c.index,
                    "text": echoed + c.text,
                    "logprobs": c.logprobs,
                    "finish_reason": c.finish_reason,
                    "stop_reason": None,
                    "token_ids": c.token_ids,
                    "prompt_logprobs": prompt_logprobs,
                    "prompt_token_ids": prompt_ids,
                    "routed_experts": None,
                }
                for c in choices
            ],
            "service_tier": None,
            "system_fingerprint": system_fingerprint,
            "usage": u,
            "kv_transfer_params": None,
            "ec_transfer_params": None,
            "metrics": None,
        }
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": [
            {
                "index": c.index,
                "message": {
                    "role": "assistant",
                    "content": c.text,
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "reasoning": c.reasoning if req.thinking else None,
                },
                "logprobs": c.logprobs,
                "finish_reason": c.finish_reason,
                "stop_reason": None,
                "token_ids": c.token_ids,
                "routed_experts": None,
            }
            for c in choices
        ],
        "service_tier": None,
        "system_fingerprint": system_fingerprint,
        "usage": u,
        "prompt_logprobs": prompt_logprobs,
        "prompt_token_ids": prompt_ids,
        "prompt_text": None,
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "metrics": None,
    }
