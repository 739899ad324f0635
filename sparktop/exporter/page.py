"""The exporter's page from frozen readings: pure, no I/O, tested alone.

Every name starts with ``sparktop_`` and carries its unit (``_bytes``, ``_watts``, ``_celsius``,
``_hertz``, ``_seconds``, ``_ratio``, ``_joules_total``). A reading that is ``Unknown`` is left out
of the page (never shown as 0) and an info series of its part says why:
``sparktop_gpu_field_unknown_info{device="0",field="memory_used_bytes",reason="..."} 1``, with the
``field`` named as the family is, less its part's prefix. Each part (memory, gpu, container) also
says whether it was read at all in ``sparktop_exporter_part_up`` and, when not, why in
``sparktop_exporter_part_error_info``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sparktop.exporter.exposition import Family, Kind, render
from sparktop.gpu.nvml import THROTTLE_REASONS
from sparktop.model import (
    ContainerState,
    ContainerStats,
    GpuDevice,
    GpuSample,
    HostMemory,
    Num,
    StartupProgress,
    Unknown,
)

PARTS = ("memory", "gpu", "container")
CONTAINER_STATES: tuple[ContainerState, ...] = (
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
    "missing",
)


@dataclass(frozen=True, slots=True)
class PartStatus:
    """Whether a part was read in this collection, why not, and what reading it took."""

    up: bool
    reason: str = ""
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class ContainerView:
    """What the exporter knows of the container it follows."""

    name: str
    stats: ContainerStats | None = None
    """The latest reading; None before the first one."""
    startup: StartupProgress | None = None
    """vLLM's startup from the container's log; None while no startup line has been seen."""
    problem: str = ""
    """Why the container cannot be followed right now (no engine, no such container); empty if it can."""


@dataclass(frozen=True, slots=True)
class Readings:
    """Everything one page shows, collected at wall-clock time ``t`` (seconds since the epoch)."""

    t: float
    version: str
    memory: HostMemory
    memory_container: str | None = None
    """The container whose cgroup ``memory.container_bytes`` measures (its label)."""
    gpu: GpuSample | None = None
    """None when the exporter runs without ``--gpu``."""
    container: ContainerView | None = None
    parts: Mapping[str, PartStatus] = field(default_factory=dict)
    collections: int = 0
    scrapes: int = 0


class _Families:
    """Families in the order they are first asked for; an unknown reading goes to its part's info."""

    def __init__(self) -> None:
        self._all: dict[str, Family] = {}

    def get(self, name: str, kind: Kind, help_text: str) -> Family:
        family = self._all.get(name)
        if family is None:
            family = self._all[name] = Family(name, kind, help_text)
        return family

    def number(
        self,
        name: str,
        kind: Kind,
        help_text: str,
        value: Num,
        unknown: Callable[[str, str], None],
        scale: float = 1.0,
        /,
        **labels: str,
    ) -> None:
        """One sample, or (unknown or not finite) the reason through ``unknown(field, reason)``."""
        family = self.get(name, kind, help_text)
        if isinstance(value, Unknown):
            unknown(_field_name(name), value.reason)
            return
        scaled = value * scale
        if not math.isfinite(scaled):
            unknown(_field_name(name), f"the reading was not a finite number ({value!r})")
            return
        family.add(scaled, **labels)

    def families(self) -> list[Family]:
        """In order of part, each part's unknown-readings info last (the order is otherwise kept)."""

        def key(family: Family) -> tuple[int, bool]:
            part = next((i for i, p in enumerate(_PART_PREFIXES) if family.name.startswith(p)), 0)
            return part, family.name.endswith("_field_unknown_info")

        return sorted(self._all.values(), key=key)


_PART_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("sparktop_exporter_",),
    ("sparktop_memory_",),
    ("sparktop_gpu_",),
    ("sparktop_container_", "sparktop_startup_"),
)


def _field_name(name: str) -> str:
    """``sparktop_gpu_power_watts`` -> ``power_watts``: the family's name within its part."""
    for prefix in ("sparktop_memory_", "sparktop_gpu_", "sparktop_container_", "sparktop_startup_"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name.removeprefix("sparktop_")


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


# --------------------------------------------------------------------------------------------------
# the parts


def _exporter(out: _Families, r: Readings) -> None:
    out.get("sparktop_exporter_info", "gauge", "The exporter: its version (always 1).").add(
        1, version=r.version
    )
    out.get(
        "sparktop_exporter_collections_total",
        "counter",
        "Collections of the readings since the exporter started (scrapes within the cache share one).",
    ).add(r.collections)
    out.get(
        "sparktop_exporter_scrapes_total",
        "counter",
        "Scrapes of /metrics since the exporter started, this one included.",
    ).add(r.scrapes)
    up = out.get(
        "sparktop_exporter_part_up",
        "gauge",
        "Whether a part (memory, gpu, container) was read in the last collection (1) or not (0).",
    )
    errors = out.get(
        "sparktop_exporter_part_error_info",
        "gauge",
        "Why a part (memory, gpu, container) was not read in the last collection (always 1).",
    )
    took = out.get(
        "sparktop_exporter_collect_duration_seconds",
        "gauge",
        "Seconds the last collection of a part (memory, gpu, container) took.",
    )
    for part in PARTS:
        status = r.parts.get(part)
        if status is None:
            continue
        up.add(_flag(status.up), part=part)
        if not status.up:
            errors.add(1, part=part, reason=status.reason or "unknown")
        if status.duration_s is not None and math.isfinite(status.duration_s):
            took.add(max(0.0, status.duration_s), part=part)


_MEMORY: tuple[tuple[str, str, str], ...] = (
    ("total_bytes", "total_bytes", "Memory in all (MemTotal); on GB10 shared by the CPU and the GPU."),
    (
        "available_bytes",
        "available_bytes",
        "Memory the kernel can hand out without swapping, page cache reclaim included (MemAvailable).",
    ),
    ("free_bytes", "free_bytes", "Memory unused right now (MemFree): what CUDA reports free on GB10."),
    ("page_cache_bytes", "page_cache_bytes", "File pages, shared memory and tmpfs (Buffers + Cached)."),
    (
        "reclaimable_bytes",
        "reclaimable_bytes",
        "What reclaiming caches would free, by the kernel's estimate (MemAvailable - MemFree).",
    ),
    (
        "gpu_processes_bytes",
        "gpu_processes_bytes",
        "Memory held by GPU processes on unified-memory devices (sum of NVML's per-process figures; "
        "a lower bound when sparktop_memory_gpu_processes_unreported is above 0).",
    ),
)


def _memory(out: _Families, r: Readings) -> None:
    mem = r.memory
    unknown_info = out.get(
        "sparktop_memory_field_unknown_info",
        "gauge",
        "A memory reading left off this page, and why (always 1).",
    )

    def unknown(name: str, reason: str) -> None:
        unknown_info.add(1, field=name, reason=reason)

    for attr, tail, help_text in _MEMORY:
        out.number(f"sparktop_memory_{tail}", "gauge", help_text, getattr(mem, attr), unknown)
    if not isinstance(mem.gpu_processes_bytes, Unknown):
        out.get(
            "sparktop_memory_gpu_processes_unreported",
            "gauge",
            "GPU processes whose memory NVML did not report (not in sparktop_memory_gpu_processes_bytes).",
        ).add(mem.gpu_processes_unreported)
    container_help = (
        "The vLLM container's cgroup working set: usage minus inactive file cache, as docker stats."
    )
    container = r.memory_container
    if container is None:
        unknown("container_bytes", "no container given (--container NAME)")
    else:
        out.number(
            "sparktop_memory_container_bytes",
            "gauge",
            container_help,
            mem.container_bytes,
            lambda name, reason: unknown_info.add(1, field=name, reason=reason, container=container),
            container=container,
        )
    out.number(
        "sparktop_memory_pressure_some_avg10_ratio",
        "gauge",
        "Memory pressure (PSI): share of the last 10 s in which some task stalled on memory.",
        mem.psi_some_avg10,
        unknown,
        0.01,
    )
    out.number(
        "sparktop_memory_pressure_full_avg10_ratio",
        "gauge",
        "Memory pressure (PSI): share of the last 10 s in which all non-idle tasks stalled on memory.",
        mem.psi_full_avg10,
        unknown,
        0.01,
    )
    if mem.description:
        out.get(
            "sparktop_memory_info",
            "gauge",
            "What this memory is: unified with a GPU (which), or host memory beside one (always 1).",
        ).add(1, description=mem.description)


_GPU_NUMBERS: tuple[tuple[str, str, Kind, str, float], ...] = (
    (
        "utilization_pct",
        "utilization_ratio",
        "gauge",
        "GPU utilisation over NVML's last sample period.",
        0.01,
    ),
    ("power_w", "power_watts", "gauge", "Power draw.", 1.0),
    ("power_limit_w", "power_limit_watts", "gauge", "Enforced power limit.", 1.0),
    ("temperature_c", "temperature_celsius", "gauge", "GPU temperature.", 1.0),
    ("sm_clock_mhz", "sm_clock_hertz", "gauge", "SM clock.", 1e6),
    (
        "energy_mj",
        "energy_joules_total",
        "counter",
        "Energy used since the driver loaded (NVML's total energy counter).",
        1e-3,
    ),
    (
        "memory_used_bytes",
        "memory_used_bytes",
        "gauge",
        "Device memory in use (discrete GPUs; on unified memory see sparktop_memory_*).",
        1.0,
    ),
    ("memory_total_bytes", "memory_total_bytes", "gauge", "Device memory in all.", 1.0),
)


def _gpu(out: _Families, sample: GpuSample) -> None:
    out.get(
        "sparktop_gpu_collector_info",
        "gauge",
        "The NVML collector's status (ok, no-library, no-driver, no-permission, gpu-lost, no-device, "
        "error), what it says, and the driver version (always 1).",
    ).add(1, status=sample.status, detail=sample.detail, driver_version=str(sample.driver_version))
    unknown_info = out.get(
        "sparktop_gpu_field_unknown_info",
        "gauge",
        "A GPU reading left off this page, and why (always 1).",
    )
    info = out.get(
        "sparktop_gpu_info",
        "gauge",
        "A GPU: its name, UUID and whether its memory is the host's (always 1).",
    )
    for device in sample.devices:
        index = str(device.index)
        info.add(
            1,
            device=index,
            name=str(device.name),
            uuid=str(device.uuid),
            unified_memory="true" if device.unified_memory else "false",
        )

        def unknown(name: str, reason: str, index: str = index) -> None:
            unknown_info.add(1, device=index, field=name, reason=reason)

        for attr, tail, kind, help_text, scale in _GPU_NUMBERS:
            value: Num = getattr(device, attr)
            out.number(f"sparktop_gpu_{tail}", kind, help_text, value, unknown, scale, device=index)
        _throttle(out, device, unknown)
        _processes(out, device, unknown_info)


def _throttle(out: _Families, device: GpuDevice, unknown: Callable[[str, str], None]) -> None:
    family = out.get(
        "sparktop_gpu_throttle_reason_active",
        "gauge",
        "Whether a clock event (throttle) reason holds the clocks down now (1) or not (0).",
    )
    reasons = device.throttle_reasons
    if isinstance(reasons, Unknown):
        unknown("throttle_reason_active", reasons.reason)
        return
    known = [name for _, name in THROTTLE_REASONS]
    for name in known:
        family.add(_flag(name in reasons), device=str(device.index), reason=name)
    for name in sorted(set(reasons) - set(known)):
        family.add(1, device=str(device.index), reason=name)


def _processes(out: _Families, device: GpuDevice, unknown_info: Family) -> None:
    index = str(device.index)
    count = out.get("sparktop_gpu_processes", "gauge", "Compute processes on the GPU.")
    memory = out.get(
        "sparktop_gpu_process_memory_bytes",
        "gauge",
        "Memory a compute process holds on the GPU (its host PID: not the PID inside a container).",
    )
    procs = device.processes
    if isinstance(procs, Unknown):
        unknown_info.add(1, device=index, field="processes", reason=procs.reason)
        return
    count.add(len(procs), device=index)
    seen: set[int] = set()
    for proc in procs:
        if proc.pid in seen:
            continue  # a driver listing a process twice: its first figure stands
        seen.add(proc.pid)
        used = proc.used_memory_bytes
        if isinstance(used, Unknown) or not math.isfinite(used):
            why = used.reason if isinstance(used, Unknown) else "the reading was not a finite number"
            unknown_info.add(1, device=index, field="process_memory_bytes", pid=str(proc.pid), reason=why)
            continue
        memory.add(used, device=index, pid=str(proc.pid), process=str(proc.name))


def _container(out: _Families, view: ContainerView, now: float) -> None:
    name = view.name
    unknown_info = out.get(
        "sparktop_container_field_unknown_info",
        "gauge",
        "A container or startup reading left off this page, and why (always 1).",
    )

    def unknown(what: str, reason: str) -> None:
        unknown_info.add(1, container=name, field=what, reason=reason)

    stats = view.stats
    if stats is None:
        unknown("state", view.problem or "no reading of the container yet")
    else:
        out.get(
            "sparktop_container_running",
            "gauge",
            "Whether the container is running (1) or not (0), as Docker says.",
        ).add(_flag(stats.state == "running"), container=name)
        state = out.get(
            "sparktop_container_state",
            "gauge",
            "The container's state as Docker says (1 for the current one; missing: it no longer exists).",
        )
        for one in CONTAINER_STATES:
            state.add(_flag(stats.state == one), container=name, state=one)
        out.number(
            "sparktop_container_cpu_usage_ratio",
            "gauge",
            "CPU use in cores (1 = one core busy) between Docker's last two stats readings.",
            stats.cpu_pct,
            unknown,
            0.01,
            container=name,
        )
        out.number(
            "sparktop_container_memory_bytes",
            "gauge",
            "Memory in use minus inactive file cache, as docker stats shows it.",
            stats.mem_bytes,
            unknown,
            container=name,
        )
        out.number(
            "sparktop_container_memory_limit_bytes",
            "gauge",
            "The container's memory limit (the host's memory when it has none).",
            stats.mem_limit_bytes,
            unknown,
            container=name,
        )
        out.get(
            "sparktop_container_oom_killed",
            "gauge",
            "Whether the container's last run was killed for running out of memory (1) or not (0).",
        ).add(_flag(stats.oom_killed), container=name)
        if stats.exit_code is not None:
            out.get(
                "sparktop_container_exit_code",
                "gauge",
                "The exit code of the container's last run (only while it is not running).",
            ).add(stats.exit_code, container=name)
        if stats.error:
            out.get(
                "sparktop_container_stopped_info",
                "gauge",
                "Why the container is not running, in words (always 1).",
            ).add(1, container=name, reason=stats.error)
        out.get(
            "sparktop_container_reading_age_seconds",
            "gauge",
            "Seconds since the container's latest reading (Docker's stats stream sends one a second).",
        ).add(max(0.0, now - stats.t), container=name)
    _startup(out, name, view.startup, now, unknown)


def _startup(
    out: _Families,
    name: str,
    startup: StartupProgress | None,
    now: float,
    unknown: Callable[[str, str], None],
) -> None:
    if startup is None or not startup.phases:
        unknown("startup_ready", "no vLLM startup lines in the container's log (yet)")
        return
    out.get(
        "sparktop_startup_ready",
        "gauge",
        "Whether vLLM's startup finished (1: Application startup complete) or not (0), from its log.",
    ).add(_flag(startup.ready), container=name)
    out.get(
        "sparktop_startup_failed",
        "gauge",
        "Whether vLLM's startup ended with a known fatal error (1) or not (0), from its log.",
    ).add(_flag(startup.fatal is not None), container=name)
    if startup.fatal is not None:
        out.get(
            "sparktop_startup_fatal_info",
            "gauge",
            "The log line that ended vLLM's startup, and what to do about it (always 1).",
        ).add(1, container=name, line=startup.fatal, hint=startup.hint or "")
    duration = out.get(
        "sparktop_startup_phase_duration_seconds",
        "gauge",
        "Seconds a startup phase took (engine, download, weights, compile, kv_cache, graphs, warmup, "
        "api), from vLLM's log; a phase still running counts up to now.",
    )
    started = out.get(
        "sparktop_startup_phase_start_timestamp_seconds",
        "gauge",
        "When a startup phase began (seconds since the epoch, Docker's log timestamps).",
    )
    running = out.get(
        "sparktop_startup_phase_running",
        "gauge",
        "Whether a startup phase is the one running now (1) or not (0).",
    )
    seen: set[str] = set()
    for phase in startup.phases:
        if phase.name in seen:
            continue
        seen.add(phase.name)
        end = phase.ended if phase.ended is not None else now
        duration.add(max(0.0, end - phase.started), container=name, phase=phase.name)
        started.add(phase.started, container=name, phase=phase.name)
        running.add(_flag(startup.current == phase.name), container=name, phase=phase.name)
    if startup.current is not None and startup.percent is not None:
        out.get(
            "sparktop_startup_phase_progress_ratio",
            "gauge",
            "Progress of the running phase, when vLLM's log shows one (weights shards, CUDA graphs).",
        ).add(startup.percent / 100.0, container=name, phase=startup.current)
    ended = [p.ended for p in startup.phases if p.ended is not None]
    if startup.ready and ended:
        out.get(
            "sparktop_startup_duration_seconds",
            "gauge",
            "Seconds from the first startup line to Application startup complete.",
        ).add(max(0.0, max(ended) - startup.phases[0].started), container=name)
    if startup.kv_cache_tokens is not None:
        out.get(
            "sparktop_startup_kv_cache_tokens",
            "gauge",
            "Tokens the KV cache holds, as vLLM's startup log says.",
        ).add(startup.kv_cache_tokens, container=name)
    if startup.max_concurrency is not None and startup.max_concurrency_tokens is not None:
        out.get(
            "sparktop_startup_max_concurrency",
            "gauge",
            "Requests of tokens_per_request tokens that fit in the KV cache at once, as vLLM's log says.",
        ).add(
            startup.max_concurrency,
            container=name,
            tokens_per_request=str(startup.max_concurrency_tokens),
        )


# --------------------------------------------------------------------------------------------------


def families(r: Readings) -> list[Family]:
    """The families of one page, exporter first, then memory, GPU and container."""
    out = _Families()
    _exporter(out, r)
    _memory(out, r)
    if r.gpu is not None:
        _gpu(out, r.gpu)
    if r.container is not None:
        _container(out, r.container, r.t)
    return out.families()


def render_page(r: Readings) -> str:
    """The exposition text of one page."""
    return render(families(r))
