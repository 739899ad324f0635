"""A small async client for Prometheus' HTTP API (``/api/v1/...``).

Every call has bounded timeouts and a bounded answer size, and either returns the ``data`` of a
``"status": "success"`` answer or raises ``PromError``: one line saying what went wrong, with a
hint. The causes are told apart: nothing listens there (unreachable), something answers but is not
a Prometheus, Prometheus refused the request (its own error message, e.g. a bad selector, cleaned of
terminal escapes), or it took too long. URLs in messages never carry credentials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from sparktop.fmt import clean
from sparktop.secrets import redact_text, redact_url

PREFIX = "prometheus:"
"""How a target names a Prometheus server: ``prometheus:http://HOST:9090``."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_MESSAGE = 240
URL_HINT = "give Prometheus' base URL, e.g. prometheus:http://HOST:9090"


class PromError(Exception):
    """A failed call to Prometheus, as one line: ``cause`` and ``hint``.

    ``kind`` is one of ``unreachable``, ``timeout``, ``not-prometheus``, ``refused`` (Prometheus
    answered with an error of its own: ``error_type`` is its ``errorType``) and ``too-large``.
    """

    def __init__(self, kind: str, cause: str, hint: str = "", error_type: str = "") -> None:
        self.kind = kind
        self.cause = cause
        self.hint = hint
        self.error_type = error_type
        super().__init__(f"{cause} (hint: {hint})" if hint else cause)


def prometheus_url(target: str) -> str | None:
    """The URL in ``prometheus:URL`` (None when ``target`` does not name a Prometheus)."""
    text = target.strip()
    if not text.startswith(PREFIX):
        return None
    return text[len(PREFIX) :]


def base_url(url: str) -> str:
    """``host:9090``, ``http://host:9090/``, ``http://host:9090/graph`` -> ``http://host:9090``;
    a path prefix (Prometheus behind ``--web.route-prefix``) is kept."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise PromError("bad-url", f"not a URL: {clean(redact_url(url))[:MAX_MESSAGE]}", URL_HINT) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PromError("bad-url", f"not an http(s) URL: {clean(redact_url(url))[:MAX_MESSAGE]}", URL_HINT)
    path = parts.path.rstrip("/")
    for suffix in ("/graph", "/api/v1", "/targets"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def cleaned(text: object, limit: int = MAX_MESSAGE) -> str:
    """Untrusted text from Prometheus (an error, a label value) fit for one line on a screen."""
    one = " ".join(clean(redact_text(str(text))).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def number(text: object) -> float:
    """A sample value as Prometheus writes it in JSON (``"1.5"``, ``"NaN"``, ``"+Inf"``)."""
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            pass
    raise PromError("not-prometheus", f"a sample value is not a number: {cleaned(repr(text), 60)}")


def seconds(value: float) -> str:
    """A time or a duration as the API takes it (milliseconds at most, no exponent)."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite time: {value}")
    return f"{value:.3f}"


class PromAPI:
    """One Prometheus server. Owns its HTTP client; call ``aclose()`` when done."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base = base_url(url)
        self.shown = redact_url(self.base)
        """The URL as it may be shown (no credentials)."""
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
            ),
            headers={"User-Agent": "sparktop", "Accept": "application/json"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            trust_env=False,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PromAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------------------------------------
    # endpoints

    async def query(self, promql: str, time: float | None = None) -> dict[str, Any]:
        """``/api/v1/query``: ``{"resultType": ..., "result": ...}`` at ``time`` (default: now)."""
        params = {"query": promql}
        if time is not None:
            params["time"] = seconds(time)
        return _mapping(await self._call("/api/v1/query", params, post=True), "query")

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """``/api/v1/query_range``: the matrix (one ``{"metric", "values"}`` per series)."""
        params = {"query": promql, "start": seconds(start), "end": seconds(end), "step": seconds(step)}
        data = _mapping(await self._call("/api/v1/query_range", params, post=True), "query_range")
        return _entries(data.get("result"), "query_range")

    async def series(
        self, matchers: Sequence[str], start: float | None = None, end: float | None = None
    ) -> list[dict[str, str]]:
        """``/api/v1/series``: the label sets of the series any of ``matchers`` selects."""
        params: dict[str, str | list[str]] = {"match[]": list(matchers)}
        if start is not None:
            params["start"] = seconds(start)
        if end is not None:
            params["end"] = seconds(end)
        data = await self._call("/api/v1/series", params, post=True)
        return [labels(entry) for entry in _entries(data, "series")]

    async def targets(self) -> list[dict[str, Any]]:
        """``/api/v1/targets?state=active``: the targets Prometheus scrapes now."""
        data = _mapping(await self._call("/api/v1/targets", {"state": "active"}), "targets")
        return _entries(data.get("activeTargets", []), "targets")

    async def buildinfo(self) -> dict[str, Any]:
        """``/api/v1/status/buildinfo``: Prometheus' version and build."""
        return _mapping(await self._call("/api/v1/status/buildinfo", {}), "buildinfo")

    # ----------------------------------------------------------------------------------------------

    async def _call(self, path: str, params: Mapping[str, str | list[str]], *, post: bool = False) -> Any:
        url = self.base + path
        where = f"Prometheus at {self.shown}"
        try:
            if post:
                request = self._client.build_request("POST", url, data=params)
            else:
                request = self._client.build_request("GET", url, params=params)
            response = await self._client.send(request, stream=True)
            try:
                body = await _read_limited(response, self.max_bytes)
            finally:
                await response.aclose()
        except httpx.ConnectTimeout:
            raise PromError(
                "unreachable", f"cannot reach {where}: connect timed out", _reach_hint()
            ) from None
        except httpx.ConnectError as exc:
            raise PromError("unreachable", f"cannot reach {where}: {_why(exc)}", _reach_hint()) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            raise PromError(
                "timeout",
                f"{where} did not answer {path} within {self.read_timeout:g} s",
                "a busy or overloaded Prometheus; try a shorter range or a narrower --match",
            ) from None
        except _TooLarge:
            raise PromError(
                "too-large",
                f"{where}: the answer to {path} is larger than {self.max_bytes // (1024 * 1024)} MiB",
                "narrow the selection (--match) or the range",
            ) from None
        except httpx.HTTPError as exc:
            raise PromError("unreachable", f"cannot talk to {where}: {_why(exc)}", _reach_hint()) from None
        return _data(response, body, where, path)


class _TooLarge(Exception):
    pass


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _data(response: httpx.Response, body: bytes, where: str, path: str) -> Any:
    """The ``data`` of a Prometheus answer, or the ``PromError`` it stands for."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or answer.get("status") not in ("success", "error"):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise PromError(
            "not-prometheus",
            f"{where} is not a Prometheus: {path} answered HTTP {response.status_code} ({cleaned(kind, 60)})",
            URL_HINT,
        )
    if answer["status"] == "error":
        error_type = cleaned(answer.get("errorType", ""), 40)
        message = cleaned(answer.get("error", "no reason given"))
        raise PromError(
            "refused",
            f"Prometheus refused {path}: {message}",
            _refused_hint(error_type),
            error_type,
        )
    return answer.get("data")


def _refused_hint(error_type: str) -> str:
    if error_type == "bad_data":
        return "check the selector, e.g. --match '{job=\"vllm\"}'"
    if error_type in ("timeout", "canceled"):
        return "a busy or overloaded Prometheus; try a shorter range or a narrower --match"
    if error_type == "execution":
        return "Prometheus could not run the query (too many samples?); try a shorter range"
    return "see Prometheus' own log"


def _reach_hint() -> str:
    return "is Prometheus running there? check the host and port (9090 by default)"


def _why(exc: BaseException) -> str:
    text = str(exc).lower()
    if "refused" in text or _refused(exc):
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "unknown host"
    return cleaned(exc, 120) or type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """Whether a connection was refused somewhere down ``exc``'s chain of causes."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "refused" in str(current).lower():
            return True
        todo += [current.__cause__, current.__context__]
    return False


def _mapping(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PromError("not-prometheus", f"Prometheus' answer to {what} has no data object", URL_HINT)
    return data


def _entries(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise PromError("not-prometheus", f"Prometheus' answer to {what} is not a list of objects", URL_HINT)
    return data


def labels(entry: object) -> dict[str, str]:
    """A label set from an answer (``metric`` of a sample, an entry of ``/series``), checked."""
    if not isinstance(entry, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
    ):
        raise PromError("not-prometheus", "Prometheus' answer holds a label set that is not strings")
    return entry
