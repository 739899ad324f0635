"""Shared by the load-generator benchmarks: the simulator (`sparktop sim`) in its own process,
pinned to its own core, with the benchmark on the other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin(child: int) -> None:
    """The child on the first core, this process on the second (when there are two);
    ``SPARKTOP_BENCH_PIN=0`` leaves both to the scheduler."""
    available = cores()
    if len(available) >= 2 and os.environ.get("SPARKTOP_BENCH_PIN", "1") != "0":
        os.sched_setaffinity(child, {available[0]})
        os.sched_setaffinity(0, {available[1]})


def start_sim(profile: str = "gemma4-26b-a4b-nvfp4", speed: float = 1.0) -> tuple[subprocess.Popen[str], str]:
    """`sparktop sim` in a child process; returns it and its URL once it answers."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sparktop",
            "sim",
            "--profile",
            profile,
            "--port",
            "0",
            "--speed",
            str(speed),
            "--startup",
            "instant",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    found = re.search(r"http://\S+", proc.stdout.readline())
    if found is None:
        proc.kill()
        raise RuntimeError("the simulator did not start")
    url = found.group(0)
    pin(proc.pid)
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    return proc, url


def stop_sim(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
