"""`sparktop demo`: the simulated Spark, a workload and the live dashboard, with no set-up.

The simulator runs in-process on a free loopback port (its own thread and event loop); the session
scrapes it over HTTP and reads its modelled GB10 and its log (``/sim/gpu``, ``/sim/log``) as
``watch URL`` of a simulator does, so everything on screen comes through the same path as a real
run. The default workload loops through calm traffic, a ramp, a burst that fills the queue and the
KV cache, and recovery. The session is recorded by default, and where to is said once the
dashboard (or ``--headless``) ends, after ``--duration S`` or a quit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from sparktop.cli import CliError
from sparktop.clock import Clock, SystemClock
from sparktop.commands.recording import record_feed, record_fleet, workload_meta
from sparktop.commands.watch import dashboard, headless, say_recorded
from sparktop.config import Settings, load_settings
from sparktop.model import TargetInfo
from sparktop.session.core import Session
from sparktop.session.feeds import LiveFeed
from sparktop.session.live import LiveOptions, live_feed
from sparktop.smoke.slo import as_meta, resolve

DEFAULT_PROFILE = "gemma4-26b-a4b-nvfp4"
DEFAULT_WORKLOAD = "demo"


def run(args: argparse.Namespace) -> int:
    from sparktop.sim.profiles import PROFILES
    from sparktop.sim.server import SimConfig, SimServer, SimStartupError
    from sparktop.workload.presets import PRESETS, get_preset

    settings = load_settings(args)
    profile = args.profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise CliError(f"unknown profile {profile!r}", hint="sparktop sim --list-profiles lists them")
    preset = args.workload or DEFAULT_WORKLOAD
    try:
        workload = get_preset(preset, quick=args.quick)
    except KeyError:
        raise CliError(f"unknown workload {preset!r}", hint=f"one of: {', '.join(PRESETS)}") from None
    if getattr(args, "fleet", None):
        return run_fleet(args, settings, profile if args.profile else None, workload)
    try:
        config = SimConfig(
            profile=profile, port=0, speed=args.speed, seed=args.seed, startup=args.startup, access_log=False
        )
        handle = SimServer(config).start_in_thread()
    except (ValueError, OSError, TimeoutError, SimStartupError) as exc:
        raise CliError(f"the simulated Spark did not start: {exc}") from None
    try:
        feed = demo_feed(handle.url, profile, settings, workload, args)
        if args.headless:
            code = asyncio.run(headless(feed, settings, count=None, out=sys.stdout, duration=args.duration))
            say_recorded(feed.session, sys.stderr)
            return code
        # the default SLOs of a DGX Spark; --duration ends the dashboard as `q` would
        return dashboard(feed, settings, objectives=resolve(), duration=args.duration)
    finally:
        handle.stop()


def run_fleet(args: argparse.Namespace, settings: Settings, profile: str | None, workload: Any) -> int:
    """``demo --fleet N``: N simulated Sparks, each serving its own profile (all the same one with
    ``--profile``) under its own run of the workload, in one view, recorded into one file."""
    from sparktop.session.fleet import FleetFeed
    from sparktop.sim.profiles import PROFILES
    from sparktop.sim.server import SimConfig, SimServer, SimStartupError

    names = (
        [profile] * args.fleet if profile else [list(PROFILES)[i % len(PROFILES)] for i in range(args.fleet)]
    )
    handles = []
    try:
        for i, name in enumerate(names):
            config = SimConfig(
                profile=name,
                port=0,
                speed=args.speed,
                seed=args.seed + i,
                startup=args.startup,
                access_log=False,
            )
            handles.append(SimServer(config).start_in_thread())
    except (ValueError, OSError, TimeoutError, SimStartupError) as exc:
        for handle in handles:
            handle.stop()
        raise CliError(f"simulated Spark {len(handles) + 1} of {len(names)} did not start: {exc}") from None
    try:
        clock = SystemClock()
        labels = [
            name if names.count(name) == 1 else f"{name}#{names[: i + 1].count(name)}"
            for i, name in enumerate(names)
        ]
        feeds = [
            demo_feed(handle.url, name, settings, workload, args, clock, record=False, label=label)
            for handle, name, label in zip(handles, names, labels, strict=True)
        ]
        feed = FleetFeed(feeds, interval=settings.interval, clock=clock)
        record_fleet(
            feed,
            args,
            settings,
            what=f"demo-fleet-{workload.name}",
            simulated=True,
            default=True,
            workload={**workload_meta(workload), "slos": as_meta(resolve())},
        )
        if args.headless:
            code = asyncio.run(headless(feed, settings, count=None, out=sys.stdout, duration=args.duration))
            say_recorded(feed.session, sys.stderr)
            return code
        return dashboard(feed, settings, objectives=resolve(), duration=args.duration)
    finally:
        for handle in handles:
            handle.stop()


def demo_feed(
    url: str,
    profile: str,
    settings: Settings,
    workload: Any,
    args: argparse.Namespace,
    clock: Clock | None = None,
    *,
    record: bool = True,
    label: str | None = None,
) -> LiveFeed:
    """The live feed of a demo: scrapes, the simulated GPU, the sim's log, the workload, a recording.

    The log is read over HTTP (``/sim/log``) like the rest: the lines the simulator wrote before
    the dashboard was up (its startup) come with the first read.
    """
    clock = clock or SystemClock()
    target = TargetInfo(label=label or url, kind="simulator", profile=profile, simulated=True)
    options = LiveOptions(
        interval=settings.interval, window_s=settings.window, span_s=300.0, gpu="sim", sim_log=True
    )
    options.extra_sources = (lambda s: drive(s, url, workload, clock),)
    feed = live_feed(target, url, options, clock)
    if not record:
        return feed
    record_feed(
        feed,
        args,
        settings,
        options,
        what=f"demo-{workload.name}",
        simulated=True,
        default=True,
        profile={"name": profile, "source": "simulated Spark"},
        workload={**workload_meta(workload), "slos": as_meta(resolve())},
        name_hint=profile,
    )
    return feed


async def drive(session: Session, url: str, workload: Any, clock: Clock, interval: float = 1.0) -> None:
    """Run the workload once the server is healthy, reporting progress every interval."""
    from sparktop.workload.generator import WorkloadRunner

    while session.server.state != "healthy":  # noqa: ASYNC110 - the state changes as scrapes arrive
        await asyncio.sleep(0.2)
    runner = WorkloadRunner(
        url, workload, clock=clock, on_record=session.observe, on_event=session.observe, keep_records=False
    )
    task = asyncio.create_task(runner.run())
    try:
        while not task.done():
            session.observe(runner.progress())
            await asyncio.sleep(interval)
        session.observe(runner.progress())
        await task
    finally:
        runner.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
