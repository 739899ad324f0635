"""One vLLM target read live through Prometheus, shaped like ``sparktop.vllm.scrape.Scraper``.

``scrape()`` returns each scrape Prometheus made of the target once, stamped with the time of
Prometheus' sample (the scrape's start), never with the time it was asked:

- it asks for the target's newest ``up`` sample (a small query) until there is one newer than the
  last result returned, polling a few times per scrape interval; so a scrape Prometheus has not
  redone yet is never fed twice (rates stay those of the samples), and two ``scrape()`` calls at
  once wait in turn;
- ``up`` = 1: the page is rebuilt from the ``vllm:`` samples stamped with that scrape's time
  (``sparktop.prometheus.pages``), ``latency_s`` is Prometheus' ``scrape_duration_seconds``;
- ``up`` = 0: ``unreachable``, with Prometheus' ``lastError`` for the target as the detail;
- no ``up`` sample within ``stale_intervals`` scrape intervals: Prometheus no longer scrapes the
  target (or lags): ``unknown``, said as such, without figures;
- Prometheus itself not answering: ``unknown``, with the cause.

Like ``Scraper.scrape`` it never raises. It waits at most about ``stale_intervals`` scrape
intervals for a new sample.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sparktop.clock import Clock, SystemClock
from sparktop.model import ScrapeResult, ServerInfo, Unknown
from sparktop.prometheus.api import PromAPI, PromError, cleaned, labels, number
from sparktop.prometheus.pages import PageBuilder, selector
from sparktop.prometheus.targets import DEFAULT_INTERVAL_S, PromTarget, active_targets

STALE_INTERVALS = 3.0
NO_VERSION = "Prometheus does not say which vLLM version the target runs"


class PromScraper:
    """Scrapes one target through Prometheus. Owns ``api`` when given a URL; call ``aclose()``."""

    def __init__(
        self,
        api: PromAPI | str,
        target: PromTarget,
        clock: Clock | None = None,
        *,
        interval_s: float | None = None,
        stale_intervals: float = STALE_INTERVALS,
        poll_s: float | None = None,
    ) -> None:
        self._owns_api = isinstance(api, str)
        self.api = PromAPI(api) if isinstance(api, str) else api
        self.target = target
        self.clock = clock or SystemClock()
        self.interval_s = interval_s or target.interval_s or DEFAULT_INTERVAL_S
        """Prometheus' scrape interval for the target: how often a new sample can come."""
        self.stale_after_s = stale_intervals * self.interval_s
        self.poll_s = poll_s if poll_s is not None else min(1.0, max(0.05, self.interval_s / 10))
        self.base = target.server_url or f"http://{target.instance}"
        """The vLLM server as Prometheus reaches it (sparktop may not reach it from here)."""
        self._pages = PageBuilder()
        self._last_t: float | None = None
        self._models: tuple[str, ...] = ()
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_api:
            await self.api.aclose()

    async def __aenter__(self) -> PromScraper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def scrape(self) -> ScrapeResult:
        """The next scrape Prometheus made of the target (see the module docstring). Never raises."""
        async with self._lock:
            try:
                return await self._next()
            except PromError as exc:
                return ScrapeResult(self.clock.now(), "unknown", f"through Prometheus: {exc}")

    async def _next(self) -> ScrapeResult:
        started = time.monotonic()
        while True:
            newest = await self._newest_up()
            if newest is None:
                return ScrapeResult(
                    self.clock.now(),
                    "unknown",
                    f"Prometheus has no scrape of {self.target.label} in the last {self.stale_after_s:g} s "
                    f"(it scrapes every {self.interval_s:g} s): it stopped scraping it, or lags",
                )
            t, up, target_labels = newest
            if self._last_t is None or t > self._last_t:
                self._last_t = t
                if up == 1.0:
                    return await self._page(t, target_labels)
                return ScrapeResult(t, "unreachable", await self._last_error())
            if time.monotonic() - started > self.stale_after_s + self.interval_s:
                return ScrapeResult(
                    self.clock.now(), "unknown", f"no new scrape from Prometheus for {self.stale_after_s:g} s"
                )
            await asyncio.sleep(self.poll_s)

    async def _newest_up(self) -> tuple[float, float, dict[str, str]] | None:
        """The newest ``up`` sample of the target within the stale window: time, value, labels."""
        promql = f"up{selector(self.target.labels)}[{_window(self.stale_after_s)}]"
        data = await self.api.query(promql)
        newest: tuple[float, float, dict[str, str]] | None = None
        for t, value, stored in samples(data):
            if newest is None or t > newest[0]:
                newest = (t, value, {k: v for k, v in stored.items() if k != "__name__"})
        return newest

    async def _page(self, t: float, target_labels: Mapping[str, str]) -> ScrapeResult:
        names = "vllm:.+|scrape_duration_seconds"
        promql = selector(target_labels, names) + "[1ms]"
        data = await self.api.query(promql, time=t)
        latency: float | None = None
        page: list[tuple[str, Mapping[str, str], float]] = []
        for sample_t, value, stored in samples(data):
            if sample_t != t:
                continue  # an earlier scrape's sample: not on this page
            name = stored.get("__name__", "")
            if name == "scrape_duration_seconds":
                latency = value
            elif name.startswith("vllm:"):
                page.append((name, stored, value))
        result = self._pages.result(t, page, target_labels, latency_s=latency)
        if result.snapshot is not None:
            self._models = result.snapshot.models
        return result

    async def _last_error(self) -> str:
        """Why Prometheus' scrape failed, in its own words (``lastError`` of the target)."""
        try:
            active = active_targets(await self.api.targets())
        except PromError as exc:
            return f"Prometheus could not scrape it (up = 0); its reason is unknown: {exc}"
        seen = active.get((self.target.job, self.target.instance))
        if seen is None:
            return "Prometheus could not scrape it (up = 0) and no longer lists it"
        if seen.interval_s is not None:
            self.interval_s = seen.interval_s
        return (
            f"Prometheus: {seen.last_error}" if seen.last_error else "Prometheus could not scrape it (up = 0)"
        )

    async def info(self) -> ServerInfo:
        """What Prometheus' samples say about the server: its models (vLLM's ``model_name``); its
        version is not in them. Never raises."""
        return ServerInfo(self.clock.now(), Unknown(NO_VERSION), self._models)


def _window(seconds_: float) -> str:
    """A PromQL range in milliseconds (``[4500ms]``)."""
    return f"{max(1, round(seconds_ * 1000))}ms"


def samples(data: Mapping[str, Any]) -> Iterable[tuple[float, float, Mapping[str, str]]]:
    """``(t, value, labels)`` of every sample in an instant query's matrix (or vector) answer."""
    kind = data.get("resultType")
    result = data.get("result")
    if not isinstance(result, list):
        raise PromError("not-prometheus", "Prometheus' query answer has no result list")
    for entry in result:
        if not isinstance(entry, dict):
            raise PromError("not-prometheus", "Prometheus' query answer holds a non-object")
        metric = labels(entry.get("metric", {}))
        pairs = entry.get("values", []) if kind == "matrix" else [entry.get("value")]
        if not isinstance(pairs, list):
            raise PromError("not-prometheus", "Prometheus' query answer holds malformed values")
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (int, float))):
                raise PromError(
                    "not-prometheus", f"malformed sample in Prometheus' answer: {cleaned(pair, 60)}"
                )
            yield float(pair[0]), number(pair[1]), metric
