"""The command line: one sub-command per verb.

Each verb's options are declared here; its work lives in the module named for it and is imported
only when that verb runs, so ``sparktop --help`` and the dashboard start fast.

Exit codes: 0 success, 1 the job ran and failed (a smoke verdict, a failed launch), 2 bad input
(usage, unreadable file, unreachable target), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sparktop import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T", int, float)


class CliError(Exception):
    """A user-facing error: printed as one line (``sparktop: error: ...``) with an optional hint."""

    def __init__(self, message: str, hint: str | None = None, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def _number(
    parse: Callable[[str], T],
    what: str,
    ok: Callable[[T], bool],
    bound: str,
    example: str = "",
    most: float | None = None,
    unit: str = "",
) -> Callable[[str], T]:
    """An argparse type: ``parse`` the text, then check it, each failure a one-line message. A
    float is never infinite or NaN (``inf`` would make a wait endless, ``nan`` fails every
    comparison); an option that means something by ``inf`` says so itself (``load --rate``).
    ``most``: the largest value that is not absurd (``unit`` names what it counts)."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}{example}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {bound}: {text!r}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:g}{unit}: {text!r}")
        return value

    return convert


_positive_float = _number(float, "a number", lambda v: v > 0, "> 0")
_non_negative_float = _number(float, "a number", lambda v: v >= 0, ">= 0")
_positive_int = _number(int, "a whole number", lambda v: v >= 1, ">= 1")
_non_negative_int = _number(int, "a whole number", lambda v: v >= 0, ">= 0")
_port = _number(int, "a port number", lambda v: 0 <= v <= 65535, "0..65535")
_utilization = _number(float, "a number", lambda v: 0 < v <= 1, "in (0, 1], e.g. 0.85", " (e.g. 0.85)")
_range_ratio = _number(float, "a number", lambda v: 0 <= v < 1, "in [0, 1), e.g. 0.9", " (e.g. 0.9)")
_http_status = _number(int, "an HTTP status", lambda v: 100 <= v <= 599, "an HTTP status, 100..599")
_interval = _number(float, "a number", lambda v: 0.05 <= v <= 3600, "from 0.05 to 3600 seconds")
"""Seconds between scrapes: faster than 20 a second only loads the server, slower than an hour
shows nothing."""
DAY_S = 86400
_window = _number(float, "a number", lambda v: v > 0, "> 0", most=DAY_S, unit=" s (a day)")
_timeout = _number(float, "a number", lambda v: v > 0, "> 0", most=DAY_S, unit=" s (a day)")
_duration = _number(float, "a number", lambda v: v > 0, "> 0", most=31 * DAY_S, unit=" s (31 days)")
_speed = _number(float, "a number", lambda v: v > 0, "> 0", most=10_000)
_replay_speed = _number(float, "a number", lambda v: 0.25 <= v <= 64, "from 0.25 to 64")
_tokens = _number(int, "a whole number", lambda v: v >= 1, ">= 1", most=10_000_000, unit=" tokens")
_depth = _number(int, "a whole number", lambda v: v >= 0, ">= 0", most=10_000, unit=" turns")


def _moment(text: str) -> str:
    """``replay --at``: a percentage must lie in 0..100 (the rest is checked against the recording)."""
    stripped = text.strip()
    if stripped.endswith("%"):
        try:
            value = float(stripped[:-1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (e.g. 50%)") from None
        if not (math.isfinite(value) and 0 <= value <= 100):
            raise argparse.ArgumentTypeError(f"must be from 0% to 100% of the recording: {text!r}")
    return text


def _record_path(text: str) -> str:
    """``--record PATH``: a new file in a folder that exists. A missing folder is refused rather than
    made (a typo would otherwise scatter recordings in folders nobody looks in); the recordings
    directory itself is created when first used."""
    if not text:
        return text  # --record alone: a name in the recordings directory
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a folder: give a file name in it, or --recordings-dir {text} to name it there"
        )
    if path.exists():
        raise argparse.ArgumentTypeError(f"{text} already exists: recordings are never overwritten")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(
            f"the folder {parent} {what} (hint: create it first, or give --record alone to record "
            "into the recordings directory)"
        )
    return text


def _recording_options(p: argparse.ArgumentParser, *, default_on: bool) -> None:
    group = p.add_argument_group("recording")
    group.add_argument(
        "--record",
        nargs="?",
        const="",
        default=None,
        type=_record_path,
        metavar="PATH",
        help="record the session to PATH (or, without PATH, to the recordings directory)"
        + (" (on by default)" if default_on else ""),
    )
    group.add_argument("--no-record", action="store_true", help="do not record this session")
    group.add_argument(
        "--recordings-dir", default=None, metavar="DIR", help="where recordings go (default from config)"
    )


def _view_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("dashboard")
    group.add_argument("--theme", default=None, help="dark, light, high-contrast or your own theme's name")


def _command(name: str) -> Handler:
    """The handler of a verb: ``sparktop.commands.<name>.run``, imported only when that verb runs
    (so ``sparktop --help`` and each verb start without loading the others' dependencies)."""

    def handler(args: argparse.Namespace) -> int:
        module = importlib.import_module(f"sparktop.commands.{name}")
        run: Callable[[argparse.Namespace], int] = module.run
        return run(args)

    return handler


# --------------------------------------------------------------------------------------------------
# verbs


def _add_snapshot(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "snapshot",
        help="read one /metrics page (URL or file) and print its canonical figures",
        description="Read one vLLM /metrics page from a server or a file and print the canonical "
        "figures sparktop derives from it (numbers or null, with the reason for each unknown).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("url", nargs="?", help="server base URL (http://host:8000) or its /metrics URL")
    src.add_argument("--file", metavar="PATH", help="read an exposition from a file ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--timeout", type=_timeout, default=3.0, metavar="S", help="HTTP timeout (default 3)")
    p.set_defaults(handler=_command("snapshot"))


def _add_watch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch",
        help="watch a vLLM server live (dashboard, or plain lines with --headless)",
        description="Watch a vLLM server: a URL, a running container (docker:NAME) or a serving "
        "profile to launch (PROFILE.toml).",
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="target",
        help="http://host:port, docker:NAME, PROFILE.toml or prometheus:URL (every vLLM target it "
        "scrapes); several URLs: one view over all of them",
    )
    p.add_argument(
        "--headless", action="store_true", help="print one plain line per interval instead of the UI"
    )
    p.add_argument(
        "--interval",
        type=_interval,
        default=None,
        metavar="S",
        help="seconds between scrapes, 0.05 to 3600 (default from config, 1)",
    )
    p.add_argument(
        "--window",
        type=_window,
        default=None,
        metavar="S",
        help="window for rates and percentiles in seconds (default from config, 60)",
    )
    p.add_argument(
        "--count", type=_positive_int, default=None, metavar="N", help="stop after N lines (headless)"
    )
    p.add_argument(
        "--match",
        default=None,
        metavar="SELECTOR",
        help="with prometheus:URL, which of its vLLM targets, e.g. '{job=\"vllm\"}' (default: every one)",
    )
    p.add_argument(
        "--log",
        default=None,
        metavar="PATH",
        help="also follow the server's log file (a URL target run outside Docker, e.g. vllm serve ... "
        "> PATH 2>&1): its startup phases and log lines, from the file's beginning",
    )
    _recording_options(p, default_on=False)
    _view_options(p)
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave a container launched from a profile running on exit (default: stop and remove it)",
    )
    p.add_argument(
        "--pull",
        action="store_true",
        help="pull the profile's image first if it is not present (never done without this)",
    )
    p.set_defaults(handler=_command("watch"))


def _add_sim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="serve the simulated Spark: a vLLM-compatible server on a modelled GB10",
        description="Serve a SIMULATED vLLM on a modelled DGX Spark until interrupted: vLLM's HTTP API, "
        "/metrics and startup log, with latencies calibrated to published DGX Spark figures.",
    )
    p.add_argument("--profile", metavar="NAME", help="serving profile (see --list-profiles)")
    p.add_argument(
        "--list-profiles", action="store_true", help="list the profiles with their published figures"
    )
    p.add_argument("--json", action="store_true", help="with --list-profiles: print JSON")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, metavar="N", help="port (default 8000; 0 picks one)")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X", help="run X times faster than real time")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed for lengths and text (default 0)")
    p.add_argument(
        "--startup",
        choices=("realistic", "fast", "instant"),
        default="realistic",
        help="startup length: as on a Spark (minutes), ~2 s, or none (default realistic)",
    )
    p.add_argument(
        "--metrics-style",
        choices=("current", "v0.10", "v0.7"),
        default="current",
        help="pose as this vLLM's /metrics names (default current)",
    )
    p.add_argument("--max-model-len", type=_tokens, metavar="N", help="override the profile's")
    p.add_argument("--gpu-memory-utilization", type=_utilization, metavar="F", help="override the profile's")
    p.add_argument("--max-num-seqs", type=_positive_int, metavar="N", help="override the profile's")
    p.add_argument("--quiet", action="store_true", help="print the URL only, not vLLM's log")
    faults = p.add_argument_group("faults (durations in model seconds)")
    faults.add_argument(
        "--crash-after", type=_non_negative_float, metavar="S", help="engine dies S s after ready"
    )
    faults.add_argument("--fail-startup", choices=("kv",), help="fail startup with the KV-cache memory error")
    faults.add_argument(
        "--metrics-status", type=_http_status, metavar="CODE", help="/metrics answers this status"
    )
    faults.add_argument(
        "--metrics-delay", type=_non_negative_float, metavar="S", help="/metrics answers after S s"
    )
    faults.add_argument(
        "--generate-status",
        type=_http_status,
        metavar="CODE",
        help="completions and chat completions answer this status (e.g. 500)",
    )
    faults.add_argument(
        "--abort-after-tokens", type=_positive_int, metavar="N", help="abort every request after N tokens"
    )
    p.set_defaults(handler=_command("sim"))


def _add_gpu(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gpu",
        help="print one GPU and unified-memory sample",
        description="Print one sample of every GPU (fields NVML cannot give are shown as unknown, "
        "with the reason) and the host memory breakdown. Exits 0 without a GPU; with "
        "--gpu-memory-utilization, exits 1 when that would not fit in memory now.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--gpu-memory-utilization",
        type=_utilization,
        default=None,
        metavar="U",
        help="also check whether a vLLM start with this value (0 < U <= 1) fits in memory now",
    )
    p.add_argument(
        "--container",
        default=None,
        metavar="ID|PATH",
        help="the vLLM container (id, or its cgroup path) whose memory to show",
    )
    p.set_defaults(handler=_command("gpu"))


MAX_FLEET = 16
"""Simulated Sparks ``demo --fleet`` runs at most (each is a server, a workload and a session)."""
_fleet_size = _number(int, "a whole number", lambda v: 2 <= v <= MAX_FLEET, f"from 2 to {MAX_FLEET}")


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="the simulated Spark, a workload and the live dashboard (no set-up, no GPU needed)",
        description="Start the simulated Spark in-process on a free loopback port, run a workload "
        "against it (default: a loop of calm traffic, a ramp, a burst and recovery) and open the "
        "dashboard. Everything shown is SIMULATED. The session is recorded unless --no-record.",
    )
    p.add_argument("--profile", default=None, help="simulated serving profile (default gemma4-26b-a4b-nvfp4)")
    p.add_argument("--workload", "-w", default=None, metavar="PRESET", help="workload preset (default demo)")
    p.add_argument("--quick", action="store_true", help="the preset's seconds-long variant")
    p.add_argument(
        "--speed", type=_speed, default=1.0, metavar="X", help="simulated time runs X times faster"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the simulator and the workload")
    p.add_argument(
        "--startup",
        choices=("realistic", "fast", "instant"),
        default="fast",
        help="how long the simulated vLLM takes to start (default fast: every phase, in seconds)",
    )
    p.add_argument(
        "--fleet",
        type=_fleet_size,
        default=None,
        metavar="N",
        help="N simulated Sparks (2 to 16, each with its own profile and workload) in one view",
    )
    p.add_argument("--headless", action="store_true", help="plain lines instead of the dashboard")
    p.add_argument("--duration", type=_duration, default=None, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--interval",
        type=_interval,
        default=None,
        metavar="S",
        help="seconds between refreshes (0.05 to 3600)",
    )
    p.add_argument("--window", type=_window, default=None, metavar="S", help="window for percentiles")
    _recording_options(p, default_on=True)
    _view_options(p)
    p.set_defaults(handler=_command("demo"))


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="figures of one or more recordings, side by side (table, md, json, csv)",
        description="The figures published DGX Spark benchmarks report (TTFT, TPOT, ITL, E2E, decode per "
        "user and aggregate, prefill, request rate, peak concurrency, failures, KV-cache peak, "
        "preemptions, GPU power, energy per token), server-side and client-side, for each recording. "
        "With several recordings: one column each and the change against the first in percent.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".sparktop recordings (the first is the baseline), or prometheus:URL with --from and --to",
    )
    p.add_argument("--format", choices=("table", "md", "json", "csv"), default="table", help="output format")
    _prometheus_range_options(p)
    p.set_defaults(handler=_command("report"))


def _prometheus_range_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("a past range from Prometheus (prometheus:URL)")
    group.add_argument(
        "--from",
        dest="range_from",
        default=None,
        metavar="WHEN",
        help="start: 2h (two hours ago), HH:MM[:SS] (today), 2026-11-30T14:00 (local time), or epoch seconds",
    )
    group.add_argument(
        "--to", dest="range_to", default=None, metavar="WHEN", help="end, as --from (default now)"
    )
    group.add_argument(
        "--match",
        default=None,
        metavar="SELECTOR",
        help="which of Prometheus' vLLM targets, e.g. '{job=\"vllm\"}' (default: all with vllm: series)",
    )


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a recording in the dashboard (play, pause, speed, step, seek)",
        description="Open a recording in the same dashboard it was watched in, with a replay bar: "
        "space plays or pauses, + and - change the speed (0.25x to 64x), arrows step, [ and ] jump "
        "between events and markers, home/end, g goes to a time.",
    )
    p.add_argument("file", help="a .sparktop recording, or prometheus:URL with --from and --to")
    p.add_argument(
        "--speed", type=_replay_speed, default=1.0, metavar="X", help="start at this speed (0.25 to 64)"
    )
    p.add_argument(
        "--at",
        type=_moment,
        default=None,
        metavar="WHEN",
        help="start at HH:MM[:SS], +5m from the start, or 50%% (within the recording)",
    )
    p.add_argument("--paused", action="store_true", help="start paused")
    _prometheus_range_options(p)
    p.add_argument(
        "--save",
        default=None,
        metavar="PATH",
        help="with prometheus:URL, keep the range read from Prometheus as a recording at PATH",
    )
    _view_options(p)
    p.set_defaults(handler=_command("replay"))


def _add_load(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def _rate(text: str) -> float:
        if text.strip().lower() in ("inf", "infinity"):
            return float("inf")
        return _positive_float(text)

    p = sub.add_parser(
        "load",
        help="run a workload against a server (a preset, or an ad-hoc closed or open loop)",
        description="Run a workload against an OpenAI-compatible server (vLLM, the simulator) and "
        "print a summary in vllm bench serve's shape. A preset (--workload A..J, smoke, demo), a "
        "closed loop (--concurrency N --input-len N --output-len N [--depth N] [--requests N]) or an "
        "open loop (--rate R [--burstiness B] [--max-concurrency N] --num-prompts N|--duration S "
        "[--range-ratio F]). Exit 0 when every request succeeded, 1 when some failed.",
    )
    p.add_argument("url", nargs="?", help="server base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--workload", "-w", metavar="PRESET", help="A, B, C, E, F, G, H, I, J, smoke or demo")
    p.add_argument("--quick", action="store_true", help="the preset's seconds-long variant (same shape)")
    p.add_argument("--list-workloads", action="store_true", help="list the presets and exit")
    p.add_argument(
        "--json", metavar="PATH", help="also write the figures and every request's record ('-': stdout)"
    )
    p.add_argument(
        "--endpoint",
        choices=("completions", "chat"),
        default="completions",
        help="completions (token-id prompts, exact lengths; default) or chat (text fitted with /tokenize)",
    )
    p.add_argument("--model", metavar="NAME", help="model name to request (default: the first of /v1/models)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (default SPARKTOP_API_KEY, if set)",
    )
    p.add_argument(
        "--timeout",
        type=_timeout,
        default=600.0,
        metavar="S",
        help="give up on a request after S seconds without data (default 600)",
    )
    p.add_argument(
        "--deadline",
        type=_timeout,
        default=None,
        metavar="S",
        help="give up on a request after S seconds in all, however it streams (default: --timeout "
        "plus 1 s per output token asked for). A response is also cut off once it streams well past "
        "its max_tokens; both count as a server fault",
    )
    p.add_argument("--seed", type=_non_negative_int, default=None, metavar="N", help="random seed")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the unmeasured warm-up round before each closed-loop step (llama-benchy's "
        "--warmup-runs 1; warm-up requests are recorded as such and left out of the figures)",
    )
    closed = p.add_argument_group("closed loop (N users in lockstep, llama-benchy)")
    closed.add_argument(
        "--concurrency", type=_positive_int, nargs="+", metavar="N", help="users (several: one step each)"
    )
    closed.add_argument("--input-len", type=_tokens, metavar="N", help="prompt tokens per request (1024)")
    closed.add_argument("--output-len", type=_tokens, metavar="N", help="output tokens per request (128)")
    closed.add_argument(
        "--depth", type=_depth, default=0, metavar="N", help="earlier turns of growing context"
    )
    closed.add_argument(
        "--requests",
        type=_positive_int,
        default=None,
        metavar="N",
        help="requests per step (default one round)",
    )
    opened = p.add_argument_group("open loop (requests at a rate, vllm bench serve)")
    opened.add_argument("--rate", type=_rate, metavar="R", help="requests per second ('inf': all at once)")
    opened.add_argument(
        "--burstiness", type=_positive_float, default=1.0, metavar="B", help="gamma shape (1 = Poisson)"
    )
    opened.add_argument("--max-concurrency", type=_positive_int, metavar="N", help="most requests in flight")
    opened.add_argument("--num-prompts", type=_positive_int, metavar="N", help="requests to send")
    opened.add_argument("--duration", type=_duration, metavar="S", help="send for S seconds instead")
    opened.add_argument(
        "--range-ratio", type=_range_ratio, default=0.0, metavar="F", help="lengths uniform in L*(1±F)"
    )
    tools = p.add_argument_group("external tools")
    tools.add_argument(
        "--tool",
        choices=("sparktop", "vllm-bench", "llama-benchy"),
        default="sparktop",
        help="who generates the load (default: sparktop's own generator)",
    )
    tools.add_argument("--container", metavar="NAME", help="run the tool inside this container (docker exec)")
    tools.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="the tool's tokenizer: a local folder or tokenizer.json (else it asks the Hugging Face hub)",
    )
    tools.add_argument("--verbose", "-v", action="store_true", help="show the tool's own output")
    _recording_options(p, default_on=True)
    p.set_defaults(handler=_command("load"))


def _add_profile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "profile",
        help="serving profiles: import a docker run line, show or check a profile",
        description="Serving profiles are TOML files that `sparktop watch PROFILE.toml` launches. "
        "Import one from a docker run command, print it back as a command, or check it.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="turn a pasted `docker run ... vllm/vllm-openai:... --model ...` into a profile",
        description="Read a docker run command (given as the arguments, quoted or not; from FILE; or from "
        "standard input with '-' or nothing) and print the profile (or write it with -o). -e NAME=value "
        "keeps NAME only: values are never stored. sparktop's own options go before the command or at "
        "its very end.",
    )
    imp.add_argument(
        "file",
        nargs=argparse.REMAINDER,
        metavar="FILE|-|docker run ...",
        help="the command itself, or a file holding it (default: stdin)",
    )
    imp.add_argument("-o", "--output", metavar="OUT.toml", help="write the profile here instead of stdout")
    imp.add_argument("--force", action="store_true", help="with -o: replace an existing file")
    show = actions.add_parser("show", help="show what a profile launches, or the docker run line")
    show.add_argument("profile", metavar="PROFILE.toml")
    show.add_argument("--docker-run", action="store_true", help="print the equivalent docker run command")
    check = actions.add_parser("check", help="check a profile (file, line and hint for each problem)")
    check.add_argument("profile", metavar="PROFILE.toml")
    p.set_defaults(handler=_command("profile"))


def _add_smoke(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "smoke",
        help="a pass/fail verdict on a serving profile or a running server",
        description="Check a vLLM server in one command: its launch and startup (a profile), API "
        "conformance, a short workload, the SLOs (the profile's [smoke] table, --slo, defaults) and "
        "optionally a baseline recording. Prints a verdict table; exit 0 on pass, 1 on fail, 2 on bad "
        "input or an unreachable target.",
    )
    p.add_argument("target", nargs="?", help="http://host:port, docker:NAME or PROFILE.toml")
    p.add_argument(
        "--slo",
        action="append",
        metavar="NAME=LIMIT",
        help="an objective, e.g. ttft_p99_ms=2000 (repeatable; wins over the profile's [smoke] table)",
    )
    p.add_argument("--list-slos", action="store_true", help="list the SLO names, units and defaults")
    p.add_argument("--baseline", metavar="RECORDING", help="also compare with this earlier smoke recording")
    p.add_argument(
        "--tolerance",
        type=_non_negative_float,
        default=0.10,
        metavar="F",
        help="regression allowed against --baseline, as a fraction (default 0.1 = 10%%)",
    )
    p.add_argument("--workload", "-w", metavar="PRESET", help="workload preset (default smoke)")
    p.add_argument("--json", metavar="PATH", help="write the verdict and every check as JSON (- for stdout)")
    p.add_argument("--junit", metavar="PATH", help="write JUnit XML (one test case per check)")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    p.add_argument(
        "--keep", action="store_true", help="leave a container launched from a profile running afterwards"
    )
    p.add_argument("--pull", action="store_true", help="pull the profile's image if it is missing")
    _recording_options(p, default_on=True)
    p.set_defaults(handler=_command("smoke"))


def _add_exporter(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exporter",
        help="serve GPU, unified-memory and container readings to Prometheus (/metrics)",
        description="Serve a Prometheus exporter on /metrics with what vLLM's own metrics cannot "
        "say: the unified-memory breakdown (always), NVML's readings (--gpu) and a container's "
        "state, stats and vLLM startup phases (--container). Readings are collected when scraped "
        "and shared by scrapes within --interval. Runs until interrupted.",
    )
    p.add_argument("--port", type=_port, default=9464, metavar="N", help="port (default 9464; 0 picks one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--gpu", action="store_true", help="also serve NVML's readings of every GPU")
    p.add_argument(
        "--container",
        default=None,
        metavar="NAME",
        help="also serve this container's state, CPU and memory and vLLM's startup phases from its log",
    )
    p.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="S",
        help="scrapes within S seconds share one collection, 0.05 to 3600 (default 1)",
    )
    p.set_defaults(handler=_command("exporter"))


VERBS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_demo,
    _add_watch,
    _add_replay,
    _add_report,
    _add_load,
    _add_smoke,
    _add_profile,
    _add_snapshot,
    _add_gpu,
    _add_exporter,
    _add_sim,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparktop",
        description="Watch vLLM serving benchmarks live on a DGX Spark, or on its built-in simulated twin.",
    )
    parser.add_argument("--version", action="version", version=f"sparktop {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for add in VERBS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from sparktop.config import ConfigError
    from sparktop.secrets import redact_text  # an error may quote a URL with credentials, or a key

    try:
        return handler(args)
    except ConfigError as exc:
        print(f"sparktop: error: {redact_text(str(exc))}", file=sys.stderr)
        print("hint: fix the file or remove it (every setting has a default)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CliError as exc:
        print(f"sparktop: error: {redact_text(str(exc))}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {redact_text(exc.hint)}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `sparktop ... | head`: the reader left; nothing more to say.
        return EXIT_OK
