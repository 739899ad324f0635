"""Small helpers the simulator's integration tests share: SSE parsing and a metrics page reader."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families


async def sse_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Any]:
    """POST ``body`` and return the stream's events (decoded JSON, and the string ``"[DONE]"``)."""
    events: list[Any] = []
    async with client.stream("POST", path, json=body) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        async for text in resp.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                assert event.startswith("data: "), event
                payload = event.removeprefix("data: ")
                events.append(payload if payload == "[DONE]" else orjson.loads(payload))
        assert buffer == ""
    return events


def samples(page: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from a metrics page, parsed by prometheus-client."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(page_samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for lab, v in page_samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def content_of(events: list[Any], field: str = "content") -> str:
    return "".join(
        e["choices"][0]["delta"].get(field) or ""
        for e in events
        if isinstance(e, dict) and e.get("choices") and "delta" in e["choices"][0]
    )
