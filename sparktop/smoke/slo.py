"""Service-level objectives: their names, units, defaults, and how a figure is judged against one.

An SLO is a limit on one figure: a maximum (``ttft_p99_ms = 3000``) or a minimum
(``decode_per_user_min = 8``). Limits come from a profile's ``[smoke]`` table, then ``--slo NAME=LIMIT``
options (which win), then the defaults below, chosen for a DGX Spark serving the smoke workload
(short prompts, at most a few users): loose enough for a BF16 model at 11 tok/s per user, tight
enough to catch a server that is broken, swapping or misconfigured.

A figure is judged as it is known: an exact figure passes or fails; a figure known only as a range
(a percentile read from a histogram bucket) holds when the whole range is within the limit, breaks
when none of it is, and is uncertain otherwise; an unknown figure is skipped with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sparktop.model import Num, Unknown

Bound = Literal["max", "min"]
Judgement = Literal["pass", "fail", "uncertain", "skip"]


@dataclass(frozen=True, slots=True)
class SloSpec:
    name: str
    title: str
    unit: str
    bound: Bound
    default: float | None
    """None: no default (only checked when a profile or --slo sets it)."""
    meaning: str
    """What is measured, and by whom (the definition a reader needs to trust the verdict)."""
    scale: float = 1.0
    """Shown value = stored value x scale (error rate: a fraction shown as a percentage)."""


SLOS: dict[str, SloSpec] = {
    s.name: s
    for s in (
        SloSpec(
            "ttft_p99_ms",
            "TTFT p99",
            "ms",
            "max",
            3000.0,
            "time to first token, 99th percentile over the measured requests, timed by the client",
        ),
        SloSpec(
            "tpot_p99_ms",
            "TPOT p99",
            "ms",
            "max",
            250.0,
            "time per output token after the first (per request), 99th percentile, client-timed",
        ),
        SloSpec(
            "itl_p99_ms",
            "ITL p99",
            "ms",
            "max",
            300.0,
            "gap between streamed tokens, 99th percentile over every gap, client-timed",
        ),
        SloSpec(
            "e2e_p99_ms",
            "E2E p99",
            "ms",
            "max",
            None,
            "request latency from send to last token, 99th percentile, client-timed",
        ),
        SloSpec(
            "decode_per_user_min",
            "decode per user at c=1",
            "tok/s",
            "min",
            8.0,
            "decode tokens per second of one user alone (the workload's single-user step), client-timed",
        ),
        SloSpec(
            "error_rate_max",
            "error rate",
            "%",
            "max",
            0.0,
            "failed requests / requests sent (a fraction: 0.01 = 1%), as the client saw them",
            scale=100.0,
        ),
        SloSpec(
            "preemptions_max",
            "preemptions",
            "",
            "max",
            0.0,
            "requests vLLM preempted during the run (its preemptions counter)",
        ),
        SloSpec(
            "kv_cache_max_pct",
            "KV-cache peak",
            "%",
            "max",
            90.0,
            "highest KV-cache use vLLM reported during the run, in percent",
        ),
        SloSpec(
            "gpu_temp_max_c",
            "GPU temperature peak",
            "°C",
            "max",
            85.0,
            "hottest GPU reading (NVML) during the run",
        ),
        SloSpec(
            "startup_max_s",
            "time to healthy",
            "s",
            "max",
            None,
            "launch to /health and /v1/models answering (a launched profile; default its health_timeout)",
        ),
    )
}


class SloError(ValueError):
    """An unknown SLO name or an unusable limit; the message lists what is known."""


def known_names() -> str:
    return ", ".join(SLOS)


def spec(name: str) -> SloSpec:
    found = SLOS.get(name)
    if found is None:
        raise SloError(f"unknown SLO {name!r}; known: {known_names()}")
    return found


def parse_option(text: str) -> tuple[str, float]:
    """``ttft_p99_ms=3000`` -> ("ttft_p99_ms", 3000.0)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SloError(f"--slo wants NAME=LIMIT, got {text!r} (e.g. ttft_p99_ms=3000)")
    spec(name)
    try:
        limit = float(value)
    except ValueError:
        raise SloError(f"--slo {name}: the limit must be a number, got {value.strip()!r}") from None
    return name, _checked_limit(name, limit)


def _checked_limit(name: str, limit: float) -> float:
    if not math.isfinite(limit) or limit < 0:
        raise SloError(f"SLO {name}: the limit must be a finite number >= 0, got {limit!r}")
    return limit


@dataclass(frozen=True, slots=True)
class Objective:
    spec: SloSpec
    limit: float
    source: str
    """Where the limit came from: "default", "profile" or "--slo"."""


def resolve(
    profile: Mapping[str, float] | None = None,
    options: Iterable[tuple[str, float]] = (),
    defaults: Mapping[str, float] | None = None,
) -> list[Objective]:
    """The objectives in force, in ``SLOS`` order: ``options`` over ``profile`` over ``defaults``
    (the specs' own defaults, plus any given here, e.g. a launched profile's startup limit)."""
    chosen: dict[str, tuple[float, str]] = {}
    for name, s in SLOS.items():
        if s.default is not None:
            chosen[name] = (s.default, "default")
    for name, limit in (defaults or {}).items():
        spec(name)
        chosen[name] = (_checked_limit(name, limit), "default")
    for name, limit in (profile or {}).items():
        spec(name)
        chosen[name] = (_checked_limit(name, float(limit)), "profile")
    for name, limit in options:
        chosen[name] = (_checked_limit(name, limit), "--slo")
    return [Objective(SLOS[name], *chosen[name]) for name in SLOS if name in chosen]


def as_meta(objectives: Iterable[Objective]) -> dict[str, float]:
    """The objectives as a recording keeps them (so a replay judges with the same limits)."""
    return {o.spec.name: o.limit for o in objectives}


def from_meta(meta: Mapping[str, object]) -> list[Objective]:
    """The objectives a recording was made under: its workload's ``slos`` (a smoke run, a demo),
    else its profile's ``[smoke]`` table. Untrusted: unknown names and bad limits are left out."""
    workload, profile = meta.get("workload"), meta.get("profile")
    table = workload.get("slos") if isinstance(workload, dict) else None
    if not isinstance(table, dict) or not table:
        table = profile.get("smoke") if isinstance(profile, dict) else None
    if not isinstance(table, dict):
        return []
    found = {}
    for name, limit in table.items():
        number = isinstance(limit, (int, float)) and not isinstance(limit, bool)
        if name in SLOS and number and math.isfinite(limit) and limit >= 0:
            found[name] = float(limit)
    return [Objective(SLOS[name], found[name], "recording") for name in SLOS if name in found]


# --------------------------------------------------------------------------------------------------
# judging


@dataclass(frozen=True, slots=True)
class Range:
    """A figure known only to lie in [lower, upper] (a histogram bucket); ``value`` is the estimate."""

    value: float
    lower: float
    upper: float


Observed = Num | Range


def judge(objective: Objective, observed: Observed) -> tuple[Judgement, str]:
    """(judgement, reason): the reason says by how much, or why the figure is unknown."""
    s = objective.spec
    limit = objective.limit
    if isinstance(observed, Unknown):
        return "skip", f"not measured: {observed.reason}"
    lower, upper = (observed.lower, observed.upper) if isinstance(observed, Range) else (observed, observed)
    if s.bound == "max":
        holds, breaks = upper <= limit, lower > limit
    else:
        holds, breaks = lower >= limit, upper < limit
    shown = show(s, observed)
    word = "at most" if s.bound == "max" else "at least"
    if holds:
        return "pass", f"{shown} is {word} {show(s, limit)}"
    if breaks:
        return "fail", f"{shown} {'above' if s.bound == 'max' else 'below'} the limit of {show(s, limit)}"
    return "uncertain", f"{shown}: the limit {show(s, limit)} lies inside what the histogram can tell"


def show(s: SloSpec, value: Observed) -> str:
    """A figure with its unit, as precisely as it is known."""
    if isinstance(value, Unknown):
        return "unknown"
    unit = f" {s.unit}" if s.unit and s.unit != "%" else s.unit
    if isinstance(value, Range):
        lo, hi = value.lower * s.scale, value.upper * s.scale
        if math.isinf(hi):
            return f"> {_number(lo)}{unit}"
        return f"{_number(lo)}–{_number(hi)}{unit}"
    return f"{_number(value * s.scale)}{unit}"


def _number(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x)}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"
