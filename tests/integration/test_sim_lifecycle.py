"""Startup, faults, metric styles, determinism and the other profiles, over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sparktop.model import is_known
from sparktop.sim import tokens
from sparktop.sim.faults import FaultConfig
from sparktop.sim.profiles import PROFILES
from sparktop.sim.server import SimConfig, SimServer, SimStartupError
from tests.integration.sim_helpers import content_of, samples, sse_events, value


def chat(**fields: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "What limits decode speed?"}], **fields}


async def test_port_accepts_connections_while_starting_and_requests_wait_until_ready() -> None:
    lines: list[str] = []
    async with SimServer(SimConfig(startup="fast", speed=1)) as sim:  # starting for 2 s
        sim.add_log_listener(lines.append)
        _, writer = await asyncio.open_connection("127.0.0.1", int(sim.url.rsplit(":", 1)[1]))
        writer.close()
        async with httpx.AsyncClient(base_url=sim.url) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/health", timeout=0.1)
            early = asyncio.ensure_future(client.get("/health", timeout=10))
            starting_memory = sim.gpu_sample().memory.gpu_processes_bytes
            assert not early.done()
            await sim.wait_ready()
            assert (await early).status_code == 200
        ready_memory = sim.gpu_sample().memory.gpu_processes_bytes
    assert is_known(starting_memory) and is_known(ready_memory) and starting_memory < ready_memory
    text = "\n".join(lines)
    order = [
        "Loading weights took",
        "GPU KV cache size",
        "Capturing CUDA graphs",
        "Application startup complete.",
    ]
    positions = [text.index(needle) for needle in order]
    assert positions == sorted(positions)
    assert "INFO:     Shutting down" in text


async def test_kv_cache_startup_failure_then_the_port_closes() -> None:
    sim = SimServer(SimConfig(startup="instant", faults=FaultConfig(fail_startup_kv=True)))
    await sim.start()
    with pytest.raises(SimStartupError, match="KV cache is needed, which is larger than the available"):
        await sim.wait_ready()
    assert await sim.wait_closed() == 1
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{sim.url}/health")
    assert any("EngineCore failed to start." in line for line in sim.logs)


async def test_crash_fails_in_flight_streams_then_the_server_exits() -> None:
    # the crash comes 1 s (real) after ready: time enough for the stream to start on a loaded machine
    sim = SimServer(SimConfig(startup="instant", speed=20, faults=FaultConfig(crash_after_s=20.0)))
    await sim.start()
    await sim.wait_ready()
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        events = await sse_events(
            client, "/v1/chat/completions", chat(max_tokens=5000, ignore_eos=True, stream=True)
        )
        assert events[-1] == "[DONE]"
        assert events[-2]["error"]["type"] == "InternalServerError" and events[-2]["error"]["code"] == 500
        try:
            health = (await client.get("/health")).status_code
        except httpx.TransportError:
            health = None
        assert health in (503, None)
    assert await sim.wait_closed() == 1
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{sim.url}/health")
    text = "\n".join(sim.logs)
    assert "EngineCore encountered a fatal error." in text and "EngineDeadError" in text


async def test_metrics_faults_answer_500_or_slowly() -> None:
    async with SimServer(SimConfig(startup="instant", faults=FaultConfig(metrics_status=500))) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url) as client:
            assert (await client.get("/metrics")).status_code == 500
            assert (await client.get("/health")).status_code == 200
    slow = SimConfig(startup="instant", speed=10, faults=FaultConfig(metrics_delay_s=30.0))
    async with SimServer(slow) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=60) as client:
            metrics = asyncio.ensure_future(client.get("/metrics"))
            # /health answers while /metrics waits out its delay: the slow page holds nothing else up
            async with httpx.AsyncClient(base_url=sim.url) as other:
                assert (await other.get("/health")).status_code == 200
                assert (await other.get("/v1/models")).status_code == 200
            assert not metrics.done()
            assert (await metrics).status_code == 200


async def test_abort_fault_ends_requests_with_finish_reason_abort() -> None:
    async with SimServer(
        SimConfig(startup="instant", speed=40, faults=FaultConfig(abort_after_tokens=5))
    ) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
            events = await sse_events(
                client,
                "/v1/chat/completions",
                chat(max_tokens=100, ignore_eos=True, stream=True, stream_options={"include_usage": True}),
            )
            assert events[-3]["choices"][0]["finish_reason"] == "abort"
            assert events[-2]["usage"]["completion_tokens"] == 5
            page = samples((await client.get("/metrics")).text)
            assert value(page, "vllm:request_success_total", finished_reason="abort") == 1


@pytest.mark.parametrize("style", ["v0.7", "v0.10"])
async def test_older_vllm_metric_names_parse_with_prometheus_client(style: str) -> None:
    async with SimServer(SimConfig(startup="instant", speed=40, metrics_style=style)) as sim:  # type: ignore[arg-type]
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
            await client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 6, "ignore_eos": True})
            page = samples((await client.get("/metrics")).text)
            version = (await client.get("/version")).json()["version"]
    assert "vllm:gpu_cache_usage_perc" in page
    assert value(page, "vllm:time_per_output_token_seconds_count") == 5
    assert value(page, "vllm:generation_tokens_total") == 6
    if style == "v0.7":
        assert version == "0.7.3"
        assert "vllm:kv_cache_usage_perc" not in page and "vllm:inter_token_latency_seconds_count" not in page
        assert all("engine" not in labels for labels, _ in page["vllm:num_requests_running"])
        assert "vllm:num_requests_swapped" in page
    else:
        assert version == "0.10.2"
        assert (
            "vllm:kv_cache_usage_perc" in page and value(page, "vllm:inter_token_latency_seconds_count") == 5
        )


async def _texts(seed: int, request_seed: int | None = None) -> list[str]:
    async with SimServer(SimConfig(startup="instant", speed=50, seed=seed)) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
            out = []
            for i in range(3):
                body = (
                    chat(max_tokens=20 + i)
                    if request_seed is None
                    else chat(max_tokens=20, seed=request_seed)
                )
                out.append(
                    (await client.post("/v1/chat/completions", json=body)).json()["choices"][0]["message"][
                        "content"
                    ]
                )
            return out


async def test_same_seed_same_answers_other_seed_other_answers() -> None:
    first, again, other = await _texts(3), await _texts(3), await _texts(4)
    assert first == again
    assert first != other
    seeded = await _texts(5, request_seed=11)
    assert seeded[0] == seeded[1] == seeded[2] == (await _texts(6, request_seed=11))[0]
    assert seeded[0] != (await _texts(5, request_seed=12))[0]


async def test_reasoning_profile_streams_reasoning_before_content() -> None:
    async with SimServer(
        SimConfig(profile="nemotron3-nano-30b-a3b-nvfp4", startup="instant", speed=60)
    ) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=20) as client:
            events = await sse_events(
                client, "/v1/chat/completions", chat(max_tokens=200, ignore_eos=True, stream=True)
            )
            kinds = [
                "reasoning" if "reasoning" in e["choices"][0]["delta"] else "content"
                for e in events[1:-1]
                if e["choices"][0]["delta"].get("reasoning") or e["choices"][0]["delta"].get("content")
            ]
            assert kinds[0] == "reasoning" and "content" in kinds
            assert kinds == sorted(kinds, key=lambda k: k == "content")  # no reasoning after content starts
            # vLLM 0.32 names it `reasoning` only (`reasoning_content` is gone)
            assert content_of(events, "reasoning") and content_of(events, "reasoning_content") == ""
            plain = await sse_events(
                client,
                "/v1/chat/completions",
                chat(max_tokens=20, stream=True, chat_template_kwargs={"enable_thinking": False}),
            )
            assert content_of(plain, "reasoning") == "" and content_of(plain)


async def test_mtp_profile_sends_several_tokens_per_chunk_and_counts_drafts() -> None:
    async with SimServer(SimConfig(profile="gemma4-26b-a4b-mtp", startup="instant", speed=60)) as sim:
        await sim.wait_ready()
        async with httpx.AsyncClient(base_url=sim.url, timeout=20) as client:
            events = await sse_events(
                client,
                "/v1/chat/completions",
                chat(max_tokens=200, ignore_eos=True, stream=True, stream_options={"include_usage": True}),
            )
            page = samples((await client.get("/metrics")).text)
    content_chunks = [e for e in events[1:-2] if e["choices"][0]["delta"].get("content")]
    assert events[-2]["usage"]["completion_tokens"] == 200 == tokens.count_text(content_of(events))
    assert len(content_chunks) < 150
    drafts = value(page, "vllm:spec_decode_num_drafts_total")
    spec = PROFILES["gemma4-26b-a4b-mtp"].spec
    assert spec is not None
    assert (
        drafts > 0
        and value(page, "vllm:spec_decode_num_draft_tokens_total") == spec.num_speculative_tokens * drafts
    )
    accepted = value(page, "vllm:spec_decode_num_accepted_tokens_total")
    assert 0 < accepted == value(page, "vllm:spec_decode_num_accepted_tokens_per_pos_total")
    # Each step sends one chunk of 1 + accepted tokens (the last one capped at max_tokens).
    assert 200 <= len(content_chunks) + accepted <= 202


def test_start_in_thread_serves_until_stopped() -> None:
    handle = SimServer(SimConfig(startup="instant")).start_in_thread()
    try:
        handle.wait_ready(5)
        assert httpx.get(f"{handle.url}/health").status_code == 200
        assert handle.gpu_sample().simulated
    finally:
        handle.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{handle.url}/health")
