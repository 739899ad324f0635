"""A real Prometheus for tests: Debian's ``prometheus`` with a generated config, on a free port.

``start_prometheus(folder, jobs)`` writes the config (``scrape_interval`` 1 s; YAML is a superset
of JSON, so it is written as JSON), starts ``prometheus`` with its TSDB in ``folder``, waits until
``/-/ready`` answers and every target has been scraped once (``/api/v1/targets``), and returns a
``PromServer``; ``stop()`` ends it (SIGTERM, then SIGKILL). ``reload(jobs)`` rewrites the config and
sends SIGHUP, as an operator would. Without the binary the test is skipped (or fails in CI, see
``tests.support.prometheus``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from sparktop.model import MetricSnapshot, ScrapeResult
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from sparktop.vllm.scrape import Scraper
from tests.support.net import free_port
from tests.support.prometheus import tool
from tests.support.waiting import poll


@dataclass(frozen=True)
class Job:
    """One scrape job: its targets (``host:port``), static labels and options."""

    targets: Sequence[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    honor_labels: bool = False
    metrics_path: str = "/metrics"


def config(jobs: Mapping[str, Job], interval_s: float = 1.0) -> dict[str, Any]:
    every = f"{round(interval_s * 1000)}ms"
    return {
        "global": {"scrape_interval": every, "scrape_timeout": every, "evaluation_interval": every},
        "scrape_configs": [
            {
                "job_name": name,
                "honor_labels": job.honor_labels,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets), "labels": dict(job.labels)}],
            }
            for name, job in jobs.items()
        ],
    }


class PromServer:
    """A running Prometheus: ``url``, its log, its config file."""

    def __init__(self, folder: Path, jobs: Mapping[str, Job], interval_s: float = 1.0) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = folder / "prometheus.yml"
        self.log_path = folder / "prometheus.log"
        self.jobs = dict(jobs)
        self._write(self.jobs)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _write(self, jobs: Mapping[str, Job]) -> None:
        self.config_path.write_text(json.dumps(config(jobs, self.interval_s), indent=1))

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def targets(self) -> list[dict[str, Any]]:
        answer = httpx.get(self.url + "/api/v1/targets", params={"state": "active"}, timeout=5.0)
        answer.raise_for_status()
        found = answer.json()["data"]["activeTargets"]
        assert isinstance(found, list)
        return found

    def wait_ready(self, within_s: float = 60.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return httpx.get(self.url + "/-/ready", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        _, ok = poll(ready, bool, within_s, 0.1)
        assert ok, f"prometheus not ready within {within_s} s:\n{self.log_tail()}"
        self.wait_scraped(within_s=within_s)

    def wait_scraped(self, jobs: Mapping[str, Job] | None = None, within_s: float = 60.0) -> None:
        """Until every target of ``jobs`` (default: all) has been scraped at least once."""
        wanted = {(name, t) for name, job in (jobs or self.jobs).items() for t in job.targets}

        def scraped() -> set[tuple[str, str]]:
            return {
                (t["labels"]["job"], t["labels"]["instance"])
                for t in self.targets()
                if t.get("health") in ("up", "down")
            }

        seen, ok = poll(scraped, lambda s: wanted <= s, within_s, 0.1)
        assert ok, f"targets never scraped: {sorted(wanted - seen)}\n{self.log_tail()}"

    def reload(self, jobs: Mapping[str, Job]) -> None:
        """A new config, applied with SIGHUP; returns once the new job list is active."""
        self.jobs = dict(jobs)
        self._write(self.jobs)
        self.proc.send_signal(signal.SIGHUP)

        def jobs_now() -> set[str]:
            return {t["labels"]["job"] for t in self.targets()}

        _, ok = poll(jobs_now, lambda j: j == set(self.jobs), 30.0, 0.1)
        assert ok, f"prometheus did not apply the new config:\n{self.log_tail()}"

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)


def start_prometheus(folder: Path, jobs: Mapping[str, Job], interval_s: float = 1.0) -> PromServer:
    """A Prometheus scraping ``jobs``, ready and with every target scraped once."""
    server = PromServer(folder, jobs, interval_s)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------------------------------
# comparing what Prometheus gave back with what the server served


def page_series(
    keys: Sequence[str], values: Sequence[float]
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``(name, labels) -> value`` of a result's raw series, whatever order the labels were in."""
    from sparktop.vllm.exposition import Skip, parse_line

    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for key, value in zip(keys, values, strict=True):
        parsed = parse_line(key + " 0")
        assert not isinstance(parsed, Skip), key
        series = parsed[0]
        out[(series.name, frozenset(series.labels.items()))] = value
    return out


def snapshot_differences(a: MetricSnapshot | None, b: MetricSnapshot | None) -> list[str]:
    """Where two snapshots of one page differ (their times aside); empty when they are equal."""
    if a is None or b is None:
        return [] if a is b else [f"snapshot {a!r} vs {b!r}"]
    out = []
    for name in ("scalars", "histograms", "finished", "engines", "models", "cache_config", "skipped_lines"):
        mine, theirs = getattr(a, name), getattr(b, name)
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            out += [
                f"{name}[{k}]: {mine.get(k)!r} vs {theirs.get(k)!r}"
                for k in sorted(set(mine) | set(theirs))
                if mine.get(k) != theirs.get(k)
            ]
        elif mine != theirs:
            out.append(f"{name}: {mine!r} vs {theirs!r}")
    return out


@dataclass(frozen=True)
class Served:
    t: float
    text: str


class RecordingProxy:
    """Serves the simulator's ``/metrics`` and keeps each page with the time it was asked for;
    ``/plain`` is a page without vLLM series."""

    def __init__(self, upstream: str) -> None:
        self.pages: deque[Served] = deque(maxlen=5000)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked = time.time()
                if self.path == "/plain":
                    body, kind = b"# TYPE other_gauge gauge\nother_gauge 1\n", "text/plain; version=0.0.4"
                else:
                    answer = httpx.get(upstream + "/metrics", timeout=5.0)
                    body, kind = answer.content, answer.headers["content-type"]
                    proxy.pages.append(Served(asked, answer.text))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.hostport = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page_at(self, t: float, timeout_s: float = 1.0) -> Served:
        """The page Prometheus read in its scrape stamped ``t``: Prometheus takes the time, then
        asks, and asks again only after that scrape ended (within its ``scrape_timeout``), so it
        is the first page asked for at ``t`` or after."""
        found = next((p for p in list(self.pages) if p.t >= t), None)
        assert found is not None and found.t < t + timeout_s, f"no page served in the scrape at {t}"
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_page(text: str, t: float, schema: Schema | None = None) -> ScrapeResult:
    """A page parsed the way ``Scraper`` parses it, stamped ``t``."""
    reading = (schema or Schema()).read(SeriesParser().parse(text), t)
    return ScrapeResult(t, "healthy", "ok", None, reading.snapshot, reading.keys, reading.values)


def assert_same_page(prom: ScrapeResult, page: ScrapeResult) -> None:
    assert prom.state == page.state == "healthy", (prom.detail, page.detail)
    assert page_series(prom.series_keys, prom.series_values) == page_series(
        page.series_keys, page.series_values
    )
    assert snapshot_differences(prom.snapshot, page.snapshot) == []


async def run_load(url: str, *args: str) -> None:
    """``sparktop load URL ARGS`` to its end; it must succeed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sparktop", "load", url, *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


async def still_page(scraper: Scraper, within_s: float = 120.0) -> ScrapeResult:
    """A direct scrape once the server's page has stopped changing (two scrapes alike)."""
    deadline = time.monotonic() + within_s
    previous = await scraper.scrape()
    while True:
        await asyncio.sleep(0.3)
        current = await scraper.scrape()
        if current.state == "healthy" and snapshot_differences(previous.snapshot, current.snapshot) == []:
            return previous
        assert time.monotonic() < deadline, f"the page kept changing for {within_s} s"
        previous = current
