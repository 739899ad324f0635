"""`sparktop load`: run a workload against a server without the dashboard.

Progress goes to stderr (one redrawn line on a terminal, plain lines otherwise); the summary, in
``vllm bench serve``'s familiar shape, goes to stdout, followed by why any figure is n/a and (for
sparktop's own runs) what each figure means; ``--json PATH`` writes the same figures plus every
request's record (``-`` for stdout). Closed-loop steps start with an unmeasured warm-up round
unless ``--no-warmup``. The workload is a preset (``--workload``), an ad-hoc
closed loop (``--concurrency``), an ad-hoc open loop (``--rate``), or either run by an external
tool (``--tool vllm-bench|llama-benchy``, on the host or in a container with ``--container``).

Exit codes: 0 every request succeeded; 1 some failed (they are counted and listed); 2 bad input or
a tool that could not run; 130 interrupted (the summary of what ran is still printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import orjson

from sparktop import fmt
from sparktop.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from sparktop.clock import SystemClock
from sparktop.codec import encode
from sparktop.commands.recording import record_feed, workload_meta
from sparktop.config import load_settings
from sparktop.model import Event, Num, RequestRecord, TargetInfo, Unknown, WorkloadProgress
from sparktop.secrets import keep_secret, redact_document, redact_text, redact_url
from sparktop.session.feeds import LiveFeed
from sparktop.session.live import LiveOptions, live_feed, probe
from sparktop.workload import external, presets
from sparktop.workload.client import BadUrl, Timeouts, split_base_url
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.spec import ClosedLoop, Endpoint, OpenLoop, Stage, Workload
from sparktop.workload.summary import DEFINITIONS, Summary, summarize, summarize_phases, summary_dict

PLAIN_PROGRESS_EVERY_S = 5.0
TTY_PROGRESS_EVERY_S = 0.25
DEFAULT_API_KEY_ENV = "SPARKTOP_API_KEY"


# --------------------------------------------------------------------------------------------------
# building the workload


def build_workload(args: argparse.Namespace) -> Workload:
    """The workload the options describe (a preset, or an ad-hoc closed or open loop)."""
    shape_closed = args.concurrency is not None
    shape_open = args.rate is not None
    if args.workload is not None:
        if shape_closed or shape_open:
            raise CliError(
                "choose either --workload or an ad-hoc shape (--concurrency or --rate), not both",
                hint="drop --workload to run the shape, or the shape options to run the preset",
            )
        try:
            workload = presets.get_preset(args.workload, quick=args.quick)
        except KeyError:
            raise CliError(
                f"no workload called {args.workload!r}",
                hint=f"one of: {', '.join(presets.names())} (sparktop load --list-workloads)",
            ) from None
        workload = workload if args.seed is None else _reseed(workload, args.seed)
        return _without_warmup(workload) if args.no_warmup else workload
    if shape_closed and shape_open:
        raise CliError(
            "--concurrency (closed loop) and --rate (open loop) describe different workloads",
            hint="pick one; a preset can chain both",
        )
    if not (shape_closed or shape_open):
        raise CliError(
            "nothing to run",
            hint="give --workload PRESET (e.g. --workload C --quick), --concurrency N or --rate R",
        )
    seed = 0 if args.seed is None else args.seed
    input_len = args.input_len if args.input_len is not None else 1024
    output_len = args.output_len if args.output_len is not None else 128
    try:
        if shape_closed:
            stages: list[Stage] = []
            for users in args.concurrency:
                per_conv = users * (args.depth + 1)
                runs = max(1, math.ceil(args.requests / per_conv)) if args.requests else 1
                stage = ClosedLoop(
                    name="closed",
                    users=users,
                    input_len=input_len,
                    output_len=output_len,
                    depth=args.depth,
                    runs=runs,
                    warmup=not args.no_warmup,
                )
                stages.append(replace(stage, name=presets.closed_name("closed", stage)))
            return Workload(name="closed loop", title="ad-hoc closed loop", stages=tuple(stages), seed=seed)
        for flag in ("depth", "requests"):
            if getattr(args, flag):
                raise CliError(
                    f"--{flag} is for a closed loop", hint="use --num-prompts or --duration with --rate"
                )
        if args.num_prompts is None and args.duration is None:
            raise CliError("an open loop needs --num-prompts N or --duration S")
        stage_open = OpenLoop(
            name=f"open {args.rate:g} req/s",
            rate=args.rate,
            input_len=input_len,
            output_len=output_len,
            num_prompts=args.num_prompts,
            duration_s=args.duration,
            burstiness=args.burstiness,
            max_concurrency=args.max_concurrency,
            range_ratio=args.range_ratio,
        )
        return Workload(name="open loop", title="ad-hoc open loop", stages=(stage_open,), seed=seed)
    except ValueError as exc:
        raise CliError(str(exc), hint="see sparktop load --help") from None


def _reseed(workload: Workload, seed: int) -> Workload:
    return replace(workload, seed=seed)


def _without_warmup(workload: Workload) -> Workload:
    stages = tuple(replace(s, warmup=False) if isinstance(s, ClosedLoop) else s for s in workload.stages)
    return replace(workload, stages=stages)


def list_workloads(out: TextIO) -> None:
    for name in presets.names():
        w = presets.get_preset(name)
        stages = len(w.stages)
        n = w.requests
        what = f"{n} requests" if n is not None else "loops until stopped" if w.repeat else "time-bounded"
        out.write(f"{name:6} {w.title} ({stages} step{'s' if stages != 1 else ''}, {what})\n")
        if w.notes:
            out.write(f"       {w.notes}\n")
    out.write("Add --quick for a seconds-long variant of the same shape.\n")


# --------------------------------------------------------------------------------------------------
# the summary, as text and as JSON


def _val(v: Num | int, digits: int = 2) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return fmt.num(v, digits, unknown="n/a").replace(",", "")


def render_summary(title: str, s: Summary) -> str:
    """The summary block, laid out as ``vllm bench serve`` lays out its result; why each ``n/a``
    is not known follows the block."""
    lines = [f"{' ' + title + ' ':=^50}"]
    reasons: dict[str, None] = {}

    def row(label: str, value: Num | int) -> None:
        if isinstance(value, Unknown):
            reasons.setdefault(value.reason)
        lines.append(f"{label:<40} {_val(value)}")

    row("Successful requests:", s.successful)
    row("Failed requests:", s.failed)
    row("Benchmark duration (s):", s.duration_s)
    row("Total input tokens:", s.total_input_tokens)
    row("Total generated tokens:", s.total_output_tokens)
    row("Request throughput (req/s):", s.request_throughput)
    row("Output token throughput (tok/s):", s.output_throughput)
    row("Peak output token throughput (tok/s):", s.peak_output_throughput)
    row("Peak concurrent requests:", s.peak_concurrency)
    row("Total token throughput (tok/s):", s.total_token_throughput)
    for name, header, fig in (
        ("TTFT", "Time to First Token", s.ttft_ms),
        ("TPOT", "Time per Output Token (excl. 1st token)", s.tpot_ms),
        ("ITL", "Inter-token Latency", s.itl_ms),
        ("E2EL", "End-to-end Latency", s.e2el_ms),
    ):
        lines.append(f"{header:-^50}")
        row(f"Mean {name} (ms):", fig.mean)
        row(f"Median {name} (ms):", fig.median)
        row(f"P90 {name} (ms):", fig.p90)
        row(f"P99 {name} (ms):", fig.p99)
    lines.append(f"{'Decode (llama-benchy)':-^50}")
    row("Decode tok/s per user:", s.decode_tps_per_user)
    row("Decode tok/s total (per batch):", s.decode_tps_total)
    row("Prefill tok/s total (per batch):", s.prefill_tps_total)
    if s.errors:
        lines.append(f"{'Failed requests by kind':-^50}")
        for reason, count in s.errors.items():
            lines.append(f"{count:>6} x {fmt.clean(reason)}")
    if s.warmup:
        lines.append(f"({s.warmup} warm-up requests not counted)")
    lines.append("=" * 50)
    lines.extend(f"n/a: {fmt.clean(reason)}" for reason in reasons)
    return "\n".join(lines)


def render_definitions() -> str:
    """What the summary's figures mean (``vllm bench serve``'s definitions, except where said)."""
    lines = ["Definitions (vllm bench serve's, except where said):"]
    for name, text in DEFINITIONS:
        lines.extend(
            textwrap.wrap(f"{name}: {text}", width=100, initial_indent="  ", subsequent_indent="    ")
        )
    return "\n".join(lines)


def render_phases(phases: Mapping[str, Summary]) -> str:
    """One line per phase: the figures the published tables compare."""
    header = (
        f"{'phase':<34} {'ok':>5} {'fail':>5} {'TTFT ms':>9} {'p99':>9} {'d/u':>7} {'agg':>8} {'pp t/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, s in phases.items():
        lines.append(
            f"{fmt.clean(name)[:34]:<34} {_val(s.successful):>5} {_val(s.failed):>5} "
            f"{_val(s.ttft_ms.mean, 0):>9} {_val(s.ttft_ms.p99, 0):>9} {_val(s.decode_tps_per_user, 2):>7} "
            f"{_val(s.decode_tps_total, 1):>8} {_val(s.prefill_tps_total, 0):>8}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    """What a run (ours, or an external tool's) leaves: printed as tables, written as JSON."""

    workload: Workload
    url: str
    model: str | None
    endpoint: str
    summary: Summary
    phases: Mapping[str, Summary]
    records: Sequence[RequestRecord]
    events: Sequence[Event]
    interrupted: bool

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            **summary_dict(self.summary),
            "workload": self.workload.name,
            "url": self.url,
            "model": self.model,
            "endpoint": self.endpoint,
            "interrupted": self.interrupted,
            "phases": {name: summary_dict(s) for name, s in self.phases.items()},
            "events": [encode(e) for e in self.events],
            "requests": [encode(r) for r in self.records],
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def publish(json_path: str | None, title: str, outcome: Outcome, *, definitions: bool = False) -> None:
    """Print the per-phase table (when there are phases), the summary and, for sparktop's own
    figures, their definitions; write the JSON when asked (with ``-`` the JSON goes to stdout and
    the tables to stderr)."""
    text = sys.stderr if json_path == "-" else sys.stdout
    if len(outcome.phases) > 1:
        print(redact_text(render_phases(outcome.phases)) + "\n", file=text)
    print(redact_text(render_summary(title, outcome.summary)), file=text)  # errors quote servers
    if definitions:
        print(render_definitions(), file=text)
    if json_path:
        write_json(json_path, outcome.to_json())


def write_json(path: str, data: bytes) -> None:
    """Write a JSON document (``-``: to stdout), with URL credentials and secrets masked."""
    data = redact_document(data)
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as exc:
        raise CliError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the folder exists and is writable"
        ) from None


# --------------------------------------------------------------------------------------------------
# progress


class ProgressPrinter:
    """Progress on stderr: a redrawn line on a terminal, plain lines every few seconds otherwise."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self._last = 0.0
        self._width = 0

    def line(self, text: str) -> None:
        self._clear()
        self.out.write(redact_text(text) + "\n")
        self.out.flush()

    def event(self, event: Event) -> None:
        if event.data.get("boundary") == "start" or event.level != "info":
            stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
            prefix = "" if event.level == "info" else f"{event.level}: "
            self.line(f"{stamp} {prefix}{fmt.clean(event.text)}")

    def status(self, text: str) -> None:
        """What is happening now: the redrawn line on a terminal, nothing otherwise."""
        if self.tty:
            self._draw(text)

    def _draw(self, text: str) -> None:
        text = redact_text(text)
        pad = max(0, self._width - len(text))
        self.out.write("\r" + text + " " * pad)
        self._width = len(text)
        self.out.flush()

    def progress(self, p: WorkloadProgress, force: bool = False) -> None:
        now = time.monotonic()
        every = TTY_PROGRESS_EVERY_S if self.tty else PLAIN_PROGRESS_EVERY_S
        if not force and now - self._last < every:
            return
        self._last = now
        total = f"/{p.total}" if p.total is not None else ""
        text = (
            f"[{fmt.duration(p.elapsed_s)}] {fmt.clean(p.phase)}: {p.done}{total} done, "
            f"{p.in_flight} in flight, {p.failed} failed"
        )
        if self.tty:
            self._draw(text)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def _clear(self) -> None:
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0

    def done(self) -> None:
        self._clear()
        self.out.flush()


# --------------------------------------------------------------------------------------------------
# running


def _api_key(args: argparse.Namespace) -> str | None:
    name = args.api_key_env or DEFAULT_API_KEY_ENV
    value = os.environ.get(name)
    if args.api_key_env and not value:
        raise CliError(f"${name} is not set", hint=f"export {name}=... (the key is never printed or saved)")
    keep_secret(value)  # a server may echo it back in an error: masked in all output
    return value or None


def _check_url(url: str | None) -> str:
    if not url:
        raise CliError("no server URL", hint="sparktop load http://127.0.0.1:8000 --workload smoke")
    try:
        split_base_url(url)
    except BadUrl as exc:
        raise CliError(str(exc), hint="give the server's base URL, e.g. http://127.0.0.1:8000") from None
    return url


def run(args: argparse.Namespace) -> int:
    if args.list_workloads:
        list_workloads(sys.stdout)
        return EXIT_OK
    url = _check_url(args.url)
    workload = build_workload(args)
    api_key = _api_key(args)
    endpoint: Endpoint = args.endpoint
    if args.tool != "sparktop":
        return run_external(args, workload, url, endpoint, api_key)
    if args.container:
        raise CliError("--container is for --tool vllm-bench or llama-benchy", hint="drop --container")
    printer = ProgressPrinter(sys.stderr, sys.stderr.isatty())
    clock = SystemClock()
    feed = _session_feed(args, url, workload, clock)

    def on_event(event: Event) -> None:
        printer.event(event)
        feed.session.observe(event)

    runner = WorkloadRunner(
        url,
        workload,
        clock=clock,
        endpoint=endpoint,
        api_key=api_key,
        model=args.model,
        on_record=feed.session.observe,
        on_event=on_event,
        timeouts=Timeouts(idle=args.timeout, total=args.deadline),
    )
    printer.line(
        f"sparktop load {fmt.clean(workload.name)}: {fmt.clean(workload.title)} "
        f"against {redact_url(url)} ({endpoint})"
    )
    summary = asyncio.run(_drive_with_session(runner, printer, feed))
    status = feed.session.recording_status() if feed.session.recording_status is not None else None
    if status is not None:
        printer.line(f"recorded to {status.path}" if status.ok else f"recording stopped: {status.detail}")
    printer.done()
    interrupted = runner.cancelled
    phases = summarize_phases(runner.records)
    title = f"sparktop load: {workload.name}" + (" (interrupted)" if interrupted else "")
    outcome = Outcome(
        workload=workload,
        url=url,
        model=runner.model,
        endpoint=endpoint,
        summary=summary,
        phases=phases,
        records=runner.records,
        events=runner.events,
        interrupted=interrupted,
    )
    publish(args.json, title, outcome, definitions=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed or not summary.successful else EXIT_OK


def _session_feed(args: argparse.Namespace, url: str, workload: Workload, clock: SystemClock) -> LiveFeed:
    """A headless session beside the workload: the server's metrics and the GPU, recorded with every
    request record, so ``report`` and ``replay`` see the run whole."""
    settings = load_settings(args)
    found = asyncio.run(probe(url))
    target = TargetInfo(
        label=redact_url(url), kind="simulator" if found.simulated else "url", simulated=found.simulated
    )
    options = LiveOptions(interval=1.0, window_s=settings.window, gpu="sim" if found.simulated else "nvml")
    feed = live_feed(target, url, options, clock)
    record_feed(
        feed,
        args,
        settings,
        options,
        what=f"load-{workload.name}",
        simulated=found.simulated,
        default=True,
        workload=workload_meta(workload),
        name_hint=found.model,
    )
    return feed


async def _drive_with_session(runner: WorkloadRunner, printer: ProgressPrinter, feed: LiveFeed) -> Summary:
    """The workload, with the session collecting (and recording) beside it until it ends."""
    collecting = asyncio.create_task(feed.run(lambda frame: None))

    async def report_progress() -> None:
        while True:
            feed.session.observe(runner.progress())
            await asyncio.sleep(1.0)

    progress = asyncio.create_task(report_progress())
    try:
        await feed.scrape_now()  # the counters before the first request
        return await _drive(runner, printer)
    finally:
        feed.session.observe(runner.progress())
        with contextlib.suppress(Exception):
            await feed.scrape_now()  # and after the last one
        for task in (progress, collecting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _drive(runner: WorkloadRunner, printer: ProgressPrinter) -> Summary:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.cancel)
    task = asyncio.ensure_future(runner.run())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=TTY_PROGRESS_EVERY_S)
            if not task.done():
                printer.progress(runner.progress())
        return task.result()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


# --------------------------------------------------------------------------------------------------
# external tools


def run_external(
    args: argparse.Namespace, workload: Workload, url: str, endpoint: Endpoint, api_key: str | None
) -> int:
    tool = external.VLLM_BENCH if args.tool == "vllm-bench" else external.LLAMA_BENCHY
    model = args.model
    if tool == external.LLAMA_BENCHY and not model:
        raise CliError("llama-benchy needs the model name", hint="pass --model NAME (as /v1/models lists it)")
    env = dict(os.environ)
    env_names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sparktop-load-") as tmp:
        on_host = args.container is None
        result_dir = tmp if on_host else None
        try:
            if tool == external.VLLM_BENCH:
                cmd = external.vllm_bench_command(
                    workload,
                    url,
                    model=model,
                    endpoint=endpoint,
                    result_dir=result_dir,
                    result_file="result.json" if on_host else None,
                    tokenizer=args.tokenizer,
                )
                if api_key:
                    env["OPENAI_API_KEY"] = api_key
                    env_names.append("OPENAI_API_KEY")
            else:
                assert model is not None
                cmd = external.llama_benchy_command(
                    workload,
                    url,
                    model=model,
                    api_key=api_key,
                    result_file=str(Path(tmp) / "result.json") if on_host else None,
                    tokenizer=args.tokenizer,
                    skip_coherence=asyncio.run(external.simulated_target(url)),
                )
            if not on_host:
                cmd = external.docker_exec(args.container, cmd, env_names)
        except external.ExternalError as exc:
            raise CliError(
                str(exc), hint="use sparktop's own generator (drop --tool) for this workload"
            ) from None
        printer = ProgressPrinter(sys.stderr, sys.stderr.isatty())
        printer.line(f"running: {external.shown(cmd)}")
        started = time.time()
        try:
            result = asyncio.run(
                external.run_tool(
                    tool,
                    cmd,
                    env=env,
                    on_line=printer.line if args.verbose else None,
                    on_phase=lambda phase: printer.line(f"{time.strftime('%H:%M:%S')} {phase}"),
                )
            )
        except external.ExternalError as exc:
            raise CliError(
                str(exc), hint="install it, or run it in the vLLM container with --container NAME"
            ) from None
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        printer.done()
        summaries, records = _external_results(tool, result, Path(tmp) / "result.json", started)
    if not summaries:
        tail = "\n".join(result.output.splitlines()[-5:])
        raise CliError(
            f"{args.tool} exited with code {result.returncode} and printed no result",
            hint=f"its last lines: {fmt.clean(tail)[:300]}" if tail else "run it by hand to see why",
            code=EXIT_FAILED,
        )
    name, summary = list(summaries.items())[-1]
    if records:
        overall, title = summarize(records), f"{args.tool}: {workload.name}"
    else:
        overall = summary
        title = f"{args.tool}: {workload.name}" + (f", {name}" if len(summaries) > 1 else "")
    outcome = Outcome(
        workload=workload,
        url=url,
        model=model,
        endpoint=endpoint,
        summary=overall,
        phases=summaries,
        records=records,
        events=[],
        interrupted=False,
    )
    publish(args.json, title, outcome)
    failed = overall.failed
    return EXIT_FAILED if result.returncode != 0 or (isinstance(failed, int) and failed > 0) else EXIT_OK


def _external_results(
    tool: str, result: external.ToolRun, result_file: Path, started: float
) -> tuple[dict[str, Summary], list[RequestRecord]]:
    summaries: dict[str, Summary] = {}
    records: list[RequestRecord] = []
    data: object = None
    if result_file.is_file():
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            data = orjson.loads(result_file.read_bytes())
    try:
        if tool == external.VLLM_BENCH:
            if data is not None:
                summary, records = external.parse_vllm_bench_json(data, t0=started)
                summaries["vllm bench serve"] = summary
            else:
                for i, block in enumerate(external.parse_vllm_bench_output(result.output)):
                    label = f"run {i + 1}" + (f" at {block.rate:g} req/s" if block.rate is not None else "")
                    summaries[label] = block.summary
        else:
            steps = (
                external.parse_llama_benchy_json(data)
                if data is not None
                else external.parse_llama_benchy_markdown(result.output)
            )
            summaries = {step.name: step.summary() for step in steps}
    except external.ExternalError as exc:
        raise CliError(f"could not read {tool}'s result: {exc}", code=EXIT_FAILED) from None
    return summaries, records
