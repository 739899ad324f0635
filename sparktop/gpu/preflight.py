"""Before a multi-minute vLLM start: will ``--gpu-memory-utilization`` fit in memory right now?

vLLM asks for ``gpu_memory_utilization x total`` at startup and refuses to start when the device
reports less free memory. On a unified-memory device (GB10) CUDA reports ``MemFree`` as free, so
page cache counts as used: with model files freshly read, the check fails although the kernel would
hand the memory over (``MemAvailable``). Hence three outcomes there:

- ok: the request fits in ``MemFree``;
- warn: it fits only once page cache is reclaimed (``MemFree`` < request <= ``MemAvailable``,
  ``MemAvailable`` being free memory plus what reclaiming caches frees): vLLM versions that check
  free memory will refuse; drop caches first;
- fail: it does not fit even in ``MemAvailable``.

On a discrete GPU the request is compared with the device's own free memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sparktop.model import GpuSample, Num, Unknown

Verdict = Literal["ok", "warn", "fail"]

DROP_CACHES = "sync; echo 3 | sudo tee /proc/sys/vm/drop_caches"
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class PreflightResult:
    """What the check found: a verdict, one line saying why, and what to do about it."""

    verdict: Verdict
    message: str
    hint: str
    gpu_memory_utilization: float
    requested_bytes: Num
    free_bytes: Num
    available_bytes: Num
    total_bytes: Num


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def _fitting_utilization(fits_bytes: float, total: float) -> float:
    """The largest utilisation (two decimals, rounded down) whose request fits in ``fits_bytes``."""
    return max(0.0, math.floor(fits_bytes / total * 100) / 100)


def preflight(gpu_memory_utilization: float, sample: GpuSample) -> PreflightResult:
    """Compare what vLLM will ask for with what is free and reclaimable now."""
    util = gpu_memory_utilization
    if not 0 < util <= 1:
        raise ValueError(f"--gpu-memory-utilization must be in (0, 1], got {util!r}")
    if sample.devices and not any(d.unified_memory for d in sample.devices):
        return _discrete(util, sample)
    return _unified(util, sample)


def _unknown(util: float, why: str, total: Num, free: Num, available: Num) -> PreflightResult:
    return PreflightResult(
        verdict="warn",
        message=f"cannot check --gpu-memory-utilization {util:g}: {why}",
        hint="check free memory by hand (free -g) before a long start",
        gpu_memory_utilization=util,
        requested_bytes=Unknown(why),
        free_bytes=free,
        available_bytes=available,
        total_bytes=total,
    )


def _unified(util: float, sample: GpuSample) -> PreflightResult:
    mem = sample.memory
    total, free, available = mem.total_bytes, mem.free_bytes, mem.available_bytes
    if isinstance(total, Unknown) or total <= 0:
        return _unknown(util, f"MemTotal unknown ({_reason(total)})", total, free, available)
    if isinstance(free, Unknown):
        return _unknown(util, f"MemFree unknown ({free.reason})", total, free, available)
    if isinstance(available, Unknown):
        return _unknown(util, f"MemAvailable unknown ({available.reason})", total, free, available)
    requested = util * total

    def result(verdict: Verdict, message: str, hint: str = "") -> PreflightResult:
        return PreflightResult(verdict, message, hint, util, requested, free, available, total)

    asks = f"--gpu-memory-utilization {util:g} asks for {_gib(requested)} of {_gib(total)}"
    if requested <= free:
        return result("ok", f"{asks}; {_gib(free)} is free")
    if requested <= available:
        return result(
            "warn",
            f"{asks} but only {_gib(free)} is free: {_gib(available - free)} more is page cache "
            "that vLLM's startup check may count as used",
            f"drop caches first ({DROP_CACHES}), or {_lower(free, total)}",
        )
    holders = ""
    if not isinstance(mem.gpu_processes_bytes, Unknown) and mem.gpu_processes_bytes > 0:
        holders = f"; GPU processes already hold {_gib(mem.gpu_processes_bytes)}"
    return result(
        "fail",
        f"{asks} but only {_gib(available)} is available even after reclaiming caches{holders}",
        f"{_lower(available, total)}, or stop what holds the memory",
    )


def _reason(value: Num) -> str:
    return value.reason if isinstance(value, Unknown) else f"{value:g}"


def _lower(fits_bytes: float, total: float) -> str:
    fitting = _fitting_utilization(fits_bytes, total)
    if fitting < 0.01:
        return "free memory first"
    return f"use --gpu-memory-utilization {fitting:.2f} or less"


def _discrete(util: float, sample: GpuSample) -> PreflightResult:
    """vLLM uses one device per rank; the tightest device decides."""
    worst: PreflightResult | None = None
    for device in sample.devices:
        total, used = device.memory_total_bytes, device.memory_used_bytes
        if isinstance(total, Unknown) or isinstance(used, Unknown):
            why = f"GPU {device.index} memory unknown"
            return _unknown(util, why, total, Unknown(why), Unknown(why))
        free = total - used
        requested = util * total
        asks = f"GPU {device.index}: --gpu-memory-utilization {util:g} asks for {_gib(requested)}"
        if requested <= free:
            verdict: Verdict = "ok"
            message = f"{asks} of {_gib(total)}; {_gib(free)} is free"
            hint = ""
        else:
            verdict = "fail"
            message = f"{asks} but only {_gib(free)} of {_gib(total)} is free"
            hint = f"{_lower(free, total)}, or stop the processes on that GPU"
        result = PreflightResult(verdict, message, hint, util, requested, free, free, total)
        if worst is None or (worst.verdict == "ok" and verdict != "ok"):
            worst = result
    assert worst is not None
    return worst
