"""How many streamed tokens per second can one generator process take, and does its own work bend TTFT?

Two servers, each in its own process pinned to its own core (the generator gets the other):

1. The simulator at 20x speed, as fast as it streams: at 1, 16, 64 and 256 concurrent streams the
   generator's achieved tokens/s, its CPU time per token (so the tokens/s one core could take,
   1 / CPU per token), and its TTFT error against the simulator's true times (send + arrival, as
   in ``bench_load_accuracy.py``). The same load read with aiohttp the way ``vllm bench serve``
   reads it is the reference for CPU per token.
2. A firehose: a bare SSE server that streams pre-rendered one-token chunks as fast as its core
   allows. Where the generator's core stays partly idle, the firehose (one Python core writing) is
   the limit and the figure is a lower bound on what the generator can take.

    .venv/bin/python benchmarks/bench_load_capacity.py

Target (issue 4): >= 20,000 streamed tokens/s on one core without distorting TTFT.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time

import aiohttp
from load_common import cores, pin, start_sim, stop_sim

from sparktop.clock import SystemClock
from sparktop.model import Event
from sparktop.workload.client import OpenAIClient
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.spec import ClosedLoop, OpenLoop, Workload
from sparktop.workload.summary import percentile

STREAMS = (1, 16, 64, 256)
TARGET_TPS = 20_000
OUTPUT = 256

FIREHOSE = r"""
import asyncio, sys
COMMON = b'data: {"id":"cmpl-f","object":"text_completion","created":1,"model":"firehose","choices":'
CHUNK = COMMON + b'[{"index":0,"text":" tok","logprobs":null,"finish_reason":null}]}\n\n'
FRAMED = b"%x\r\n%b\r\n" % (len(CHUNK), CHUNK)
USAGE = b'[],"usage":{"prompt_tokens":8,"completion_tokens":%d,"total_tokens":%d}}\n\n'
TAIL = COMMON + USAGE + b"data: [DONE]\n\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            if b'"max_tokens":' not in body:
                writer.write(NOT_FOUND)  # /v1/models: no model name to give
                continue
            n = int(body.split(b'"max_tokens":', 1)[1].split(b",", 1)[0].split(b"}", 1)[0])
            writer.write(HEAD)
            for i in range(n):
                writer.write(FRAMED)
                if i % 4 == 3:
                    await writer.drain()
                    await asyncio.sleep(0)
            tail = TAIL % (n, n + 8)
            writer.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(tail), tail))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print("http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_firehose() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", FIREHOSE], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    pin(proc.pid)
    return proc, url


def workload(n: int, prompts: int, output: int) -> Workload:
    warm = ClosedLoop(name="warm-up", users=n, input_len=8, output_len=2)
    measure = OpenLoop(
        name="measure", rate=math.inf, num_prompts=prompts, max_concurrency=n, input_len=32, output_len=output
    )
    return Workload(name="capacity", title="capacity", stages=(warm, measure))


async def generator_step(url: str, n: int, prompts: int, output: int, truth: bool) -> dict[str, float]:
    started: dict[str, float] = {}

    def on_event(e: Event) -> None:
        if e.data.get("phase") == "measure" and e.data.get("boundary") == "start":
            started["wall"], started["cpu"] = time.perf_counter(), time.process_time()

    runner = WorkloadRunner(url, workload(n, prompts, output), clock=SystemClock(), on_event=on_event)
    await runner.run()
    wall = time.perf_counter() - started["wall"]
    cpu = time.process_time() - started["cpu"]
    measured = [r for r in runner.records if r.phase == "measure"]
    tokens = sum(r.output_tokens for r in measured if r.ok)
    chunks = sum(r.itl.count + 1 for r in measured if r.ok)
    out = {
        "tps": tokens / wall,
        "chunks_ps": chunks / wall,
        "cpu_us_per_token": cpu / tokens * 1e6,
        "cpu_share": cpu / wall,
        "failed": float(sum(not r.ok for r in measured)),
        "error_p99_ms": math.nan,
    }
    if truth:
        async with OpenAIClient(url) as client:
            _, data = await client.get_json("/sim/trace")
        trace = data["requests"]
        off = runner.clock_offset
        errors = sorted(
            (r.first_token - r.start) - (trace[r.response_id][1] - (r.sent - off))
            for r in measured
            if r.ok and r.first_token is not None and r.sent is not None and r.response_id in trace
        )
        out["error_p99_ms"] = percentile(errors, 99) * 1e3 if errors else math.nan
    return out


async def reference_step(url: str, n: int, prompts: int, output: int) -> dict[str, float]:
    """The same load read the way vllm bench serve reads it (aiohttp, line by line)."""
    sem = asyncio.Semaphore(n)
    tokens = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int, out: int) -> None:
            nonlocal tokens
            body = {
                "prompt": [1000 + (i * 31 + k) % 20000 for k in range(32)],
                "max_tokens": out,
                "min_tokens": out,
                "ignore_eos": True,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            async with sem, session.post(url + "/v1/completions", json=body) as resp:
                async for line in resp.content:
                    if line.startswith(b"data: {") and b'"choices":[{' in line:
                        time.perf_counter()
                        tokens += 1

        await asyncio.gather(*(one(i, 2) for i in range(n)))
        tokens = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i, output) for i in range(prompts)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"tps": tokens / wall, "cpu_us_per_token": cpu / max(1, tokens) * 1e6}


def main() -> None:
    print(f"cores: {cores()} (server pinned to the first, generator to the second)")
    proc, url = start_sim(speed=20.0)
    try:
        print(f"\n1. against the simulator at 20x ({url}), {OUTPUT}-token answers")
        print(
            f"{'streams':>7} | {'tokens/s':>9} {'chunks/s':>9} | {'CPU us/token':>12} {'1-core tok/s':>12} "
            f"{'CPU busy':>8} | {'TTFT err p99 ms':>15} | {'ref us/token':>12} {'ratio':>6}"
        )
        for n in STREAMS:
            prompts = max(4, 2 * n)
            ours = asyncio.run(generator_step(url, n, prompts, OUTPUT, truth=True))
            ref = asyncio.run(reference_step(url, n, prompts, OUTPUT))
            one_core = 1e6 / ours["cpu_us_per_token"]
            us = ours["cpu_us_per_token"]
            print(
                f"{n:>7} | {ours['tps']:>9.0f} {ours['chunks_ps']:>9.0f} | {us:>12.1f} "
                f"{one_core:>12.0f} {ours['cpu_share'] * 100:>7.0f}% | {ours['error_p99_ms']:>15.3f} | "
                f"{ref['cpu_us_per_token']:>12.1f} {ref['cpu_us_per_token'] / us:>5.1f}x"
            )
    finally:
        stop_sim(proc)

    proc, url = start_firehose()
    try:
        print(f"\n2. against a firehose ({url}): one-token chunks as fast as one core writes them")
        print(
            f"{'streams':>7} | {'tokens/s':>9} | {'CPU us/token':>12} {'CPU busy':>8} | {'ref tokens/s':>12}"
        )
        best = 0.0
        for n in STREAMS:
            output = 4000 if n == 1 else max(500, 40_000 // n)
            prompts = 2 * n
            ours = asyncio.run(generator_step(url, n, prompts, output, truth=False))
            ref = asyncio.run(reference_step(url, n, prompts, output))
            best = max(best, ours["tps"])
            busy, us = ours["cpu_share"] * 100, ours["cpu_us_per_token"]
            print(f"{n:>7} | {ours['tps']:>9.0f} | {us:>12.1f} {busy:>7.0f}% | {ref['tps']:>12.0f}")
        verdict = "meets" if best >= TARGET_TPS else "MISSES"
        print(
            f"\nmost streamed tokens/s sustained on one core: {best:.0f} ({verdict} the {TARGET_TPS} target)"
        )
    finally:
        stop_sim(proc)


if __name__ == "__main__":
    main()
