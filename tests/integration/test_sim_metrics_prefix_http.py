"""Prefix caching over HTTP: a conversation's later turns find their context in the cache.

The HTTP layer hands the engine each prompt's block hashes; with ``enable_prefix_caching`` the
second and third turns of a chat hit the blocks of the turns before, and vLLM's cache families move
as vLLM's do. With the profile's own setting (``--no-enable-prefix-caching``) nothing is cached.
"""

from __future__ import annotations

import httpx
import pytest

from sparktop.sim.server import SimConfig, SimServer
from tests.integration.sim_helpers import samples, value

pytestmark = pytest.mark.asyncio
SYSTEM = "You answer questions about the DGX Spark, its memory, its power and its software. " * 40


async def metrics_page(sim: SimServer) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        return samples((await client.get("/metrics")).text)


async def conversation(sim: SimServer, turns: int) -> list[tuple[int, float]]:
    """Run a chat of ``turns`` turns; per turn its prompt tokens and the server's TTFT for it."""
    out = []
    messages = [{"role": "system", "content": SYSTEM}]
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        for turn in range(turns):
            messages.append({"role": "user", "content": f"Question {turn}: what limits decode speed?"})
            before = samples((await client.get("/metrics")).text)
            resp = await client.post(
                "/v1/chat/completions", json={"messages": messages, "max_tokens": 40, "ignore_eos": True}
            )
            answer = resp.json()
            after = samples((await client.get("/metrics")).text)
            name = "vllm:time_to_first_token_seconds_sum"
            out.append((answer["usage"]["prompt_tokens"], value(after, name) - value(before, name)))
            messages.append({"role": "assistant", "content": answer["choices"][0]["message"]["content"]})
    return out


async def test_a_conversation_hits_its_context_and_the_cache_families_move() -> None:
    config = SimConfig(
        startup="instant",
        speed=20,
        seed=2,
        enable_prefix_caching=True,
        access_log=False,
        stats_interval_s=0.5,
    )
    async with SimServer(config) as sim:
        await sim.wait_ready()
        turns = await conversation(sim, 3)
        page = await metrics_page(sim)
        lines = [line for line in sim.logs if "Avg prompt throughput" in line]
    prompt = sum(p for p, _ in turns)
    hits = value(page, "vllm:prefix_cache_hits_total")
    # turns 2 and 3 find at least the full blocks of the previous turn's prompt
    assert hits >= (turns[0][0] // 16 + turns[1][0] // 16) * 16
    assert value(page, "vllm:prefix_cache_queries_total") == prompt == value(page, "vllm:prompt_tokens_total")
    assert value(page, "vllm:prompt_tokens_by_source_total", source="local_cache_hit") == hits
    assert value(page, "vllm:prompt_tokens_by_source_total", source="local_compute") == prompt - hits
    assert value(page, "vllm:prompt_tokens_cached_total") == hits
    assert value(page, "vllm:prompt_tokens_cached_by_source_total", source="device") == hits
    assert value(page, "vllm:request_prefill_kv_computed_tokens_sum") == prompt - hits
    (info,) = [lab for lab, _ in page["vllm:cache_config_info"]]
    assert info["enable_prefix_caching"] == "True"
    # the longer second prompt, mostly cached, comes back sooner than the first
    assert turns[1][0] > turns[0][0] and turns[1][1] < turns[0][1]
    # the periodic log line reports the hit rate, as vLLM's does once the cache has been queried
    assert lines and "Prefix cache hit rate: " in lines[-1] and "Prefix cache hit rate: 0.0%" not in lines[-1]


async def test_the_profiles_setting_caches_nothing() -> None:
    config = SimConfig(startup="instant", speed=20, seed=2, access_log=False, stats_interval_s=0.5)
    async with SimServer(config) as sim:
        await sim.wait_ready()
        turns = await conversation(sim, 2)
        page = await metrics_page(sim)
        lines = [line for line in sim.logs if "Avg prompt throughput" in line]
    prompt = sum(p for p, _ in turns)
    assert value(page, "vllm:prefix_cache_queries_total") == value(page, "vllm:prefix_cache_hits_total") == 0
    assert value(page, "vllm:prompt_tokens_by_source_total", source="local_compute") == prompt
    assert value(page, "vllm:prompt_tokens_cached_total") == 0
    (info,) = [lab for lab, _ in page["vllm:cache_config_info"]]
    assert info["enable_prefix_caching"] == "False"
    assert lines and not any("Prefix cache hit rate" in line for line in lines)
