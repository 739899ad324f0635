"""One time base at ``--speed X``: what the server shows is in wall seconds, as its clients measure.

At speed 10 the simulated Spark is a Spark ten times faster: its TTFT histogram must agree with the
TTFT a streaming client measures (not be ten times larger), and its periodic log line's generation
throughput with the token rate the clients receive (not be ten times smaller).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time

import httpx
import orjson
import pytest

from sparktop.sim.server import SimConfig, SimServer
from tests.integration.sim_helpers import samples, value

pytestmark = pytest.mark.asyncio
SPEED = 10.0
PROMPT = list(range(2000, 2000 + 12000))


async def client_ttft(client: httpx.AsyncClient, prompt: list[int]) -> tuple[str, float]:
    """Stream one completion; its id and the seconds from sending it to its first token."""
    body = {"prompt": prompt, "max_tokens": 4, "ignore_eos": True, "stream": True}
    start = time.monotonic()
    first: tuple[str, float] | None = None
    async with client.stream("POST", "/v1/completions", json=body) as resp:
        async for line in resp.aiter_lines():
            if first is None and line.startswith("data: {"):
                event = orjson.loads(line.removeprefix("data: "))
                if event["choices"] and event["choices"][0]["text"]:
                    first = str(event["id"]), time.monotonic() - start
    assert first is not None, "no token came"
    return first


async def test_server_ttft_histogram_agrees_with_the_clients_ttft() -> None:
    config = SimConfig(startup="instant", speed=SPEED, seed=4, access_log=False)
    async with SimServer(config) as sim, httpx.AsyncClient(base_url=sim.url, timeout=60) as client:
        await sim.wait_ready()
        before = samples((await client.get("/metrics")).text)
        measured = [await client_ttft(client, [i, *PROMPT]) for i in range(4)]
        after = samples((await client.get("/metrics")).text)
        trace = (await client.get("/sim/trace")).json()["requests"]
    count = value(after, "vllm:time_to_first_token_seconds_count") - value(
        before, "vllm:time_to_first_token_seconds_count"
    )
    total = value(after, "vllm:time_to_first_token_seconds_sum") - value(
        before, "vllm:time_to_first_token_seconds_sum"
    )
    assert count == len(measured)
    server_mean = total / count
    client_mean = statistics.mean(t for _, t in measured)
    written = statistics.mean(trace[rid][1] - trace[rid][0] for rid, _ in measured)
    # The server's figure leaves out the client's send and the response's way back, nothing else:
    # on the model's time base it would be SPEED times the client's.
    assert 0.6 * client_mean <= server_mean <= 1.05 * client_mean
    assert 0.6 * written <= server_mean <= 1.05 * written
    assert client_mean < 2.0 * server_mean


async def test_the_log_lines_throughput_is_per_wall_second() -> None:
    config = SimConfig(startup="instant", speed=SPEED, seed=4, access_log=False, stats_interval_s=5.0)
    async with SimServer(config) as sim, httpx.AsyncClient(base_url=sim.url, timeout=60) as client:
        await sim.wait_ready()
        received = 0
        start = time.monotonic()

        async def stream() -> None:
            nonlocal received
            body = {"prompt": "Why is decode memory bound?", "max_tokens": 4000, "ignore_eos": True}
            async with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: {"):
                        received += 1
                    if time.monotonic() - start > 3.0:
                        break

        await asyncio.gather(*(stream() for _ in range(4)))
        client_rate = received / (time.monotonic() - start)
        lines = [line for line in sim.logs if "Running: 4 reqs" in line]
    rates = [
        float(m.group(1)) for m in map(re.compile(r"Avg generation throughput: ([\d.]+)").search, lines) if m
    ]
    assert len(rates) >= 2
    # One SSE event per token here (no speculative decoding): the clients' rate is the server's.
    logged = statistics.median(rates)
    assert 0.5 * client_rate <= logged <= 2.0 * client_rate
