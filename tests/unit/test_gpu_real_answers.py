"""The pynvml stand-in and the collector held to what a real NVIDIA driver answered.

``tests/fixtures/real-gpu/h200-580.159.04.*.json`` were written on an H200 (driver 580.159.04,
nvidia-ml-py 13.615.71) by ``tests/realgpu/device-check``: the raw answer to every NVML call the
collector makes (``probe.py``), the calls outside their domain, 12 s of collector samples under a
matrix-multiply load, and ``sparktop gpu --json``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sparktop.clock import FakeClock
from sparktop.codec import decode
from sparktop.derive.energy import counter_increase
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import GpuSample, Unknown
from tests.support import fake_pynvml
from tests.support.fake_pynvml import FakeNvml, h200
from tests.support.procfs import write_proc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real-gpu"
PROBE = json.loads((FIXTURES / "h200-580.159.04.probe.json").read_text())
GPU_JSON = json.loads((FIXTURES / "h200-580.159.04.gpu.json").read_text())
REAL_CALLS: dict[str, Any] = PROBE["devices"][0]["calls"]

# What the stand-in does not model, and why that is safe: the collector never makes these calls.
NOT_MODELLED = {
    "nvmlDeviceGetMemoryInfo(v2)": "the collector asks v1; v2 splits 'reserved' out of 'used'",
}


def device_calls(nv: Any, h: object) -> dict[str, Callable[[], Any]]:
    return {
        "nvmlDeviceGetName": lambda: nv.nvmlDeviceGetName(h),
        "nvmlDeviceGetUUID": lambda: nv.nvmlDeviceGetUUID(h),
        "nvmlDeviceGetUtilizationRates": lambda: nv.nvmlDeviceGetUtilizationRates(h),
        "nvmlDeviceGetPowerUsage": lambda: nv.nvmlDeviceGetPowerUsage(h),
        "nvmlDeviceGetEnforcedPowerLimit": lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h),
        "nvmlDeviceGetTemperature(GPU)": lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
        "nvmlDeviceGetTemperature(99)": lambda: nv.nvmlDeviceGetTemperature(h, 99),
        "nvmlDeviceGetClockInfo(SM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
        "nvmlDeviceGetClockInfo(MEM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
        "nvmlDeviceGetTotalEnergyConsumption": lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h),
        "nvmlDeviceGetCurrentClocksEventReasons": lambda: nv.nvmlDeviceGetCurrentClocksEventReasons(h),
        "nvmlDeviceGetCurrentClocksThrottleReasons": lambda: nv.nvmlDeviceGetCurrentClocksThrottleReasons(h),
        "nvmlDeviceGetMemoryInfo": lambda: nv.nvmlDeviceGetMemoryInfo(h),
        "nvmlDeviceGetComputeRunningProcesses": lambda: nv.nvmlDeviceGetComputeRunningProcesses(h),
    }


def answer_of(fn: Callable[[], Any]) -> dict[str, Any]:
    """The stand-in's answer in the probe's terms: an error's class and code, or the value."""
    try:
        value = fn()
    except fake_pynvml.NVMLError as exc:
        return {"error": {"class": type(exc).__name__, "value": exc.value, "text": str(exc)}}
    return {"answer": value}


def same(real: dict[str, Any], fake: dict[str, Any], what: str) -> None:
    if "error" in real:
        assert "error" in fake, f"{what}: the driver refused ({real['error']}), the stand-in answered"
        for key in ("class", "value", "text"):
            assert fake["error"][key] == real["error"][key], (what, key)
        return
    assert "answer" in fake, f"{what}: the driver answered, the stand-in raised {fake.get('error')}"
    expected, value = real["answer"], fake["answer"]
    if "fields" in expected:
        for name, field in expected["fields"].items():
            if name == "version":
                continue
            assert getattr(value, name) == field["value"], (what, name)
    elif "items" in expected:
        assert len(value) == len(expected["items"]), what
    else:
        assert type(value).__name__ == expected["type"], what
        assert value == expected["value"], what


@pytest.fixture
def fake() -> FakeNvml:
    nv = FakeNvml([h200()], driver_version=PROBE["driver"]["answer"]["value"])
    return nv


def test_the_stand_in_answers_each_call_as_the_driver_did(fake: FakeNvml) -> None:
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    calls = device_calls(fake, handle)
    assert set(calls) | set(NOT_MODELLED) == set(REAL_CALLS)
    for name, fn in calls.items():
        same(REAL_CALLS[name], answer_of(fn), name)
    same(PROBE["driver"], answer_of(fake.nvmlSystemGetDriverVersion), "driver")
    same(PROBE["count"], answer_of(fake.nvmlDeviceGetCount), "count")
    same(PROBE["handle_out_of_range"], answer_of(lambda: fake.nvmlDeviceGetHandleByIndex(999)), "handle")
    same(
        PROBE["process_name_missing_pid"],
        answer_of(lambda: fake.nvmlSystemGetProcessName(2**22 - 3)),
        "process name of a PID NVML does not know",
    )
    fake.nvmlShutdown()
    same(PROBE["after_shutdown"], answer_of(fake.nvmlDeviceGetCount), "after nvmlShutdown")


def test_before_init_the_driver_and_the_stand_in_both_say_uninitialized() -> None:
    same(PROBE["before_init"], answer_of(FakeNvml([h200()]).nvmlDeviceGetCount), "before nvmlInit")


def test_the_collector_on_the_stand_in_gives_what_it_gave_on_the_h200(fake: FakeNvml, tmp_path: Path) -> None:
    """Same structure as the real sample: which fields are known, which are unknown and why."""
    real = decode(GpuSample, GPU_JSON["sample"])
    ours = NvmlCollector(nvml=fake, clock=FakeClock(), proc_root=write_proc(tmp_path)).collect()
    assert ours.status == real.status == "ok"
    assert ours.detail == real.detail
    assert ours.driver_version == real.driver_version
    (mine,), (theirs,) = ours.devices, real.devices
    for name in ("name", "uuid", "unified_memory", "memory_total_bytes", "power_limit_w", "processes"):
        assert getattr(mine, name) == getattr(theirs, name), name
    for name in (
        "utilization_pct",
        "power_w",
        "temperature_c",
        "sm_clock_mhz",
        "energy_mj",
        "memory_used_bytes",
    ):
        assert isinstance(getattr(mine, name), float) and isinstance(getattr(theirs, name), float), name
    assert mine.throttle_reasons == theirs.throttle_reasons == ("gpu_idle",)
    assert ours.memory.description == real.memory.description
    assert ours.memory.gpu_processes_bytes == real.memory.gpu_processes_bytes


def test_under_load_the_energy_counter_agrees_with_the_power_readings() -> None:
    """Energy per token rests on the counter: over 12 s of a GPU at its power cap, the counter's
    rate is the mean of the power readings (trapezoids), to 1%."""
    samples = [decode(GpuSample, s) for s in PROBE["under_load"]["samples"]]
    assert len(samples) > 20
    devices = [s.devices[0] for s in samples]
    energy = [(s.t, d.energy_mj) for s, d in zip(samples, devices, strict=True)]
    increase = counter_increase(energy)
    assert not isinstance(increase, Unknown)
    counter_watts = increase[0] / 1000 / increase[1]
    power = [(s.t, d.power_w) for s, d in zip(samples, devices, strict=True)]
    watts = [(t, p) for t, p in power if not isinstance(p, Unknown)]
    assert len(watts) == len(power)
    area = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in itertools.pairwise(watts))
    mean_watts = area / (power[-1][0] - power[0][0])
    assert counter_watts == pytest.approx(mean_watts, rel=0.01)
    # the load showed: busy, at the power cap, and the load's own process with its memory
    busy = [d for d in devices if d.utilization_pct == pytest.approx(99, abs=1)]
    assert len(busy) > 15
    assert all(
        not isinstance(d.throttle_reasons, Unknown) and "sw_power_cap" in d.throttle_reasons for d in busy
    )
    pid = PROBE["under_load"]["load_pid"]
    assert any(
        not isinstance(d.processes, Unknown)
        and any(p.pid == pid and p.used_memory_bytes for p in d.processes)
        for d in busy
    )
