"""Faults the simulated server can be told to show, for reliability tests.

Every duration is in model seconds, so a speed factor compresses faults with everything else.
``from_env`` reads the same settings from ``SPARKTOP_SIM_*`` variables (the container entry point).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

CRASH_ERROR = "torch.AcceleratorError: CUDA error: an illegal memory access was encountered"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What goes wrong, and when. The default: nothing."""

    crash_after_s: float | None = None
    """The engine dies this long after it became ready (vLLM's fatal-error log, then the server exits)."""
    crash_error: str = CRASH_ERROR
    fail_startup_kv: bool = False
    """Startup fails with vLLM's "KV cache is needed ... larger than the available" error."""
    metrics_status: int | None = None
    """``/metrics`` answers with this HTTP status (e.g. 500) instead of the page."""
    metrics_delay_s: float = 0.0
    """``/metrics`` answers only after this long."""
    generate_status: int | None = None
    """Completions and chat completions answer with this HTTP status (vLLM's error body), as a
    server with a broken engine or a broken template does; the other endpoints still answer."""
    abort_after_tokens: int | None = None
    """Every request is aborted by the engine once it has produced this many tokens."""
    alloc_mib: float | None = None
    """Host memory (MiB) the process takes and touches while weights load, as vLLM's loader does:
    above a container's memory limit the kernel kills it (OOMKilled)."""


class FaultConfigError(ValueError):
    """A ``SPARKTOP_SIM_*`` value that does not parse; the message names the variable."""


def _number(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FaultConfigError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise FaultConfigError(f"{name}={text!r} must not be negative")
    return value


def from_env(env: Mapping[str, str] | None = None) -> FaultConfig:
    """Faults from ``SPARKTOP_SIM_CRASH_AFTER``, ``_FAIL_STARTUP`` (``kv``), ``_METRICS_STATUS``,
    ``_METRICS_DELAY``, ``_GENERATE_STATUS``, ``_ABORT_AFTER_TOKENS`` and ``_ALLOC_MIB``."""
    e = os.environ if env is None else env
    fail = e.get("SPARKTOP_SIM_FAIL_STARTUP", "").strip().lower()
    if fail not in ("", "kv"):
        raise FaultConfigError(f"SPARKTOP_SIM_FAIL_STARTUP={fail!r}: the only startup failure is 'kv'")
    status = _number(e, "SPARKTOP_SIM_METRICS_STATUS")
    abort = _number(e, "SPARKTOP_SIM_ABORT_AFTER_TOKENS")
    generate = _number(e, "SPARKTOP_SIM_GENERATE_STATUS")
    return FaultConfig(
        crash_after_s=_number(e, "SPARKTOP_SIM_CRASH_AFTER"),
        fail_startup_kv=fail == "kv",
        metrics_status=int(status) if status is not None else None,
        metrics_delay_s=_number(e, "SPARKTOP_SIM_METRICS_DELAY") or 0.0,
        generate_status=int(generate) if generate is not None else None,
        abort_after_tokens=int(abort) if abort is not None else None,
        alloc_mib=_number(e, "SPARKTOP_SIM_ALLOC_MIB"),
    )
