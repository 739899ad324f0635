"""`sparktop gpu`: one sample of every GPU and the host memory breakdown, as a table or JSON.

Exits 0 whether or not there is a GPU (the host memory part still shows); with
``--gpu-memory-utilization`` it also runs the launch preflight and exits 1 when that fails.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from sparktop.cli import EXIT_FAILED, EXIT_OK, CliError
from sparktop.codec import encode
from sparktop.gpu.nvml import NvmlCollector
from sparktop.gpu.preflight import PreflightResult, preflight
from sparktop.model import GpuDevice, GpuSample, Num, Unknown

GIB = 1024**3


def run(args: argparse.Namespace, make_collector: Callable[..., NvmlCollector] = NvmlCollector) -> int:
    container: str | None = args.container
    try:
        collector = make_collector(container=container)
    except ValueError as exc:
        raise CliError(str(exc), hint="pass a container id or a cgroup path (with a '/')") from None
    try:
        sample = collector.collect()
    finally:
        collector.close()
    result = preflight(args.gpu_memory_utilization, sample) if args.gpu_memory_utilization else None
    if args.json:
        doc = {"sample": encode(sample), "preflight": None if result is None else encode(result)}
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(render_text(sample, result))
    return EXIT_FAILED if result is not None and result.verdict == "fail" else EXIT_OK


# --------------------------------------------------------------------------------------------------
# the table


def _num(value: Num, unit: str, digits: int = 1, scale: float = 1.0) -> str:
    if isinstance(value, Unknown):
        return str(value)
    return f"{value * scale:.{digits}f} {unit}".rstrip()


def _bytes(value: Num) -> str:
    return _num(value, "GiB", 1, 1 / GIB)


def _text(value: str | Unknown) -> str:
    return str(value)


def _device_lines(device: GpuDevice) -> list[str]:
    rows: list[tuple[str, str]] = [
        ("utilisation", _num(device.utilization_pct, "%", 0)),
        ("power", _num(device.power_w, "W")),
        ("power limit", _num(device.power_limit_w, "W")),
        ("temperature", _num(device.temperature_c, "°C", 0)),
        ("SM clock", _num(device.sm_clock_mhz, "MHz", 0)),
        ("energy", _num(device.energy_mj, "kJ since the driver loaded", 1, 1e-6)),  # mJ to kJ
    ]
    reasons = device.throttle_reasons
    rows.append(
        ("clock events", str(reasons) if isinstance(reasons, Unknown) else (", ".join(reasons) or "none"))
    )
    if device.unified_memory:
        total = (
            ""
            if isinstance(device.memory_total_bytes, Unknown)
            else f" ({_bytes(device.memory_total_bytes)})"
        )
        rows.append(("memory", f"unified with the host{total}: see the memory breakdown below"))
    else:
        rows.append(("memory used", _bytes(device.memory_used_bytes)))
        rows.append(("memory total", _bytes(device.memory_total_bytes)))
    procs = device.processes
    rows.append(("processes", str(procs) if isinstance(procs, Unknown) else str(len(procs))))
    lines = [f"GPU {device.index}  {_text(device.name)}  {_text(device.uuid)}"]
    lines += [f"  {label:<16}{value}" for label, value in rows]
    if not isinstance(procs, Unknown):
        for proc in procs:
            lines.append(f"    PID {proc.pid:<9} {_text(proc.name):<24} {_bytes(proc.used_memory_bytes)}")
    return lines


def render_text(sample: GpuSample, result: PreflightResult | None = None) -> str:
    """The human-readable sample: devices, memory breakdown, preflight."""
    lines = [f"GPU: {sample.status}: {sample.detail}"]
    for device in sample.devices:
        lines.append("")
        lines += _device_lines(device)
    mem = sample.memory
    gpu_share = _bytes(mem.gpu_processes_bytes)
    if mem.gpu_processes_unreported:
        n = mem.gpu_processes_unreported
        gpu_share += f" at least ({n} process{'es' if n != 1 else ''} without a figure)"
    pressure = (
        f"some {_num(mem.psi_some_avg10, '%', 2)}, full {_num(mem.psi_full_avg10, '%', 2)} (last 10 s)"
        if not isinstance(mem.psi_some_avg10, Unknown)
        else str(mem.psi_some_avg10)
    )
    rows = [
        ("total", _bytes(mem.total_bytes)),
        ("available", _bytes(mem.available_bytes) + "  (MemAvailable)"),
        ("free", _bytes(mem.free_bytes) + "  (MemFree)"),
        ("page cache", _bytes(mem.page_cache_bytes)),
        ("reclaimable", _bytes(mem.reclaimable_bytes) + "  (available - free)"),
        ("GPU processes", gpu_share),
        ("vLLM container", _bytes(mem.container_bytes)),
        ("pressure (PSI)", pressure),
    ]
    lines += ["", f"Memory: {mem.description}"]
    lines += [f"  {label:<16}{value}" for label, value in rows]
    if result is not None:
        lines += ["", f"Preflight: {result.verdict}: {result.message}"]
        if result.hint:
            lines.append(f"  hint: {result.hint}")
    return "\n".join(lines)
