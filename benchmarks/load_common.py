"""Shared by the load-generator benchmarks: the simulator in its own process, pinned to its own core."""

from __future__ import annotations

import os
import subprocess
import sys
import time

SIM_CODE = """
import asyncio, os, sys
from sparktop.sim.server import SimConfig, SimServer

async def main() -> None:
    config = SimConfig(
        profile=sys.argv[1], speed=float(sys.argv[2]), seed=0, startup="instant", access_log=False
    )
    async with SimServer(config) as sim:
        await sim.wait_ready()
        print(sim.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def start_sim(profile: str = "gemma4-26b-a4b-nvfp4", speed: float = 1.0) -> tuple[subprocess.Popen[str], str]:
    """The simulator in a child process on the first core; this process moves to the second."""
    available = cores()
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_CODE, profile, str(speed)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError("the simulator did not start")
    if len(available) >= 2:
        os.sched_setaffinity(proc.pid, {available[0]})
        os.sched_setaffinity(0, {available[1]})
    time.sleep(0.2)
    return proc, url


def stop_sim(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
