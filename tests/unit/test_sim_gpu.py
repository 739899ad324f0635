"""The simulated GB10 follows the engine's load with lags, and reads like NVML on a real GB10."""

from __future__ import annotations

import pytest

from sparktop import codec
from sparktop.model import GpuSample, Unknown, is_known
from sparktop.sim.gpu import IDLE_POWER_W, SimGpu
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import GIB, PROFILES

PLAN = plan_memory(PROFILES["gemma4-26b-a4b-bf16"])


def ready_gpu() -> SimGpu:
    gpu = SimGpu(PLAN, start=0.0, host_used_bytes=int(3.8 * GIB))
    gpu.set_phase("ready", 0.0, 0.0)
    return gpu


def reading(sample: GpuSample, field: str) -> float:
    value = getattr(sample.devices[0], field)
    assert is_known(value)
    return value


def test_samples_are_simulated_and_unknown_where_gb10_is() -> None:
    s = ready_gpu().sample(1.0)
    assert s.simulated and s.status == "ok" and "SIMULATED" in s.detail
    d = s.devices[0]
    assert d.unified_memory and "SIMULATED" in str(d.name)
    assert isinstance(d.power_limit_w, Unknown) and isinstance(d.memory_used_bytes, Unknown)
    assert codec.decode(GpuSample, codec.encode(s)) == s


def test_power_temperature_and_utilisation_follow_the_busy_fraction_with_lag() -> None:
    gpu = ready_gpu()
    idle = gpu.sample(10.0, busy_s=0.0)
    one_second = gpu.sample(11.0, busy_s=1.0)  # fully busy for one second
    later = gpu.sample(20.0, busy_s=10.0)
    settled = gpu.sample(400.0, busy_s=390.0)
    assert reading(idle, "power_w") == pytest.approx(IDLE_POWER_W, abs=1.0)
    assert reading(idle, "power_w") < reading(one_second, "power_w") < reading(later, "power_w")
    assert (
        reading(one_second, "utilization_pct")
        < reading(later, "utilization_pct")
        == pytest.approx(100, abs=1)
    )
    assert reading(later, "temperature_c") < reading(settled, "temperature_c")
    cooled = gpu.sample(800.0, busy_s=390.0)
    assert reading(cooled, "power_w") < 15 and reading(cooled, "temperature_c") < reading(
        settled, "temperature_c"
    )


def test_prefill_draws_more_power_than_decode() -> None:
    decode, prefill = ready_gpu(), ready_gpu()
    d = decode.sample(60.0, busy_s=60.0, prefill_busy_s=0.0)
    p = prefill.sample(60.0, busy_s=60.0, prefill_busy_s=60.0)
    assert reading(p, "power_w") > reading(d, "power_w") + 10


def test_the_energy_counter_integrates_power_in_millijoules() -> None:
    gpu = ready_gpu()
    e0 = reading(gpu.sample(100.0), "energy_mj")
    e1 = reading(gpu.sample(200.0), "energy_mj")
    assert e1 - e0 == pytest.approx(IDLE_POWER_W * 100 * 1000, rel=0.05)


def test_engine_memory_grows_through_startup_to_the_budget() -> None:
    gpu = SimGpu(PLAN, start=0.0, host_used_bytes=int(3.8 * GIB))
    assert gpu.sample(0.0).memory.gpu_processes_bytes == 0
    gpu.set_phase("weights", 1.0, 60.0)
    half = gpu.sample(31.0).memory.gpu_processes_bytes
    assert is_known(half) and 0.4 * PLAN.weights_bytes < half < 0.7 * PLAN.weights_bytes
    gpu.set_phase("kv_cache", 70.0, 1.0)
    gpu.set_phase("ready", 90.0, 1.0)
    mem = gpu.sample(100.0).memory
    assert mem.gpu_processes_bytes == pytest.approx(0.95 * PLAN.total_bytes, rel=0.03)
    assert is_known(mem.available_bytes) and is_known(mem.total_bytes)
    assert mem.available_bytes < mem.total_bytes - mem.gpu_processes_bytes  # type: ignore[operator]
    gpu.set_phase("stopped", 200.0, 0.0)
    assert gpu.sample(300.0).memory.gpu_processes_bytes == 0
