"""`sparktop watch`: the live dashboard, or with ``--headless`` one plain line per interval.

Plain lines are ``key=value`` fields so they read well in a log and split easily in a script; an
unknown figure prints as ``-``. The loop survives the server going away and coming back: each
interval prints the state it found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import TextIO

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.clock import Clock, SystemClock
from sparktop.config import load_settings
from sparktop.derive.timeline import Timeline
from sparktop.model import Figures, LatencyStats, Num, ScrapeResult, Unknown
from sparktop.vllm.scrape import BadTarget, Scraper


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    target: str = args.target
    if not args.headless:
        raise CliError(
            "the dashboard for `watch` is not available in this build yet",
            hint="use --headless for plain lines",
        )
    try:
        scraper = Scraper(target)
    except BadTarget as exc:
        raise CliError(str(exc), hint="give the server's base URL, e.g. http://127.0.0.1:8000") from None
    return asyncio.run(
        headless(
            scraper, interval=settings.interval, window=settings.window, count=args.count, out=sys.stdout
        )
    )


def _ms(value: Num) -> str:
    return fmt.num(value * 1000, 0, unknown="-") + "ms" if not isinstance(value, Unknown) else "-"


def format_line(result: ScrapeResult, figures: Figures | None) -> str:
    """One plain line for one scrape."""
    stamp = time.strftime("%H:%M:%S", time.localtime(result.t))
    if result.snapshot is None or figures is None:
        return f"{stamp} state={result.state} {fmt.clean(result.detail)}"
    ttft = figures.latency.get("ttft")
    p50: Num = ttft.p50 if isinstance(ttft, LatencyStats) else Unknown("none")
    p99: Num = ttft.p99 if isinstance(ttft, LatencyStats) else Unknown("none")
    fields = [
        stamp,
        f"state={result.state}",
        f"running={fmt.num(figures.requests_running, 0, unknown='-')}",
        f"waiting={fmt.num(figures.requests_waiting, 0, unknown='-')}",
        f"kv={fmt.pct(figures.kv_cache_usage, unknown='-')}",
        f"ttft_p50={_ms(p50)}",
        f"ttft_p99={_ms(p99)}",
        f"gen_tps={fmt.num(figures.generation_tps, 1, unknown='-')}",
        f"prompt_tps={fmt.num(figures.prompt_tps, 1, unknown='-')}",
    ]
    if result.state != "healthy":
        fields.append(fmt.clean(result.detail))
    return " ".join(fields)


async def headless(
    scraper: Scraper,
    *,
    interval: float,
    window: float,
    count: int | None,
    out: TextIO,
    clock: Clock | None = None,
) -> int:
    """Print one line per interval until interrupted (or ``count`` lines)."""
    clock = clock or scraper.clock or SystemClock()
    timeline = Timeline(retention_s=max(2 * window, 120.0))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    resets = 0
    printed = 0
    out.write(
        f"# sparktop watch {scraper.base}: every {interval:g} s, rates and percentiles over {window:g} s\n"
    )
    out.flush()
    try:
        async with scraper:
            while not stop.is_set() and (count is None or printed < count):
                started = time.monotonic()
                result = await scraper.scrape()
                if result.snapshot is not None:
                    timeline.add(result.snapshot)
                figures = timeline.figures(window) if result.snapshot is not None else None
                line = format_line(result, figures)
                if timeline.resets > resets:
                    resets = timeline.resets
                    line += " (counters reset: server restarted)"
                out.write(line + "\n")
                out.flush()
                printed += 1
                if count is not None and printed >= count:
                    break
                delay = max(0.0, interval - (time.monotonic() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
    except BrokenPipeError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return EXIT_OK
