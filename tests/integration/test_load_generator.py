"""The load generator against the real simulator (and a few scripted servers) over loopback."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from sparktop.clock import SystemClock
from sparktop.model import Event, RequestRecord, Unknown
from sparktop.sim.faults import FaultConfig
from sparktop.sim.server import SimConfig, SimServer
from sparktop.workload import arrivals
from sparktop.workload.client import OpenAIClient, Timeouts
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.spec import ClosedLoop, Endpoint, OpenLoop, Workload
from sparktop.workload.summary import Summary, summarize
from tests.integration.sim_helpers import samples, value
from tests.support.fault_server import FaultServer, Route
from tests.support.net import free_port
from tests.support.sse_server import DONE, Script, ScriptedServer, chat_chunk, usage_chunk
from tests.support.waiting import eventually

FAST = 25.0
"""Simulator speed for these tests: model time runs 25x faster than the wall clock."""


async def sim(speed: float = FAST, **kwargs: Any) -> SimServer:
    server = SimServer(SimConfig(speed=speed, seed=1, startup="instant", access_log=False, **kwargs))
    await server.start()
    await server.wait_ready()
    return server


@pytest.fixture
async def gemma() -> AsyncIterator[SimServer]:
    server = await sim()
    try:
        yield server
    finally:
        await server.stop()


def one(stage: ClosedLoop | OpenLoop, seed: int = 0) -> Workload:
    return Workload(name="t", title="test", stages=(stage,), seed=seed)


async def run(url: str, workload: Workload, endpoint: Endpoint = "completions", **kw: Any) -> WorkloadRunner:
    events: list[Event] = []
    runner = WorkloadRunner(
        url, workload, clock=SystemClock(), endpoint=endpoint, on_event=events.append, **kw
    )
    await runner.run()
    return runner


# --------------------------------------------------------------------------------------------------
# shapes


async def test_closed_loop_users_move_in_lockstep(gemma: SimServer) -> None:
    seen: list[RequestRecord] = []
    stage = ClosedLoop(name="c3", users=3, input_len=64, output_len=8, runs=2, warmup=True)
    runner = await run(gemma.url, one(stage), on_record=seen.append)
    assert seen == runner.records
    measured = [r for r in runner.records if not r.warmup]
    assert len(measured) == 6 and len(runner.records) == 9
    assert all(r.ok for r in runner.records)
    assert all(r.prompt_tokens == 64 and r.output_tokens == 8 for r in measured)
    for r in runner.records:  # the raw timings come in their natural order
        assert r.sent is not None and r.first_response is not None and r.first_token is not None
        assert r.start <= r.sent <= r.first_response <= r.first_token <= (r.end or 0)
        assert r.response_id is not None and r.response_id.startswith("cmpl-")
    first = [r for r in measured if r.batch == 0]
    second = [r for r in measured if r.batch == 1]
    assert {r.user for r in first} == {r.user for r in second} == {0, 1, 2}
    # the second round starts only when every request of the first has ended
    assert min(r.start for r in second) >= max(r.end or 0 for r in first)
    assert runner.model == "gemma-4-26b-a4b-nvfp4"  # read from /v1/models
    phases = [(e.data.get("phase"), e.data.get("boundary")) for e in runner.events]
    assert phases == [("warm-up: c3", "start"), ("warm-up: c3", "end"), ("c3", "start"), ("c3", "end")]
    progress = runner.progress()
    assert (progress.phase, progress.done, progress.total, progress.in_flight) == ("done", 6, 6, 0)


async def test_open_loop_follows_its_arrival_schedule_and_concurrency_cap(gemma: SimServer) -> None:
    stage = OpenLoop(
        name="open",
        rate=40.0,
        burstiness=0.5,
        num_prompts=12,
        max_concurrency=2,
        input_len=64,
        output_len=16,
        range_ratio=0.5,
    )
    runner = await run(gemma.url, one(stage, seed=7))
    records = runner.records
    assert len(records) == 12 and all(r.ok for r in records)
    expected = arrivals.arrival_offsets(12, 40.0, 0.5, random.Random("7:0:arrivals"))
    scheduled = sorted(r.scheduled for r in records if r.scheduled is not None)
    assert len(scheduled) == len(records)
    # records come in the order requests finish; the schedule is the order they were due
    t0 = scheduled[0] - expected[0]
    offsets = [s - t0 for s in scheduled]
    assert offsets == pytest.approx(expected, abs=0.03)
    assert all(r.start >= (r.scheduled or 0) - 0.005 for r in records)  # waiting for a slot delays the start
    # never more than two in flight
    events = sorted([(r.start, 1) for r in records] + [(r.end or 0, -1) for r in records])
    in_flight = peak = 0
    for _, d in events:
        in_flight += d
        peak = max(peak, in_flight)
    assert peak <= 2
    low, high = arrivals.length_range(64, 0.5)
    assert all(low <= r.prompt_tokens <= high for r in records)
    assert len({r.prompt_tokens for r in records}) > 1


async def test_stages_that_do_not_drain_overlap_and_the_run_still_waits_for_everything(
    gemma: SimServer,
) -> None:
    first = OpenLoop(name="a", rate=100.0, num_prompts=3, input_len=16, output_len=300, drain=False)
    second = OpenLoop(name="b", rate=100.0, num_prompts=2, input_len=16, output_len=4)
    runner = await run(gemma.url, Workload(name="t", title="t", stages=(first, second)))
    assert len(runner.records) == 5 and all(r.ok for r in runner.records)
    a_end = next(
        e.t for e in runner.events if e.data == {"phase": "a", "boundary": "end", "sent": 3, "drained": False}
    )
    b_start = next(
        e.t for e in runner.events if e.data.get("phase") == "b" and e.data.get("boundary") == "start"
    )
    a_records = [r for r in runner.records if r.phase == "a"]
    assert b_start >= a_end
    assert all((r.end or 0) > b_start for r in a_records)  # still streaming when b began
    assert runner.progress().in_flight == 0


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
async def test_multi_turn_context_grows_exactly(gemma: SimServer, endpoint: Endpoint) -> None:
    stage = ClosedLoop(name="mt", users=2, input_len=100, output_len=10, depth=2)
    runner = await run(gemma.url, one(stage), endpoint=endpoint)
    assert all(r.ok for r in runner.records), [r.error for r in runner.records]
    for user in (0, 1):
        turns = sorted((r for r in runner.records if r.user == user), key=lambda r: r.turn)
        # turn k resends every earlier prompt and reply, then 100 new tokens
        assert [r.prompt_tokens for r in turns] == [100, 210, 320]
        assert [r.batch for r in turns] == [0, 1, 2]


async def test_chat_prompts_hit_their_length_through_tokenize(gemma: SimServer) -> None:
    stage = OpenLoop(name="o", rate=200.0, num_prompts=6, input_len=300, output_len=4, range_ratio=0.5)
    runner = await run(gemma.url, one(stage), endpoint="chat")
    # the lengths the runner drew (seed 0, stage 0), prompt then output for each request
    rng = random.Random("0:0:lengths")
    wanted = []
    for _ in range(6):
        wanted.append(arrivals.random_length(300, 0.5, rng))
        arrivals.random_length(4, 0.5, rng)
    assert all(r.ok for r in runner.records)
    # the server's usage counts the chat template too: the text was fitted to the exact total
    assert sorted(r.prompt_tokens for r in runner.records) == sorted(wanted)
    assert len(set(wanted)) > 1


async def test_reasoning_profile_counts_reasoning_as_the_first_token() -> None:
    server = await sim(profile="nemotron3-nano-30b-a3b-nvfp4")
    try:
        runner = await run(
            server.url, one(ClosedLoop(name="r", users=2, input_len=50, output_len=20)), endpoint="chat"
        )
    finally:
        await server.stop()
    assert all(r.ok and r.first_token is not None for r in runner.records)
    assert all(r.output_tokens == 20 for r in runner.records)


async def test_role_only_and_empty_chunks_do_not_stop_the_ttft_clock() -> None:
    script = Script(
        steps=[
            (0.0, chat_chunk({"role": "assistant", "content": ""})),
            (0.15, chat_chunk({"content": ""})),
            (0.15, chat_chunk({"reasoning_content": "Thinking"})),
            (0.02, chat_chunk({"content": "Hi"}, finish="length")),
            (0.0, usage_chunk(12, 2) + DONE),
        ]
    )
    async with ScriptedServer(script) as server:
        runner = await run(
            server.url, one(ClosedLoop(name="s", users=1, input_len=12, output_len=2)), endpoint="chat"
        )
    (r,) = runner.records
    assert r.ok and r.first_token is not None and r.first_response is not None
    # the role-only chunk came at once, the first text only 0.3 s later (both stamped on arrival)
    assert r.first_token - r.first_response >= 0.25
    assert r.first_token - r.start >= 0.29
    assert r.itl.count == 1 and r.output_tokens == 2


async def test_multi_token_chunks_count_tokens_from_usage() -> None:
    server = await sim(profile="gemma4-26b-a4b-mtp")
    try:
        runner = await run(server.url, one(ClosedLoop(name="m", users=2, input_len=64, output_len=60)))
    finally:
        await server.stop()
    for r in runner.records:
        assert r.ok and r.output_tokens == 60
        assert r.itl.count + 1 < 60  # several tokens per chunk: fewer gaps than tokens
        assert r.itl.count == len(r.gaps)


# --------------------------------------------------------------------------------------------------
# failures are outcomes, not crashes


async def test_refused_port_fails_every_request_and_the_run_ends() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    runner = await run(url, one(ClosedLoop(name="x", users=3, input_len=8, output_len=4, runs=2)))
    assert len(runner.records) == 6
    assert all(
        not r.ok and r.error is not None and r.error.startswith("connection refused") for r in runner.records
    )
    warnings = [e for e in runner.events if e.level == "warning"]
    assert warnings and "/v1/models" in warnings[0].text
    assert runner.progress().failed == 6


async def test_server_killed_mid_stream() -> None:
    server = await sim(speed=1.0)
    runner = WorkloadRunner(
        server.url, one(ClosedLoop(name="k", users=3, input_len=32, output_len=2000)), clock=SystemClock()
    )
    task = asyncio.ensure_future(runner.run())
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + 30.0  # until each of the three has had a few tokens
        while time.monotonic() < deadline:
            page = samples((await client.get("/metrics")).text)
            if value(page, "vllm:generation_tokens_total") >= 30:
                break
            await asyncio.sleep(0.05)
    await server.stop()
    summary = await asyncio.wait_for(task, timeout=10)
    assert summary.failed == 3
    for r in runner.records:
        assert r.error is not None and ("mid-stream" in r.error or "closed" in r.error), r.error
        assert r.first_token is not None and r.itl.count > 0  # what arrived before the end is kept


async def test_engine_crash_is_an_error_event_mid_stream() -> None:
    server = await sim(speed=5.0, faults=FaultConfig(crash_after_s=5.0))  # 1 s real after ready
    try:
        runner = await run(server.url, one(ClosedLoop(name="c", users=2, input_len=32, output_len=4000)))
    finally:
        await server.stop()
    assert all(not r.ok for r in runner.records)
    assert any(r.error is not None and "EngineCore" in r.error for r in runner.records), [
        r.error for r in runner.records
    ]


async def test_bad_input_is_a_4xx_with_the_server_reason() -> None:
    server = await sim(max_model_len=256)
    try:
        runner = await run(server.url, one(ClosedLoop(name="b", users=2, input_len=300, output_len=4)))
    finally:
        await server.stop()
    for r in runner.records:
        assert r.status == 400 and not r.ok
        assert r.error is not None and r.error.startswith(
            "HTTP 400: This model's maximum context length is 256"
        )


async def test_http_errors_are_failures_with_the_server_reason() -> None:
    body = b'{"error":{"message":"EngineCore encountered an issue.","type":"InternalServerError","code":500}}'
    server = FaultServer(
        routes={"/v1/completions": Route(status=500, body=body, content_type="application/json")}
    )
    await server.start()
    try:
        runner = await run(
            server.url, one(ClosedLoop(name="e", users=2, input_len=8, output_len=4)), model="m"
        )
    finally:
        await server.stop()
    assert [(r.status, r.error) for r in runner.records] == [
        (500, "HTTP 500: EngineCore encountered an issue."),
    ] * 2


async def test_a_server_that_refuses_forced_lengths_is_asked_without_them() -> None:
    body = b'{"object":"error","message":"Unrecognized request argument supplied: ignore_eos","code":400}'
    server = FaultServer(
        routes={"/v1/completions": Route(status=400, body=body, content_type="application/json")}
    )
    await server.start()
    try:
        runner = await run(
            server.url, one(ClosedLoop(name="f", users=1, input_len=8, output_len=4, runs=2)), model="m"
        )
    finally:
        await server.stop()
    assert all(r.status == 400 for r in runner.records)
    warnings = [e.text for e in runner.events if e.level == "warning"]
    assert warnings == ["the server refuses min_tokens/ignore_eos: output lengths are no longer forced"]


async def test_a_server_that_never_answers_times_out() -> None:
    server = FaultServer(routes={"/v1/completions": Route(mode="hang"), "/v1/models": Route(mode="hang")})
    await server.start()
    try:
        runner = await run(
            server.url,
            one(ClosedLoop(name="h", users=2, input_len=8, output_len=4)),
            timeouts=Timeouts(idle=0.3),
            model="m",
        )
    finally:
        await server.stop()
    for r in runner.records:
        assert r.error == "timeout: no data for 0.3 s while waiting for the first token"
        assert r.end is not None and 0.25 <= r.end - r.start < 10.0  # it gives up, and soon


async def test_a_stream_that_stops_mid_way_times_out_waiting_for_the_next_chunk() -> None:
    script = Script(
        steps=[(0.0, chat_chunk({"content": "a"})), (0.0, chat_chunk({"content": "b"}))], end="hang"
    )
    async with ScriptedServer(script) as server:
        runner = await run(
            server.url,
            one(ClosedLoop(name="s", users=1, input_len=4, output_len=8)),
            endpoint="chat",
            timeouts=Timeouts(idle=1.0),
        )
    (r,) = runner.records
    assert r.error == "timeout: no data for 1 s while waiting for the next chunk"
    assert r.itl.count == 1


async def test_cancel_records_what_was_in_flight(gemma: SimServer) -> None:
    runner = WorkloadRunner(
        gemma.url,
        one(ClosedLoop(name="c", users=2, input_len=16, output_len=100_000, runs=3)),
        clock=SystemClock(),
    )
    task = asyncio.ensure_future(runner.run())
    assert await eventually(lambda: runner.progress().in_flight == 2)
    runner.cancel()
    summary = await asyncio.wait_for(task, timeout=5)
    assert runner.cancelled
    assert summary.failed == 2 and len(runner.records) == 2  # no new round started
    assert all(r.error == "cancelled (the run was stopped)" for r in runner.records)
    assert runner.progress().phase == "cancelled"


async def test_cancel_does_not_record_requests_that_never_left(gemma: SimServer) -> None:
    stage = OpenLoop(
        name="o", rate=math.inf, num_prompts=20, max_concurrency=1, input_len=16, output_len=100_000
    )
    runner = WorkloadRunner(gemma.url, one(stage), clock=SystemClock())
    task = asyncio.ensure_future(runner.run())
    assert await eventually(lambda: runner.progress().in_flight)
    assert runner.progress().in_flight == 1  # the other 19 wait for the one slot
    runner.cancel()
    await asyncio.wait_for(task, timeout=5)
    assert [r.error for r in runner.records] == ["cancelled (the run was stopped)"]


async def test_the_event_loop_transport_path_measures_the_same_shapes(gemma: SimServer) -> None:
    """Without kernel timestamps (the TLS path), arrivals are stamped in the protocol callback."""
    async with OpenAIClient(gemma.url, kernel_timestamps=False) as client:
        payload = {
            "prompt": [1000] * 32,
            "max_tokens": 6,
            "min_tokens": 6,
            "ignore_eos": True,
            "stream": True,
        }
        first = await client.post_stream(
            "/v1/completions", {**payload, "stream_options": {"include_usage": True}}
        )
        again = await client.post_stream("/v1/completions", payload)  # kept-alive connection reused
    for ex in (first, again):
        assert ex.ok and ex.done and ex.chunks == 6 and len(ex.gaps) == 5
        assert ex.sent is not None and ex.first_token is not None and ex.start <= ex.sent <= ex.first_token
    assert first.completion_tokens == 6 and again.completion_tokens is None  # usage only when asked


# --------------------------------------------------------------------------------------------------
# what a server says that cannot be


def completion_chunk(text: str, finish: str | None = None) -> bytes:
    body = {
        "id": "cmpl-x",
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def usage(prompt: object, completion: object) -> bytes:
    body = {
        "id": "cmpl-x",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def three_tokens_then(tail: bytes) -> Script:
    return Script(
        steps=[
            (0.0, completion_chunk("a")),
            (0.01, completion_chunk("b")),
            (0.01, completion_chunk("c", finish="length")),
            (0.0, tail + DONE),
        ]
    )


@pytest.mark.parametrize(
    ("tail", "problem", "unknown"),
    [
        (usage(12, -3), None, "completion_tokens -3, fewer than the 3 chunks streamed"),
        (
            usage(5, 3),
            "prompt_tokens 5 for a prompt of 12 tokens",
            "prompt_tokens 5 for a prompt of 12 tokens",
        ),
        (usage(12, 900), "completion_tokens 900, more than the 3 asked for", "more than the 3 asked for"),
        (usage(12, "3"), "completion_tokens is not a whole number: '3'", "not a whole number"),
        (usage(True, 3), "prompt_tokens is not a whole number: True", "not a whole number"),
    ],
    ids=["negative output", "prompt unlike sent", "more than asked", "text count", "boolean count"],
)
async def test_usage_that_cannot_be_is_kept_and_its_figures_are_unknown(
    tail: bytes, problem: str | None, unknown: str
) -> None:
    async with ScriptedServer(three_tokens_then(tail)) as server:
        runner = await run(
            server.url, one(ClosedLoop(name="u", users=2, input_len=12, output_len=3)), model="scripted"
        )
    summary = runner_summary(runner)
    assert all(r.ok and r.usage_problem == problem for r in runner.records), runner.records
    reasons = [
        v.reason for v in (summary.total_output_tokens, summary.total_input_tokens) if isinstance(v, Unknown)
    ]
    assert reasons and all(unknown in reason for reason in reasons)
    throughput = summary.total_token_throughput
    assert isinstance(throughput, Unknown)  # never a negative or absurd rate
    assert not isinstance(summary.ttft_ms.mean, Unknown)  # the times were fine


def runner_summary(runner: WorkloadRunner) -> Summary:
    return summarize(runner.records)


async def test_peak_concurrency_counts_the_requests_that_failed() -> None:
    """Six requests go out at once: four stream a few chunks and are reset 0.3 s later, two finish
    at once. Six were in flight together; the two successful ones alone say two."""

    def script(n: int) -> Script:
        if n < 4:
            steps = [(0.0, completion_chunk("a"))] * (n + 1)
            return Script(steps=[*steps, (0.3, completion_chunk("b"))], end="reset")
        return Script(steps=[(0.0, completion_chunk("a", finish="length")), (0.0, usage(12, 1) + DONE)])

    stage = OpenLoop(name="o", rate=math.inf, num_prompts=6, input_len=12, output_len=2)
    async with ScriptedServer(Script(), script_for=script) as server:
        runner = await run(server.url, one(stage), model="scripted")
    summary = runner_summary(runner)
    assert (summary.successful, summary.failed) == (2, 4)
    assert summary.peak_concurrency == 6.0
    # four resets after 2 to 5 chunks (the last one sent before the reset included) are one kind
    assert summary.errors == {"connection reset mid-stream after 2 to 5 chunks": 4}


async def test_progress_says_how_long_the_oldest_request_has_waited_for_its_first_token() -> None:
    """What the dashboard's TTFT panel shows while the queue grows and nothing finishes."""
    text = [chat_chunk({"content": f" t{i}"}) for i in range(3)]
    script = Script([(0.0, chat_chunk({"role": "assistant", "content": ""})), (1.5, text[0])])
    script.steps += [(0.5, text[1]), (0.5, text[2]), (0.0, chat_chunk({}, "length")), (0.0, DONE)]
    async with ScriptedServer(script) as server:
        runner = WorkloadRunner(
            server.url,
            one(ClosedLoop(name="w", users=1, input_len=12, output_len=3)),
            clock=SystemClock(),
            endpoint="chat",
        )
        task = asyncio.ensure_future(runner.run())
        assert await eventually(lambda: runner.progress().unanswered_since is not None, within_s=10)
        waiting = runner.progress()
        assert waiting.in_flight == 1 and waiting.unanswered_since is not None
        assert waiting.t - waiting.unanswered_since < 1.5  # sent moments ago, no first token yet
        # the first token came: streaming, but no longer waiting for a first token
        assert await eventually(lambda: runner.progress().unanswered_since is None, within_s=10)
        assert runner.progress().in_flight == 1
        await asyncio.wait_for(task, timeout=10)
    (r,) = runner.records
    assert r.ok and r.first_token is not None and waiting.unanswered_since == pytest.approx(r.start, abs=1e-6)


async def test_progress_during_the_warm_up_counts_its_one_round(gemma: SimServer) -> None:
    stage = ClosedLoop(name="c", users=3, input_len=16, output_len=100_000, runs=4, warmup=True)
    runner = WorkloadRunner(gemma.url, one(stage), clock=SystemClock())
    task = asyncio.ensure_future(runner.run())
    assert await eventually(lambda: runner.progress().in_flight == 3)
    warming = runner.progress()
    runner.cancel()
    await asyncio.wait_for(task, timeout=5)
    assert warming.phase == "warm-up: c" and (warming.done, warming.total) == (0, 3)  # not 0/12
