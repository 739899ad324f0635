"""The simulated Spark's ``/metrics`` against pages captured from a real vLLM 0.32, family by family.

Every ``vllm:`` family of the real page (``tests/fixtures/real-vllm/``: idle, decoding, constrained)
must be on the simulator's page with the same type and label names (``cache_config_info``'s labels
are CacheConfig's fields, so they are compared too), and no other: a family vLLM adds or renames
shows up here. Histogram bounds must be the real ones, except the token-count histograms, whose
1-2-5 series runs up to each server's own ``max_model_len``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from sparktop.sim.server import SimConfig, SimServer
from tests.support.vllm_pages import REAL_PAGES, families, family_differences

pytestmark = pytest.mark.asyncio(loop_scope="module")
MAX_LEN = 8192


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(startup="instant", speed=40, seed=3, max_model_len=MAX_LEN, access_log=False)
    async with SimServer(config) as server:
        await server.wait_ready()
        yield server


async def _page(sim: SimServer) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.url, timeout=20) as client:
        return await client.get("/metrics")


@pytest.mark.parametrize("real", REAL_PAGES)
async def test_the_page_has_the_real_pages_families_before_and_after_traffic(
    sim: SimServer, real: str
) -> None:
    want = families(REAL_PAGES[real].read_text())
    assert family_differences(want, families((await _page(sim)).text), MAX_LEN) == []
    async with httpx.AsyncClient(base_url=sim.url, timeout=20) as client:
        body = {"prompt": "The Spark has unified memory. " * 40, "max_tokens": 12, "ignore_eos": True}
        assert (await client.post("/v1/completions", json=body)).status_code == 200
    assert family_differences(want, families((await _page(sim)).text), MAX_LEN) == []


async def test_content_type_and_cache_config_values(sim: SimServer) -> None:
    resp = await _page(sim)
    assert resp.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    (info,) = families(resp.text)["vllm:cache_config_info"].samples
    blocks = sim.plan.num_blocks
    assert info["engine"] == "0" and info["block_size"] == "16" and info["num_gpu_blocks"] == str(blocks)
    assert info["enable_prefix_caching"] == "False"  # the profile serves with --no-enable-prefix-caching
    assert info["gpu_memory_utilization"] == str(sim.serving.gpu_memory_utilization)
    concurrency = blocks / (MAX_LEN // 16)
    assert float(info["kv_cache_max_concurrency"]) == pytest.approx(concurrency)
    assert info["kv_cache_size_tokens"] == str(int(concurrency * MAX_LEN)) == str(blocks * 16)


@pytest.mark.parametrize("style", ["v0.10", "v0.7"])
async def test_older_styles_do_not_gain_the_new_families(style: str) -> None:
    config = SimConfig(startup="instant", speed=40, metrics_style=style, access_log=False)  # type: ignore[arg-type]
    async with SimServer(config) as server:
        await server.wait_ready()
        resp = await _page(server)
    names = set(families(resp.text))
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    for new in (
        "vllm:prompt_tokens_by_source",
        "vllm:num_requests_waiting_by_reason",
        "vllm:engine_sleep_state",
    ):
        assert new not in names
    assert "vllm:gpu_cache_usage_perc" in names
