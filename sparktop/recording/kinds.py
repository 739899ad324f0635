"""Which observation types a recording holds, under which kind name."""

from __future__ import annotations

from sparktop.model import (
    ContainerStats,
    Event,
    GpuSample,
    RequestRecord,
    ScrapeResult,
    ServerInfo,
    WorkloadProgress,
)

KIND_TYPES: dict[str, type] = {
    "scrape": ScrapeResult,
    "gpu": GpuSample,
    "event": Event,
    "info": ServerInfo,
    "progress": WorkloadProgress,
    "request": RequestRecord,
    "container": ContainerStats,
}
_BY_TYPE = {cls: kind for kind, cls in KIND_TYPES.items()}


def kind_of(obs: object) -> str | None:
    """The kind name of an observation, or None for something a recording does not hold."""
    return _BY_TYPE.get(type(obs))


def time_of(obs: object) -> float:
    """When an observation happened; a request record happened when it ended (or failed)."""
    if isinstance(obs, RequestRecord):
        return obs.end if obs.end is not None else obs.start
    return float(obs.t)  # type: ignore[attr-defined]
