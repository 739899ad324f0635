"""vLLM's series read back through a REAL Prometheus equal what the server served.

One simulator, one Prometheus (scrape interval 1 s) for the module. Prometheus scrapes the simulator
in three jobs: ``vllm`` directly, ``spark`` through a recording proxy (every page Prometheus read is
kept, with the time it was served) and with target labels that clash with the page's
(``model_name``), and ``other``, a page with no ``vllm:`` series. sparktop's own ``Scraper`` reads
the simulator directly. The oracle is the page itself: the snapshot rebuilt from Prometheus must
equal the one parsed from the very page Prometheus read, and the figures a ``Timeline`` derives must
be equal too, live and over a past range.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sparktop.derive.timeline import Timeline
from sparktop.model import LatencyStats, ScrapeResult, TargetInfo
from sparktop.prometheus import pages
from sparktop.prometheus.api import PromAPI, PromError
from sparktop.prometheus.history import fetch_history, iter_history
from sparktop.prometheus.source import PromScraper
from sparktop.prometheus.targets import PromTarget, discover
from sparktop.session.core import Session
from sparktop.session.sources import scrape_loop
from sparktop.vllm.schema import Schema
from sparktop.vllm.scrape import Scraper
from tests.integration.exporter_helpers import Exporter, running_exporter, samples
from tests.support.cli import run_sparktop
from tests.support.net import free_port
from tests.support.prometheus_server import (
    Job,
    PromServer,
    RecordingProxy,
    assert_same_page,
    page_series,
    read_page,
    run_load,
    snapshot_differences,
    still_page,
)
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SIM = [sys.executable, "-m", "sparktop", "sim", "--profile", "gemma4-26b-a4b-bf16"]
SIM_ARGS = ["--startup", "instant", "--speed", "20", "--quiet"]
LOAD = ["--concurrency", "4", "--input-len", "256", "--output-len", "48", "--no-warmup", "--no-record"]


def start_simulator(port: int) -> subprocess.Popen[str]:
    """``sparktop sim --port P`` as a user starts it."""
    args = [*SIM, "--port", str(port), *SIM_ARGS]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)


def listening(proc: subprocess.Popen[str]) -> str:
    """The simulator's URL, once it listens (its first line names it)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    assert match, f"sparktop sim printed {line!r}"
    return match.group(1)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(20)


@dataclass
class Setup:
    sim: str
    flaky: str
    """A second simulator, stopped by the test of a target going down."""
    proxy: RecordingProxy
    flaky_proc: subprocess.Popen[str] | None = None
    prom: PromServer | None = None
    exporter: Exporter | None = None
    """``sparktop exporter --gpu`` (NVML's stand-in: a GB10 and an H100), scraped as job ``sparktop``."""

    @property
    def server(self) -> PromServer:
        assert self.prom is not None
        return self.prom

    @property
    def sim_hostport(self) -> str:
        return self.sim.removeprefix("http://")

    def jobs(self, flaky: bool = True) -> dict[str, Job]:
        jobs = {
            "vllm": Job([self.sim_hostport]),
            "spark": Job([self.proxy.hostport], labels={"model_name": "clash", "rack": "r1"}),
            "other": Job([self.proxy.hostport], metrics_path="/plain"),
        }
        if flaky:
            jobs["flaky"] = Job([self.flaky.removeprefix("http://")])
        if self.exporter is not None:
            jobs["sparktop"] = Job([self.exporter.url.removeprefix("http://").removesuffix("/metrics")])
        return jobs


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """Prometheus starts while the simulators do (its first scrape takes ~5 s: service discovery
    hands targets over every 5 s); all are stopped when the module is done."""
    ports = free_port(), free_port()
    sim, flaky = (f"http://127.0.0.1:{p}" for p in ports)
    proxy = RecordingProxy(sim)
    procs: list[subprocess.Popen[str]] = []
    exporting = contextlib.ExitStack()
    try:
        setup = Setup(sim, flaky, proxy)
        setup.exporter = exporting.enter_context(
            running_exporter(tmp_path_factory.mktemp("exporter"), "--gpu", fake_nvml=True)
        )
        setup.prom = PromServer(tmp_path_factory.mktemp("prometheus"), setup.jobs())
        procs = [start_simulator(p) for p in ports]
        assert [listening(p) for p in procs] == [sim, flaky]
        setup.flaky_proc = procs[1]
        setup.prom.wait_ready()
        yield setup
    finally:
        for proc in procs:
            stop(proc)
        if setup.prom is not None:
            setup.prom.stop()
        exporting.close()
        proxy.close()


@pytest.fixture
async def api(setup: Setup) -> AsyncIterator[PromAPI]:
    async with PromAPI(setup.server.url) as client:
        yield client


async def target(api: PromAPI, job: str) -> PromTarget:
    found = [t for t in await discover(api) if t.job == job]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------------------------------


async def test_discovery_finds_every_vllm_target_and_match_narrows_them(setup: Setup, api: PromAPI) -> None:
    found = await discover(api)
    for _ in range(50):  # a scrape that timed out on a loaded machine is Prometheus' news, not ours
        if all(t.health == "up" for t in found):
            break
        await asyncio.sleep(0.2)
        found = await discover(api)
    assert [(t.job, t.instance) for t in found] == [
        ("flaky", setup.flaky.removeprefix("http://")),
        ("spark", setup.proxy.hostport),
        ("vllm", setup.sim_hostport),
    ]  # not "other": it has no vllm: series
    spark = found[1]
    assert spark.label == f"spark/{setup.proxy.hostport}" and spark.interval_s == 1.0 and spark.health == "up"
    assert spark.server_url == f"http://{setup.proxy.hostport}"
    only = await discover(api, '{job="spark"}')
    assert [(t.job, t.label) for t in only] == [("spark", setup.proxy.hostport)]
    assert [t.job for t in await discover(api, '{rack="r1"}')] == ["spark"]
    assert [t.job for t in await discover(api, 'vllm:num_requests_running{job="vllm"}')] == ["vllm"]
    with pytest.raises(PromError) as none:
        await discover(api, '{job="other"}')
    assert none.value.kind == "no-targets" and 'matching {job="other"}' in str(none.value)
    with pytest.raises(PromError) as not_vllm:
        await discover(api, 'up{job="vllm"}')
    assert not_vllm.value.kind == "bad-match" and "not a vllm: series" in str(not_vllm.value)


async def test_a_bad_selector_gets_prometheus_own_reason_in_one_line(api: PromAPI) -> None:
    with pytest.raises(PromError) as bad:
        await discover(api, '{job=~"("}')
    text = str(bad.value)
    assert bad.value.kind == "refused" and bad.value.error_type == "bad_data"
    assert "Prometheus refused /api/v1/series:" in text and "missing closing )" in text and "(hint: " in text
    assert "\n" not in text


async def test_prometheus_away_or_not_prometheus_is_one_line_with_a_hint(setup: Setup) -> None:
    port = free_port()
    async with PromAPI(f"http://admin:s3cr3t-pw@127.0.0.1:{port}") as away:
        with pytest.raises(PromError) as gone:
            await discover(away)
        assert gone.value.kind == "unreachable"
        assert str(gone.value) == (
            f"cannot reach Prometheus at http://[redacted]@127.0.0.1:{port}: connection refused "
            "(hint: is Prometheus running there? check the host and port (9090 by default))"
        )
        result = await PromScraper(away, PromTarget("vllm", "x:1", "x:1", 1.0)).scrape()  # never raises
        assert (
            result.state == "unknown"
            and "connection refused" in result.detail
            and "s3cr3t" not in result.detail
        )
    async with PromAPI(setup.sim) as sim:  # an HTTP server, but not a Prometheus
        with pytest.raises(PromError) as wrong:
            await sim.buildinfo()
        assert wrong.value.kind == "not-prometheus" and "is not a Prometheus" in str(wrong.value)
        assert "hint: give Prometheus' base URL" in str(wrong.value)


async def test_the_snapshot_from_prometheus_equals_a_direct_scrape_of_the_still_server(
    setup: Setup, api: PromAPI
) -> None:
    """After a load, with the server idle: its counters are still, so a direct scrape and
    Prometheus' latest sample hold the same page; both jobs, target labels clashing or not."""
    await run_load(setup.sim, *LOAD, "--requests", "8")
    direct = Scraper(setup.sim)
    try:
        still = await still_page(direct)
        for job in ("vllm", "spark"):
            scraper = PromScraper(api, await target(api, job))
            result = await scraper.scrape()
            while result.t < still.t:
                result = await scraper.scrape()
            after = await direct.scrape()
            assert snapshot_differences(still.snapshot, after.snapshot) == []  # still all along
            assert_same_page(result, after)
            assert result.snapshot is not None and result.snapshot.models == ("gemma-4-26b-a4b-bf16",)
            finished = result.snapshot.finished
            assert isinstance(finished, dict) and finished["length"] >= 8
    finally:
        await direct.aclose()


@dataclass
class LoadedRun:
    target: PromTarget
    live: list[ScrapeResult]


@pytest.fixture(scope="module")
def loaded_run(setup: Setup) -> LoadedRun:
    """The ``spark`` target's scrapes read live through Prometheus while a load runs."""

    async def run() -> LoadedRun:
        async with PromAPI(setup.server.url) as api:
            spark = await target(api, "spark")
            scraper = PromScraper(api, spark)
            live: list[ScrapeResult] = []

            async def collect() -> None:
                while True:
                    live.append(await scraper.scrape())

            collecting = asyncio.create_task(collect())
            await eventually(lambda: len(live) >= 2)
            await run_load(setup.sim, *LOAD, "--requests", "32")
            started = len(live)
            await eventually(lambda: len(live) >= started + 2)  # the counters after the last request
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting
            return LoadedRun(spark, live)

    return asyncio.run(run())


def test_each_scrape_comes_once_stamped_with_its_time(setup: Setup, loaded_run: LoadedRun) -> None:
    live = loaded_run.live
    times = [r.t for r in live]
    assert all(r.state == "healthy" for r in live), {r.detail for r in live}
    assert times == sorted(set(times)), "a scrape fed twice, or out of order"
    first, last = setup.proxy.page_at(times[0]), setup.proxy.page_at(times[-1])
    served = [p for p in setup.proxy.pages if first.t <= p.t <= last.t]
    assert len(served) == len(live), "every scrape Prometheus made, no more, no less"
    assert all(r.latency_s is not None and 0 < r.latency_s < 1 for r in live)


def test_figures_from_prometheus_equal_those_of_the_pages_it_read(
    setup: Setup, loaded_run: LoadedRun
) -> None:
    live = loaded_run.live
    from_prom, from_pages = Timeline(), Timeline()
    schema = Schema()
    moved = False
    for result in live:
        page = read_page(setup.proxy.page_at(result.t).text, result.t, schema)
        assert_same_page(result, page)
        assert result.snapshot is not None and page.snapshot is not None
        from_prom.add(result.snapshot)
        from_pages.add(page.snapshot)
        figures = from_prom.figures(10.0, 2.0)
        assert figures == from_pages.figures(10.0, 2.0)
        assert figures is not None
        moved = moved or isinstance(figures.latency["ttft"], LatencyStats)
    assert moved, "the load showed in the figures"
    final = from_prom.figures(60.0)
    assert final is not None and final.finished_in_window != {} and final.generation_tps


async def test_history_over_the_range_gives_the_live_sequence(setup: Setup, loaded_run: LoadedRun) -> None:
    live = loaded_run.live
    async with PromAPI(setup.server.url) as api:
        past = (await fetch_history(api, [loaded_run.target], live[0].t, live[-1].t))[loaded_run.target]
        assert [r.t for r in past] == [r.t for r in live]
        for then, now in zip(past, live, strict=True):
            assert then.state == now.state and then.latency_s == now.latency_s
            assert then.series_keys == now.series_keys and then.series_values == now.series_values
            assert snapshot_differences(then.snapshot, now.snapshot) == []
        # a range that does not fall on scrapes holds the scrapes made within it
        within = await fetch_history(api, [loaded_run.target], live[0].t - 0.3, live[-1].t + 0.2)
        assert [r.t for r in within[loaded_run.target]] == [r.t for r in live]
        # small chunks and a coarser step: still real scrapes, at their own times
        chunks = [c async for c in iter_history(api, loaded_run.target, live[0].t, live[-1].t, max_points=2)]
        assert len(chunks) > 2 and [r.t for c in chunks for r in c] == [r.t for r in live]
        coarse = [
            r
            for c in [c async for c in iter_history(api, loaded_run.target, live[0].t, live[-1].t, step=2.0)]
            for r in c
        ]
        assert {r.t for r in coarse} <= {r.t for r in live} and len(coarse) < len(live)


def test_the_comparison_fails_when_a_label_is_dropped_or_a_bucket_moved(
    setup: Setup, loaded_run: LoadedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above can fail: rebuild one page with a label lost, then with buckets mis-mapped."""
    result = loaded_run.live[-1]
    page = read_page(setup.proxy.page_at(result.t).text, result.t)
    stored = [(k, v) for k, v in page_series(result.series_keys, result.series_values).items()]
    samples = [(name, dict(labels), value) for (name, labels), value in stored]
    assert (
        snapshot_differences(pages.PageBuilder().result(result.t, samples, {}).snapshot, page.snapshot) == []
    )

    real = pages.page_labels

    def drop_reason(stored: dict[str, str], target: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in real(stored, target).items() if k != "finished_reason"}

    monkeypatch.setattr(pages, "page_labels", drop_reason)
    lost = pages.PageBuilder().result(result.t, samples, {})
    assert any(d.startswith("finished") for d in snapshot_differences(lost.snapshot, page.snapshot))

    def shift_buckets(stored: dict[str, str], target: dict[str, str]) -> dict[str, str]:
        out = real(stored, target)
        if out.get("le") == "0.1":
            out["le"] = "0.08"
        elif out.get("le") == "0.08":
            out["le"] = "0.1"
        return out

    monkeypatch.setattr(pages, "page_labels", shift_buckets)
    moved = pages.PageBuilder().result(result.t, samples, {})
    assert any(d.startswith("histograms[") for d in snapshot_differences(moved.snapshot, page.snapshot))


async def test_prometheus_keeps_the_exporters_figures_and_no_vllm_target_is_made_of_them(
    setup: Setup, api: PromAPI
) -> None:
    """Prometheus scrapes ``sparktop exporter`` beside the servers: what it stores is what the
    exporter served (this host's memory, NVML's readings with the GB10's unknowns left out), and
    the exporter's job, without vllm: series, is no vLLM target."""
    assert "sparktop" not in {t.job for t in await discover(api)}

    async def stored(query: str) -> list[Any]:
        """The series of an instant query, once Prometheus has scraped the exporter."""
        for _ in range(100):
            found = (await api.query(query)).get("result")
            if found:
                return list(found)
            await asyncio.sleep(0.2)
        raise AssertionError(f"Prometheus has no {query}")

    total = await stored('sparktop_memory_total_bytes{job="sparktop"}')
    meminfo = await asyncio.to_thread(Path("/proc/meminfo").read_text)
    found = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    assert found is not None
    assert float(total[0]["value"][1]) == int(found.group(1)) * 1024
    assert setup.exporter is not None
    page = await asyncio.to_thread(setup.exporter.scrape)
    names = await stored('sparktop_gpu_info{job="sparktop"}')
    served = samples(page)["sparktop_gpu_info"]
    assert sorted(s["metric"]["name"] for s in names) == sorted(s.labels["name"] for s in served)
    unknown = await stored('sparktop_gpu_field_unknown_info{job="sparktop",field="memory_used_bytes"}')
    devices = {s["metric"]["device"] for s in unknown}
    used = await stored('sparktop_gpu_memory_used_bytes{job="sparktop"}')
    assert devices and devices.isdisjoint({s["metric"]["device"] for s in used})


sparktop_cli = run_sparktop


TWO_JOBS = '{job=~"vllm|spark"}'


def test_watch_prometheus_shows_every_vllm_target_it_scrapes_as_a_fleet(setup: Setup) -> None:
    result = sparktop_cli(
        "watch", f"prometheus:{setup.server.url}", "--match", TWO_JOBS, "--headless", "--count", "6"
    )
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.startswith("# sparktop watch 2 targets (")
    tags = {line.split(" ", 1)[0] for line in lines}
    assert tags == {f"target=spark/{setup.proxy.hostport}", f"target=vllm/{setup.sim_hostport}"}
    assert all("state=healthy" in line and " kv=" in line and "scrape=ok" in line for line in lines)


def test_watch_prometheus_narrowed_to_one_target_is_its_dashboard(setup: Setup) -> None:
    result = sparktop_cli(
        "watch", f"prometheus:{setup.server.url}", "--match", '{job="vllm"}', "--headless", "--count", "2"
    )
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.startswith(f"# sparktop watch {setup.sim_hostport}:")
    assert len(lines) == 2 and all(line.split(" ")[1] == "state=healthy" for line in lines)


def test_report_and_replay_over_a_past_range(setup: Setup, loaded_run: LoadedRun, tmp_path: Path) -> None:
    from sparktop.commands.prometheus import history_recording
    from sparktop.config import Settings
    from sparktop.recording.reader import Recording

    result = sparktop_cli(
        "report", f"prometheus:{setup.server.url}", "--from", "90s", "--match", TWO_JOBS, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)["recordings"]
    assert [d["fleet_target"] for d in docs] == [
        f"spark/{setup.proxy.hostport}",
        f"vllm/{setup.sim_hostport}",
    ]
    assert all(d["server"]["duration_s"] > 0 for d in docs)
    # the same server through two jobs: the same requests were finished in the range
    assert docs[0]["server"]["requests_finished"] == docs[1]["server"]["requests_finished"] > 0
    path = tmp_path / "range.sparktop"
    start, end = loaded_run.live[0].t, loaded_run.live[-1].t
    history_recording(setup.server.url, '{job="spark"}', start, end, path, Settings())
    with Recording.open(path) as rec:
        assert not rec.fleet and rec.target.kind == "prometheus"
        replayed = [obs for obs in rec.observations() if isinstance(obs, ScrapeResult)]
    live = [r for r in loaded_run.live if r.snapshot is not None]
    assert [r.t for r in replayed if r.snapshot is not None] == [r.t for r in live]
    assert [r.snapshot for r in replayed if r.snapshot is not None] == [r.snapshot for r in live]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["watch", "prometheus:http://127.0.0.1:1", "--headless"], "127.0.0.1:1"),
        (["replay", "prometheus:http://127.0.0.1:1"], "a past range needs --from"),
        (["replay", "prometheus:http://127.0.0.1:1", "--from", "yesterday"], "not a time: 'yesterday'"),
        (["report", "x.sparktop", "--from", "1h"], "--from, --to and --match apply to prometheus:URL"),
        (
            ["watch", "prometheus:http://a:9090", "prometheus:http://b:9090"],
            "prometheus:URL is watched alone",
        ),
        (["watch", "http://127.0.0.1:1", "--match", "{}"], "--match applies to prometheus:URL"),
    ],
)
def test_what_prometheus_targets_cannot_take_is_one_line_and_exit_2(argv: list[str], said: str) -> None:
    result = sparktop_cli(*argv)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and len(result.stderr.strip().splitlines()) <= 2


async def test_a_target_that_goes_down_then_away(setup: Setup, api: PromAPI) -> None:
    """``up`` = 0 is unreachable with Prometheus' own reason; a target Prometheus stops scraping
    turns unknown, said as such."""
    scraper = PromScraper(api, await target(api, "flaky"))
    assert (await scraper.scrape()).state == "healthy"
    assert setup.flaky_proc is not None
    stop(setup.flaky_proc)
    try:
        result = await scraper.scrape()
        while result.state == "healthy":
            result = await scraper.scrape()
        assert result.state == "unreachable"
        assert result.detail.startswith("Prometheus: Get ") and "connection refused" in result.detail
        assert result.snapshot is None
        assert (await target(api, "flaky")).health == "down"  # still found: it had vllm: series
    finally:
        setup.server.reload(setup.jobs(flaky=False))
    result = await scraper.scrape()
    while result.state == "unreachable":
        result = await scraper.scrape()
    assert result.state == "unknown"
    assert re.fullmatch(
        r"Prometheus has no scrape of flaky/127\.0\.0\.1:\d+ in the last 3 s \(it scrapes every 1 s\): "
        r"it stopped scraping it, or lags",
        result.detail,
    )


async def test_a_session_is_fed_by_the_scrape_loop_as_by_a_direct_scraper(setup: Setup, api: PromAPI) -> None:
    """``PromScraper`` stands where ``Scraper`` stands: the scrape loop feeds a session, which asks
    who the server is once it is healthy."""
    session = Session(TargetInfo("vllm", "url"))
    scraper = PromScraper(api, await target(api, "vllm"))
    loop = asyncio.create_task(scrape_loop(scraper, session.observe, 1.0))
    try:
        assert await eventually(
            lambda: session.timeline.latest is not None and isinstance(session.target.model, str)
        )
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert session.server.state == "healthy" and session.server.scrape_ok
    assert session.target.model == "gemma-4-26b-a4b-bf16"
    assert session.figures is not None
