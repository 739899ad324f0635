"""A server that streams forever: past ``max_tokens``, or without ever finishing. The request is
cut off (a server fault), its connection closed, and the run ends: through the real client, the
generator and the ``load`` command, against a real loopback server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sparktop.clock import SystemClock
from sparktop.workload.client import SERVER_FAULT, OpenAIClient, Timeouts, chunk_cap
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.spec import ClosedLoop, Workload
from tests.support.sse_server import Script, ScriptedServer, chat_chunk
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]

ENDLESS_TOKENS = Script(
    steps=[(0.0, chat_chunk({"content": "a"}))], end="forever", forever=chat_chunk({"content": "b"})
)
"""Token chunks, one after another, for as long as the client reads."""
ENDLESS_NOTHING = Script(
    steps=[(0.0, chat_chunk({"role": "assistant", "content": ""}))],
    end="forever",
    forever=b": keep-alive\n\n",
    every=0.01,
)
"""Bytes that keep the connection busy (SSE comments) but never a token, never the end."""

PAST_MAX_TOKENS = f"{SERVER_FAULT}: streamed past max_tokens"
DEADLINE = f"{SERVER_FAULT}: no complete response within the"


async def test_the_client_stops_reading_a_stream_past_its_chunk_cap_and_hangs_up() -> None:
    async with ScriptedServer(ENDLESS_TOKENS) as server:
        async with OpenAIClient(server.url, timeouts=Timeouts(idle=30.0)) as client:
            ex = await client.post_stream("/v1/chat/completions", {"stream": True}, max_chunks=20)
        assert ex.error is not None and ex.error.startswith(PAST_MAX_TOKENS), ex.error
        assert ex.chunks == 21  # one past the cap, then nothing more is read
        assert await eventually(lambda: server.hung_up == 1)


async def test_the_client_gives_up_at_the_request_deadline_on_a_stream_that_never_ends() -> None:
    async with ScriptedServer(ENDLESS_NOTHING) as server:
        async with OpenAIClient(server.url, timeouts=Timeouts(idle=30.0)) as client:
            ex = await client.post_stream("/v1/chat/completions", {"stream": True}, deadline=0.5)
        assert ex.error is not None and ex.error.startswith(DEADLINE + " 0.5 s request deadline"), ex.error
        assert ex.first_token is None and ex.first_response is not None
        assert await eventually(lambda: server.hung_up == 1)


def test_the_chunk_cap_leaves_room_above_max_tokens() -> None:
    for asked in (1, 16, 128, 4096):
        assert chunk_cap(asked) > asked


async def test_the_generator_records_a_runaway_stream_as_a_server_fault_and_ends() -> None:
    stage = ClosedLoop(name="c", users=2, input_len=8, output_len=8, runs=2, warmup=False)
    workload = Workload(name="t", title="test", stages=(stage,), seed=0)
    async with ScriptedServer(ENDLESS_TOKENS) as server:
        runner = WorkloadRunner(server.url, workload, clock=SystemClock(), endpoint="completions")
        summary = await asyncio.wait_for(runner.run(), timeout=60)
        assert await eventually(lambda: server.hung_up == 4)
    assert len(runner.records) == 4 and not any(r.ok for r in runner.records)
    assert all(r.output_tokens == chunk_cap(8) + 1 for r in runner.records)
    ((kind, count),) = summary.errors.items()
    assert kind.startswith(PAST_MAX_TOKENS) and count == 4


async def test_a_request_s_default_deadline_grows_with_the_tokens_it_asks_for() -> None:
    stage = ClosedLoop(name="c", users=1, input_len=8, output_len=2, warmup=False)
    workload = Workload(name="t", title="test", stages=(stage,), seed=0)
    async with ScriptedServer(ENDLESS_NOTHING) as server:
        runner = WorkloadRunner(
            server.url, workload, clock=SystemClock(), endpoint="completions", timeouts=Timeouts(idle=0.5)
        )
        await asyncio.wait_for(runner.run(), timeout=60)
    ((r,),) = [runner.records]
    # the idle timeout (the longest a first token may take) plus 1 s for each of the 2 tokens
    assert r.error is not None and r.error.startswith(f"{DEADLINE} 2.5 s request deadline"), r.error


async def _load(url: str, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sparktop",
        "load",
        url,
        *argv,
        "--no-record",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_load_ends_and_counts_a_stream_past_max_tokens() -> None:
    async with ScriptedServer(ENDLESS_TOKENS) as server:
        code, out, err = await _load(
            server.url, "--concurrency", "2", "--input-len", "8", "--output-len", "4", "--no-warmup"
        )
        assert await eventually(lambda: server.hung_up == 2)
    assert code == 1, err
    assert "Failed requests:                         2" in out
    assert f"2 x {PAST_MAX_TOKENS}" in out
    assert "Traceback" not in err


async def test_load_ends_and_counts_a_response_past_its_deadline() -> None:
    async with ScriptedServer(ENDLESS_NOTHING) as server:
        code, out, err = await _load(
            server.url,
            "--concurrency",
            "1",
            "--input-len",
            "8",
            "--output-len",
            "4",
            "--no-warmup",
            "--deadline",
            "1",
        )
        assert await eventually(lambda: server.hung_up == 1)
    assert code == 1, err
    assert f"1 x {DEADLINE} 1 s request deadline" in out
    assert "Traceback" not in err
