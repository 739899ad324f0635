"""Memory over a long session: 24 simulated hours through the real dashboard, at accelerated time.

A synthetic server (real vLLM pages, values moved as counters and buckets move) is scraped once per
simulated second; GPU samples, workload events, request records, log lines and user markers come
along; everything goes into a live session (and a recording), and the dashboard (120x40, headless)
draws a frame every simulated minute. Resident memory is printed after the first simulated hour and
at the end: bounded history means the two stay close.

Run: .venv/bin/python benchmarks/bench_dashboard_memory.py [--hours 24]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from bench_recording import Synthetic

from sparktop.config import Settings
from sparktop.model import Event, ItlSummary, RequestRecord, TargetInfo, WorkloadProgress
from sparktop.recording.writer import Recorder
from sparktop.session.core import Session
from sparktop.session.feeds import Emit
from sparktop.tui.app import make_app
from tests.support.frames import T0, gb10_sample


def rss_mib() -> float:
    with Path("/proc/self/statm").open() as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class AcceleratedFeed:
    """Feeds a session a simulated day as fast as it goes, a frame per simulated minute."""

    def __init__(self, seconds: int, recording: Path) -> None:
        self.seconds = seconds
        self.span_s = 1800.0
        self.session = Session(TargetInfo("http://sim", "simulator", simulated=True), start=T0)
        self.recorder = Recorder(recording, target=self.session.target, simulated=True)
        if "--no-record" not in sys.argv:
            self.session.sinks.append(self.recorder)
        self.source = Synthetic(seed=5)
        self.marks: list[float] = []
        self.done = asyncio.Event()
        self.rss: list[tuple[int, float]] = []

    def mark(self, note: str) -> None:
        pass

    async def run(self, emit: Emit) -> None:
        s = self.session
        itl = ItlSummary(20, 0.03, 0.03, 0.04, 0.05, 0.06)
        for i in range(self.seconds):
            t = T0 + i
            s.observe(self.source.scrape(t, i))
            s.observe(gb10_sample(t + 0.5, 0.5 + 0.4 * math.sin(i / 300)))
            if i % 3 == 0:
                s.observe(
                    RequestRecord(
                        i,
                        "demo",
                        t - 4.0,
                        t - 3.7,
                        t,
                        1000,
                        128,
                        itl,
                        True,
                        200,
                        None,
                        "length",
                        gaps=tuple(0.03 for _ in range(127)),
                    )
                )
            if i % 10 == 0:
                s.observe(
                    Event(
                        t, "log", f"INFO Engine 000: Avg generation throughput: {i % 500}.0 tokens/s", "vllm"
                    )
                )
                s.observe(WorkloadProgress("demo: burst", i // 3, None, 4, 0, float(i), t))
            if i % 600 == 0:
                s.observe(Event(t, "workload", f"stage {i // 600}", "workload", data={"boundary": "start"}))
            if i % 3600 == 1800:
                s.observe(Event(t, "marker", f"hour {i // 3600}", "user"))
            if i % 60 == 0:
                emit(s.frame(self.span_s, now=t + 0.9))
                await asyncio.sleep(0)
                # Simulated time runs faster than the disk; let the writer drain (polling is the point).
                while self.recorder.backlog > 2000:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            if i == 3600:
                self.rss.append((i, rss_mib()))
        self.rss.append((self.seconds, rss_mib()))
        self.recorder.close(timeout=120)
        self.done.set()
        await asyncio.Event().wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    seconds = int(args.hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        feed = AcceleratedFeed(seconds, Path(tmp) / "day.sparktop")
        app = make_app(Settings(), feed)
        started = time.monotonic()
        async with app.run_test(size=(120, 40)) as pilot:
            await feed.done.wait()
            await pilot.pause(0.2)
            drawn = app.frames_drawn
        size = (Path(tmp) / "day.sparktop").stat().st_size
    (h1, rss1), (h2, rss2) = feed.rss[0], feed.rss[-1]
    print(
        f"{args.hours:g} simulated hours in {time.monotonic() - started:.0f} s, {drawn} frames drawn, "
        f"recording {size / 1e6:.1f} MB"
    )
    print(
        f"resident memory: {rss1:.1f} MiB after {h1 / 3600:g} h, {rss2:.1f} MiB after {h2 / 3600:g} h "
        f"({rss2 - rss1:+.1f} MiB)"
    )


if __name__ == "__main__":
    asyncio.run(main())
