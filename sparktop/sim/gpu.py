"""The simulated GB10: power, temperature, clocks, utilisation and unified memory following the engine.

Readings approach their targets with first-order lags (utilisation ~1 s, power ~2 s, temperature
~60 s); targets come from the engine's busy fraction since the last sample (prefill steps draw more
power than memory-bound decode) and, during startup, from the phase. The energy counter integrates
power. The engine process's memory grows through startup (weights, then the KV cache, then CUDA
graphs) to ``gpu_memory_utilization`` x total. Fields NVML cannot read on a real GB10 (power limit,
device memory info) are ``Unknown`` here too. Every sample says ``simulated=True``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sparktop.model import GpuDevice, GpuProcess, GpuSample, HostMemory, Unknown
from sparktop.sim.memory import MemoryPlan
from sparktop.sim.profiles import GIB

NOT_SUPPORTED = Unknown("not supported on this device")
SIMULATED_NAME = "NVIDIA GB10 (SIMULATED)"
SIMULATED_UUID = "GPU-51a7ed00-5ba7-4c0d-9e10-000000000000"
SIMULATED_DRIVER = "580.142 (SIMULATED)"
ENGINE_HOST_PID = 48214
CONTAINER_OVERHEAD_BYTES = int(2.2 * GIB)

IDLE_POWER_W = 11.0
DECODE_POWER_W = 48.0
PREFILL_POWER_W = 82.0
IDLE_TEMP_C = 38.0
TEMP_PER_W = 0.42
IDLE_CLOCK_MHZ = 850.0
MAX_CLOCK_MHZ = 2405.0
TAU_UTIL_S = 1.0
TAU_POWER_S = 2.0
TAU_TEMP_S = 60.0

# (utilisation, extra power) while starting, by phase.
_PHASE_LOAD = {
    "process": (0.0, 0.0),
    "engine": (2.0, 2.0),
    "weights": (12.0, 8.0),
    "compile": (35.0, 18.0),
    "kv_cache": (90.0, 40.0),
    "graphs": (60.0, 30.0),
    "api": (0.0, 0.0),
}


@dataclass(slots=True)
class _Memory:
    start_bytes: int = 0
    target_bytes: int = 0
    ramp_from: float = 0.0
    ramp_s: float = 0.0

    def at(self, t: float) -> int:
        if self.ramp_s <= 0 or t >= self.ramp_from + self.ramp_s:
            return self.target_bytes
        frac = max(0.0, (t - self.ramp_from) / self.ramp_s)
        return int(self.start_bytes + (self.target_bytes - self.start_bytes) * frac)


class SimGpu:
    """One modelled GB10; ``sample(now, busy_s, prefill_busy_s)`` advances it to ``now``."""

    def __init__(self, plan: MemoryPlan, *, start: float, host_used_bytes: int, seed: int = 0) -> None:
        self.plan = plan
        self._host_used = host_used_bytes
        self._rng = random.Random(seed ^ 0x6B10)
        self._t = start
        self._busy = 0.0
        self._prefill = 0.0
        self.phase = "process"
        self.util = 0.0
        self.power = IDLE_POWER_W
        self.temp = IDLE_TEMP_C + 1.5
        self.energy_mj = 3.6e9  # the driver has been up for a while: energy is counted since it loaded
        self._memory = _Memory()
        self._page_cache = int(6 * GIB)
        self._page_cache_target = self._page_cache

    # startup and lifecycle -------------------------------------------------------------------

    def set_phase(self, phase: str, now: float, next_s: float) -> None:
        """The engine entered ``phase``; memory ramps to its level over ``next_s`` model seconds."""
        plan = self.plan
        self.phase = phase
        current = self._memory.at(now)
        target = current
        if phase == "engine":
            target = int(0.6 * GIB)
        elif phase == "weights":
            target = int(0.6 * GIB) + plan.weights_bytes
            self._page_cache_target = int(6 * GIB) + plan.weights_bytes
        elif phase == "kv_cache":
            target = (
                plan.weights_bytes
                + plan.activation_bytes
                + plan.non_torch_bytes
                + plan.kv_tokens * (plan.kv_bytes_per_token)
            )
        elif phase in ("graphs", "api", "ready"):
            target = plan.process_bytes
        elif phase in ("failed", "dead", "stopped"):
            target = 0
        self._memory = _Memory(current, target, now, next_s if phase == "weights" else min(next_s, 2.0))

    # readings --------------------------------------------------------------------------------

    def _advance(self, now: float, busy_s: float, prefill_busy_s: float) -> None:
        dt = now - self._t
        if dt <= 0:
            return
        busy = min(1.0, max(0.0, (busy_s - self._busy) / dt))
        prefill = min(busy, max(0.0, (prefill_busy_s - self._prefill) / dt))
        self._busy, self._prefill, self._t = busy_s, prefill_busy_s, now
        if self.phase in _PHASE_LOAD:
            util_target, extra = _PHASE_LOAD[self.phase]
            power_target = IDLE_POWER_W + extra
        elif self.phase == "ready":
            util_target = 100.0 * busy
            power_target = IDLE_POWER_W + DECODE_POWER_W * (busy - prefill) + PREFILL_POWER_W * prefill
        else:
            util_target, power_target = 0.0, IDLE_POWER_W
        old_power = self.power
        self.util += (util_target - self.util) * (1 - math.exp(-dt / TAU_UTIL_S))
        self.power += (power_target - self.power) * (1 - math.exp(-dt / TAU_POWER_S))
        temp_target = IDLE_TEMP_C + TEMP_PER_W * (self.power - IDLE_POWER_W)
        self.temp += (temp_target - self.temp) * (1 - math.exp(-dt / TAU_TEMP_S))
        self.energy_mj += (old_power + self.power) / 2 * dt * 1000.0
        self._page_cache += int((self._page_cache_target - self._page_cache) * (1 - math.exp(-dt / 5.0)))

    def sample(self, now: float, busy_s: float = 0.0, prefill_busy_s: float = 0.0) -> GpuSample:
        """The device as NVML and /proc/meminfo would show it at model time ``now``."""
        self._advance(now, busy_s, prefill_busy_s)
        jitter = self._rng.uniform(-0.4, 0.4)
        process_bytes = self._memory.at(now)
        util = max(0.0, min(100.0, round(self.util)))
        clock = IDLE_CLOCK_MHZ + (MAX_CLOCK_MHZ - IDLE_CLOCK_MHZ) * min(1.0, util / 30.0)
        processes: tuple[GpuProcess, ...] = ()
        if process_bytes > 0:
            processes = (
                GpuProcess(
                    pid=ENGINE_HOST_PID, name="VLLM::EngineCore", used_memory_bytes=float(process_bytes)
                ),
            )
        device = GpuDevice(
            index=0,
            name=SIMULATED_NAME,
            uuid=SIMULATED_UUID,
            utilization_pct=float(util),
            power_w=round(max(self.power + jitter, 0.0), 2),
            power_limit_w=NOT_SUPPORTED,
            temperature_c=float(round(self.temp + jitter / 2)),
            sm_clock_mhz=float(round(clock)),
            energy_mj=float(int(self.energy_mj)),
            throttle_reasons=(),
            unified_memory=True,
            memory_used_bytes=NOT_SUPPORTED,
            memory_total_bytes=NOT_SUPPORTED,
            processes=processes,
        )
        total = self.plan.total_bytes
        container = process_bytes + CONTAINER_OVERHEAD_BYTES if process_bytes else 0
        available = max(0, total - self._host_used - container)
        cache = min(self._page_cache, available)
        return GpuSample(
            t=now,
            status="ok",
            detail="SIMULATED GB10 (sparktop sim)",
            devices=(device,),
            memory=HostMemory(
                total_bytes=float(total),
                available_bytes=float(available),
                free_bytes=float(available - cache),
                page_cache_bytes=float(cache),
                reclaimable_bytes=float(cache),  # MemAvailable - MemFree, as the real breakdown
                gpu_processes_bytes=float(process_bytes),
                container_bytes=float(container),
                psi_some_avg10=0.0 if available > 0.05 * total else 12.0,
                psi_full_avg10=0.0,
                description=f"unified memory shared by the CPU and {SIMULATED_NAME}",
            ),
            simulated=True,
            driver_version=SIMULATED_DRIVER,
        )
