"""Inter-token gaps as the server paced them, even when the client stalls.

A server in its own process sends one chunk every 20 ms to each of several streams and says when it
sent each; the client's event loop is blocked twice for 250 ms mid-stream (once asleep, once
computing, holding the interpreter lock). A client that stamps chunks when the loop gets round to
reading them sees, for the chunks sent during a stall, gaps of zero after one of 250 ms. The
receiving thread reads them as they arrive, with the kernel's receive time: each arrival follows its
send by a loopback hop. The tolerance allows for a loaded test machine, where the receiving thread
can wait a period or two for a core and for the interpreter lock; it is a fifth of the stall.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest

import sparktop.workload.client as client_module
from sparktop.workload.client import Exchange, OpenAIClient
from tests.support.sse_server import PacedServer

PERIOD = 0.02
CHUNKS = 40
STALL = 0.25
STREAMS = 8
LATE = STALL / 5
"""Largest allowed delay from a chunk's send to its measured arrival (a stall's length on a client
that stamps when the loop reads)."""
COLLAPSED = PERIOD / 4
"""A measured gap this short where the server waited a whole period has collapsed."""


def sleep_stall(seconds: float) -> None:
    time.sleep(seconds)


def busy_stall(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def arrivals(ex: Exchange) -> list[float]:
    assert ex.first_token is not None
    return list(itertools.accumulate(ex.gaps, initial=ex.first_token))


async def stream_with_stalls(url: str, stalls: list[tuple[float, Callable[[float], None]]]) -> list[Exchange]:
    loop = asyncio.get_running_loop()
    payload = {"prompt": [1, 2, 3, 4], "max_tokens": CHUNKS, "stream": True}
    async with OpenAIClient(url) as c:
        tasks = [asyncio.ensure_future(c.post_stream("/v1/completions", payload)) for _ in range(STREAMS)]
        for at, stall in stalls:
            loop.call_later(at, stall, STALL)
        return list(await asyncio.gather(*tasks))


def check(exchanges: list[Exchange], sent: dict[str, list[float]]) -> None:
    for ex in exchanges:
        assert ex.ok and ex.chunks == CHUNKS, ex.error
        assert ex.response_id is not None
        times = sent[ex.response_id]
        late = [t - s for t, s in zip(arrivals(ex), times, strict=True)]
        # (the kernel's receive times are wall-clock times moved onto perf_counter's timeline: a
        # few microseconds either way)
        shown = " ".join(f"{d * 1000:.1f}" for d in late)
        assert all(-0.001 < d < LATE for d in late), f"ms from send to measured arrival: {shown}"
        server_gaps = [b - a for a, b in itertools.pairwise(times)]
        collapsed = sum(
            measured < COLLAPSED and true > PERIOD / 2
            for measured, true in zip(ex.gaps, server_gaps, strict=True)
        )
        assert collapsed <= CHUNKS // 8, f"{collapsed} gaps collapsed; ms late: {shown}"


@pytest.mark.parametrize("stall", [sleep_stall, busy_stall], ids=["loop asleep", "loop computing"])
async def test_gaps_keep_the_servers_pace_while_the_loop_stalls(stall: Callable[[float], None]) -> None:
    with PacedServer(streams=STREAMS, count=CHUNKS, period=PERIOD) as server:
        exchanges = await stream_with_stalls(server.url, [(0.15, stall), (0.5, stall)])
        sent = dict(server.sent() for _ in range(STREAMS))
    check(exchanges, sent)


async def test_without_the_lock_held_reads_the_receiver_still_reads_while_the_loop_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ``recvmsg`` cannot be called holding the interpreter lock (not glibc), the receiving
    thread uses the socket module's: still off the loop."""
    monkeypatch.setattr(client_module._HeldRecv, "usable", staticmethod(lambda: False))
    with PacedServer(streams=STREAMS, count=CHUNKS, period=PERIOD) as server:
        exchanges = await stream_with_stalls(server.url, [(0.15, sleep_stall), (0.5, sleep_stall)])
        sent = dict(server.sent() for _ in range(STREAMS))
    check(exchanges, sent)
