"""Which vLLM servers a Prometheus scrapes: the (job, instance) pairs with ``vllm:`` series.

``--match`` is a PromQL series selector (``{job="vllm"}``, ``{instance=~"spark.*"}``); discovery asks
``/api/v1/series`` for the ``vllm:`` series it selects over the last ``lookback_s`` seconds (so a
server that is down right now is still found), and ``/api/v1/targets`` for how often each is scraped
and how its last scrape went.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sparktop.prometheus.api import PromAPI, PromError, cleaned
from sparktop.vllm.scrape import BadTarget, base_url

VLLM_NAMES = "vllm:.+"
ANY_VLLM = '{__name__=~"vllm:.+"}'
DEFAULT_LOOKBACK_S = 600.0
DEFAULT_INTERVAL_S = 15.0
"""Prometheus' own default ``scrape_interval``, for a target it no longer lists."""
MATCH_HINT = "a series selector such as --match '{job=\"vllm\"}'"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


@dataclass(frozen=True, slots=True)
class PromTarget:
    """One vLLM server as Prometheus knows it. ``label`` is how it is shown (cleaned text).

    Equal (and hashed) by ``job`` and ``instance`` only: the rest is what Prometheus said when it
    was discovered.
    """

    job: str
    instance: str
    label: str = field(compare=False)
    interval_s: float | None = field(default=None, compare=False)
    """The job's scrape interval (None when Prometheus no longer lists the target)."""
    scrape_url: str | None = field(default=None, compare=False)
    health: str = field(default="unknown", compare=False)
    last_error: str = field(default="", compare=False)

    @property
    def labels(self) -> dict[str, str]:
        return {"job": self.job, "instance": self.instance}

    @property
    def server_url(self) -> str | None:
        """The vLLM server's base URL as Prometheus reaches it, when it says."""
        if self.scrape_url is None:
            return None
        try:
            return base_url(self.scrape_url)
        except BadTarget:
            return None


def vllm_selector(match: str | None) -> str:
    """The ``vllm:`` series a ``--match`` selector selects, as one selector.

    ``{job="vllm"}`` -> ``{__name__=~"vllm:.+",job="vllm"}``; a selector that names a ``vllm:``
    family is kept as it is. Prometheus checks the syntax; its own message says what is wrong.
    """
    text = (match or "").strip()
    if not text:
        return ANY_VLLM
    if text.startswith("{"):
        inner = text[1:].rstrip()
        if not inner.endswith("}"):
            raise PromError("bad-match", f"--match {cleaned(text, 80)} is not a series selector", MATCH_HINT)
        inner = inner[:-1].strip()
        return ANY_VLLM if not inner else '{__name__=~"vllm:.+",' + inner + "}"
    name = _NAME.match(text)
    if name is None:
        raise PromError("bad-match", f"--match {cleaned(text, 80)} is not a series selector", MATCH_HINT)
    if not name.group(0).startswith("vllm:"):
        raise PromError(
            "bad-match", f"--match selects {cleaned(name.group(0), 80)}, not a vllm: series", MATCH_HINT
        )
    return text


def go_duration(text: object) -> float | None:
    """Seconds in a Prometheus duration (``15s``, ``1m30s``, ``500ms``), None when not one."""
    if not isinstance(text, str) or not text:
        return None
    total, pos = 0.0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and total > 0 else None


@dataclass(frozen=True, slots=True)
class ActiveTarget:
    """What ``/api/v1/targets`` says about one target."""

    labels: Mapping[str, str]
    interval_s: float | None
    scrape_url: str | None
    health: str
    last_error: str
    last_scrape: str


def active_targets(entries: list[dict[str, Any]]) -> dict[tuple[str, str], ActiveTarget]:
    """``/api/v1/targets``' active targets by (job, instance)."""
    out: dict[tuple[str, str], ActiveTarget] = {}
    for entry in entries:
        labels = entry.get("labels")
        if not isinstance(labels, dict):
            continue
        job, instance = labels.get("job"), labels.get("instance")
        if not isinstance(job, str) or not isinstance(instance, str):
            continue
        url = entry.get("scrapeUrl")
        error = entry.get("lastError")
        out[(job, instance)] = ActiveTarget(
            {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)},
            go_duration(entry.get("scrapeInterval")),
            url if isinstance(url, str) else None,
            cleaned(entry.get("health", "unknown"), 20),
            cleaned(error) if isinstance(error, str) else "",
            str(entry.get("lastScrape", "")),
        )
    return out


async def discover(
    api: PromAPI, match: str | None = None, *, lookback_s: float = DEFAULT_LOOKBACK_S
) -> list[PromTarget]:
    """The vLLM targets ``match`` selects (default: every job with ``vllm:`` series), in (job,
    instance) order. Raises ``PromError`` when there is none, or when Prometheus cannot be asked."""
    wanted = vllm_selector(match)
    found = await api.series([wanted], start=time.time() - lookback_s)
    pairs = sorted({(s["job"], s["instance"]) for s in found if "job" in s and "instance" in s})
    if not pairs:
        what = f"matching {cleaned(match, 80)} " if match and match.strip() else ""
        raise PromError(
            "no-targets",
            f"Prometheus at {api.shown} has no vllm: series {what}in the last {lookback_s:g} s",
            "is Prometheus scraping vLLM's /metrics? check --match and the job's targets",
        )
    active = active_targets(await api.targets())
    jobs = {job for job, _ in pairs}
    targets = []
    for job, instance in pairs:
        seen = active.get((job, instance))
        shown = instance if len(jobs) == 1 else f"{job}/{instance}"
        targets.append(
            PromTarget(
                job,
                instance,
                cleaned(shown, 120),
                seen.interval_s if seen else None,
                seen.scrape_url if seen else None,
                seen.health if seen else "gone",
                seen.last_error if seen else "Prometheus no longer scrapes this target",
            )
        )
    return targets
