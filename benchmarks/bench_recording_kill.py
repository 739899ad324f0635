"""How much a recording killed with ``kill -9`` loses, idle and with every core busy.

Runs a recorder in a child process that hands over an observation every 20 ms (printing when), kills
it with SIGKILL after a few seconds (a random fraction of a second more, so kills fall anywhere
between two commits), and measures how long before the kill the newest observation in
the file was handed over: the span lost. Repeats ``--kills`` times, first on an idle machine, then
with busy-looping processes (one per core by default, ``--burners`` for more; ``--load`` to choose),
and prints each figure, the median and the worst.

Run: .venv/bin/python benchmarks/bench_recording_kill.py [--kills 10] [--load both|idle|busy] [--burners N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.recording.reader import Recording
from tests.support.recordings import KILL_WRITER

ROOT = Path(__file__).resolve().parent.parent


def burn() -> None:
    while True:
        pass


def one_kill(directory: Path, run_s: float, index: int) -> float:
    """Seconds between the handover of the newest observation in the file and the kill."""
    path = directory / f"killed-{index}.sparktop"
    script = KILL_WRITER.format(root=str(ROOT), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    handed: list[tuple[float, float]] = []
    first = proc.stdout.readline()
    handed.append((time.monotonic(), float(first)))
    # a random moment, so that kills fall anywhere between two commits
    deadline = time.monotonic() + run_s + random.uniform(0.0, 1.0)
    while time.monotonic() < deadline:
        handed.append((time.monotonic(), float(proc.stdout.readline())))
    killed_at = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Recording.open(path) as rec:
        last_t = max((getattr(o, "t", 0.0) for o in rec.observations()), default=0.0)
    newest = max((wall for wall, t in handed if t <= last_t), default=handed[0][0])
    return killed_at - newest


def series(kills: int, run_s: float, burners_n: int) -> list[float]:
    burners = []
    if burners_n:
        for _ in range(burners_n):
            p = multiprocessing.Process(target=burn, daemon=True)
            p.start()
            burners.append(p)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return [one_kill(Path(tmp), run_s, i) for i in range(kills)]
    finally:
        for p in burners:
            p.kill()
            p.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="recording time before each kill")
    parser.add_argument("--load", choices=("both", "idle", "busy"), default="both")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 1, help="busy loops when busy")
    args = parser.parse_args()
    loads = {"both": (0, args.burners), "idle": (0,), "busy": (args.burners,)}[args.load]
    for burners in loads:
        lost = series(args.kills, args.seconds, burners)
        label = f"{burners} busy loops" if burners else "idle"
        figures = " ".join(f"{x:.2f}" for x in lost)
        print(f"{label:14s} lost (s): {figures}")
        print(f"{'':14s} median {statistics.median(lost):.2f} s, worst {max(lost):.2f} s")


if __name__ == "__main__":
    main()
