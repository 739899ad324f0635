"""CPU time of one GPU collection tick (all fields, one device, its processes) on the GB10 model.

Uses the pynvml stand-in (no GPU here) with this machine's real /proc and a cgroup v2 directory for
the vLLM container, and prints ms of CPU per tick, the share spent reading /proc and the cgroup,
and the ratio to the 5 ms target. Where a real NVIDIA driver answers, it also measures the tick
against it (CPU and wall time: driver calls can wait on the GPU). Run:
.venv/bin/python benchmarks/bench_gpu_tick.py
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.clock import FakeClock
from sparktop.gpu.memory import read_cgroup_memory, read_meminfo, read_memory_pressure
from sparktop.gpu.nvml import ENERGY_EVERY_S, ENERGY_SLOW_S, NvmlCollector
from tests.support.fake_pynvml import FakeNvml, gb10
from tests.support.procfs import write_cgroup_v2

TARGET_MS = 5.0
TICKS = 2000
REAL_TICKS = 200


def cpu_ms_per_call(fn: object, n: int) -> float:
    assert callable(fn)
    for _ in range(50):  # warm up
        fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cid = "c0ffee" * 10 + "beef"
        cgroup_root = Path(tmp)
        group = write_cgroup_v2(
            cgroup_root / "system.slice" / f"docker-{cid}.scope", current=6 << 30, inactive_file=1 << 30
        )
        clock = FakeClock()
        fake = FakeNvml([gb10()])
        collector = NvmlCollector(
            nvml=fake, clock=clock, proc_root=Path("/proc"), cgroup_root=cgroup_root, container=cid
        )
        sample = collector.collect()
        assert sample.status == "ok" and sample.memory.container_bytes == 5 << 30, sample

        def tick() -> None:
            collector.collect()
            clock.advance(1.0)

        def proc_part() -> None:
            read_meminfo(Path("/proc"))
            read_memory_pressure(Path("/proc"))
            read_cgroup_memory(group)

        tick_ms = cpu_ms_per_call(tick, TICKS)
        proc_ms = cpu_ms_per_call(proc_part, TICKS)
        collector.close()
    print(f"GPU collection tick (GB10 model, 1 device, 2 processes, real /proc): {tick_ms:.3f} ms CPU/tick")
    print(f"  /proc + cgroup parsing: {proc_ms:.3f} ms ({proc_ms / tick_ms:.0%} of the tick)")
    print(
        f"  NVML calls and assembly: {tick_ms - proc_ms:.3f} ms (stand-in; real driver calls add their own)"
    )
    verdict = "ok" if tick_ms < TARGET_MS else "OVER"
    print(f"  target {TARGET_MS:.1f} ms: tick / target = {tick_ms / TARGET_MS:.3f} ({verdict})")
    real_driver()


def real_driver() -> None:
    """The same tick against the real pynvml and driver, where there is one.

    The energy counter is read at most every ENERGY_EVERY_S once a read is slow, so a tick is
    measured both ways: the ticks between energy reads, one energy read, and their average at a
    1-second interval (the dashboard's default).
    """
    collector = NvmlCollector()
    try:
        sample = collector.collect()
        if sample.status != "ok":
            print(f"real driver: none here ({sample.status}: {sample.detail})")
            return
        nvml = importlib.import_module("pynvml")  # initialised: the collector holds NVML open
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(len(sample.devices))]
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(REAL_TICKS):
            collector.collect()
        wall_ms = (time.perf_counter() - wall_start) / REAL_TICKS * 1000
        cpu_ms = (time.process_time() - cpu_start) / REAL_TICKS * 1000
        read_energy = nvml.nvmlDeviceGetTotalEnergyConsumption
        energy_ms = cpu_ms_per_call(lambda: [read_energy(h) for h in handles], 20)
    finally:
        collector.close()
    slow = energy_ms / 1000 > ENERGY_SLOW_S
    # slow: the measured ticks skipped the counter, which costs its share once every ENERGY_EVERY_S;
    # fast: every measured tick read it already
    average = cpu_ms + energy_ms / ENERGY_EVERY_S if slow else cpu_ms
    print(f"real driver ({sample.detail}):")
    what = "without the energy counter" if slow else "with the energy counter"
    print(f"  tick {what}: {cpu_ms:.3f} ms CPU, {wall_ms:.3f} ms wall")
    print(
        f"  energy counter read: {energy_ms:.3f} ms CPU"
        + (f" (slow: read every {ENERGY_EVERY_S:g} s)" if slow else " (read every tick)")
    )
    verdict = "ok" if average < TARGET_MS else "OVER"
    print(f"  average tick at 1 s: {average:.3f} ms; / target = {average / TARGET_MS:.3f} ({verdict})")
    worst = cpu_ms + energy_ms if slow else cpu_ms
    print(f"  a tick that reads the counter: {worst:.3f} ms; / target = {worst / TARGET_MS:.3f}")


if __name__ == "__main__":
    main()
