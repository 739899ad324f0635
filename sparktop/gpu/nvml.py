"""GPU readings through NVML (nvidia-ml-py's ``pynvml``), one blocking ``collect()`` per tick.

What other tools get wrong on a DGX Spark, and what this does instead:

- A field the device does not support (GB10: memory info, power limit) becomes ``Unknown`` for that
  field only, and the call is not repeated every tick.
- A driver older than the binding (no ``..._v3`` process query, so pynvml raises
  ``NVMLLibraryMismatchError``, or no clock event reasons) gets the older call, found once.
- A unified-memory device gets the host memory breakdown instead of NVML's memory figure (which is
  missing, zero, or counts page cache as used).
- No library, no driver, no permission, a lost GPU: ``collect()`` still returns a sample (with the
  host memory), says which in ``status``/``detail``, logs each distinct failure once on the
  ``sparktop.gpu`` logger and tries again with backoff (5 s doubling to 5 min by default).
- The energy counter is read every tick only while that is cheap. On an H200 with driver
  580.159 one ``nvmlDeviceGetTotalEnergyConsumption`` took 4.3 ms of CPU, against about 0.5 ms for
  every other field together; a read slower than ``ENERGY_SLOW_S`` spaces the next ones
  ``ENERGY_EVERY_S`` apart, and the ticks between carry the counter as unknown (energy per token
  pairs each reading with its own time, so it stays exact).

``collect()`` blocks on NVML and /proc: run it in a thread (``collect_async`` does).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from sparktop.clock import Clock, SystemClock
from sparktop.gpu.memory import (
    host_memory,
    read_cgroup_memory,
    read_meminfo,
    read_memory_pressure,
    resolve_container_cgroup,
)
from sparktop.model import GpuDevice, GpuProcess, GpuSample, GpuStatus, Num, Unknown

log = logging.getLogger("sparktop.gpu")

# NVML return codes (nvml.h); a module's own constants take precedence when it has them.
_DEFAULT_CODES = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH": 25,
    "NVML_ERROR_DEPRECATED": 26,
}

# Values NVML uses for "not available" in unsigned fields (NVML_VALUE_NOT_AVAILABLE_*).
_NOT_AVAILABLE = frozenset({0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF})

# Clock event (formerly "throttle") reason bits, nvmlClocksEventReason* / nvmlClocksThrottleReason*.
THROTTLE_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
    (0x200, "board_limit"),
    (0x400, "reliability"),
)

_THROTTLE_FUNCTIONS = ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")

# pynvml's unversioned process query calls ``_v3`` and raises NVMLLibraryMismatchError on a driver
# without it; ``_v2`` is what such a driver has.
_PROCESS_FUNCTIONS = ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2")

# Names of devices whose memory is the host's, for drivers that report a plausible total anyway.
_UNIFIED_NAME_HINTS = ("GB10", "Orin", "Thor", "Tegra", "Xavier")

UNSUPPORTED = "not supported on this device"

ENERGY_SLOW_S = 0.001
"""An energy counter read slower than this is not repeated every tick."""
ENERGY_EVERY_S = 5.0
"""Seconds between energy counter reads once they are slow."""


def decode_throttle_reasons(mask: int) -> tuple[str, ...]:
    """Names of the bits set in a clock event reasons mask (unknown bits as hex); () when none."""
    names = [name for bit, name in THROTTLE_REASONS if mask & bit]
    rest = mask & ~sum(bit for bit, _ in THROTTLE_REASONS)
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"0x{bit:x}")
            rest &= ~bit
        bit <<= 1
    return tuple(names)


def clean_text(value: object) -> str:
    """Text from the driver or /proc, decoded and with control characters replaced."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return "".join(c if c.isprintable() else "?" for c in text)


class _Fatal(Exception):
    """NVML as a whole stopped working during a tick (GPU lost, driver gone)."""

    def __init__(self, status: GpuStatus, detail: str) -> None:
        super().__init__(detail)
        self.status: GpuStatus = status
        self.detail = detail


class _NeverRaised(Exception):
    """Stands for ``NVMLError`` while no NVML module is loaded."""


@dataclass(slots=True)
class _Device:
    index: int
    handle: object
    name: str | Unknown
    uuid: str | Unknown


class NvmlCollector:
    """Reads every GPU through NVML and the host memory breakdown, once per ``collect()``.

    Args:
        nvml: the ``pynvml`` module, or a stand-in with the same surface; default: import ``pynvml``
            on first use.
        clock: where sample times and retry times come from.
        proc_root, cgroup_root: where /proc and the cgroup tree are read.
        container: the vLLM container's memory cgroup: a path, or a container id resolved under
            ``cgroup_root`` (see ``sparktop.gpu.memory.resolve_container_cgroup``).
        retry_initial_s, retry_max_s: backoff between attempts while NVML is not usable.
        timer: measures what one energy counter read costs (seconds, monotonic).
    """

    def __init__(
        self,
        nvml: ModuleType | None = None,
        clock: Clock | None = None,
        proc_root: Path = Path("/proc"),
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        container: str | Path | None = None,
        *,
        retry_initial_s: float = 5.0,
        retry_max_s: float = 300.0,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._nvml: Any = nvml
        self._import = nvml is None
        self._clock: Clock = clock or SystemClock()
        self._proc = proc_root
        self._cgroup_root = cgroup_root
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._lock = threading.Lock()
        self._timer = timer
        self._energy_due: dict[int, tuple[float, float]] = {}  # index -> (next read time, last cost)

        self._started = False  # nvmlInit succeeded and nvmlShutdown is owed
        self._ready = False  # devices are enumerated
        self._devices: list[_Device] = []
        self._driver: str | Unknown = Unknown("no GPU readings")
        self._unsupported: dict[tuple[int, str], Unknown] = {}
        self._names: dict[int, str | Unknown] = {}
        self._throttle_functions = list(_THROTTLE_FUNCTIONS)
        self._process_functions = list(_PROCESS_FUNCTIONS)
        self._codes = dict(_DEFAULT_CODES)
        self._error: type[BaseException] = _NeverRaised
        self._mismatch: type[BaseException] = _NeverRaised

        self._failure: tuple[GpuStatus, str] = ("error", "not collected yet")
        self._next_try = -math.inf
        self._backoff = retry_initial_s
        self._logged: set[tuple[str, str]] = set()

        self._container: str | Path | None = None
        self._container_path: Path | None = None
        self.set_container(container)

    # ----------------------------------------------------------------------------------------------
    # public

    def set_container(self, container: str | Path | None) -> None:
        """Follow another vLLM container's cgroup (or none). Raises ValueError for a malformed id."""
        if container is not None and not isinstance(container, Path) and "/" not in container:
            # Validates the id now, so a typo fails at the call rather than showing as unknown.
            resolve_container_cgroup(self._cgroup_root, container)
        with self._lock:
            self._container = container
            self._container_path = None

    def collect(self) -> GpuSample:
        """One sample of every device and the host memory. Blocks; never raises."""
        with self._lock:
            try:
                return self._collect()
            except Exception as exc:  # the panel must survive anything a driver binding does
                detail = f"GPU collection failed: {type(exc).__name__}: {exc}"
                self._log_once(logging.ERROR, "error", detail)
                self._teardown()
                self._fail(self._clock.now(), "error", detail)
                return self._bare_sample(self._clock.now(), "error", detail)

    async def collect_async(self) -> GpuSample:
        """``collect()`` in a worker thread."""
        return await asyncio.to_thread(self.collect)

    def close(self) -> None:
        """Shut NVML down; a later ``collect()`` starts it again."""
        with self._lock:
            self._teardown()
            self._next_try = -math.inf
            self._backoff = self._retry_initial

    # ----------------------------------------------------------------------------------------------
    # one tick

    def _collect(self) -> GpuSample:
        t = self._clock.now()
        meminfo = read_meminfo(self._proc)
        pressure = read_memory_pressure(self._proc)
        container = self._container_bytes()

        status: GpuStatus
        devices: tuple[GpuDevice, ...] = ()
        retry_in: float | None = None
        if not self._ready and t >= self._next_try:
            self._start(t)
        if self._ready:
            mem_total = None if isinstance(meminfo, Unknown) else meminfo.get("MemTotal")
            try:
                devices = tuple(self._read_device(d, mem_total, t) for d in self._devices)
                self._names = {p.pid: p.name for d in devices for p in _processes(d)}
                status = "ok"
                detail = f"{len(devices)} device{'s' if len(devices) != 1 else ''}, driver {self._driver}"
            except _Fatal as fatal:
                self._log_once(logging.WARNING, fatal.status, fatal.detail)
                self._teardown()
                self._fail(t, fatal.status, fatal.detail)
        if not self._ready:
            status, detail = self._failure
            retry_in = max(0.0, self._next_try - t)

        gpu_bytes, unreported, description = _gpu_share(devices, status)
        memory = host_memory(
            meminfo,
            pressure,
            gpu_processes_bytes=gpu_bytes,
            container_bytes=container,
            description=description,
            gpu_processes_unreported=unreported,
        )
        return GpuSample(
            t=t,
            status=status,
            detail=detail,
            devices=devices,
            memory=memory,
            driver_version=self._driver if self._ready else Unknown(f"no GPU readings ({status})"),
            retry_in_s=retry_in,
        )

    def _bare_sample(self, t: float, status: GpuStatus, detail: str) -> GpuSample:
        why = Unknown(f"no readings: {detail}")
        memory = host_memory(
            read_meminfo(self._proc),
            read_memory_pressure(self._proc),
            gpu_processes_bytes=why,
            container_bytes=why,
            description="host memory (collection failed)",
        )
        return GpuSample(t=t, status=status, detail=detail, devices=(), memory=memory)

    # ----------------------------------------------------------------------------------------------
    # starting, failing, retrying

    def _start(self, t: float) -> None:
        if self._nvml is None:
            try:
                self._nvml = importlib.import_module("pynvml")
            except ImportError:
                self._fail(t, "no-library", "nvidia-ml-py is not installed (pip install nvidia-ml-py)")
                return
        nvml = self._nvml
        self._error = getattr(nvml, "NVMLError", _NeverRaised)
        self._mismatch = getattr(nvml, "NVMLLibraryMismatchError", _NeverRaised)
        for name in _DEFAULT_CODES:
            value = getattr(nvml, name, None)
            if isinstance(value, int):
                self._codes[name] = value
        try:
            nvml.nvmlInit()
            self._started = True
            count = int(nvml.nvmlDeviceGetCount())
            if count <= 0:
                self._teardown()
                self._fail(t, "no-device", "NVML is loaded but sees no GPU")
                return
            devices = []
            for index in range(count):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                devices.append(
                    _Device(
                        index=index,
                        handle=handle,
                        name=self._text(index, "name", partial(nvml.nvmlDeviceGetName, handle)),
                        uuid=self._text(index, "uuid", partial(nvml.nvmlDeviceGetUUID, handle)),
                    )
                )
            self._driver = self._text(-1, "driver", nvml.nvmlSystemGetDriverVersion)
        except _Fatal as fatal:
            self._teardown()
            self._fail(t, fatal.status, fatal.detail)
            return
        except self._error as exc:
            self._teardown()
            self._fail(t, *self._start_failure(exc))
            return
        self._devices = devices
        self._ready = True
        self._backoff = self._retry_initial
        self._next_try = -math.inf
        self._logged.clear()
        log.info("NVML ready: %d device(s), driver %s", len(devices), self._driver)

    def _start_failure(self, exc: BaseException) -> tuple[GpuStatus, str]:
        code = getattr(exc, "value", None)
        c = self._codes
        if code == c["NVML_ERROR_LIBRARY_NOT_FOUND"]:
            return (
                "no-library",
                "NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver on this machine",
            )
        if code == c["NVML_ERROR_DRIVER_NOT_LOADED"]:
            return "no-driver", "the NVIDIA driver is not loaded (does nvidia-smi work?)"
        if code == c["NVML_ERROR_NO_PERMISSION"]:
            return (
                "no-permission",
                "no permission to use the GPU (access to /dev/nvidia*; containers need --gpus)",
            )
        if code == c["NVML_ERROR_GPU_IS_LOST"]:
            return "gpu-lost", "the GPU is lost (fell off the bus?): it needs a reset or a reboot"
        if code == c["NVML_ERROR_LIB_RM_VERSION_MISMATCH"]:
            return "no-driver", "NVML library and kernel driver versions differ: reboot after a driver update"
        return "error", f"NVML failed to start: {_error_text(exc)}"

    def _fail(self, t: float, status: GpuStatus, detail: str) -> None:
        level = logging.INFO if status in ("no-library", "no-driver", "no-device") else logging.WARNING
        self._log_once(level, status, detail)
        self._failure = (status, detail)
        self._next_try = t + self._backoff
        self._backoff = min(self._backoff * 2, self._retry_max)

    def _teardown(self) -> None:
        if self._started:
            self._started = False
            try:
                self._nvml.nvmlShutdown()
            except Exception as exc:  # shutting down a lost GPU can fail too; nothing to do about it
                log.debug("nvmlShutdown failed: %s", exc)
        self._ready = False
        self._devices = []
        self._unsupported.clear()
        self._names = {}
        self._throttle_functions = list(_THROTTLE_FUNCTIONS)
        self._process_functions = list(_PROCESS_FUNCTIONS)
        self._energy_due.clear()

    def _log_once(self, level: int, status: str, detail: str) -> None:
        key = (status, detail)
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, "GPU: %s: %s", status, detail)

    # ----------------------------------------------------------------------------------------------
    # fields

    def _field(self, index: int, key: str, read: Callable[[], Any]) -> Any:
        """``read()``, or Unknown with the reason; raises ``_Fatal`` when NVML as a whole failed."""
        cached = self._unsupported.get((index, key))
        if cached is not None:
            return cached
        try:
            return read()
        except self._error as exc:
            return self._field_error(index, key, exc)
        except AttributeError:
            unknown = Unknown("not supported by this nvidia-ml-py version")
            self._unsupported[(index, key)] = unknown
            return unknown
        except self._mismatch:
            # an unversioned pynvml call whose versioned function this (older) driver lacks
            unknown = Unknown("not supported by this driver (older than nvidia-ml-py expects)")
            self._log_once(logging.INFO, key, f"GPU {index}: {key}: {unknown.reason}")
            self._unsupported[(index, key)] = unknown
            return unknown
        except Exception as exc:  # a misbehaving binding costs one field, not the panel
            detail = f"reading {key} failed: {type(exc).__name__}: {exc}"
            self._log_once(logging.WARNING, key, detail)
            return Unknown(detail)

    def _field_error(self, index: int, key: str, exc: BaseException) -> Unknown:
        code = getattr(exc, "value", None)
        c = self._codes
        where = f"GPU {index}" if index >= 0 else "NVML"
        if code == c["NVML_ERROR_NOT_SUPPORTED"]:
            unknown = Unknown(UNSUPPORTED)
        elif code == c["NVML_ERROR_FUNCTION_NOT_FOUND"]:
            unknown = Unknown("not supported by this driver")
        elif code in (c["NVML_ERROR_ARGUMENT_VERSION_MISMATCH"], c["NVML_ERROR_DEPRECATED"]):
            # the driver refuses this call's structure version, or the call itself, for good
            unknown = Unknown(f"not supported by this driver ({_error_text(exc)})")
            self._log_once(logging.INFO, key, f"{where}: {key}: {unknown.reason}")
        elif code in (c["NVML_ERROR_GPU_IS_LOST"], c["NVML_ERROR_RESET_REQUIRED"]):
            raise _Fatal("gpu-lost", f"{where}: {_error_text(exc)} (it needs a reset or a reboot)")
        elif code == c["NVML_ERROR_DRIVER_NOT_LOADED"]:
            raise _Fatal("no-driver", "the NVIDIA driver was unloaded")
        elif code == c["NVML_ERROR_LIB_RM_VERSION_MISMATCH"]:
            raise _Fatal(
                "no-driver", "NVML library and kernel driver versions differ: reboot after a driver update"
            )
        elif code == c["NVML_ERROR_UNINITIALIZED"]:
            raise _Fatal("error", "NVML was shut down underneath the collector")
        elif code == c["NVML_ERROR_NO_PERMISSION"]:
            self._log_once(logging.INFO, key, f"{where}: no permission to read {key}")
            return Unknown("no permission to read this")
        else:
            detail = f"NVML error: {_error_text(exc)}"
            self._log_once(logging.WARNING, key, f"{where}: {key}: {detail}")
            return Unknown(detail)
        self._unsupported[(index, key)] = unknown
        return unknown

    def _number(self, index: int, key: str, read: Callable[[], Any], scale: float = 1.0) -> Num:
        value = self._field(index, key, read)
        if isinstance(value, Unknown):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Unknown(f"NVML gave an unexpected value: {type(value).__name__}")
        if value in _NOT_AVAILABLE:
            return Unknown("not available right now")
        return float(value) * scale

    def _text(self, index: int, key: str, read: Callable[[], Any]) -> str | Unknown:
        value = self._field(index, key, read)
        return value if isinstance(value, Unknown) else clean_text(value)

    def _first_present(self, functions: list[str], *args: object) -> Any:
        """Call ``functions[0]``; while the driver or binding lacks it, drop it and try the next.

        The dropped names stay dropped (until NVML is restarted), so a fallback costs one call.
        """
        while True:
            try:
                return getattr(self._nvml, functions[0])(*args)
            except Exception as exc:
                missing = isinstance(exc, (AttributeError, self._mismatch)) or (
                    isinstance(exc, self._error)
                    and getattr(exc, "value", None) == self._codes["NVML_ERROR_FUNCTION_NOT_FOUND"]
                )
                if not (missing and len(functions) > 1):
                    raise
                detail = f"{functions[0]} is missing ({type(exc).__name__}); using {functions[1]}"
                self._log_once(logging.INFO, "fallback", detail)
                functions.pop(0)

    def _read_throttle(self, handle: object) -> int:
        """The clock event reasons mask, falling back to the older "throttle reasons" call."""
        return int(self._first_present(self._throttle_functions, handle))

    def _energy(self, index: int, handle: object, t: float) -> Num:
        """The energy counter, or unknown between reads while reading it is slow."""
        due = self._energy_due.get(index)
        if due is not None and t < due[0]:
            return Unknown(
                f"read every {ENERGY_EVERY_S:g} s: one reading takes {due[1] * 1000:.1f} ms on this driver"
            )
        start = self._timer()
        value = self._number(index, "energy", lambda: self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        cost = self._timer() - start
        if cost > ENERGY_SLOW_S and not isinstance(value, Unknown):
            self._energy_due[index] = (t + ENERGY_EVERY_S, cost)
        else:
            self._energy_due.pop(index, None)
        return value

    def _read_device(self, dev: _Device, mem_total: int | None, t: float) -> GpuDevice:
        nvml = self._nvml
        h = dev.handle
        i = dev.index
        throttle = self._field(i, "throttle_reasons", lambda: self._read_throttle(h))
        if not isinstance(throttle, Unknown):
            throttle = decode_throttle_reasons(int(throttle))
        unified, used, total = self._memory(dev, mem_total)
        return GpuDevice(
            index=i,
            name=dev.name,
            uuid=dev.uuid,
            utilization_pct=self._number(i, "utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            power_w=self._number(i, "power", lambda: nvml.nvmlDeviceGetPowerUsage(h), 1e-3),
            power_limit_w=self._number(
                i, "power_limit", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(h), 1e-3
            ),
            temperature_c=self._number(
                i, "temperature", lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
            ),
            sm_clock_mhz=self._number(
                i, "sm_clock", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)
            ),
            energy_mj=self._energy(i, h, t),
            throttle_reasons=throttle,
            unified_memory=unified,
            memory_used_bytes=used,
            memory_total_bytes=total,
            processes=self._processes(i, h),
        )

    def _memory(self, dev: _Device, mem_total: int | None) -> tuple[bool, Num, Num]:
        """(unified?, used, total): unified devices give no single used figure."""
        info = self._field(dev.index, "memory", lambda: self._nvml.nvmlDeviceGetMemoryInfo(dev.handle))
        named_unified = isinstance(dev.name, str) and any(hint in dev.name for hint in _UNIFIED_NAME_HINTS)
        shared = "memory is shared with the host: see the host memory breakdown"
        if isinstance(info, Unknown):
            if info.reason == UNSUPPORTED or named_unified:
                why = Unknown(f"{info.reason}; {shared}")
                return True, why, why
            return False, info, info
        total = int(info.total)
        near_host = mem_total is not None and mem_total > 0 and abs(total - mem_total) <= 0.03 * mem_total
        if total <= 0 or near_host or named_unified:
            used = Unknown(f"NVML's figure counts page cache as used; {shared}")
            return True, used, (float(total) if total > 0 else Unknown(f"NVML reports 0; {shared}"))
        return False, float(info.used), float(total)

    def _processes(self, index: int, handle: object) -> tuple[GpuProcess, ...] | Unknown:
        raw = self._field(index, "processes", lambda: self._first_present(self._process_functions, handle))
        if isinstance(raw, Unknown):
            return raw
        out = []
        for proc in raw:
            pid = int(proc.pid)
            used = getattr(proc, "usedGpuMemory", None)
            out.append(
                GpuProcess(
                    pid=pid,
                    name=self._process_name(pid),
                    used_memory_bytes=(
                        float(used)
                        if isinstance(used, int) and used not in _NOT_AVAILABLE
                        else Unknown("not reported by the driver")
                    ),
                )
            )
        return tuple(out)

    def _process_name(self, pid: int) -> str | Unknown:
        known = self._names.get(pid)
        if known is not None:
            return known
        try:
            return clean_text((self._proc / str(pid) / "comm").read_bytes())
        except OSError:
            pass
        try:
            return clean_text(self._nvml.nvmlSystemGetProcessName(pid)).rsplit("/", 1)[-1]
        except Exception:
            return Unknown("process not visible here (NVML gives host PIDs)")

    def _container_bytes(self) -> Num:
        if self._container is None:
            return Unknown("no vLLM container given")
        if self._container_path is None:
            found = resolve_container_cgroup(self._cgroup_root, self._container)
            if isinstance(found, Unknown):
                return found
            self._container_path = found
        value = read_cgroup_memory(self._container_path)
        if isinstance(value, Unknown):
            self._container_path = None  # look it up again next tick (a restarted container moves)
        return value


def _processes(device: GpuDevice) -> tuple[GpuProcess, ...]:
    return () if isinstance(device.processes, Unknown) else device.processes


def _error_text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"NVML error code {getattr(exc, 'value', '?')}"


def _gpu_share(devices: tuple[GpuDevice, ...], status: GpuStatus) -> tuple[Num, int, str]:
    """Memory held by processes on unified-memory devices, how many did not say, and a description."""
    unified = [d for d in devices if d.unified_memory]
    if status != "ok":
        return Unknown(f"no GPU readings ({status})"), 0, "host memory (no GPU readings)"
    if not unified:
        return Unknown("GPU memory is separate (discrete GPU)"), 0, "host memory (GPU memory is separate)"
    names = ", ".join(sorted({d.name if isinstance(d.name, str) else f"GPU {d.index}" for d in unified}))
    description = f"unified memory shared by the CPU and {names}"
    lists = [d.processes for d in unified]
    known_lists = [p for p in lists if not isinstance(p, Unknown)]
    if not known_lists:
        first = lists[0]
        assert isinstance(first, Unknown)
        return first, 0, description
    total = 0.0
    unreported = 0
    for procs in known_lists:
        for proc in procs:
            if isinstance(proc.used_memory_bytes, Unknown):
                unreported += 1
            else:
                total += proc.used_memory_bytes
    return total, unreported, description
