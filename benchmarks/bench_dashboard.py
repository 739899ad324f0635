"""The dashboard's cost in a real terminal (tmux, 120x40), next to a naive Textual dashboard.

Against a simulated Spark under a steady load (both in other processes), for one and four
refreshes per second: CPU of the dashboard process in steady state (after a warm-up), as % of one
core, and bytes it writes to the terminal per second (counted by tmux's pipe-pane). The same is
measured for ``benchmarks/naive_dashboard.py`` in the same run, as the reference. Then the time
from command to first drawn frame (the status line showing the server healthy).

Targets: <= 2% of a core at 1/s, <= 8% at 4/s; first frame < 1.5 s.
Run: .venv/bin/python benchmarks/bench_dashboard.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SIZE = ("120", "40")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pane_pid(session: str) -> int:
    shell = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    # the command runs as the pane's process (exec) or its only child
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    return int(children[0]) if children else shell


def measure(command: str, seconds: float, warmup: float, env: dict[str, str]) -> tuple[float, float]:
    """(CPU % of a core, bytes written per second) of ``command`` running in a 120x40 tmux pane."""
    session = f"bench{os.getpid()}"
    out = Path(tempfile.mkstemp(prefix="sparktop-pane-")[1])
    tmux("kill-session", "-t", session)
    tmux("new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1], "-e", f"PATH={env['PATH']}")
    tmux("send-keys", "-t", session, f"exec {command}", "Enter")
    time.sleep(warmup)
    pid = pane_pid(session)
    tmux("pipe-pane", "-o", "-t", session, f"cat >> {out}")
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, elapsed = cpu_seconds(pid) - start_cpu, time.monotonic() - start
    tmux("pipe-pane", "-t", session)
    written = out.stat().st_size
    tmux("send-keys", "-t", session, "q")
    time.sleep(1.0)
    tmux("kill-session", "-t", session)
    out.unlink(missing_ok=True)
    return used / elapsed * 100, written / elapsed


def first_frame(command: str, env: dict[str, str]) -> float:
    session = f"first{os.getpid()}"
    tmux("kill-session", "-t", session)
    tmux("new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1], "-e", f"PATH={env['PATH']}")
    time.sleep(0.5)
    started = time.monotonic()
    tmux("send-keys", "-t", session, command, "Enter")
    while time.monotonic() - started < 20:
        if "healthy" in tmux("capture-pane", "-p", "-t", session):
            elapsed = time.monotonic() - started
            break
        time.sleep(0.01)
    else:
        elapsed = float("inf")
    tmux("send-keys", "-t", session, "q")
    time.sleep(1.0)
    tmux("kill-session", "-t", session)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [
            str(BIN / "sparktop"),
            "sim",
            "--profile",
            "gemma4-26b-a4b-nvfp4",
            "--port",
            str(port),
            "--startup",
            "instant",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    time.sleep(2.0)
    load = subprocess.Popen(
        [
            str(BIN / "sparktop"),
            "load",
            url,
            "--concurrency",
            "6",
            "--input-len",
            "1500",
            "--output-len",
            "300",
            "--requests",
            "100000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        time.sleep(3.0)
        check = subprocess.run(
            [str(BIN / "sparktop"), "snapshot", url, "--json"], capture_output=True, env=env, check=False
        )
        if check.returncode != 0 or sim.poll() is not None or load.poll() is not None:
            sys.exit(f"the simulated server or the load did not start: {check.stderr.decode()[:200]}")
        print(f"dashboard at {SIZE[0]}x{SIZE[1]} in tmux, {args.seconds:g} s steady state each")
        for refresh in (1.0, 0.25):
            naive = measure(
                f"{sys.executable} {ROOT / 'benchmarks' / 'naive_dashboard.py'} {refresh}",
                args.seconds,
                args.warmup,
                env,
            )
            ours = measure(
                f"{BIN / 'sparktop'} watch {url} --interval {refresh} --no-record",
                args.seconds,
                args.warmup,
                env,
            )
            target = 2.0 if refresh == 1.0 else 8.0
            print(
                f"{1 / refresh:g} refresh/s: sparktop {ours[0]:.2f}% of a core (target <= {target:g}%), "
                f"{ours[1]:,.0f} bytes/s to the terminal | naive 8-sparkline app {naive[0]:.2f}%, "
                f"{naive[1]:,.0f} bytes/s | ratio {ours[0] / naive[0]:.2f}"
            )
        times = [first_frame(f"{BIN / 'sparktop'} watch {url} --no-record", env) for _ in range(3)]
        best, worst = min(times), max(times)
        print(f"command to first drawn frame: {best:.2f} s best, {worst:.2f} s worst (target < 1.5 s)")
    finally:
        load.terminate()
        sim.terminate()
        load.wait(10)
        sim.wait(10)


if __name__ == "__main__":
    main()
