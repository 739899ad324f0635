"""A client that disconnects aborts its request, as vLLM 0.32 does: over real HTTP on loopback.

The real server (``tests/fixtures/real-vllm/api/client-abort.json``, captured by
``tests/realvllm/capture_api.py``) drops running, waiting and KV use at once when a client leaves,
and does not count the request as finished: ``request_success_total`` (``abort`` included) and the
latency histograms stay as they were.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from sparktop.sim.server import SimConfig, SimServer
from tests.integration.sim_helpers import samples, value

on_module_loop = pytest.mark.asyncio(loop_scope="module")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm" / "api" / "client-abort.json"
LONG = {"prompt": "Tell me everything.", "max_tokens": 4000, "ignore_eos": True, "stream": True}
SETTLE_S = 5.0
"""The most a gauge may take to follow a disconnect (it should be at once; this bounds the wait)."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[SimServer]:
    # one request at a time, so a second one waits
    config = SimConfig(profile="gemma4-26b-a4b-nvfp4", startup="instant", speed=2, seed=3, max_num_seqs=1)
    async with SimServer(config) as server:
        await server.wait_ready()
        yield server


async def figures(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        page = samples((await client.get(f"{url}/metrics")).text)
    return {
        "running": value(page, "vllm:num_requests_running"),
        "waiting": value(page, "vllm:num_requests_waiting"),
        "kv": value(page, "vllm:kv_cache_usage_perc"),
        "aborted": value(page, "vllm:request_success_total", finished_reason="abort"),
        "finished": value(page, "vllm:request_success_total"),
        "e2e": value(page, "vllm:e2e_request_latency_seconds_count"),
    }


async def until(url: str, key: str, target: float) -> dict[str, float]:
    """The figures once ``key`` equals ``target`` (or after ``SETTLE_S``, whatever they are then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    now = await figures(url)
    while now[key] != target and loop.time() < deadline:
        await asyncio.sleep(0.02)
        now = await figures(url)
    return now


@on_module_loop
async def test_streams_cut_while_running_and_while_waiting_leave_at_once(sim: SimServer) -> None:
    before = await figures(sim.url)
    async with (
        httpx.AsyncClient(base_url=sim.url, timeout=30) as first,
        httpx.AsyncClient(base_url=sim.url, timeout=30) as second,
        first.stream("POST", "/v1/completions", json=LONG) as running,
    ):
        chunks = running.aiter_bytes()  # kept: a dropped iterator closes the response
        await anext(chunks)
        async with second.stream("POST", "/v1/completions", json=LONG) as waiting:
            during = await until(sim.url, "waiting", 1)
            assert (during["running"], during["waiting"]) == (1, 1) and during["kv"] > 0
            await waiting.aclose()  # the waiting client leaves
            left_queue = await until(sim.url, "waiting", 0)
            assert (left_queue["running"], left_queue["waiting"]) == (1, 0)
        await running.aclose()  # then the running one
    after = await until(sim.url, "running", 0)
    assert (after["running"], after["waiting"], after["kv"]) == (0, 0, 0)
    # not a finished request: nothing counted, not even as an abort
    assert after["aborted"] == before["aborted"] and after["finished"] == before["finished"]
    assert after["e2e"] == before["e2e"]
    assert not sim.engine.has_work
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{sim.url}/load")).json() == {"server_load": 0}


@on_module_loop
async def test_a_waiting_non_streaming_request_leaves_when_its_client_does(sim: SimServer) -> None:
    async with (
        httpx.AsyncClient(base_url=sim.url, timeout=30) as first,
        first.stream("POST", "/v1/completions", json=LONG) as running,
    ):
        chunks = running.aiter_bytes()
        await anext(chunks)
        blocked = {**LONG, "stream": False}
        async with httpx.AsyncClient(base_url=sim.url, timeout=0.5) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.post("/v1/completions", json=blocked)
        assert (await until(sim.url, "waiting", 0))["waiting"] == 0
        await running.aclose()
    assert (await until(sim.url, "running", 0))["running"] == 0


@on_module_loop
async def test_every_choice_of_a_request_leaves_with_its_client(sim: SimServer) -> None:
    async with (
        httpx.AsyncClient(base_url=sim.url, timeout=30) as client,
        client.stream("POST", "/v1/completions", json={**LONG, "n": 3}) as resp,
    ):
        chunks = resp.aiter_bytes()
        await anext(chunks)
        during = await figures(sim.url)
        assert during["running"] + during["waiting"] == 3
    after = await until(sim.url, "waiting", 0)
    assert (after["running"], after["waiting"], after["kv"]) == (0, 0, 0)


def test_the_real_server_counted_no_abort_and_settled_at_once() -> None:
    """What the fixture shows about the real vLLM 0.32, the ground truth of the tests above."""
    real = json.loads(FIXTURE.read_text())
    before, during, after = real["before"], real["during"], real["after_both_left"]
    assert during["vllm:num_requests_running"] == 1 and during["vllm:num_requests_waiting"] == 1
    assert real["after_waiting_client_left"]["vllm:num_requests_waiting"] == 0
    assert (after["vllm:num_requests_running"], after["vllm:num_requests_waiting"]) == (0, 0)
    assert after["vllm:kv_cache_usage_perc"] == 0
    for key in before:
        if key.startswith(("vllm:request_success_total", "vllm:e2e_request_latency_seconds_count")):
            assert after[key] == before[key], key
