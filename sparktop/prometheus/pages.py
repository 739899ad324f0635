"""The page a target served, rebuilt from the samples Prometheus stored of one scrape.

Prometheus stamps every sample of one scrape, ``up`` and ``scrape_duration_seconds`` included, with
the scrape's start time (vLLM's page carries no timestamps of its own). So the page served at time
``T`` is exactly the target's series that have a sample at ``T``: a series the page no longer had
got a staleness marker instead, which the API never returns.

Prometheus adds the target's labels to every series it stores (``job``, ``instance`` and whatever
relabelling gave the target). Those are exactly the labels of the target's ``up`` series, which
Prometheus makes itself. So a stored series' labels minus those of ``up`` (with the same values) are
the labels the page had; a page label that clashed with a target label was stored as
``exported_<name>`` (``honor_labels: false``, the default) and gets its name back. The series keys
are rebuilt as ``name{labels}`` (labels in name order: the page's own order is not stored) and
read by the same ``Schema`` as a direct scrape, so the figures are those of a direct scrape by
construction.

What cannot be told apart: a label that ``metric_relabel_configs`` added to the series, and a page
label whose name and value equal a target label's under ``honor_labels: true``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sparktop.model import ScrapeResult
from sparktop.vllm.exposition import Page, Series
from sparktop.vllm.schema import Schema

EXPORTED = "exported_"
META_NAMES = ("up", "scrape_duration_seconds")
"""Series Prometheus makes about each scrape, fetched with the page's."""


def page_labels(stored: Mapping[str, str], target_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels a series had on the page, from its stored labels (``__name__`` excluded) and the
    target's labels (those of its ``up`` series, ``__name__`` excluded)."""
    out = {k: v for k, v in stored.items() if k != "__name__" and target_labels.get(k) != v}
    for name in target_labels:
        exported = EXPORTED + name
        if exported in out and name not in out:
            out[name] = out.pop(exported)
    return out


def quote(value: str) -> str:
    """A label value as the exposition format (and PromQL) writes it: quoted, escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="x",b="y"}``: the exposition text before the value, labels in name order."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={quote(labels[k])}" for k in sorted(labels)) + "}"


def selector(labels: Mapping[str, str], name_regex: str | None = None) -> str:
    """A PromQL selector matching ``labels`` exactly (and a name regex when given)."""
    parts = [f"__name__=~{quote(name_regex)}"] if name_regex is not None else []
    parts.extend(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
    return "{" + ",".join(parts) + "}"


class PageBuilder:
    """Turns stored samples of one target into ``ScrapeResult``s read by a ``Schema`` of its own.

    Keeps the parsed series by key, so successive pages with the same series are the same layout to
    the schema (and share one ``series_keys`` tuple, as direct scrapes do).
    """

    def __init__(self) -> None:
        self._schema = Schema()
        self._series: dict[str, Series] = {}

    def result(
        self,
        t: float,
        samples: Iterable[tuple[str, Mapping[str, str], float]],
        target_labels: Mapping[str, str],
        *,
        detail: str = "ok",
        latency_s: float | None = None,
    ) -> ScrapeResult:
        """The result of the scrape at ``t`` from its ``(name, stored labels, value)`` samples:
        ``healthy`` when the page had ``vllm:`` series, else ``metrics-disabled``."""
        rows: list[tuple[str, str, dict[str, str], float]] = []
        for name, stored, value in samples:
            labels = page_labels(stored, target_labels)
            rows.append((series_key(name, labels), name, labels, value))
        rows.sort(key=lambda row: row[0])
        series: list[Series] = []
        values: list[float] = []
        for key, name, labels, value in rows:
            known = self._series.get(key)
            if known is None:
                known = self._series[key] = Series(key, name, labels)
            series.append(known)
            values.append(value)
        if len(self._series) > 100_000:  # a target inventing label values all the time
            self._series.clear()
        reading = self._schema.read(Page(series, values, 0), t)
        if not reading.keys:
            return ScrapeResult(
                t, "metrics-disabled", "the page Prometheus scraped has no vllm: series", latency_s
            )
        return ScrapeResult(t, "healthy", detail, latency_s, reading.snapshot, reading.keys, reading.values)
