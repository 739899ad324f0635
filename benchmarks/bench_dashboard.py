"""The dashboard's cost in a real terminal (tmux at 80x24, 120x40 and 200x60), next to a naive
Textual dashboard.

Against a simulated Spark under a steady load (both in other processes), for one and four
refreshes per second at each size: CPU of the dashboard process in steady state (after a warm-up),
as % of one core, and bytes it writes to the terminal per second (counted by tmux's pipe-pane). The
same is measured for ``benchmarks/naive_dashboard.py`` in the same run and size, as the reference.
Then the time from command to first drawn frame at 120x40 (the status line showing the server
healthy).

The default warm-up (8 s) measures the first seconds of a session, while the sparklines fill their
5-minute span one column per scrape and scroll at every scrape: the dearest time. ``--after-span``
warms up past the span instead (over five minutes a measurement), when a column covers span/width
seconds and the sparklines scroll only every few seconds; it skips the reference.

Targets: <= 2% of a core at 1/s, <= 8% at 4/s; first frame < 1.5 s.
Run: .venv/bin/python benchmarks/bench_dashboard.py [--seconds 60] [--sizes 80x24,120x40,200x60]
     [--rates 1,4] [--after-span] [--as-vllm] [--against DIR]
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
SIZES = ("80x24", "120x40", "200x60")
SPAN_S = 300.0
"""The dashboard's default sparkline span."""
FIRST_FRAME_SIZE = "120x40"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SOCKET = f"sparktop-bench-{os.getpid()}"
"""The benchmark's own tmux server: its panes get this process's environment, not that of
whoever started the default server."""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=False).stdout


def pane_env(env: dict[str, str]) -> list[str]:
    """``-e`` options giving a new pane the variables that choose the code measured."""
    names = ("PATH", "PYTHONPATH")
    return [arg for name in names if name in env for arg in ("-e", f"{name}={env[name]}")]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pane_pid(session: str) -> int:
    shell = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    # the command runs as the pane's process (exec) or its only child
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    return int(children[0]) if children else shell


def measure(
    command: str, seconds: float, warmup: float, env: dict[str, str], size: str
) -> tuple[float, float]:
    """(CPU % of a core, bytes written per second) of ``command`` running in a tmux pane of ``size``."""
    session = f"bench{os.getpid()}"
    out = Path(tempfile.mkstemp(prefix="sparktop-pane-")[1])
    tmux("kill-session", "-t", session)
    columns, lines = size.split("x")
    tmux("new-session", "-d", "-s", session, "-x", columns, "-y", lines, *pane_env(env))
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
    columns, lines = FIRST_FRAME_SIZE.split("x")
    tmux("new-session", "-d", "-s", session, "-x", columns, "-y", lines, *pane_env(env))
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
    parser.add_argument("--sizes", default=",".join(SIZES), help="terminal sizes, e.g. 80x24,200x60")
    parser.add_argument("--rates", default="1,4", help="refreshes per second, e.g. 1,4")
    parser.add_argument("--after-span", action="store_true", help="measure once the span has filled")
    parser.add_argument(
        "--as-vllm",
        action="store_true",
        help="watch the simulator as a plain vLLM server (benchmarks/vllm_front.py hides its /sim/* "
        "API): the cost of watching vLLM, without the simulator's modelled GPU and log",
    )
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="also measure the sparktop package in DIR (e.g. `git archive` of an earlier commit) in "
        "the same run and under the same load, each size right after this one",
    )
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
    front = None
    if args.as_vllm:
        front_port = free_port()
        front = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "vllm_front.py"), str(front_port), url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        url = f"http://127.0.0.1:{front_port}"
    try:
        time.sleep(3.0)
        check = subprocess.run(
            [str(BIN / "sparktop"), "snapshot", url, "--json"], capture_output=True, env=env, check=False
        )
        if check.returncode != 0 or sim.poll() is not None or load.poll() is not None:
            sys.exit(f"the simulated server or the load did not start: {check.stderr.decode()[:200]}")
        warmup = SPAN_S + 10.0 if args.after_span else args.warmup
        state = "after the span filled" if args.after_span else "while the span fills"
        watched = "the simulator as plain vLLM" if args.as_vllm else "the simulator by URL"
        print(f"dashboard in tmux watching {watched}, {args.seconds:g} s each after {warmup:g} s ({state})")
        for size in args.sizes.split(","):
            for rate in (float(r) for r in args.rates.split(",")):
                refresh = 1.0 / rate
                naive = (
                    None
                    if args.after_span
                    else measure(
                        f"{sys.executable} {ROOT / 'benchmarks' / 'naive_dashboard.py'} {refresh:g}",
                        args.seconds,
                        warmup,
                        env,
                        size,
                    )
                )
                ours = measure(
                    f"{BIN / 'sparktop'} watch {url} --interval {refresh:g} --no-record",
                    args.seconds,
                    warmup,
                    env,
                    size,
                )
                target = 2.0 if rate <= 1.0 else 8.0
                line = (
                    f"{size} {rate:g} refresh/s: sparktop {ours[0]:.2f}% of a core "
                    f"(target <= {target:g}%), {ours[1]:,.0f} bytes/s to the terminal"
                )
                if naive is not None:
                    line += (
                        f" | naive 8-sparkline app {naive[0]:.2f}%, {naive[1]:,.0f} bytes/s "
                        f"| ratio {ours[0] / naive[0]:.2f}"
                    )
                if args.against:
                    theirs = measure(
                        f"{BIN / 'sparktop'} watch {url} --interval {refresh:g} --no-record",
                        args.seconds,
                        warmup,
                        {**env, "PYTHONPATH": args.against},
                        size,
                    )
                    line += (
                        f" | {args.against}: {theirs[0]:.2f}%, {theirs[1]:,.0f} bytes/s "
                        f"| this/that CPU {ours[0] / theirs[0]:.2f}, bytes {ours[1] / theirs[1]:.2f}"
                    )
                print(line, flush=True)
        if args.after_span:
            return
        times = [first_frame(f"{BIN / 'sparktop'} watch {url} --no-record", env) for _ in range(3)]
        best, worst = min(times), max(times)
        print(
            f"command to first drawn frame at {FIRST_FRAME_SIZE}: {best:.2f} s best, {worst:.2f} s worst "
            "(target < 1.5 s)"
        )
    finally:
        tmux("kill-server")
        if front is not None:
            front.terminate()
            front.wait(10)
        load.terminate()
        sim.terminate()
        load.wait(10)
        sim.wait(10)


if __name__ == "__main__":
    main()
