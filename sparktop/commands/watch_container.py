"""`sparktop watch PROFILE.toml` and `sparktop watch docker:NAME`: containers as watch targets.

A profile is launched (after a memory preflight when it asks for GPUs), its startup followed from
the log, one plain line per phase change, until ``/health`` and ``/v1/models`` answer; then the
dashboard (or the headless lines) takes over the same live session. A launch that fails (a known
fatal log line, the container dying, the health timeout) ends with the line, a hint and the
container's last log lines, exit code 1.

Containers sparktop launched are stopped and removed when it exits (Ctrl-C, SIGTERM, SIGHUP, a
failed launch) unless ``--keep``; an attached container is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import httpx

from sparktop import fmt
from sparktop.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from sparktop.clock import Clock
from sparktop.commands.recording import container_meta, profile_meta, record_feed
from sparktop.commands.watch import say_recorded
from sparktop.config import Settings
from sparktop.model import Event, Frame, StartupProgress, TargetInfo, Unknown
from sparktop.session.feeds import Emit, LiveFeed, SourceFactory
from sparktop.session.live import LiveOptions, live_feed

if TYPE_CHECKING:
    from sparktop.container.lifecycle import ContainerHandle
    from sparktop.container.profile import Profile
    from sparktop.gpu.preflight import PreflightResult

SHOWN_KINDS = ("startup", "error", "container")
"""Events printed as plain lines while a container starts (and in headless mode after)."""
ATTACH_TAIL = 2000
"""Log lines read back when attaching: the startup phases are recovered from them."""
FATAL_GRACE_S = 10.0
LOG_CATCH_UP_S = 1.5
"""How long to wait, once the server answers, for the log lines that tell the last phases."""
"""How long a failed startup may take to exit, so its exit code is known."""
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# --------------------------------------------------------------------------------------------------
# a running feed handed from view to view


class Relay:
    """A live feed that runs once and hands its frames to whichever view holds it now.

    The startup view reads frames with ``next_frame``; the dashboard or the headless printer then
    take over through ``run`` (the ``Feed`` protocol), on the same session.
    """

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.session = feed.session
        self.latest: Frame | None = None
        self._view: Emit | None = None
        self._new = asyncio.Event()

    @property
    def span_s(self) -> float:
        return self.feed.span_s

    @span_s.setter
    def span_s(self, value: float) -> None:
        self.feed.span_s = value

    def emit(self, frame: Frame) -> None:
        self.latest = frame
        self._new.set()
        if self._view is not None:
            self._view(frame)

    async def next_frame(self) -> Frame:
        self._new.clear()
        await self._new.wait()
        assert self.latest is not None
        return self.latest

    async def run(self, emit: Emit) -> None:
        self._view = emit
        if self.latest is not None:
            emit(self.latest)
        try:
            await asyncio.Event().wait()
        finally:
            self._view = None

    def mark(self, note: str) -> None:
        self.feed.mark(note)


class EventPrinter:
    """Prints the events a frame brings that were not printed yet (startup, errors, container).

    With ``details``, an error's hint and the container's last log lines follow it. Elapsed times
    count from ``since`` (None: from the first event printed).
    """

    def __init__(self, out: TextIO, since: float | None, prefix: str = "", details: bool = False) -> None:
        self.out = out
        self.since = since
        self.prefix = prefix
        self.details = details
        self._last: Event | None = None

    def new_events(self, frame: Frame) -> list[Event]:
        events = frame.events
        start = 0
        if self._last is not None:
            for i in range(len(events) - 1, -1, -1):
                if events[i] is self._last:
                    start = i + 1
                    break
        fresh = list(events[start:])
        if events:
            self._last = events[-1]
        return [e for e in fresh if e.kind in SHOWN_KINDS]

    def print(self, frame: Frame) -> list[Event]:
        fresh = self.new_events(frame)
        for event in fresh:
            if self.since is None:  # elapsed times count from the first event printed
                self.since = event.t
            self.out.write(self.prefix + format_event(event, self.since) + "\n")
            if self.details and event.kind == "error":
                hint = event.data.get("hint")
                if isinstance(hint, str) and hint:
                    self.out.write(f"{self.prefix}  hint: {fmt.clean(hint)}\n")
                lines = event.data.get("last_lines")
                for line in lines.splitlines() if isinstance(lines, str) else ():
                    self.out.write(f"{self.prefix}  | {fmt.clean(line)}\n")
        if fresh:
            self.out.flush()
        return fresh


def format_event(event: Event, since: float) -> str:
    """``12:00:01 +12.3s weights load 50%`` (text cleaned: it comes from the container)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
    elapsed = max(0.0, event.t - since)
    return f"{stamp} +{elapsed:.1f}s {fmt.clean(event.text)}"


# --------------------------------------------------------------------------------------------------
# launch


@dataclass(frozen=True, slots=True)
class LaunchFailure:
    message: str
    hint: str
    last_lines: tuple[str, ...] = ()
    exit_code: int | None = None


def gpu_preflight(profile: Profile) -> PreflightResult | None:
    """Will the profile's ``--gpu-memory-utilization`` fit in memory now? None without a GPU request."""
    if not profile.gpus:
        return None
    from sparktop.gpu.nvml import NvmlCollector
    from sparktop.gpu.preflight import preflight

    collector = NvmlCollector()
    try:
        sample = collector.collect()
    finally:
        collector.close()
    return preflight(profile.gpu_memory_utilization, sample)


def _warn(err: TextIO, message: str, hint: str = "") -> None:
    err.write(f"sparktop: warning: {message}\n")
    if hint:
        err.write(f"hint: {hint}\n")
    err.flush()


def _fail(err: TextIO, failure: LaunchFailure) -> None:
    err.write(f"sparktop: error: {fmt.clean(failure.message)}\n")
    if failure.hint:
        err.write(f"hint: {fmt.clean(failure.hint)}\n")
    if failure.last_lines:
        code = f" (exit code {failure.exit_code})" if failure.exit_code is not None else ""
        err.write(f"last log lines of the container{code}:\n")
        for line in failure.last_lines:
            err.write(f"  | {fmt.clean(line)}\n")
    err.flush()


def _last_lines(frame: Frame, logs: Sequence[Event]) -> tuple[tuple[str, ...], int | None]:
    for event in reversed(frame.events):
        lines = event.data.get("last_lines")
        if event.kind == "error" and isinstance(lines, str):
            code = event.data.get("exit_code")
            return tuple(lines.splitlines()), code if isinstance(code, int) else None
    return tuple(e.text for e in list(logs)[-10:]), None


async def models_answer(url: str) -> bool:
    """``/v1/models`` lists a model (the last check before the dashboard takes over)."""
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            response = await client.get(url + "/v1/models")
            data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("data"), list) and bool(data["data"])


async def follow_startup(
    relay: Relay,
    handle: ContainerHandle,
    *,
    timeout_s: float,
    launched_at: float,
    printer: EventPrinter,
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> LaunchFailure | None:
    """Print startup events until the server is ready (None), fails, or ``stop`` is set."""
    fatal_seen: float | None = None
    while not stop.is_set():
        next_frame = asyncio.ensure_future(relay.next_frame())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({next_frame, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not next_frame.done():
            next_frame.cancel()
            break
        frame = next_frame.result()
        printer.print(frame)
        startup, container = frame.startup, frame.container
        dead = container is not None and container.state in ("exited", "dead", "missing")
        if startup is not None and startup.fatal is not None and fatal_seen is None:
            fatal_seen = clock()
        if dead or (fatal_seen is not None and clock() - fatal_seen > FATAL_GRACE_S):
            lines, code = _last_lines(frame, relay.session.logs)
            assert container is not None or fatal_seen is not None
            if startup is not None and startup.fatal is not None:
                message, hint = startup.fatal, startup.hint or ""
            else:
                message, hint = f"container {handle.name} stopped before vLLM was ready", ""
            if container is not None and container.oom_killed:
                from sparktop.session.sources import OOM_HINT

                message = f"container {handle.name} {container.error}"
                hint = OOM_HINT
            elif container is not None and dead and not hint:
                message = f"container {handle.name} {container.error} before vLLM was ready"
                hint = "the container's last log lines say why"
            return LaunchFailure(
                message,
                hint,
                lines,
                code if code is not None else (container.exit_code if container else None),
            )
        if fatal_seen is None and frame.server.state == "healthy" and await models_answer(handle.url):
            await _finish_log(relay, printer, startup)
            return None
        if clock() - launched_at > timeout_s:
            server = frame.server
            return LaunchFailure(
                f"vLLM was not ready after {timeout_s:g} s "
                f"(server {server.state}: {fmt.clean(server.detail)})",
                "raise health_timeout in the profile (a first start downloads and compiles for minutes); "
                "--keep leaves the container running to look at",
                tuple(e.text for e in list(relay.session.logs)[-10:]),
            )
    return None


async def _finish_log(relay: Relay, printer: EventPrinter, startup: StartupProgress | None) -> None:
    """The server answers; print the startup lines its log has not delivered yet (the log comes in
    batches), so the phases read complete before the live lines begin."""
    deadline = time.monotonic() + LOG_CATCH_UP_S
    while (startup is None or not startup.ready) and time.monotonic() < deadline:
        try:
            async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                frame = await relay.next_frame()
        except TimeoutError:
            return
        printer.print(frame)
        startup = frame.startup


class Teardown:
    """Stops and removes a launched container once (unless kept); never touches attached ones."""

    def __init__(self, handle: ContainerHandle, keep: bool, err: TextIO) -> None:
        self.handle = handle
        self.keep = keep
        self.err = err
        self.done = False

    def sync(self) -> None:
        if self.done:
            return
        self.done = True
        handle = self.handle
        if not handle.launched:
            return
        if self.keep:
            self.err.write(
                f"sparktop: left container {handle.name} running (--keep): watch it again with "
                f"`sparktop watch docker:{handle.name}`, remove it with `docker rm -f {handle.name}`\n"
            )
            return
        from sparktop.container.lifecycle import ContainerError

        try:
            handle.stop_and_remove()
        except ContainerError as exc:
            _warn(self.err, str(exc), exc.hint)
            return
        self.err.write(f"sparktop: stopped and removed container {handle.name}\n")
        self.err.flush()

    async def __call__(self) -> None:
        await asyncio.to_thread(self.sync)


def container_feed(
    handle: ContainerHandle,
    info: TargetInfo,
    args: argparse.Namespace,
    settings: Settings,
    *,
    what: str,
    meta: Mapping[str, object],
    tail: int | None = None,
    on_close: Sequence[Callable[[], Awaitable[None]]] = (),
    workload: Mapping[str, object] | None = None,
    default_record: bool | None = None,
) -> LiveFeed:
    """The live session on a container: its server, its GPU share, its stats and log (read back
    ``tail`` lines first), recorded with ``meta`` when asked."""
    feed, options = attached_feed(handle, info, settings, tail=tail, on_close=on_close)
    record_feed(
        feed,
        args,
        settings,
        options,
        what=what,
        simulated=False,
        default=settings.record_watch if default_record is None else default_record,
        profile=meta,
        workload=workload,
        name_hint=info.model if isinstance(info.model, str) else None,
    )
    return feed


def attached_feed(
    handle: ContainerHandle,
    info: TargetInfo,
    settings: Settings,
    *,
    tail: int | None = None,
    on_close: Sequence[Callable[[], Awaitable[None]]] = (),
    clock: Clock | None = None,
) -> tuple[LiveFeed, LiveOptions]:
    """A container's live session, not recorded (a fleet records all its servers in one file)."""
    # a log read back (attach) comes before the first scrape: the first line already knows the startup
    primed = asyncio.Event() if tail is not None else None
    options = LiveOptions(
        interval=settings.interval,
        window_s=settings.window,
        span_s=300.0,
        gpu="nvml",
        gpu_container=handle.id,
        extra_sources=(_container_source(handle, settings.interval, tail=tail, primed=primed),),
        on_close=tuple(on_close),
        scrape_after=primed,
    )
    return live_feed(info, handle.url, options, clock), options


def attach_target(name: str) -> tuple[ContainerHandle, TargetInfo]:
    """The running container ``name`` and what the session knows of it first; CliError if none."""
    from sparktop.container.lifecycle import ContainerError, attach

    if not name:
        raise CliError("docker: needs a container name", hint="sparktop watch docker:vllm-bench")
    try:
        handle = attach(name)
    except ContainerError as exc:
        raise CliError(str(exc), hint=exc.hint) from None
    model = handle.served_model_name or handle.model
    info = TargetInfo(
        label=f"docker:{handle.name}",
        kind="container",
        model=model or Unknown("not in the container's command line"),
    )
    return handle, info


def _container_source(
    handle: ContainerHandle,
    interval: float,
    *,
    since: float | None = None,
    tail: int | None = None,
    primed: asyncio.Event | None = None,
) -> SourceFactory:
    from sparktop.session.sources import container_loop

    return lambda s: container_loop(handle, s.observe, interval, since=since, tail=tail, primed=primed)


def _install(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


def _uninstall() -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)


def load(path: str) -> Profile:
    from sparktop.container.profile import ProfileError, load_profile

    try:
        return load_profile(path)
    except ProfileError as exc:
        raise CliError(f"{exc.where}{exc.problem}", hint=exc.hint) from None


def run_profile(args: argparse.Namespace, settings: Settings, env: Mapping[str, str] | None = None) -> int:
    """Launch a profile and watch it; exit code 1 when the launch fails."""
    profile = load(args.target)
    environment = os.environ if env is None else env
    err, out = sys.stderr, sys.stdout
    from sparktop.container.lifecycle import ContainerError, connect, missing_env

    check = gpu_preflight(profile)
    if check is not None and check.verdict != "ok":
        _warn(err, f"preflight: {check.message}", check.hint)
    for name in missing_env(profile, environment):
        _warn(err, f"{name} is not set in your environment: the container starts without it")
    try:
        client = connect()
    except ContainerError as exc:
        raise CliError(str(exc), hint=exc.hint) from None
    state: dict[str, Teardown] = {}
    try:
        return asyncio.run(_launch_and_watch(profile, args, settings, environment, client, state, out, err))
    finally:
        teardown = state.get("teardown")
        if teardown is not None:
            teardown.sync()  # whatever happened above, a launched container does not outlive us


async def _launch_and_watch(
    profile: Profile,
    args: argparse.Namespace,
    settings: Settings,
    env: Mapping[str, str],
    client: object,
    state: dict[str, Teardown],
    out: TextIO,
    err: TextIO,
) -> int:
    from sparktop.container.lifecycle import ContainerError, launch

    stop = asyncio.Event()
    _install(stop)

    def progress(text: str) -> None:
        err.write(f"sparktop: pull {profile.image}: {fmt.clean(text)}\n")
        err.flush()

    launched_at = time.time()
    try:
        handle = await asyncio.to_thread(
            launch,
            profile,
            env,
            pull=args.pull,
            client=client,
            on_progress=progress,
        )
    except ContainerError as exc:
        _uninstall()
        _fail(err, LaunchFailure(str(exc), exc.hint))
        return EXIT_FAILED
    teardown = state["teardown"] = Teardown(handle, args.keep, err)
    if stop.is_set():
        _uninstall()
        await teardown()
        return EXIT_INTERRUPTED
    out.write(
        f"# sparktop watch {args.target}: launched container {handle.name} ({profile.image}) "
        f"at {handle.url}\n"
    )
    out.flush()
    info = TargetInfo(
        label=f"{profile.name} ({handle.name})",
        kind="container",
        model=profile.served_model_name or profile.model,
        profile=profile.name,
    )
    feed = container_feed(
        handle,
        info,
        args,
        settings,
        on_close=(teardown,),
        what=f"watch-{profile.name}" if profile.name else "watch",
        meta=profile_meta(profile, source=str(args.target)),
    )
    relay = Relay(feed)
    feed_task = asyncio.create_task(relay.feed.run(relay.emit))
    printer = EventPrinter(out, launched_at, prefix="# " if args.headless else "")
    watched = False
    try:
        failure = await follow_startup(
            relay,
            handle,
            timeout_s=profile.health_timeout_s,
            launched_at=launched_at,
            printer=printer,
            stop=stop,
        )
        _uninstall()
        if failure is not None:
            _fail(err, failure)
            return EXIT_FAILED
        if stop.is_set():
            return EXIT_INTERRUPTED
        model = relay.session.target.model
        out.write(f"# ready after {time.time() - launched_at:.1f} s: {handle.url} serving {model}\n")
        out.flush()
        watched = True
        if args.headless:
            from sparktop.commands.watch import headless

            printer.details = True
            return await headless(relay, settings, count=args.count, out=out, events=printer)
        from sparktop.smoke.slo import resolve
        from sparktop.tui.app import make_app

        objectives = resolve(profile.smoke) if profile.smoke else ()  # the profile's [smoke] SLOs
        app = make_app(settings, relay, objectives=objectives)
        await app.run_async()
        return app.return_code or EXIT_OK
    finally:
        feed_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed_task
        if watched:  # the recording is closed now (a closer of the feed)
            say_recorded(relay.session, err)


# --------------------------------------------------------------------------------------------------
# attach


def run_attach(args: argparse.Namespace, settings: Settings) -> int:
    """Watch a running container; it is never stopped or removed."""
    name = args.target.removeprefix("docker:")
    if args.pull:
        raise CliError("--pull applies to a profile to launch", hint="sparktop watch PROFILE.toml --pull")
    handle, info = attach_target(name)
    model = info.model if isinstance(info.model, str) else None
    feed = container_feed(
        handle,
        info,
        args,
        settings,
        tail=ATTACH_TAIL,
        what="watch",
        meta=container_meta(handle.name, handle.image, model=model, args=handle.args),
    )
    if args.headless:
        from sparktop.commands.watch import headless

        printer = EventPrinter(sys.stdout, handle.started_at or time.time(), prefix="# ", details=True)
        code = asyncio.run(headless(feed, settings, count=args.count, out=sys.stdout, events=printer))
        say_recorded(feed.session, sys.stderr)
        return code
    from sparktop.commands.watch import dashboard

    return dashboard(feed, settings)
