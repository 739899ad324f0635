"""`sparktop smoke TARGET`: a pass/fail verdict on a serving profile or a running server.

In order, each a named check with its value, its limit and pass, fail or skip (with the reason):

1. launch: for a profile, the unified-memory preflight, the launch and startup (time to healthy, no
   fatal log line); for a container or a URL, that the server answers and is healthy;
2. api: ``/v1/models`` lists the served name; completions and chat completions, streamed and not,
   are well-formed with usage; ``max_tokens`` is honoured;
3. workload: a short workload (the ``smoke`` preset: one user, four users, a burst), run as
   ``sparktop load`` runs it, and the server stayed up through it;
4. slo: the objectives (the profile's ``[smoke]`` table, ``--slo`` options, defaults) held to the
   run's figures;
5. baseline: with ``--baseline``, the same figures held to an earlier recording.

The session is recorded (unless ``--no-record``) and the figures are read back from the recording
with the code ``report`` uses, so a baseline is compared like with like. A launched container is
stopped and removed afterwards unless ``--keep``. Exit 0 on pass, 1 on fail, 2 on bad input or an
unreachable target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx
import orjson

from sparktop import fmt
from sparktop.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from sparktop.clock import SystemClock
from sparktop.commands.recording import record_feed, workload_meta
from sparktop.config import Settings, load_settings
from sparktop.model import Event, Num, TargetInfo, Unknown
from sparktop.secrets import keep_secret, redact_document, redact_text, redact_url
from sparktop.session.live import LiveOptions, live_feed, probe
from sparktop.smoke import baseline as base
from sparktop.smoke import figures
from sparktop.smoke.api import API_CHECKS, ApiChecks
from sparktop.smoke.checks import Check, Status, render_table, to_junit, verdict
from sparktop.smoke.slo import Objective, SloError, as_meta, judge, parse_option, resolve, show
from sparktop.workload import presets
from sparktop.workload.spec import Workload

if TYPE_CHECKING:
    from sparktop.commands.watch_container import Relay
    from sparktop.container.lifecycle import ContainerHandle
    from sparktop.container.profile import Profile
    from sparktop.report import RecordingReport

DEFAULT_TOLERANCE = 0.10
API_KEY_ENV = "SPARKTOP_API_KEY"
HEALTH_WAIT_S = 30.0
"""How long a running server (URL or container) may take to say healthy before the check fails."""


# --------------------------------------------------------------------------------------------------
# progress on stderr


class Progress:
    """Which check runs, the elapsed time, each result, and the workload's progress, on stderr."""

    def __init__(self, out: TextIO) -> None:
        from sparktop.commands.load import ProgressPrinter

        self.out = out
        self.start = time.monotonic()
        self.printer = ProgressPrinter(out, out.isatty())

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.start:6.1f}s]"

    def begin(self, stage: str, name: str) -> None:
        self.printer.status(f"{self.elapsed()} {stage}: {fmt.clean(name)} ...")

    def result(self, check: Check) -> None:
        word = {"pass": "pass", "fail": "FAIL", "skip": "skip"}[check.status]
        self.printer.line(
            f"{self.elapsed()} {word} {check.stage}: {fmt.clean(check.name)}: {fmt.clean(check.reason)}"
        )

    def note(self, text: str) -> None:
        self.printer.line(f"{self.elapsed()} {fmt.clean(text)}")

    def event(self, event: Event) -> None:
        self.printer.event(event)

    def done(self) -> None:
        self.printer.done()


# --------------------------------------------------------------------------------------------------
# the run


@dataclass
class Run:
    """What one smoke run has found so far."""

    progress: Progress
    checks: list[Check] = field(default_factory=list)
    ready_at: float | None = None
    """Monotonic time the server was ready (the smoke's own clock starts there)."""
    extra: dict[str, Num] = field(default_factory=dict)
    """Figures measured on the way (the launch's time to healthy)."""

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        self.progress.result(check)
        return check

    def skip_rest(self, stage: str, names: Sequence[str], why: str) -> None:
        for name in names:
            self.add(Check(stage, name, "skip", reason=why))


@dataclass(frozen=True)
class Plan:
    """Everything decided before anything runs (bad input fails here, exit 2)."""

    target: str
    workload: Workload
    objectives_cli: tuple[tuple[str, float], ...]
    tolerance: float
    baseline: RecordingReport | None
    api_key: str | None


def _plan(args: argparse.Namespace) -> Plan:
    try:
        options = tuple(parse_option(text) for text in args.slo or ())
    except SloError as exc:
        raise CliError(str(exc), hint="sparktop smoke --list-slos shows each with its unit") from None
    if not 0 <= args.tolerance < 1:
        raise CliError(
            f"--tolerance {args.tolerance:g} must be in [0, 1)", hint="e.g. --tolerance 0.1 for 10%"
        )
    try:
        workload = presets.get_preset(args.workload or "smoke")
    except KeyError:
        raise CliError(
            f"no workload called {args.workload!r}", hint=f"one of: {', '.join(presets.names())}"
        ) from None
    if workload.repeat:
        raise CliError(
            f"workload {workload.name!r} never ends", hint="a smoke needs one that does, e.g. smoke"
        )
    report = None
    if args.baseline:
        from sparktop.recording.format import RecordingError
        from sparktop.report import read_report

        try:
            report = read_report(Path(args.baseline).expanduser())
        except RecordingError as exc:
            raise CliError(
                f"baseline {args.baseline}: {exc}", hint="give a .sparktop recording of a smoke run"
            ) from None
        except OSError as exc:
            raise CliError(
                f"baseline {args.baseline}: {exc.strerror or exc}", hint="check the path"
            ) from None
    key_name = args.api_key_env or API_KEY_ENV
    api_key = os.environ.get(key_name) or None
    if args.api_key_env and not api_key:
        raise CliError(f"${key_name} is not set", hint=f"export {key_name}=... (never printed or saved)")
    keep_secret(api_key)  # a server may echo it back in an error: masked in all output
    return Plan(args.target, workload, options, args.tolerance, report, api_key)


def list_slos(out: TextIO) -> None:
    from sparktop.smoke.slo import SLOS

    out.write("SLOs for sparktop smoke (a profile's [smoke] table or --slo NAME=LIMIT):\n\n")
    for spec in SLOS.values():
        default = "no default" if spec.default is None else f"default {show(spec, spec.default)}"
        word = "at most" if spec.bound == "max" else "at least"
        out.write(f"  {spec.name:20s} {word} ({spec.unit or 'count'}, {default})\n      {spec.meaning}\n")


def run(args: argparse.Namespace) -> int:
    if args.list_slos:
        list_slos(sys.stdout)
        return EXIT_OK
    if not args.target:
        raise CliError("no target", hint="sparktop smoke http://127.0.0.1:8000 | docker:NAME | PROFILE.toml")
    plan = _plan(args)
    settings = load_settings(args)
    scratch = None
    if args.no_record:  # recorded anyway to read the figures back, then removed
        scratch = Path(tempfile.mkdtemp(prefix="sparktop-smoke-"))
        args = argparse.Namespace(
            **{**vars(args), "no_record": False, "record": str(scratch / "smoke.sparktop")}
        )
    elif args.record is None:
        args = argparse.Namespace(**{**vars(args), "record": ""})
    try:
        return _run(args, plan, settings, keep_recording=scratch is None)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, plan: Plan, settings: Settings, keep_recording: bool) -> int:
    target = plan.target
    progress = Progress(sys.stderr)
    smoke = Run(progress)
    profile: Profile | None = None
    is_profile = target.endswith(".toml") or (
        not target.startswith(("http:", "https:", "docker:")) and Path(target).is_file()
    )
    if is_profile:
        from sparktop.commands.watch_container import load

        profile = load(target)
    objectives = _objectives(plan, profile)  # unknown names in a profile: exit 2 before launching
    meta = {**workload_meta(plan.workload), "slos": as_meta(objectives)}
    runner: Callable[[], Coroutine[Any, Any, Outcome]]
    if target.startswith("docker:"):
        runner = lambda: _attached(args, plan, settings, smoke, meta)  # noqa: E731
    elif profile is not None:
        launched = profile
        runner = lambda: _launched(args, plan, settings, smoke, launched, meta)  # noqa: E731
    else:
        url = _url(target)
        runner = lambda: _at_url(args, plan, settings, smoke, url, meta)  # noqa: E731
    progress.note(
        f"sparktop smoke {fmt.clean(target)}: workload {plan.workload.name}, {len(objectives)} SLOs"
    )
    try:
        outcome = asyncio.run(runner())
    finally:
        progress.done()
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.report is not None:
        _judge(smoke, objectives, outcome, plan)
    else:
        why = outcome.why_no_figures or "the run was not recorded"
        smoke.skip_rest("slo", [o.spec.name for o in objectives], why)
    return _publish(args, plan, smoke, outcome, keep_recording)


def _url(target: str) -> str:
    from sparktop.vllm.scrape import BadTarget, base_url

    try:
        return base_url(target)
    except BadTarget as exc:
        raise CliError(str(exc), hint="give the server's base URL, e.g. http://127.0.0.1:8000") from None


def _objectives(plan: Plan, profile: Profile | None) -> list[Objective]:
    defaults: dict[str, float] = {}
    if profile is not None:
        defaults["startup_max_s"] = profile.health_timeout_s
    try:
        return resolve(profile.smoke if profile is not None else None, plan.objectives_cli, defaults)
    except SloError as exc:
        raise CliError(f"{plan.target}: [smoke] {exc}", hint="sparktop smoke --list-slos") from None


@dataclass
class Outcome:
    report: RecordingReport | None = None
    recording: Path | None = None
    extra: dict[str, Num] = field(default_factory=dict)
    """Figures the smoke measured itself (time to healthy)."""
    why_no_figures: str | None = None
    interrupted: bool = False
    seconds_after_ready: float | None = None


# --------------------------------------------------------------------------------------------------
# targets


async def _reachable(url: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            await client.get(url + "/health")
    except httpx.HTTPError as exc:
        raise CliError(
            f"cannot reach {url}: {type(exc).__name__}",
            hint="is the server running? (sparktop watch URL shows it)",
        ) from None


async def _at_url(
    args: argparse.Namespace, plan: Plan, settings: Settings, smoke: Run, url: str, meta: dict[str, Any]
) -> Outcome:
    await _reachable(url)
    found = await probe(url)
    target = TargetInfo(
        label=redact_url(url), kind="simulator" if found.simulated else "url", simulated=found.simulated
    )
    options = LiveOptions(interval=1.0, window_s=settings.window, gpu="sim" if found.simulated else "nvml")
    feed = live_feed(target, url, options, SystemClock())
    record_feed(
        feed,
        args,
        settings,
        options,
        what="smoke",
        simulated=found.simulated,
        default=True,
        workload=meta,
        name_hint=found.model,
    )
    from sparktop.commands.watch_container import Relay

    relay = Relay(feed)
    return await _with_feed(relay, plan, smoke, url, expected_model=None, before=_health(relay, smoke))


async def _attached(
    args: argparse.Namespace, plan: Plan, settings: Settings, smoke: Run, meta: dict[str, Any]
) -> Outcome:
    from sparktop.commands.recording import container_meta
    from sparktop.commands.watch_container import ATTACH_TAIL, Relay, container_feed
    from sparktop.container.lifecycle import ContainerError, attach

    name = plan.target.removeprefix("docker:")
    if not name:
        raise CliError("docker: needs a container name", hint="sparktop smoke docker:vllm-bench")
    try:
        handle = await asyncio.to_thread(attach, name)
    except ContainerError as exc:
        raise CliError(str(exc), hint=exc.hint) from None
    await _reachable(handle.url)
    model = handle.served_model_name or handle.model
    info = TargetInfo(
        label=f"docker:{handle.name}",
        kind="container",
        model=model or Unknown("not in the container's command line"),
    )
    feed = container_feed(
        handle,
        info,
        args,
        settings,
        tail=ATTACH_TAIL,
        what="smoke",
        meta=container_meta(handle.name, handle.image, model=model, args=handle.args),
        workload=meta,
        default_record=True,
    )
    relay = Relay(feed)
    return await _with_feed(
        relay, plan, smoke, handle.url, expected_model=model, before=_health(relay, smoke)
    )


def _health(relay: Relay, smoke: Run) -> Callable[[], Awaitable[bool]]:
    """The launch stage for a running server: it says healthy (within ``HEALTH_WAIT_S``)."""

    async def check() -> bool:
        start = time.monotonic()
        smoke.progress.begin("launch", "server healthy")
        state, detail = "unknown", "no scrape yet"
        while time.monotonic() - start < HEALTH_WAIT_S:
            frame = await relay.next_frame()
            state, detail = frame.server.state, frame.server.detail
            if state == "healthy":
                smoke.ready_at = time.monotonic()
                smoke.add(
                    Check(
                        "launch",
                        "server healthy",
                        "pass",
                        state,
                        "healthy",
                        "",
                        "/health and /metrics answer",
                    )
                )
                return True
            if frame.container is not None and frame.container.state != "running":
                break
        reason = f"server {state}: {fmt.clean(detail)}"
        smoke.add(
            Check("launch", "server healthy", "fail", state, "healthy", "", reason, time.monotonic() - start)
        )
        return False

    return check


async def _launched(
    args: argparse.Namespace,
    plan: Plan,
    settings: Settings,
    smoke: Run,
    profile: Profile,
    meta: dict[str, Any],
) -> Outcome:
    from sparktop.commands.recording import profile_meta
    from sparktop.commands.watch_container import (
        EventPrinter,
        Relay,
        Teardown,
        container_feed,
        follow_startup,
        gpu_preflight,
    )
    from sparktop.container.lifecycle import ContainerError, connect, launch, missing_env

    check = await asyncio.to_thread(gpu_preflight, profile)
    if check is None:
        smoke.add(Check("launch", "memory preflight", "skip", reason="the profile asks for no GPU"))
    else:
        status: Status = "fail" if check.verdict == "fail" else "pass"
        smoke.add(
            Check(
                "launch",
                "memory preflight",
                status,
                check.verdict,
                f"gpu-memory-utilization {profile.gpu_memory_utilization:g} fits",
                "",
                check.message + (f" ({check.hint})" if status == "fail" and check.hint else ""),
            )
        )
    for name in missing_env(profile, os.environ):
        smoke.progress.note(
            f"warning: {name} is not set in your environment: the container starts without it"
        )
    try:
        client = await asyncio.to_thread(connect)
    except ContainerError as exc:
        raise CliError(str(exc), hint=exc.hint) from None
    launched_at = time.time()
    smoke.progress.begin("launch", f"launch {profile.image}")
    try:
        handle: ContainerHandle = await asyncio.to_thread(
            launch, profile, os.environ, pull=args.pull, client=client
        )
    except ContainerError as exc:
        smoke.add(
            Check("launch", "launch", "fail", None, None, "", f"{exc} ({exc.hint})" if exc.hint else str(exc))
        )
        _skip_after_launch(smoke, "the container did not start")
        return Outcome(why_no_figures="the container did not start")
    teardown = Teardown(handle, args.keep, sys.stderr)
    try:
        smoke.add(
            Check(
                "launch", "launch", "pass", handle.name, None, "", f"container {handle.name} at {handle.url}"
            )
        )
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
            what=f"smoke-{profile.name}" if profile.name else "smoke",
            meta=profile_meta(profile, source=str(plan.target)),
            workload=meta,
            default_record=True,
        )
        relay = Relay(feed)
        limit = _startup_limit(plan, profile)

        async def startup() -> bool:
            stop = asyncio.Event()
            printer = EventPrinter(sys.stderr, launched_at, prefix="  ")
            smoke.progress.begin("launch", "startup")
            failure = await follow_startup(
                relay, handle, timeout_s=limit, launched_at=launched_at, printer=printer, stop=stop
            )
            took = time.time() - launched_at
            if failure is not None:
                reason = fmt.clean(failure.message) + (
                    f" (hint: {fmt.clean(failure.hint)})" if failure.hint else ""
                )
                smoke.add(Check("launch", "startup", "fail", round(took, 1), limit, "s", reason, took))
                return False
            smoke.ready_at = time.monotonic()
            smoke.extra["startup_max_s"] = took
            smoke.add(
                Check(
                    "launch",
                    "startup",
                    "pass",
                    round(took, 1),
                    limit,
                    "s",
                    f"healthy after {took:.1f} s",
                    took,
                )
            )
            return True

        return await _with_feed(relay, plan, smoke, handle.url, expected_model=info.model, before=startup)
    finally:
        await teardown()


def _startup_limit(plan: Plan, profile: Profile) -> float:
    for name, limit in plan.objectives_cli:
        if name == "startup_max_s":
            return limit
    return float(profile.smoke.get("startup_max_s", profile.health_timeout_s))


def _log_check(relay: Relay) -> Check:
    """No known fatal line in the server's log (a launched or attached container's; a URL has none)."""
    name = "no fatal log line"
    lines = len(relay.session.logs)
    if not lines:
        return Check("launch", name, "skip", reason="no server log to read (a URL target has none)")
    frame = relay.latest
    startup = frame.startup if frame is not None else None
    if startup is not None and startup.fatal is not None:
        hint = f" (hint: {fmt.clean(startup.hint)})" if startup.hint else ""
        return Check("launch", name, "fail", "fatal", "none", "", fmt.clean(startup.fatal) + hint)
    return Check("launch", name, "pass", "none", "none", "", f"{lines} recent log lines read")


def _skip_after_launch(smoke: Run, why: str) -> None:
    smoke.skip_rest("api", list(API_CHECKS), why)
    smoke.skip_rest("workload", ["workload", "server stayed up"], why)


# --------------------------------------------------------------------------------------------------
# the stages on a live feed


async def _with_feed(
    relay: Relay,
    plan: Plan,
    smoke: Run,
    url: str,
    *,
    expected_model: object,
    before: Callable[[], Awaitable[bool]],
) -> Outcome:
    """Launch check, API checks and the workload on one recorded feed; the figures read back."""
    feed = relay.feed
    feed_task = asyncio.create_task(feed.run(relay.emit))
    outcome = Outcome()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        work = asyncio.create_task(_stages(relay, plan, smoke, url, expected_model, before, outcome))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            outcome.interrupted = True
        else:
            work.result()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        status = feed.session.recording_status() if feed.session.recording_status is not None else None
        feed_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed_task
    if smoke.ready_at is not None:
        outcome.seconds_after_ready = time.monotonic() - smoke.ready_at
    outcome.extra.update(smoke.extra)
    if status is not None and status.ok:
        outcome.recording = Path(status.path)
        if outcome.why_no_figures is None:
            outcome.report = await asyncio.to_thread(_read, outcome.recording, outcome)
    elif outcome.why_no_figures is None:
        outcome.why_no_figures = (
            f"the session could not be recorded: {status.detail if status else 'no file'}"
        )
    return outcome


def _read(path: Path, outcome: Outcome) -> RecordingReport | None:
    from sparktop.recording.format import RecordingError
    from sparktop.report import read_report

    try:
        return read_report(path)
    except RecordingError as exc:
        outcome.why_no_figures = f"the recording cannot be read back: {exc}"
        return None


async def _stages(
    relay: Relay,
    plan: Plan,
    smoke: Run,
    url: str,
    expected_model: object,
    before: Callable[[], Awaitable[bool]],
    outcome: Outcome,
) -> None:
    if not await before():
        _skip_after_launch(smoke, "the server was not ready")
        outcome.why_no_figures = "the server was not ready"
        return
    smoke.add(_log_check(relay))
    api = ApiChecks(
        url, expected_model=expected_model if isinstance(expected_model, str) else None, api_key=plan.api_key
    )
    try:
        for name, step in api.steps():
            smoke.progress.begin("api", name)
            check = smoke.add(await step())
            if name == "/v1/models" and check.status == "fail":
                smoke.skip_rest("api", list(API_CHECKS[1:]), "no model to ask (/v1/models failed)")
                break
    finally:
        await api.close()
    await _workload(relay, plan, smoke, url, api.model)


async def _workload(relay: Relay, plan: Plan, smoke: Run, url: str, model: str | None) -> None:
    from sparktop.workload.client import Timeouts
    from sparktop.workload.generator import WorkloadRunner

    feed = relay.feed
    session = feed.session

    def on_event(event: Event) -> None:
        smoke.progress.event(event)
        session.observe(event)

    runner = WorkloadRunner(
        url,
        plan.workload,
        clock=feed.clock,
        model=model,
        api_key=plan.api_key,
        on_record=session.observe,
        on_event=on_event,
        timeouts=Timeouts(idle=60.0),
    )
    start = time.monotonic()
    smoke.progress.begin("workload", plan.workload.name)
    with contextlib.suppress(Exception):
        await feed.scrape_now()  # the counters before the first request
    task = asyncio.create_task(runner.run())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.25)
            p = runner.progress()
            session.observe(p)
            smoke.progress.printer.progress(p)
        summary = task.result()
    finally:
        if not task.done():
            runner.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        session.observe(runner.progress())
        with contextlib.suppress(Exception):
            await feed.scrape_now()  # and after the last one
    took = time.monotonic() - start
    sent = summary.successful if isinstance(summary.successful, int) else 0
    failed = summary.failed if isinstance(summary.failed, int) else 0
    expected = plan.workload.requests
    answered = sent + failed
    complete = expected is None or answered >= expected
    of = expected if expected is not None else answered
    reason = f"{answered} of {of} requests answered ({failed} failed) in {took:.1f} s"
    smoke.add(
        Check(
            "workload",
            "workload",
            "pass" if complete else "fail",
            float(answered),
            float(expected) if expected is not None else None,
            "requests",
            reason,
            took,
        )
    )
    frame = relay.latest
    died = [e for e in session.events if e.kind == "error" and "engine died" in e.text.lower()]
    state = frame.server.state if frame is not None else "unknown"
    if died or state not in ("healthy",):
        why = fmt.clean(died[0].text) if died else f"server {state} after the workload"
        smoke.add(Check("workload", "server stayed up", "fail", state, "healthy", "", why))
    else:
        smoke.add(
            Check("workload", "server stayed up", "pass", state, "healthy", "", "healthy after the workload")
        )


# --------------------------------------------------------------------------------------------------
# judging and publishing


def _judge(smoke: Run, objectives: Sequence[Objective], outcome: Outcome, plan: Plan) -> None:
    assert outcome.report is not None
    observed = figures.from_report(outcome.report, outcome.extra)
    for objective in objectives:
        spec = objective.spec
        if spec.name == "startup_max_s":
            if "startup_max_s" not in outcome.extra:
                smoke.add(
                    Check("slo", spec.name, "skip", reason="not launched by sparktop (already running)")
                )
            continue  # a launch's is judged as its "startup" check
        value = observed.get(spec.name, Unknown("not measured"))
        judgement, reason = judge(objective, value)
        status: Status = "skip" if judgement == "skip" else ("pass" if judgement == "pass" else "fail")
        shown: float | None = None if isinstance(value, Unknown) else float(value) * spec.scale
        limit = objective.limit * spec.scale
        source = "" if objective.source == "default" else f" [{objective.source}]"
        smoke.add(Check("slo", f"{spec.name}", status, shown, limit, spec.unit, reason + source))
    if plan.baseline is not None:
        smoke.add(base.same_workload(outcome.report.meta, plan.baseline.meta))
        then = figures.from_report(plan.baseline)
        for check in base.compare(observed, then, plan.tolerance):
            smoke.add(check)


def _publish(args: argparse.Namespace, plan: Plan, smoke: Run, outcome: Outcome, keep_recording: bool) -> int:
    result = verdict(smoke.checks)
    after = outcome.seconds_after_ready
    title = f"sparktop smoke {fmt.clean(redact_url(plan.target))}: workload {plan.workload.name}"
    if after is not None:
        title += f", {after:.1f} s after the server was ready"
    text = sys.stderr if "-" in (args.json, args.junit) else sys.stdout  # stdout is the file's then
    print(redact_text(render_table(smoke.checks, title)), file=text)
    recording = str(outcome.recording) if outcome.recording is not None and keep_recording else None
    if recording:
        print(f"recorded to {recording} (sparktop report / replay read it)", file=text)
    doc: dict[str, Any] = {
        "verdict": result,
        "target": plan.target,
        "workload": plan.workload.name,
        "seconds_after_ready": None if after is None else round(after, 3),
        "checks": [c.to_json() for c in smoke.checks],
        "recording": recording,
        "baseline": str(args.baseline) if args.baseline else None,
        "tolerance": plan.tolerance,
    }
    if args.json:
        _write(args.json, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    if args.junit:
        _write(args.junit, to_junit(smoke.checks))
    return EXIT_OK if result == "pass" else EXIT_FAILED


def _write(path: str, data: bytes) -> None:
    """Write a JSON or JUnit document (``-``: to stdout), with URL credentials and secrets masked."""
    data = redact_document(data)
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path).expanduser()
    try:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as exc:
        raise CliError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the folder exists and is writable"
        ) from None
