"""Recording: overhead on the live loop, file size per hour, open and seek time on a 24-hour file.

- overhead: CPU per observation handed to the recorder on the session's loop (a queue put), and the
  writer thread's CPU per second of session (encoding and committing), at one full vLLM page plus
  one GPU sample per second;
- size: bytes per hour at that rate (target <= 2 MB/h);
- a synthetic 24-hour recording (86,400 scrapes and GPU samples) is written once (cached in
  /tmp), then opened and sought to random moments by the replay feed (target < 200 ms each).

Run: .venv/bin/python benchmarks/bench_recording.py [--hours H]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.model import ScrapeResult
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.recording.writer import Recorder
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from tests.support.frames import T0, gb10_sample
from tests.support.recordings import TARGET
from tests.support.vllm_pages import LoadedServer

SETTINGS = {"interval": 1.0, "window": 60.0, "rate_window": 10.0}


class Synthetic:
    """A server under load at page rate without rendering text: real pages every minute, values
    moved between them the way counters and buckets move."""

    def __init__(self, seed: int = 1) -> None:
        self.server = LoadedServer(engines=1, seed=seed)
        self.parser, self.schema = SeriesParser(), Schema()
        self.rnd = random.Random(seed)
        self._page()

    def _page(self) -> None:
        self.server.step()
        page = self.parser.parse(self.server.page())
        self.page = page
        self.values = list(page.values)
        growing = ("_total", "_bucket", "_count")
        self.counters = [i for i, s in enumerate(page.series) if s.name.endswith(growing)]

    def scrape(self, t: float, i: int) -> ScrapeResult:
        if i % 60 == 0:
            self._page()
        else:
            for j in self.rnd.sample(self.counters, min(150, len(self.counters))):
                self.values[j] += self.rnd.randint(0, 3)
        page = type(self.page)(self.page.series, list(self.values), 0)
        reading = self.schema.read(page, t)
        return ScrapeResult(t, "healthy", "ok", 0.004, reading.snapshot, reading.keys, reading.values)


def write(path: Path, seconds: int) -> tuple[float, float]:
    """Record ``seconds`` of session; returns (loop CPU per observation, writer CPU per second)."""
    source = Synthetic()
    recorder = Recorder(path, target=TARGET, settings=SETTINGS, commit_every=0.5)
    handed = 0.0
    count = 0
    made = 0.0
    for i in range(seconds):
        t = T0 + i
        m0 = time.process_time()
        obs = (source.scrape(t, i), gb10_sample(t + 0.5, 0.5))
        made += time.process_time() - m0
        for o in obs:
            h0 = time.process_time()
            recorder(o)
            handed += time.process_time() - h0
            count += 1
    recorder.close(timeout=600)
    return handed / count * 1e6, recorder.writer_cpu_s / seconds * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()

    hour = Path("/tmp/sparktop-bench-1h.sparktop")
    hour.unlink(missing_ok=True)
    per_obs_us, writer_ms = write(hour, 3600)
    size = hour.stat().st_size
    print(f"recorder on the live loop: {per_obs_us:.1f} µs CPU per observation (a queue put)")
    print(f"writer thread: {writer_ms:.2f} ms CPU per second of session ({writer_ms / 10:.2f}% of a core)")
    print(f"file size: {size / 1e6:.2f} MB per hour  (target <= 2 MB/h: {size / 2e6:.2f} of it)")

    seconds = int(args.hours * 3600)
    big = Path(f"/tmp/sparktop-bench-{seconds}s.sparktop")
    if not big.exists():
        print(f"writing a {args.hours:g}-hour recording once (cached at {big}) ...", flush=True)
        write(big, seconds)
    t0 = time.perf_counter()
    recording = Recording.open(big)
    feed = ReplayFeed(recording, playing=False)
    opened = (time.perf_counter() - t0) * 1000
    rnd = random.Random(7)
    seeks = []
    for _ in range(12):
        where = rnd.uniform(recording.start, recording.end)
        s0 = time.perf_counter()
        feed.seek(where)
        frame = feed.frame()
        seeks.append((time.perf_counter() - s0) * 1000)
        assert frame.figures is not None
    print(f"{args.hours:g}-hour file: {big.stat().st_size / 1e6:.1f} MB, open + first frame {opened:.0f} ms")
    median = statistics.median(seeks)
    print(f"seek + frame: median {median:.0f} ms, max {max(seeks):.0f} ms  (target < 200 ms)")


if __name__ == "__main__":
    main()
