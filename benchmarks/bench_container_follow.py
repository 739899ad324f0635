"""CPU cost of following a running container: its log lines and a stats reading every interval.

Starts the simulated-Spark test image (built if missing, see tests/docker/build_image.py) with its
periodic stats line printed every second, runs sparktop's container source into a session (log
lines, startup tracking, CPU/memory readings every second) for a minute, and prints the process's
CPU time (every thread: the log reader, the stats calls, the event loop) as % of one core, next to
an idle event loop measured in the same run and the 1% target.

Needs a Docker engine (DOCKER_HOST, or start one with .ci/docker-up); says "skipped" without one.
Run: .venv/bin/python benchmarks/bench_container_follow.py [--seconds 60] [--lines-per-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker

from sparktop import fmt
from sparktop.container.lifecycle import ContainerError, ContainerHandle, launch
from sparktop.container.profile import Profile
from sparktop.model import ContainerStats, TargetInfo, is_known
from sparktop.session.core import Observation, Session
from sparktop.session.sources import container_loop
from tests.docker.build_image import build

TARGET_PCT = 1.0


class Follow:
    """sparktop's container source feeding a session, with counts of what it brought."""

    def __init__(self) -> None:
        self.session = Session(TargetInfo("bench", "container"))
        self.lines = 0
        self.readings = 0

    def observe(self, obs: Observation) -> None:
        if isinstance(obs, ContainerStats):
            self.readings += 1
        elif obs.kind == "log":  # type: ignore[union-attr]
            self.lines += 1
        self.session.observe(obs)


async def cpu_pct(seconds: float, handle: ContainerHandle | None, follow: Follow) -> float:
    """% of one core this process used over ``seconds`` (following ``handle`` unless None)."""
    task = None
    if handle is not None:
        task = asyncio.create_task(container_loop(handle, follow.observe, 1.0))
        await asyncio.sleep(3.0)  # past the first readings and the startup lines
    follow.lines = follow.readings = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return 100.0 * cpu / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lines-per-s", type=float, default=1.0, help="the container's log rate")
    args = parser.parse_args()
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        # `make bench` runs every script: without an engine this one says so and steps aside
        print(f"bench_container_follow: skipped: no Docker engine ({exc}); start one with .ci/docker-up")
        return 0
    image = build(client)
    name = f"sparktop-bench-{uuid.uuid4().hex[:8]}"
    profile = Profile(
        image=image,
        model="google/gemma-4-26B-A4B-it",
        args=("--max-model-len", "8192"),
        env=("SPARKTOP_SIM_STARTUP", "SPARKTOP_SIM_LOG_STATS_EVERY"),
        ports=("127.0.0.1::8000",),
        container_name=name,
    )
    env = {"SPARKTOP_SIM_STARTUP": "instant", "SPARKTOP_SIM_LOG_STATS_EVERY": f"{1.0 / args.lines_per_s:g}"}
    try:
        handle = launch(profile, env, client=client)
    except ContainerError as exc:
        print(f"bench_container_follow: {exc} ({exc.hint})", file=sys.stderr)
        return 2
    try:
        idle_pct = asyncio.run(cpu_pct(min(10.0, args.seconds), None, Follow()))
        follow = Follow()
        pct = asyncio.run(cpu_pct(args.seconds, handle, follow))
    finally:
        handle.stop_and_remove(timeout=2)
    stats = follow.session.container
    assert stats is not None and stats.state == "running", stats
    assert follow.lines >= 0.8 * args.seconds * args.lines_per_s, follow.lines  # the log really flowed
    print(
        f"container follow ({args.seconds:g} s, container logging {args.lines_per_s:g} line/s, "
        f"stats every 1 s): {pct:.3f}% of one core (CPU time of every thread / wall time)"
    )
    print(f"  idle event loop, same process, same run: {idle_pct:.3f}%; follow - idle: {pct - idle_pct:.3f}%")
    mem = stats.mem_bytes / 2**20 if is_known(stats.mem_bytes) else stats.mem_bytes
    print(
        f"  followed: {follow.lines} log lines, {follow.readings} stats readings; the container itself: "
        f"{fmt.num(stats.cpu_pct, 2)}% CPU, {fmt.num(mem, 0)} MiB"
    )
    verdict = "ok" if pct < TARGET_PCT else "OVER"
    print(f"  target {TARGET_PCT:g}% of a core: figure / target = {pct / TARGET_PCT:.3f} ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
