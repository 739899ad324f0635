"""CPU time of one GPU collection tick (all fields, one device, its processes) on the GB10 model.

Uses the pynvml stand-in (no GPU here) with this machine's real /proc and a cgroup v2 directory for
the vLLM container, and prints ms of CPU per tick, the share spent reading /proc and the cgroup,
and the ratio to the 5 ms target. Run: .venv/bin/python benchmarks/bench_gpu_tick.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.clock import FakeClock
from sparktop.gpu.memory import read_cgroup_memory, read_meminfo, read_memory_pressure
from sparktop.gpu.nvml import NvmlCollector
from tests.support.fake_pynvml import FakeNvml, gb10
from tests.support.procfs import write_cgroup_v2

TARGET_MS = 5.0
TICKS = 2000


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


if __name__ == "__main__":
    main()
