"""``prometheus:URL`` as a target: ``watch`` live through its HTTP API, ``replay`` and ``report``
over a past range.

Live, each vLLM target Prometheus scrapes is a session fed by a ``PromScraper`` (one frame per
Prometheus scrape of it); several make a fleet. A past range is read through ``query_range`` and
written, as the scrapes it holds, into a recording (one target per file, or a fleet file): replay
and report then work on it exactly as on one recorded live, and ``replay --save`` keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sparktop import fmt
from sparktop.cli import CliError
from sparktop.clock import Clock, SystemClock
from sparktop.config import Settings
from sparktop.model import TargetInfo
from sparktop.prometheus.api import PromAPI, PromError
from sparktop.prometheus.history import iter_history
from sparktop.prometheus.source import PromScraper
from sparktop.prometheus.targets import PromTarget, discover
from sparktop.recording.writer import Recorder
from sparktop.session.feeds import LiveFeed
from sparktop.session.fleet import FleetFeed
from sparktop.session.live import LiveOptions, live_feed

MAX_RANGE_S = 31 * 86400.0
"""The longest past range read at once (a month of 1 s scrapes is already 2.7 million per target)."""
HINT = "is Prometheus at that URL, and does it scrape vLLM? (sparktop watch prometheus:URL --match ...)"


def _fail(exc: PromError) -> CliError:
    return CliError(fmt.clean(str(exc)), hint=fmt.clean(exc.hint) if exc.hint else HINT)


def targets_of(url: str, match: str | None, lookback_s: float | None = None) -> list[PromTarget]:
    """The vLLM targets Prometheus at ``url`` scrapes (``match`` narrows them); CliError if none."""

    async def ask() -> list[PromTarget]:
        async with PromAPI(url) as api:
            if lookback_s is None:
                return await discover(api, match)
            return await discover(api, match, lookback_s=lookback_s)

    try:
        return asyncio.run(ask())
    except PromError as exc:
        raise _fail(exc) from None


def _info(target: PromTarget) -> TargetInfo:
    return TargetInfo(label=target.label, kind="prometheus")


def watch_feed(
    url: str, match: str | None, settings: Settings, clock: Clock | None = None
) -> LiveFeed | FleetFeed:
    """The live feed of ``watch prometheus:URL``: one target's, or a fleet of all it scrapes."""
    clock = clock or SystemClock()
    feeds = []
    for target in targets_of(url, match):
        interval = target.interval_s or settings.interval
        options = LiveOptions(interval=interval, window_s=settings.window, span_s=300.0, gpu="none")
        scraper = PromScraper(url, target, clock)
        feeds.append(live_feed(_info(target), scraper.base, options, clock, scraper=scraper))
    if len(feeds) == 1:
        return feeds[0]
    return FleetFeed(feeds, interval=min(f.interval for f in feeds), clock=clock)


_RELATIVE = re.compile(r"^-?\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)(?:\s+ago)?$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_when(text: str, now: float) -> float:
    """A moment: ``now``, ``2h`` (that long before now, also ``2h ago`` or ``-2h``: s, m, h, d),
    ``HH:MM[:SS]`` (today, local time),
    ``2026-11-30T14:00[:SS]`` or ``2026-11-30 14:00`` (local time unless it says its offset or Z),
    or epoch seconds. ValueError with what is accepted."""
    value = text.strip()
    if value.lower() == "now":
        return now
    if found := _RELATIVE.match(value.lower()):
        return now - float(found.group(1)) * _UNITS[found.group(2)]
    if re.fullmatch(r"\d{9,11}(\.\d+)?", value):
        return float(value)
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        today = dt.datetime.fromtimestamp(now).date().isoformat()
        value = f"{today}T{value}"
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (give 2h for two hours ago, HH:MM[:SS], 2026-11-30T14:00 or epoch seconds)"
        ) from None
    return moment.timestamp()  # a naive time is local, as the clock on screen


def time_range(args: argparse.Namespace, now: float | None = None) -> tuple[float, float]:
    """``--from`` and ``--to`` as epoch seconds (``--to`` defaults to now); CliError when wrong."""
    now = time.time() if now is None else now
    if args.range_from is None:
        raise CliError(
            "a past range needs --from", hint="e.g. --from 1h (an hour ago), or --from 14:00 --to 15:30"
        )
    try:
        start = parse_when(args.range_from, now)
        end = parse_when(args.range_to, now) if args.range_to is not None else now
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if end <= start:
        raise CliError(
            "--to is not after --from", hint="give the range's start first, e.g. --from -2h --to -1h"
        )
    if end - start > MAX_RANGE_S:
        raise CliError("the range is longer than 31 days", hint="read it in parts")
    if start > now:
        raise CliError("--from is in the future", hint="a past range: e.g. --from 1h (an hour ago)")
    return start, min(end, now)


def history_recording(
    url: str, match: str | None, start: float, end: float, path: Path, settings: Settings
) -> Path:
    """Write the vLLM targets' scrapes between ``start`` and ``end`` into a recording at ``path``
    (a fleet recording when there are several). CliError when Prometheus cannot say."""
    targets = targets_of(url, match, lookback_s=max(600.0, time.time() - start))

    async def read() -> list[tuple[PromTarget, list[object]]]:
        found: list[tuple[PromTarget, list[object]]] = []
        async with PromAPI(url) as api:
            for target in targets:
                results: list[object] = []
                async for chunk in iter_history(api, target, start, end):
                    results.extend(chunk)
                if any(getattr(r, "snapshot", None) is not None for r in results):
                    found.append((target, results))
        return found

    try:
        found = asyncio.run(read())
    except PromError as exc:
        raise _fail(exc) from None
    if not found:
        first, last = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in (start, end))
        raise CliError(
            f"Prometheus has no vLLM figures from {first} to {last}",
            hint="check --from/--to (local time) and --match",
        )
    infos = [_info(target) for target, _ in found]
    interval = min((t.interval_s or settings.interval) for t, _ in found)
    recorder = Recorder(
        path,
        target=infos[0],
        targets=infos if len(infos) > 1 else (),
        settings={"interval": interval, "window": settings.window, "rate_window": 10.0},
        arrival=None,
    )
    sinks: list[Callable[[object], None]] = (
        [recorder.sink(i) for i in range(len(found))] if len(found) > 1 else [recorder]
    )
    for (_, results), sink in zip(found, sinks, strict=True):
        for result in results:
            sink(result)
    status = recorder.close()
    if not status.ok:
        raise CliError(f"{path}: {status.detail}")
    return path


@contextlib.contextmanager
def range_recording(
    args: argparse.Namespace, url: str, settings: Settings, keep: str | None
) -> Iterator[Path]:
    """A recording of ``url``'s range (``--from``/``--to``/``--match``): at ``keep``, or in a
    temporary folder removed afterwards."""
    start, end = time_range(args)
    if keep is not None:
        yield history_recording(url, args.match, start, end, Path(keep).expanduser(), settings)
        return
    with tempfile.TemporaryDirectory(prefix="sparktop-prometheus-") as folder:
        yield history_recording(url, args.match, start, end, Path(folder) / "range.sparktop", settings)


def only_one(targets: Sequence[str]) -> None:
    if len(targets) > 1:
        raise CliError(
            "prometheus:URL is watched alone (it already holds every server it scrapes)",
            hint="narrow it with --match, or watch the servers' URLs",
        )
