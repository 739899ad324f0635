"""Polling one vLLM server: ``/metrics`` and ``/health`` together, told apart into server states.

- unreachable: nothing accepts the TCP connection (or it is reset before any answer);
- starting: the TCP connection is accepted but HTTP hangs, as vLLM does while it loads weights
  (its port is bound before the engine is ready);
- unresponsive: the same hang, after the server had been healthy (overloaded or stuck);
- healthy: ``/health`` answers 200 and ``/metrics`` has ``vllm:`` series;
- dead: ``/health`` answers 503 (the engine died; the API process may still serve /metrics);
- metrics-disabled: the server answers but ``/metrics`` has no ``vllm:`` series
  (``--disable-log-stats``) or no such route.

Every request has short timeouts; ``scrape()`` never raises and never takes much longer than the
read timeout, so a caller's loop keeps its rhythm whatever the server does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from sparktop.clock import Clock, SystemClock
from sparktop.model import SIMULATED_KEY, ScrapeResult, ServerInfo, ServerState, Unknown
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import NO_SAMPLES_REASON, Schema, declares_vllm

MAX_PAGE_BYTES = 16 * 1024 * 1024


class BadTarget(ValueError):
    """A target that is not an http(s) URL."""


def base_url(target: str) -> str:
    """``host:8000``, ``http://host:8000/``, ``http://host:8000/metrics`` -> ``http://host:8000``."""
    text = target.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadTarget(f"not an http(s) URL: {target!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise BadTarget(f"bad port in {target!r}") from None
    path = parts.path.rstrip("/")
    for suffix in ("/metrics", "/health", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True, slots=True)
class _Answer:
    """One HTTP exchange, classified."""

    status: int | None = None
    body: bytes = b""
    failure: str | None = None  # "refused", "connect-timeout", "hang", "reset", "truncated", "too-large", ...
    detail: str = ""
    latency_s: float | None = None


class Scraper:
    """Scrapes one target. Owns its HTTP client; call ``aclose()`` when done."""

    def __init__(
        self,
        target: str,
        clock: Clock | None = None,
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        api_key: str | None = None,
    ) -> None:
        self.base = base_url(target)
        self.clock = clock or SystemClock()
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
        )
        self._deadline = connect_timeout + read_timeout + 0.5
        headers = {"User-Agent": "sparktop", "Accept": "text/plain"}
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            headers=headers,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            trust_env=False,  # a proxy from the environment must not sit between us and a local server
            follow_redirects=False,
        )
        self._parser = SeriesParser()
        self._schema = Schema()
        self._seen_healthy = False

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Scraper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, limit: int = MAX_PAGE_BYTES, auth: bool = False) -> _Answer:
        started = time.perf_counter()
        try:
            async with self._client.stream(
                "GET", self.base + path, headers=self._auth if auth else None
            ) as resp:
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_raw():
                    size += len(chunk)
                    if size > limit:
                        return _Answer(
                            resp.status_code, failure="too-large", detail=f"{path} larger than {limit} bytes"
                        )
                    chunks.append(chunk)
                return _Answer(resp.status_code, b"".join(chunks), latency_s=time.perf_counter() - started)
        except httpx.ConnectTimeout:
            return _Answer(failure="connect-timeout", detail="connect timed out")
        except httpx.ConnectError as exc:
            refused = "refused" in str(exc).lower() or isinstance(exc.__cause__, ConnectionRefusedError)
            return _Answer(
                failure="refused" if refused else "connect-error", detail=_one_line(exc, "cannot connect")
            )
        except (httpx.ReadTimeout, httpx.PoolTimeout, httpx.WriteTimeout):
            return _Answer(failure="hang", detail=f"no answer within {self._timeout.read:g} s")
        except httpx.RemoteProtocolError as exc:
            text = str(exc).lower()
            if "incomplete" in text or "complete message body" in text or "chunk" in text:
                return _Answer(failure="truncated", detail="response cut short")
            return _Answer(failure="reset", detail=_one_line(exc, "connection closed without an answer"))
        except (httpx.ReadError, httpx.WriteError) as exc:
            return _Answer(failure="reset", detail=_one_line(exc, "connection reset"))
        except httpx.HTTPError as exc:
            return _Answer(failure="error", detail=_one_line(exc, type(exc).__name__))

    async def scrape(self) -> ScrapeResult:
        """Poll /metrics and /health once. Never raises.

        The result is stamped when the answers arrived: that is when its figures enter a session,
        so a replay that feeds results at their stamps shows exactly what was seen live.
        """
        try:
            async with asyncio.timeout(self._deadline):
                metrics, health = await asyncio.gather(
                    self._get("/metrics"), self._get("/health", limit=65536)
                )
        except TimeoutError:
            state: ServerState = "starting" if not self._seen_healthy else "unresponsive"
            return self._result(self.clock.now(), state, "scrape timed out")
        return self._classify(self.clock.now(), metrics, health)

    def _result(self, t: float, state: ServerState, detail: str, **kw: object) -> ScrapeResult:
        if state == "healthy":
            self._seen_healthy = True
        elif state == "unreachable":
            self._seen_healthy = False
        return ScrapeResult(t=t, state=state, detail=detail, **kw)  # type: ignore[arg-type]

    def _classify(self, t: float, metrics: _Answer, health: _Answer) -> ScrapeResult:
        unreachable = ("refused", "connect-timeout", "connect-error")
        if metrics.failure in unreachable and health.failure in unreachable:
            return self._result(t, "unreachable", metrics.detail or health.detail)
        if health.status == 503:
            return self._result(
                t, "dead", "/health answered 503: the engine is dead", **self._read(t, metrics)
            )
        hung = metrics.failure == "hang" and health.failure in ("hang", None)
        if hung and health.status != 200:
            state: ServerState = "unresponsive" if self._seen_healthy else "starting"
            what = "HTTP does not answer" + (" (loading?)" if state == "starting" else "")
            return self._result(t, state, f"TCP connects, {what}")
        if metrics.status == 200 and metrics.failure is None:
            read = self._read(t, metrics)
            if read.get("series_keys") == ():
                if declares_vllm(metrics.body.decode("utf-8", errors="replace")):
                    return self._result(t, "healthy", f"/metrics: {NO_SAMPLES_REASON}")
                return self._result(
                    t, "metrics-disabled", "/metrics has no vllm: series (--disable-log-stats?)", **read
                )
            if health.status == 200 or health.failure is None:
                return self._result(t, "healthy", "ok", **read)
            return self._result(
                t, "healthy", f"/metrics ok, /health: {health.detail or health.failure}", **read
            )
        if health.status == 200:
            if metrics.status == 404:
                return self._result(t, "metrics-disabled", "/metrics: HTTP 404 (no metrics route)")
            problem = f"HTTP {metrics.status}" if metrics.failure is None else metrics.detail
            return self._result(t, "healthy", f"/metrics: {problem}")
        if metrics.failure in ("reset", "truncated") or health.failure in ("reset", "truncated"):
            return self._result(t, "unreachable", metrics.detail or health.detail)
        status = health.status if health.status is not None else metrics.status
        detail = f"/health: HTTP {status}" if status is not None else (health.detail or metrics.detail)
        return self._result(t, "unreachable" if status is None else "unresponsive", detail)

    def _read(self, t: float, answer: _Answer) -> dict[str, object]:
        if answer.status != 200 or answer.failure is not None:
            return {}
        text = answer.body.decode("utf-8", errors="replace")
        page = self._parser.parse(text)
        reading = self._schema.read(page, t)
        return {
            "snapshot": reading.snapshot,
            "series_keys": reading.keys,
            "series_values": reading.values,
            "latency_s": answer.latency_s,
        }

    async def info(self) -> ServerInfo:
        """Ask the server what it serves. Never raises; unknowns carry the reason."""
        version_answer, models_answer = await asyncio.gather(
            self._get("/version", limit=65536), self._get("/v1/models", limit=1 << 20, auth=True)
        )
        version: str | Unknown = Unknown(version_answer.detail or f"/version: HTTP {version_answer.status}")
        simulated = False
        if version_answer.status == 200:
            try:
                data = orjson.loads(version_answer.body)
                if isinstance(data, dict) and isinstance(data.get("version"), str):
                    version = data["version"]
                    simulated = data.get(SIMULATED_KEY) is True
            except orjson.JSONDecodeError:
                version = Unknown("/version did not return JSON")
        models: list[str] = []
        max_len: int | None = None
        root: str | None = None
        if models_answer.status == 200:
            try:
                data = orjson.loads(models_answer.body)
                entries = data.get("data", []) if isinstance(data, dict) else []
                for entry in entries if isinstance(entries, list) else []:
                    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                        models.append(entry["id"])
                        if max_len is None and isinstance(entry.get("max_model_len"), int):
                            max_len = entry["max_model_len"]
                        if root is None and isinstance(entry.get("root"), str):
                            root = entry["root"]
            except orjson.JSONDecodeError:
                pass
        return ServerInfo(self.clock.now(), version, tuple(models), max_len, root, simulated)


def _one_line(exc: BaseException, fallback: str) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else fallback
