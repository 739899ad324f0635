"""`sparktop watch`: the live dashboard, or with ``--headless`` one plain line per scrape.

Plain lines are ``key=value`` fields so they read well in a log and split easily in a script; an
unknown figure prints as ``-``; lines starting with ``#`` are comments (a header, and for a container
its startup phases, errors and state changes). Both modes run the same live session, so they show
the same figures, and both survive the server going away and coming back.

Targets: a URL; ``docker:NAME`` (a running container, attached) or ``PROFILE.toml`` (a serving
profile to launch): see ``sparktop.commands.watch_container``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.clock import Clock, SystemClock
from sparktop.commands.recording import record_feed, record_fleet
from sparktop.config import Settings, load_settings
from sparktop.model import Frame, LatencyStats, Num, ServerStatus, TargetInfo, Unknown
from sparktop.scrape_state import scrape_state
from sparktop.secrets import redact_url
from sparktop.session.feeds import Feed, LiveFeed
from sparktop.session.fleet import FleetFeed
from sparktop.session.live import LiveOptions, live_feed, probe
from sparktop.vllm.scrape import BadTarget, base_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sparktop.commands.watch_container import EventPrinter, Relay
    from sparktop.session.core import Session
    from sparktop.smoke.slo import Objective


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    targets: list[str] = list(getattr(args, "targets", None) or [args.target])
    if any(t.startswith("prometheus:") for t in targets):
        return run_prometheus(args, settings, targets)
    if getattr(args, "match", None):
        raise CliError(
            "--match applies to prometheus:URL", hint="sparktop watch prometheus:http://HOST:9090 --match ..."
        )
    if len(targets) > 1:
        return run_fleet(args, settings, targets)
    target = args.target = targets[0]
    if target.startswith("docker:"):
        from sparktop.commands.watch_container import run_attach

        return run_attach(args, settings)
    if target.endswith(".toml") or (not target.startswith(("http:", "https:")) and Path(target).is_file()):
        from sparktop.commands.watch_container import run_profile

        return run_profile(args, settings)
    if args.pull:
        raise CliError("--pull applies to a profile to launch", hint="sparktop watch PROFILE.toml --pull")
    try:
        url = base_url(target)
    except BadTarget as exc:
        raise CliError(str(exc), hint="give the server's base URL, e.g. http://127.0.0.1:8000") from None
    log_path = getattr(args, "log", None)
    simulated = asyncio.run(probe(url, model=False)).simulated
    feed = url_feed(url, args, settings, simulated=simulated)
    if args.headless:
        printer = None
        if log_path is not None:
            from sparktop.commands.watch_container import EventPrinter

            printer = EventPrinter(sys.stdout, None, prefix="# ", details=True)
        code = asyncio.run(headless(feed, settings, count=args.count, out=sys.stdout, events=printer))
        say_recorded(feed.session, sys.stderr)
        return code
    return dashboard(feed, settings)


def run_prometheus(args: argparse.Namespace, settings: Settings, targets: Sequence[str]) -> int:
    """``watch prometheus:URL``: every vLLM target the Prometheus scrapes, read through its API."""
    from sparktop.commands import prometheus
    from sparktop.prometheus.api import prometheus_url

    prometheus.only_one(targets)
    url = prometheus_url(targets[0]) or ""
    for option in ("log", "pull"):
        if getattr(args, option, None):
            raise CliError(f"--{option} does not apply to prometheus:URL", hint="leave it out")
    feed = prometheus.watch_feed(url, args.match, settings)
    if isinstance(feed, FleetFeed):
        record_fleet(
            feed, args, settings, what="watch-prometheus", simulated=False, default=settings.record_watch
        )
    else:
        options = LiveOptions(interval=feed.interval, window_s=settings.window)
        record_feed(
            feed,
            args,
            settings,
            options,
            what="watch-prometheus",
            simulated=False,
            default=settings.record_watch,
        )
    if args.headless:
        code = asyncio.run(headless(feed, settings, count=args.count, out=sys.stdout))
        say_recorded(feed.session, sys.stderr)
        return code
    return dashboard(feed, settings)


def run_fleet(args: argparse.Namespace, settings: Settings, targets: Sequence[str]) -> int:
    """``watch URL docker:NAME ...``: one view over several servers, each read on its own."""
    seen: list[str] = []
    for target in targets:
        if target.endswith(".toml") or (
            not target.startswith(("http:", "https:", "docker:")) and Path(target).is_file()
        ):
            raise CliError(
                f"{target}: a profile is launched and watched alone",
                hint=f"sparktop watch {target}, then add its URL or docker:NAME to a fleet",
            )
        if target.startswith("docker:"):
            key = target
        else:
            try:
                key = base_url(target)
            except BadTarget as exc:
                raise CliError(
                    str(exc), hint="give each server's base URL, e.g. http://127.0.0.1:8000"
                ) from None
        if key in seen:
            raise CliError(f"{redact_url(key)} is given twice", hint="give each server once")
        seen.append(key)
    for option in ("log", "pull"):
        if getattr(args, option, None):
            raise CliError(f"--{option} applies to one target", hint="watch that server alone")
    feed = fleet_feed(seen, settings)
    simulated = all(session.target.simulated for session in feed.sessions)
    record_fleet(feed, args, settings, what="watch-fleet", simulated=simulated, default=settings.record_watch)
    if args.headless:
        code = asyncio.run(headless(feed, settings, count=args.count, out=sys.stdout))
        say_recorded(feed.session, sys.stderr)
        return code
    return dashboard(feed, settings)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def fleet_feed(targets: Sequence[str], settings: Settings, clock: Clock | None = None) -> FleetFeed:
    """A fleet over URLs and ``docker:NAME`` containers (each attached, never stopped).

    Servers are probed together: a simulator's GPU and log come from its own API. This host's GPU
    is read for servers on this host only (loopback URLs and containers): beside a remote server it
    would be another machine's figures (``sparktop exporter`` there serves its own).
    """
    from sparktop.commands.watch_container import ATTACH_TAIL, attach_target, attached_feed

    urls = [t for t in targets if not t.startswith("docker:")]

    async def probe_all() -> list[bool]:
        found = await asyncio.gather(*(probe(url, model=False) for url in urls))
        return [p.simulated for p in found]

    simulated = dict(zip(urls, asyncio.run(probe_all()) if urls else [], strict=True))
    clock = clock or SystemClock()
    feeds = []
    for target in targets:
        if target.startswith("docker:"):
            handle, info = attach_target(target.removeprefix("docker:"))
            feeds.append(attached_feed(handle, info, settings, tail=ATTACH_TAIL, clock=clock)[0])
            continue
        sim = simulated[target]
        options = LiveOptions(
            interval=settings.interval,
            window_s=settings.window,
            span_s=300.0,
            gpu="sim" if sim else ("nvml" if _loopback(target) else "none"),
            sim_log=sim,
        )
        info = TargetInfo(label=redact_url(target), kind="simulator" if sim else "url", simulated=sim)
        feeds.append(live_feed(info, target, options, clock))
    return FleetFeed(feeds, interval=settings.interval, clock=clock)


def url_feed(url: str, args: argparse.Namespace, settings: Settings, *, simulated: bool) -> LiveFeed:
    """The live feed of ``watch URL`` (recorded when the options ask for it).

    The simulated Spark (``simulated``: it answers ``/sim/stats``) has no NVML GPU: its modelled
    GB10 and unified memory come from ``/sim/gpu`` and its vLLM log from ``/sim/log``, as in
    ``demo``; this host's own readings would sit beside them as if they were the server's.
    """
    log_path = getattr(args, "log", None)
    options = LiveOptions(
        interval=settings.interval,
        window_s=settings.window,
        span_s=300.0,
        gpu="sim" if simulated else "nvml",
        sim_log=simulated and log_path is None,  # a log file given is the log to follow
    )
    info = TargetInfo(label=redact_url(url), kind="simulator" if simulated else "url", simulated=simulated)
    if log_path is not None:
        _follow_log(options, Path(log_path))
    feed = live_feed(info, url, options)
    record_feed(
        feed, args, settings, options, what="watch", simulated=simulated, default=settings.record_watch
    )
    return feed


def _follow_log(options: LiveOptions, path: Path) -> None:
    """Add a source that follows the server's log file; the first scrape waits for what it held."""
    from sparktop.logfile import LogFollower
    from sparktop.session.sources import log_file_loop

    if path.is_dir():
        raise CliError(f"{path} is a folder, not a log file", hint="give the file vllm serve writes to")
    follower = LogFollower(path)
    primed = asyncio.Event()
    options.scrape_after = primed
    options.extra_sources = (
        *options.extra_sources,
        lambda s: log_file_loop(follower, s.observe, primed=primed),
    )


def dashboard(
    feed: Feed,
    settings: Settings,
    objectives: Sequence[Objective] = (),
    *,
    duration: float | None = None,
    err: TextIO | None = None,
) -> int:
    """The dashboard on ``feed`` until quit (or ``duration`` seconds, a live feed only); then, when
    the session was recorded, where to (on ``err``, default stderr, as ``load`` says it)."""
    from sparktop.tui.app import make_app

    app = make_app(settings, feed, objectives=objectives)
    live = feed.feeds[0] if isinstance(feed, FleetFeed) else feed
    if duration is not None and isinstance(live, LiveFeed):

        async def end(session: object) -> None:
            # a source on the app's own loop: the app ends as on `q` (the feed's closers, the
            # recording among them, finish before `run` returns)
            await asyncio.sleep(duration)
            app.exit()

        live.sources.append(end)
    app.run()
    say_recorded(getattr(feed, "session", None), err or sys.stderr)
    return app.return_code or EXIT_OK


def recording_line(session: Session | None) -> str | None:
    """``recorded to PATH`` (or why not, or where it stopped); None when nothing was to be recorded."""
    if session is None:
        return None
    status = session.recording_status() if session.recording_status is not None else session.recording
    if status is None:
        return None
    if status.ok:
        return f"recorded to {status.path}"
    if session.recording_status is None:  # the file could not be created
        return fmt.clean(status.detail) or f"not recorded to {status.path}"
    return f"recorded to {status.path}, stopped early: {fmt.clean(status.detail)}"


def say_recorded(session: Session | None, out: TextIO) -> None:
    """Print ``recording_line`` (after the view has closed: on the restored terminal)."""
    line = recording_line(session)
    if line is None:
        return
    with contextlib.suppress(OSError, ValueError):
        out.write(line + "\n")
        out.flush()


def _ms(value: Num) -> str:
    return "-" if isinstance(value, Unknown) else f"{value * 1000:.0f}ms"


def _quantile(stats: LatencyStats | Unknown | None, name: str) -> str:
    """A server quantile for scripts, as precisely as its histogram bucket allows: ``175ms`` where
    the bucket is narrow, ``100-250ms`` where it is wide, ``<=1ms`` or ``>80000ms`` at the ends."""
    if not isinstance(stats, LatencyStats):
        return "-"
    value: Num = getattr(stats, name)
    bucket = stats.buckets.get(name)
    if isinstance(value, Unknown) or bucket is None:
        return _ms(value)
    lower, upper = bucket
    if math.isfinite(upper) and upper - lower <= fmt.NARROW_BUCKET * abs(upper):
        return _ms(value)
    if math.isinf(upper):
        return f">{lower * 1000:g}ms"
    if lower <= 0:
        return f"<={upper * 1000:g}ms"
    return f"{lower * 1000:g}-{upper * 1000:g}ms"


def _plain(value: Num, digits: int) -> str:
    """A number as scripts read it: no thousands separators, ``-`` when unknown."""
    return "-" if isinstance(value, Unknown) else f"{value:.{digits}f}"


def format_line(frame: Frame) -> str:
    """One plain line for the frame's latest scrape: the server's state (its health), the figures,
    and ``scrape=`` (whether they were read: ``ok``, or what went wrong, e.g. ``http-500`` while
    the state still says healthy); without figures, the reason ends the line."""
    server = frame.server
    stamp = time.strftime("%H:%M:%S", time.localtime(frame.t))
    figures = frame.figures
    scrape = f"scrape={scrape_state(server)}"
    if not server.scrape_ok or figures is None:
        fields = [stamp, f"state={server.state}", *_container_fields(frame), *_gpu_fields(frame), scrape]
        return " ".join([*fields, fmt.clean(server.detail)])
    ttft = figures.latency.get("ttft")
    fields = [
        stamp,
        f"state={server.state}",
        f"running={_plain(figures.requests_running, 0)}",
        f"waiting={_plain(figures.requests_waiting, 0)}",
        f"kv={fmt.pct(figures.kv_cache_usage, unknown='-')}",
        f"preempt={_plain(figures.preemptions_total, 0)}",
        f"ttft_p50={_quantile(ttft, 'p50')}",
        f"ttft_p99={_quantile(ttft, 'p99')}",
        f"gen_tps={_plain(figures.generation_tps, 1)}",
        f"prompt_tps={_plain(figures.prompt_tps, 1)}",
    ]
    fields += _container_fields(frame)
    fields += _gpu_fields(frame)
    fields.append(scrape)
    if server.state != "healthy":
        fields.append(fmt.clean(server.detail))
    return " ".join(fields)


def _gpu_fields(frame: Frame) -> list[str]:
    """``gpu_util=99% gpu_w=690.4 gpu_temp=61C`` (mean, sum and hottest of the devices read);
    nothing without GPU readings."""
    sample = frame.gpu
    if sample is None or sample.status != "ok" or not sample.devices:
        return []
    fields = []
    util = [d.utilization_pct for d in sample.devices if not isinstance(d.utilization_pct, Unknown)]
    if util:
        fields.append(f"gpu_util={sum(util) / len(util):.0f}%")
    power = [d.power_w for d in sample.devices]
    if all(not isinstance(p, Unknown) for p in power):
        fields.append(f"gpu_w={sum(p for p in power if not isinstance(p, Unknown)):.1f}")
    temps = [d.temperature_c for d in sample.devices if not isinstance(d.temperature_c, Unknown)]
    if temps:
        fields.append(f"gpu_temp={max(temps):.0f}C")
    return fields


def _container_fields(frame: Frame) -> list[str]:
    """``container=running ctr_cpu=12.0% ctr_mem=1.2GiB`` when watching a container."""
    c = frame.container
    if c is None:
        return []
    if c.state != "running":
        code = f"({c.exit_code})" if c.exit_code is not None else ""
        return [f"container={c.state}{code}"]
    cpu = "-" if isinstance(c.cpu_pct, Unknown) else f"{c.cpu_pct:.1f}%"
    return [f"container={c.state}", f"ctr_cpu={cpu}", f"ctr_mem={_size(c.mem_bytes)}"]


def _size(value: Num) -> str:
    """Bytes in one word (no space: plain lines split on spaces)."""
    if isinstance(value, Unknown):
        return "-"
    if value >= 1024**3:
        return f"{value / 1024**3:.2f}GiB"
    return f"{value / 1024**2:.0f}MiB"


async def headless(
    feed: LiveFeed | Relay | FleetFeed,
    settings: Settings,
    *,
    count: int | None,
    out: TextIO,
    events: EventPrinter | None = None,
    duration: float | None = None,
) -> int:
    """Print one line per scrape until interrupted (or ``count`` lines, or ``duration`` seconds);
    with ``events``, also the new startup, error and container events as ``#`` lines. A fleet
    prints one line per target and scrape, each starting ``target=LABEL``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    printed = 0
    last: dict[int, ServerStatus] = {}
    resets: dict[int, int] = {}
    window = f"rates over {feed.session.rate_window_s:g} s, percentiles over {settings.window:g} s"
    if isinstance(feed, FleetFeed):
        labels = ", ".join(f"target={session.target.label}" for session in feed.sessions)
        what = f"{len(feed.feeds)} targets ({labels})"
    else:
        what = feed.session.target.label
    out.write(f"# sparktop watch {what}: every {settings.interval:g} s, {window}\n")
    out.flush()

    def line_of(index: int, frame: Frame) -> str | None:
        """The frame's line, or None when its target has no new scrape since its last line."""
        if last.get(index) is frame.server or frame.server.state == "unknown":
            return None
        last[index] = frame.server
        line = format_line(frame)
        if frame.workload is not None:
            w = frame.workload
            total = f"/{w.total}" if w.total else ""
            phase = fmt.clean(w.phase).replace(" ", "_")
            line += f" load={phase} done={w.done}{total} in_flight={w.in_flight} failed={w.failed}"
            if w.unanswered_since is not None:  # the oldest request still without a first token
                line += f" unanswered={max(0.0, frame.t - w.unanswered_since):.1f}s"
        if frame.figures is not None and frame.figures.counter_resets > resets.get(index, 0):
            resets[index] = frame.figures.counter_resets
            line += " (counters reset: server restarted)"
        return line

    def emit(frame: Frame) -> None:
        nonlocal printed
        if events is not None:
            try:
                events.print(frame)
            except BrokenPipeError:
                stop.set()
                return
        if frame.fleet is not None:
            lines = [
                f"target={fmt.clean(sub.target.label).replace(' ', '_')} {line}"
                for index, sub in enumerate(frame.fleet.frames)
                if (line := line_of(index, sub)) is not None
            ]
        else:
            one = line_of(0, frame)
            lines = [one] if one is not None else []
        for line in lines:
            try:
                out.write(line + "\n")
                out.flush()
            except BrokenPipeError:
                stop.set()
                return
            printed += 1
            if count is not None and printed >= count:
                stop.set()
                return

    task = asyncio.create_task(feed.run(emit))
    if duration is not None:
        loop.call_later(duration, stop.set)
    try:
        await stop.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    return EXIT_OK
