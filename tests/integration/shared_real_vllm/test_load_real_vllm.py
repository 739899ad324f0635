"""The load generator's definitions against a real vLLM: what its chat stream sends first, and
that sparktop counts a real server's streams the way the summary says.

``vllm bench serve`` takes the first chunk with any choice as the first token; sparktop (like
llama-benchy and aiperf) takes the first chunk carrying text. On vLLM the two differ by the chat
stream's role-only first chunk, which vLLM sends in the same step as the first token: the two
TTFTs agree to well under one decode step, and ``vllm bench serve`` counts one more (near zero) gap.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import httpx
import pytest

from sparktop.clock import SystemClock
from sparktop.model import Unknown
from sparktop.workload.client import OpenAIClient
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.spec import ClosedLoop, Endpoint, Workload
from tests.realvllm.server import MODEL_NAME, RealVllm

pytestmark = [pytest.mark.real_vllm, pytest.mark.slow]

TOKENS = 32
"""Tokens each request generates: enough decoding (~0.2 s on the tiny model) that a loaded machine's
client still reads the stream in more than one piece, so there is a decode to measure (a stream read
in one go has none, and the summary rightly says so)."""


def events(url: str, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON events of one streamed response, in order."""
    out: list[dict[str, Any]] = []
    with httpx.stream("POST", url + path, json=body, timeout=120.0) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                out.append(json.loads(line[6:]))
    return out


def forced(**body: Any) -> dict[str, Any]:
    return {
        "model": MODEL_NAME,
        "max_tokens": TOKENS,
        "min_tokens": TOKENS,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
        # the random model samples <s> and the like now and then; skipped, they would send no chunk
        "skip_special_tokens": False,
        **body,
    }


def test_a_real_chat_stream_opens_with_a_role_only_chunk(real_vllm: RealVllm) -> None:
    chat = events(
        real_vllm.url, "/v1/chat/completions", forced(messages=[{"role": "user", "content": "hello there"}])
    )
    with_choices = [e for e in chat if e.get("choices")]
    assert with_choices[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert with_choices[1]["choices"][0]["delta"].get("content")  # then text, one token per chunk
    # a chunk with a choice for every token, plus the role-only one: vllm bench serve's first token
    # and one more gap than sparktop counts
    assert len(with_choices) == TOKENS + 1 == chat[-1]["usage"]["completion_tokens"] + 1
    completion = events(real_vllm.url, "/v1/completions", forced(prompt=list(range(100, 140))))
    assert len([e for e in completion if e.get("choices")]) == TOKENS  # no role chunk there
    assert completion[-1]["usage"]["prompt_tokens"] == 40  # token ids are counted as sent


async def test_the_role_only_chunk_comes_with_the_first_token(real_vllm: RealVllm) -> None:
    """sparktop's client keeps the first event (the role-only chunk) as ``first_response``: on vLLM
    it arrives with the first token, so a TTFT taken from it (``vllm bench serve``'s) is sparktop's
    to a small fraction of either. A server that sent the role before computing the first token
    would show most of the TTFT between the two."""
    body = forced(messages=[{"role": "user", "content": "tell me about the weather today"}])
    async with OpenAIClient(real_vllm.url) as client:
        exchanges = [await client.post_stream("/v1/chat/completions", body) for _ in range(5)]
    gaps, ttfts = [], []
    for ex in exchanges:
        assert ex.ok and ex.chunks == TOKENS and ex.completion_tokens == TOKENS
        assert ex.first_response is not None and ex.first_token is not None
        assert ex.first_token >= ex.first_response
        gaps.append(ex.first_token - ex.first_response)
        ttfts.append(ex.first_token - ex.start)
    # medians: one request of five may meet a busy CPU between the two events
    assert statistics.median(gaps) < statistics.median(ttfts) / 5


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
async def test_a_closed_loop_on_real_vllm_counts_as_the_summary_says(
    real_vllm: RealVllm, endpoint: Endpoint
) -> None:
    stage = ClosedLoop(name="c3", users=3, input_len=40, output_len=TOKENS, runs=2, warmup=True)
    runner = WorkloadRunner(
        real_vllm.url, Workload(name="t", title="t", stages=(stage,)), clock=SystemClock(), endpoint=endpoint
    )
    summary = await runner.run()
    measured = [r for r in runner.records if not r.warmup]
    assert len(measured) == 6 and summary.warmup == 3 == len(runner.records) - 6
    for r in runner.records:
        # the server's usage agrees with what was sent (ids, or text counted by /tokenize) and
        # with the chunks streamed: nothing for the summary to distrust
        assert r.ok and r.usage_problem is None
        assert (r.prompt_tokens, r.output_tokens, r.itl.count + 1) == (40, TOKENS, TOKENS)
    assert summary.total_output_tokens == 6 * TOKENS and summary.total_input_tokens == 6 * 40
    assert summary.peak_concurrency == 3.0  # lockstep users: three in flight at once, never more
    for value in (
        summary.output_throughput,
        summary.tpot_ms.p99,
        summary.itl_ms.p99,
        summary.decode_tps_total,
    ):
        assert not isinstance(value, Unknown), value
    assert summary.itl_ms.count == 6 * (TOKENS - 1)
