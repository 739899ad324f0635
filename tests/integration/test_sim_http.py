"""The simulated server over real HTTP on loopback: every endpoint, stream shapes, bad input, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import pytest_asyncio

from sparktop import codec
from sparktop.model import GpuSample
from sparktop.sim import tokens
from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.vllm_metrics import ITL_BUCKETS, TTFT_BUCKETS
from tests.integration.sim_helpers import content_of, samples, sse_events, value

pytestmark = pytest.mark.asyncio(loop_scope="module")
MODEL = "gemma-4-26b-a4b-nvfp4"
MAX_LEN = 8192


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        profile="gemma4-26b-a4b-nvfp4", startup="instant", speed=40, seed=7, max_model_len=MAX_LEN
    )
    async with SimServer(config) as server:
        await server.wait_ready()
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=20) as c:
        yield c


def chat_body(**fields: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about the Spark."}], **fields}


async def test_health_ping_version_load_and_models(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert (health.status_code, health.content) == (200, b"")
    assert (await client.get("/ping")).status_code == 200
    assert (await client.post("/ping")).status_code == 200
    assert (await client.get("/version")).json() == {"version": "0.20.1", "sparktop_simulated": True}
    assert (await client.get("/load")).json() == {"server_load": 0}
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    card = models["data"][0]
    assert card["id"] == MODEL and card["owned_by"] == "vllm" and card["max_model_len"] == MAX_LEN
    assert (
        card["root"] == "nvidia/Gemma-4-26B-A4B-NVFP4"
        and card["permission"][0]["object"] == "model_permission"
    )


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v2/nothing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert (await client.get("/v1/completions")).status_code == 405


async def test_tokenize_counts_like_the_prompt_accounting(client: httpx.AsyncClient) -> None:
    out = (await client.post("/tokenize", json={"prompt": "one two three four"})).json()
    assert out["count"] == len(out["tokens"]) == 5 and out["max_model_len"] == MAX_LEN
    done = (
        await client.post("/v1/completions", json={"prompt": "one two three four", "max_tokens": 2})
    ).json()
    assert done["usage"]["prompt_tokens"] == out["count"]


async def test_completion_with_token_ids_and_forced_length(client: httpx.AsyncClient) -> None:
    ids = list(range(2000, 2300))
    resp = await client.post("/v1/completions", json={"prompt": ids, "max_tokens": 24, "ignore_eos": True})
    body = resp.json()
    assert resp.status_code == 200 and body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length" and choice["text"]
    assert body["usage"] == {
        "prompt_tokens": 300,
        "total_tokens": 324,
        "completion_tokens": 24,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }


async def test_chat_without_limits_stops_at_a_plausible_length(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/chat/completions", json=chat_body(max_tokens=4000))).json()
    choice = body["choices"][0]
    assert body["object"] == "chat.completion" and choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert 4 <= body["usage"]["completion_tokens"] < 4000
    assert body["usage"]["completion_tokens"] == tokens.count_text(choice["message"]["content"])


async def test_min_tokens_is_honoured(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/chat/completions", json=chat_body(max_tokens=700, min_tokens=650))).json()
    assert body["usage"]["completion_tokens"] >= 650


async def test_streaming_chat_has_vllms_sse_shape(client: httpx.AsyncClient) -> None:
    events = await sse_events(
        client,
        "/v1/chat/completions",
        chat_body(max_tokens=12, ignore_eos=True, stream=True, stream_options={"include_usage": True}),
    )
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    first, usage, last = chunks[0], chunks[-1], chunks[-2]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == first["id"] for c in chunks)
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 12
    assert last["choices"][0]["finish_reason"] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[1:-2])
    assert tokens.count_text(content_of(events)) == 12 == len(chunks) - 2  # one token per chunk without MTP


async def test_streaming_completion_and_continuous_usage(client: httpx.AsyncClient) -> None:
    events = await sse_events(
        client,
        "/v1/completions",
        {
            "prompt": "Hello",
            "max_tokens": 5,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        },
    )
    chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
    assert all(c["object"] == "text_completion" and "text" in c["choices"][0] for c in chunks)
    assert [c["usage"]["completion_tokens"] for c in chunks] == list(range(1, len(chunks) + 1))


@pytest.mark.parametrize(
    ("body", "status", "err_type", "param"),
    [
        (b'{"messages": [', 400, "Bad Request", "body.14"),
        (orjson.dumps({"model": "other-model", "messages": []}), 404, "NotFoundError", "model"),
        (
            orjson.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}),
            400,
            "BadRequestError",
            "max_tokens",
        ),
        (
            orjson.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**12}),
            400,
            "BadRequestError",
            "max_tokens",
        ),
        (
            orjson.dumps({"messages": [{"role": "user", "content": "word " * 9000}]}),
            400,
            "BadRequestError",
            "input_tokens",
        ),
        (orjson.dumps({"max_tokens": 3}), 400, "Bad Request", "body.messages"),
    ],
)
async def test_bad_input_gets_vllms_status_and_error_shape(
    client: httpx.AsyncClient, body: bytes, status: int, err_type: str, param: str | None
) -> None:
    resp = await client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status
    assert resp.json() == {
        "error": {
            "message": resp.json()["error"]["message"],
            "type": err_type,
            "param": param,
            "code": status,
        }
    }
    assert (await client.get("/health")).status_code == 200


async def test_non_json_content_type_is_rejected(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/completions", content=b"prompt=hi")
    assert resp.status_code == 400 and "Only 'application/json' is allowed" in resp.json()["error"]["message"]


async def test_metrics_have_vllms_names_labels_and_buckets(client: httpx.AsyncClient) -> None:
    resp = await client.get("/metrics")
    assert resp.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"  # as vLLM 0.32
    page = samples(resp.text)
    running = page["vllm:num_requests_running"]
    assert running and all(lab == {"model_name": MODEL, "engine": "0"} for lab, _ in running)
    ttft_bounds = [float(lab["le"]) for lab, _ in page["vllm:time_to_first_token_seconds_bucket"]]
    assert ttft_bounds == [*TTFT_BUCKETS, float("inf")]
    itl_bounds = [float(lab["le"]) for lab, _ in page["vllm:inter_token_latency_seconds_bucket"]]
    assert itl_bounds == [*ITL_BUCKETS, float("inf")]
    (info_labels, info_value), *_ = page["vllm:cache_config_info"]
    assert (
        info_value == 1 and info_labels["cache_dtype"] == "fp8" and int(info_labels["num_gpu_blocks"]) > 1000
    )
    assert "vllm:gpu_cache_usage_perc" not in page and "vllm:spec_decode_num_drafts_total" not in page
    assert "process_cpu_seconds_total" in page and "http_requests_total" in page


async def test_counters_follow_the_traffic(client: httpx.AsyncClient) -> None:
    before = samples((await client.get("/metrics")).text)
    bodies = [chat_body(max_tokens=8 + i, ignore_eos=True) for i in range(3)]
    results = await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))
    after = samples((await client.get("/metrics")).text)
    generated = sum(r.json()["usage"]["completion_tokens"] for r in results)
    prompt = sum(r.json()["usage"]["prompt_tokens"] for r in results)
    assert (
        value(after, "vllm:generation_tokens_total") - value(before, "vllm:generation_tokens_total")
        == generated
    )
    assert value(after, "vllm:prompt_tokens_total") - value(before, "vllm:prompt_tokens_total") == prompt
    assert (
        value(after, "vllm:request_success_total", finished_reason="length")
        - value(before, "vllm:request_success_total", finished_reason="length")
        == 3
    )
    assert (
        value(after, "vllm:time_to_first_token_seconds_count")
        - value(before, "vllm:time_to_first_token_seconds_count")
        == 3
    )
    assert (
        value(after, "vllm:e2e_request_latency_seconds_count")
        - value(before, "vllm:e2e_request_latency_seconds_count")
        == 3
    )
    assert value(after, "vllm:num_requests_running") == 0


async def test_sim_gpu_and_stats_endpoints(client: httpx.AsyncClient) -> None:
    sample = codec.decode(GpuSample, (await client.get("/sim/gpu")).json())
    assert sample.simulated and sample.devices[0].unified_memory
    stats = (await client.get("/sim/stats")).json()
    assert stats["simulated"] is True and stats["state"] == "ready" and stats["speed"] == 40
    assert stats["steps"] > 0 and stats["lag_max_s"] >= stats["lag_p99_s"] >= stats["lag_p50_s"] >= 0


async def test_raw_http_edge_cases(sim: SimServer) -> None:
    host, port = "127.0.0.1", int(sim.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    # A control character in the path is answered and logged escaped; two pipelined requests both answered.
    writer.write(b"GET /x\x1b[31m HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n")
    await writer.drain()
    first = await reader.readuntil(b'{"detail":"Not Found"}')
    second = await reader.readuntil(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 404 ") and second.startswith(b"HTTP/1.1 200 OK")
    assert any("/x\\x1b[31m" in line for line in sim.logs)
    assert not any("\x1b" in line for line in sim.logs)
    # A chunked request body, and garbage that closes the connection with a 400.
    body = orjson.dumps({"prompt": "hi", "max_tokens": 2})
    writer.write(
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert orjson.loads(await reader.readexactly(length))["usage"]["completion_tokens"] == 2
    writer.write(b"NONSENSE\r\n\r\n")
    await writer.drain()
    assert (await reader.read()).startswith(b"HTTP/1.1 400 ")
    writer.close()
