"""A REAL vLLM's page, read back through a REAL Prometheus, is the page it served.

The real server (CPU build, tiny model) is scraped by Prometheus through a recording proxy (every
page Prometheus read is kept), with a target label that clashes with vLLM's own ``engine`` label.
Every ``vllm:`` family of the page (histograms with their ``le`` buckets, ``finished_reason``,
``cache_config_info`` and its ~37 labels, the family without ``engine``) must come back with the
same labels and values, and the figures derived from it must be those of the page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sparktop.derive.timeline import Timeline
from sparktop.model import LatencyStats, ScrapeResult
from sparktop.prometheus.api import PromAPI
from sparktop.prometheus.source import PromScraper
from sparktop.prometheus.targets import discover
from sparktop.vllm.schema import Schema
from sparktop.vllm.scrape import Scraper
from tests.realvllm.server import MODEL_NAME, RealVllm
from tests.support.prometheus_server import (
    Job,
    PromServer,
    RecordingProxy,
    assert_same_page,
    page_series,
    read_page,
    run_load,
    snapshot_differences,
    start_prometheus,
    still_page,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.real_vllm, pytest.mark.slow]
SCRAPE_S = 2.0
LOAD = ["--concurrency", "2", "--input-len", "64", "--output-len", "24", "--requests", "8", "--no-warmup"]


@dataclass
class Setup:
    server: RealVllm
    proxy: RecordingProxy
    prom: PromServer


@pytest.fixture(scope="module")
def setup(real_vllm: RealVllm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    proxy = RecordingProxy(real_vllm.url)
    try:
        jobs = {"vllm": Job([proxy.hostport], labels={"engine": "clash"})}
        # scraped every 2 s: under the load the tests put on it, the real server (below the tests'
        # priority) can take longer than a second to answer /metrics, and a scrape that times out
        # is no page to compare
        prom = start_prometheus(tmp_path_factory.mktemp("prometheus"), jobs, interval_s=SCRAPE_S)
        try:
            yield Setup(real_vllm, proxy, prom)
        finally:
            prom.stop()
    finally:
        proxy.close()


async def test_every_family_of_a_real_page_comes_back_and_so_do_the_figures(setup: Setup) -> None:
    async with PromAPI(setup.prom.url) as api:
        (target,) = await discover(api)
        scraper = PromScraper(api, target)
        live: list[ScrapeResult] = []

        async def collect() -> None:
            while True:
                live.append(await scraper.scrape())

        collecting = asyncio.create_task(collect())
        try:
            assert await eventually(lambda: len(live) >= 2, within_s=60)
            await run_load(setup.server.url, *LOAD, "--no-record")
            count = len(live)
            assert await eventually(lambda: len(live) >= count + 2, within_s=60)
        finally:
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting

    assert all(r.state == "healthy" for r in live), {r.detail for r in live}
    from_prom, from_pages = Timeline(), Timeline()
    schema = Schema()
    for result in live:
        page = read_page(setup.proxy.page_at(result.t).text, result.t, schema)
        assert_same_page(result, page)
        assert result.snapshot is not None and page.snapshot is not None
        from_prom.add(result.snapshot)
        from_pages.add(page.snapshot)
        assert from_prom.figures(10.0, 2.0) == from_pages.figures(10.0, 2.0)
    figures = from_prom.figures(60.0)
    assert figures is not None and isinstance(figures.latency["ttft"], LatencyStats)
    assert isinstance(figures.finished_in_window, dict) and figures.finished_in_window["length"] >= 8

    last = page_series(live[-1].series_keys, live[-1].series_values)
    names = {name for name, _ in last}
    assert len({n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in names}) >= 30
    buckets = [dict(labels) for name, labels in last if name == "vllm:time_to_first_token_seconds_bucket"]
    assert {b["le"] for b in buckets} >= {"0.001", "0.1", "2560.0", "+Inf"}
    assert {
        dict(labels)["finished_reason"] for name, labels in last if name == "vllm:request_success_total"
    } >= {
        "stop",
        "length",
        "abort",
    }
    (config,) = [dict(labels) for name, labels in last if name == "vllm:cache_config_info"]
    assert len(config) > 30 and config["engine"] == "0" and "num_gpu_blocks" in config
    no_engine = [dict(labels) for name, labels in last if name == "vllm:admission_rejections_total"]
    assert no_engine and all("engine" not in labels for labels in no_engine)  # the clash undone
    assert live[-1].snapshot is not None and live[-1].snapshot.models == (MODEL_NAME,)


async def test_the_idle_real_server_read_directly_equals_prometheus_sample(setup: Setup) -> None:
    direct = Scraper(setup.server.url)
    try:
        still = await still_page(direct)
        async with PromAPI(setup.prom.url) as api:
            (target,) = await discover(api)
            scraper = PromScraper(api, target)
            result = await scraper.scrape()
            while result.t < still.t:
                result = await scraper.scrape()
        after = await direct.scrape()
        assert snapshot_differences(still.snapshot, after.snapshot) == []
        assert_same_page(result, after)
    finally:
        await direct.aclose()
