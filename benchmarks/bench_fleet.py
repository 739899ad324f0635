"""What watching a fleet costs: 16 servers against one, at one scrape a second.

Sixteen simulated Sparks run in one other process (each its own server thread, each with one user
sending a short request a second, so their figures move). The same ``sparktop watch`` is measured
watching one of them and then all sixteen, in the same run and for the same time: its CPU (user +
system, from /proc) per second, for the headless lines (the collection alone) and for the fleet
screen in a tmux pane (collection and drawing). The figure: CPU for 16 targets / (16 x CPU for one).

Target: <= 1.0 (16 targets cost no more than 16 times one).
Run: .venv/bin/python benchmarks/bench_fleet.py [--targets 16] [--seconds 30] [--warmup 8] [--no-screen]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOCKET = f"sparktop-fleet-bench-{os.getpid()}"

HOST = """
import json, sys, threading, time, urllib.request
sys.path.insert(0, {root!r})
from sparktop.sim.profiles import PROFILES
from sparktop.sim.server import SimConfig, SimServer
names = list(PROFILES)
handles = []
for i in range({n}):
    handle = SimServer(SimConfig(profile=names[i % len(names)], startup="instant", seed=i, access_log=False))
    handles.append(handle.start_in_thread())
for handle in handles:
    handle.wait_ready(30)

def user(url, model):  # one request at a time, then a pause: the server's figures keep moving
    body = json.dumps({{"model": model, "prompt": [7] * 256, "max_tokens": 64}}).encode()
    while True:
        headers = {{"Content-Type": "application/json"}}
        request = urllib.request.Request(url + "/v1/completions", body, headers)
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:
            pass
        time.sleep(1.0)

for handle in handles:
    model = json.load(urllib.request.urlopen(handle.url + "/v1/models"))["data"][0]["id"]
    threading.Thread(target=user, args=(handle.url, model), daemon=True).start()
print(" ".join(handle.url for handle in handles), flush=True)
while True:
    time.sleep(3600)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=False).stdout


def measure_headless(urls: list[str], seconds: float, warmup: float, env: dict[str, str]) -> float:
    """CPU % of one core of ``watch URLS --headless`` in steady state."""
    proc = subprocess.Popen(
        [str(BIN / "sparktop"), "watch", *urls, "--headless", "--interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        time.sleep(warmup)
        start_cpu, start = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(proc.pid) - start_cpu) / (time.monotonic() - start) * 100
    finally:
        proc.terminate()
        proc.wait(10)


def measure_screen(urls: list[str], seconds: float, warmup: float, env: dict[str, str]) -> float:
    """CPU % of one core of the dashboard (the fleet screen for several) in a 120x40 tmux pane."""
    session = "fleet"
    tmux("kill-session", "-t", session)
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-e", f"PATH={env['PATH']}")
    command = " ".join([str(BIN / "sparktop"), "watch", *urls, "--interval", "1"])
    tmux("send-keys", "-t", session, f"SPARKTOP_CONFIG=/nonexistent exec {command}", "Enter")
    time.sleep(warmup)
    shell = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    pid = int(children[0]) if children else shell
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100
    tmux("send-keys", "-t", session, "q")
    time.sleep(1.0)
    tmux("kill-session", "-t", session)
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--no-screen", action="store_true", help="measure the headless lines only")
    args = parser.parse_args()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(HOST.format(root=str(ROOT), n=args.targets))
    host = subprocess.Popen([sys.executable, script.name], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert host.stdout is not None
        urls = host.stdout.readline().split()
        if len(urls) != args.targets:
            sys.exit("the simulated servers did not start")
        time.sleep(3.0)
        print(f"{args.targets} simulated Sparks, one user each; interval 1 s; {args.seconds:g} s each")
        ways = [("headless", measure_headless)]
        if not args.no_screen and shutil.which("tmux"):
            ways.append(("fleet screen 120x40", measure_screen))
        for name, measure in ways:
            one = measure(urls[:1], args.seconds, args.warmup, env)
            many = measure(urls, args.seconds, args.warmup, env)
            ratio = many / (args.targets * one) if one > 0 else float("inf")
            print(
                f"{name:20s} 1 target {one:5.2f}% of a core, {args.targets} targets {many:6.2f}%: "
                f"{ratio:.2f} of {args.targets} x one (target <= 1.00)"
            )
    finally:
        host.terminate()
        host.wait(10)
        Path(script.name).unlink(missing_ok=True)
        tmux("kill-server")


if __name__ == "__main__":
    main()
