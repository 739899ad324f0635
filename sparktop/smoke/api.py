"""API conformance: what a benchmark client relies on, asked of the server once each.

``/v1/models`` lists the served name; a completion and a chat completion, streamed and not, come
back well-formed with token usage; ``max_tokens`` is honoured. Prompts are token-id lists (exact
lengths without a tokenizer), so the prompt's token count in ``usage`` is checked exactly too.
Everything read from the server is untrusted: it is parsed defensively and cleaned before display.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from sparktop import fmt
from sparktop.smoke.checks import Check
from sparktop.workload.prompts import token_ids

PROMPT_TOKENS = 16
MAX_TOKENS = 8
TIMEOUT_S = 120.0
"""A first request after startup may compile or warm caches: generous, but bounded."""


API_CHECKS = (
    "/v1/models",
    "completion",
    "completion, streamed",
    "chat completion",
    "chat completion, streamed",
    "max_tokens honoured",
)


class Broken(Exception):
    """The answer is not what the API promises; the message says what is wrong."""


def _usage(body: Any, where: str) -> tuple[int, int]:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        raise Broken(f"{where}: no usage")
    prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (prompt, completion)):
        raise Broken(f"{where}: usage without token counts")
    assert isinstance(prompt, int) and isinstance(completion, int)
    if isinstance(total, int) and total != prompt + completion:
        raise Broken(f"{where}: usage total_tokens {total} is not {prompt} + {completion}")
    return prompt, completion


def _choice(body: Any, where: str) -> dict[str, Any]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Broken(f"{where}: no choices")
    choice: dict[str, Any] = choices[0]
    return choice


def _finish(choice: dict[str, Any], where: str) -> None:
    reason = choice.get("finish_reason")
    if reason not in ("length", "stop"):
        raise Broken(f"{where}: finish_reason {fmt.clean(str(reason))[:40]!r}, not length or stop")


def _json(response: httpx.Response, where: str) -> Any:
    if response.status_code != 200:
        raise Broken(f"{where}: HTTP {response.status_code} {fmt.clean(response.text)[:120]}")
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise Broken(f"{where}: the answer is not JSON") from None


async def _sse(client: httpx.AsyncClient, path: str, body: dict[str, Any], where: str) -> list[Any]:
    """The JSON chunks of a server-sent event stream that ends with ``[DONE]``."""
    chunks: list[Any] = []
    done = False
    async with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise Broken(f"{where}: HTTP {response.status_code} {fmt.clean(response.text)[:120]}")
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            raise Broken(f"{where}: content-type {fmt.clean(kind)[:60]!r}, not text/event-stream")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                chunks.append(orjson.loads(data))
            except orjson.JSONDecodeError:
                raise Broken(f"{where}: a chunk is not JSON") from None
    if not done:
        raise Broken(f"{where}: the stream ended without [DONE]")
    if not chunks:
        raise Broken(f"{where}: no chunks before [DONE]")
    errors = [c for c in chunks if isinstance(c, dict) and "error" in c]
    if errors:
        raise Broken(f"{where}: the stream carried an error: {fmt.clean(str(errors[0]['error']))[:120]}")
    return chunks


def _stream_usage(chunks: list[Any], where: str) -> tuple[int, int]:
    with_usage = [c for c in chunks if isinstance(c, dict) and isinstance(c.get("usage"), dict)]
    if not with_usage:
        raise Broken(f"{where}: no usage chunk (stream_options.include_usage)")
    return _usage(with_usage[-1], where)


class ApiChecks:
    """The conformance checks against one server, in order; ``model`` is set by the first."""

    def __init__(
        self, base_url: str, *, expected_model: str | None, api_key: str | None, seed: int = 0
    ) -> None:
        self.base_url = base_url
        self.expected_model = expected_model
        self.model: str | None = None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(TIMEOUT_S, connect=10.0),
            headers=headers,
            trust_env=False,
        )
        self._prompt = token_ids(PROMPT_TOKENS, random.Random(seed))
        self._force = True
        """Ask for exactly MAX_TOKENS (vLLM's ignore_eos); dropped if the server refuses it."""
        self._counts: list[tuple[str, int]] = []
        """(where, completion tokens) of each answer, for the max_tokens check."""

    async def close(self) -> None:
        await self._client.aclose()

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[Check]]]]:
        """(name, check) in ``API_CHECKS`` order."""
        checks = (
            self.models,
            self.completion,
            self.completion_stream,
            self.chat,
            self.chat_stream,
            self.max_tokens,
        )
        return list(zip(API_CHECKS, checks, strict=True))

    async def _timed(self, name: str, limit: str, body: Callable[[], Awaitable[tuple[str, str]]]) -> Check:
        start = time.monotonic()
        try:
            value, reason = await body()
        except Broken as exc:
            return Check("api", name, "fail", None, limit, "", str(exc), time.monotonic() - start)
        except httpx.HTTPError as exc:
            reason = f"{name}: {type(exc).__name__}: {fmt.clean(str(exc))[:120] or 'no answer'}"
            return Check("api", name, "fail", None, limit, "", reason, time.monotonic() - start)
        return Check("api", name, "pass", value, limit, "", reason, time.monotonic() - start)

    # the checks -----------------------------------------------------------------------------------

    async def models(self) -> Check:
        expected = self.expected_model
        limit = f"lists {expected}" if expected else "lists a model"

        async def body() -> tuple[str, str]:
            data = _json(await self._client.get("/v1/models"), "/v1/models")
            listed = data.get("data") if isinstance(data, dict) else None
            ids = [str(m["id"]) for m in listed or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
            if not ids:
                raise Broken("/v1/models lists no model")
            shown = fmt.clean(", ".join(ids))[:80]
            if expected is not None and expected not in ids:
                raise Broken(f"/v1/models lists {shown}, not {fmt.clean(expected)}")
            self.model = expected if expected is not None else ids[0]
            return shown, f"{len(ids)} model{'s' if len(ids) != 1 else ''} listed"

        return await self._timed("/v1/models", limit, body)

    def _body(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": MAX_TOKENS, "temperature": 0.0, **fields}
        if self._force:
            body["ignore_eos"] = True
        return body

    async def _post(self, path: str, body: dict[str, Any], where: str) -> Any:
        response = await self._client.post(path, json=body)
        if response.status_code == 400 and self._force and "ignore_eos" in response.text:
            self._force = False  # not vLLM: ask without it (max_tokens is then an upper bound only)
            body = {k: v for k, v in body.items() if k != "ignore_eos"}
            response = await self._client.post(path, json=body)
        return _json(response, where)

    def _tokens(self, prompt: int | None, completion: int, where: str) -> str:
        if prompt is not None and prompt != PROMPT_TOKENS:
            raise Broken(f"{where}: usage says {prompt} prompt tokens for {PROMPT_TOKENS} sent")
        self._counts.append((where, completion))
        return f"{completion} tokens for max_tokens {MAX_TOKENS}"

    async def max_tokens(self) -> Check:
        """Every answer above stayed within max_tokens (and, asked to ignore EOS, reached it)."""
        if not self._counts:
            return Check(
                "api", "max_tokens honoured", "skip", None, MAX_TOKENS, "tokens", "no answer to count"
            )
        most = max(n for _, n in self._counts)
        over = [(w, n) for w, n in self._counts if n > MAX_TOKENS]
        short = [(w, n) for w, n in self._counts if n < MAX_TOKENS] if self._force else []
        if over:
            where, n = over[0]
            reason = f"{where}: {n} tokens for max_tokens {MAX_TOKENS}"
            return Check("api", "max_tokens honoured", "fail", float(most), MAX_TOKENS, "tokens", reason)
        if short:
            where, n = short[0]
            reason = f"{where}: {n} tokens asked for exactly {MAX_TOKENS} (ignore_eos)"
            return Check("api", "max_tokens honoured", "fail", float(n), MAX_TOKENS, "tokens", reason)
        how = "exactly" if self._force else "at most"
        reason = f"{len(self._counts)} answers, {how} {MAX_TOKENS} tokens each"
        return Check("api", "max_tokens honoured", "pass", float(most), MAX_TOKENS, "tokens", reason)

    async def completion(self) -> Check:
        where = "POST /v1/completions"

        async def body() -> tuple[str, str]:
            data = await self._post("/v1/completions", self._body(prompt=self._prompt), where)
            choice = _choice(data, where)
            if not isinstance(choice.get("text"), str):
                raise Broken(f"{where}: choices[0].text is not text")
            _finish(choice, where)
            prompt, completion = _usage(data, where)
            return "well-formed", self._tokens(prompt, completion, where)

        return await self._timed("completion", "text, finish_reason, usage", body)

    async def completion_stream(self) -> Check:
        where = "POST /v1/completions (stream)"

        async def body() -> tuple[str, str]:
            request = self._body(prompt=self._prompt, stream=True, stream_options={"include_usage": True})
            chunks = await _sse(self._client, "/v1/completions", request, where)
            pieces = [c["choices"][0] for c in chunks if isinstance(c, dict) and c.get("choices")]
            if not pieces or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in pieces):
                raise Broken(f"{where}: chunks without choices[0].text")
            _finish(pieces[-1], where)
            prompt, completion = _stream_usage(chunks, where)
            return f"{len(chunks)} chunks", self._tokens(prompt, completion, where)

        return await self._timed("completion, streamed", "SSE chunks, [DONE], usage", body)

    def _messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": "Say hello to the operator in one short sentence."}]

    async def chat(self) -> Check:
        where = "POST /v1/chat/completions"

        async def body() -> tuple[str, str]:
            data = await self._post("/v1/chat/completions", self._body(messages=self._messages()), where)
            choice = _choice(data, where)
            message = choice.get("message")
            if not isinstance(message, dict) or message.get("role") != "assistant":
                raise Broken(f"{where}: choices[0].message is not the assistant's")
            if not isinstance(message.get("content"), str):
                raise Broken(f"{where}: the assistant's message has no text content")
            _finish(choice, where)
            _, completion = _usage(data, where)
            return "well-formed", self._tokens(None, completion, where)

        return await self._timed("chat completion", "assistant message, usage", body)

    async def chat_stream(self) -> Check:
        where = "POST /v1/chat/completions (stream)"

        async def body() -> tuple[str, str]:
            request = self._body(
                messages=self._messages(), stream=True, stream_options={"include_usage": True}
            )
            chunks = await _sse(self._client, "/v1/chat/completions", request, where)
            pieces = [c["choices"][0] for c in chunks if isinstance(c, dict) and c.get("choices")]
            if not pieces or not all(
                isinstance(p, dict) and isinstance(p.get("delta"), dict) for p in pieces
            ):
                raise Broken(f"{where}: chunks without choices[0].delta")
            if not any(isinstance(p["delta"].get("content"), str) and p["delta"]["content"] for p in pieces):
                raise Broken(f"{where}: no text in any delta")
            _finish(pieces[-1], where)
            _, completion = _stream_usage(chunks, where)
            return f"{len(chunks)} chunks", self._tokens(None, completion, where)

        return await self._timed("chat completion, streamed", "SSE deltas, [DONE], usage", body)
