"""Can the simulator keep up? 256 concurrent streaming requests against `sparktop sim`.

Starts `sparktop sim` as a subprocess (so it has its own core), drives it with a small aiohttp
client in this process, and prints the streamed tokens/s achieved, the rate a perfect server would
have delivered in the same run (the engine's own rate: tokens over the server's busy time, which
``--speed`` already divides), their ratio, and the server's lag behind its schedule (p50/p99/max,
wall ms, as the server measures it at each step and exposes on GET /sim/stats).

    .venv/bin/python benchmarks/bench_sim_throughput.py [--streams 256] [--tokens 400] [--speed 6]

Target (the issue): >= 10,000 streamed tokens/s with the lag within 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time

import aiohttp
import orjson


async def _one(session: aiohttp.ClientSession, url: str, model: str, tokens: int, i: int) -> tuple[int, int]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": f"Request {i}: say something."}],
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = 0
    tail = b""
    async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for data in resp.content.iter_any():
            chunks += data.count(b"data: ")
            tail = (tail + data)[-4096:]
    usage = re.findall(rb'"usage":(\{[^}]*\})', tail)
    completion = orjson.loads(usage[-1])["completion_tokens"] if usage else 0
    return completion, chunks


async def drive(url: str, model: str, streams: int, tokens: int) -> tuple[int, int, float]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(_one(session, url, model, tokens, i) for i in range(streams)))
        elapsed = time.perf_counter() - t0
    return sum(r[0] for r in results), sum(r[1] for r in results), elapsed


async def get_json(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        data: dict[str, object] = await resp.json()
        return data


async def wait_healthy(url: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the simulated server did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="gemma4-26b-a4b-bf16")
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=400, help="output tokens per request")
    parser.add_argument("--speed", type=float, default=6.0)
    args = parser.parse_args()
    cmd = [
        sys.executable, "-m", "sparktop", "sim", "--profile", args.profile, "--port", "0",
        "--speed", str(args.speed), "--startup", "instant", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise SystemExit(f"no URL from sparktop sim: {line!r}")
        url = match.group(1)
        asyncio.run(wait_healthy(url))
        models = asyncio.run(get_json(f"{url}/v1/models"))
        model = models["data"][0]["id"]  # type: ignore[index]
        before = asyncio.run(get_json(f"{url}/sim/stats"))
        tokens, chunks, elapsed = asyncio.run(drive(url, str(model), args.streams, args.tokens))
        stats = asyncio.run(get_json(f"{url}/sim/stats"))
    finally:
        proc.terminate()
        proc.wait(10)
    busy = float(stats["busy_seconds"]) - float(before["busy_seconds"])  # type: ignore[arg-type]
    achieved = tokens / elapsed
    ideal = tokens / busy if busy > 0 else float("nan")  # busy_seconds: the engine's steps, wall seconds
    print(f"profile {args.profile}, {args.streams} streams x {args.tokens} tokens, speed x{args.speed:g}")
    print(f"streamed tokens        {tokens} in {chunks} SSE events over {elapsed:.2f} s")
    print(f"achieved               {achieved:,.0f} tokens/s   (target >= 10,000)")
    print(f"engine's own rate       {ideal:,.0f} tokens/s   (a server with no overhead)")
    print(f"achieved / ideal       {achieved / ideal:.3f}")
    print(
        f"lag behind schedule    p50 {1000 * float(stats['lag_p50_s']):.1f} ms, "  # type: ignore[arg-type]
        f"p99 {1000 * float(stats['lag_p99_s']):.1f} ms, "  # type: ignore[arg-type]
        f"max {1000 * float(stats['lag_max_s']):.1f} ms over {stats['steps']} steps   (target <= 50 ms)"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
