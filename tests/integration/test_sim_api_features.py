"""What real clients ask of the simulated Spark, over real HTTP on loopback: ``n`` choices,
log-probabilities, echo, token ids and ``/v1/responses``, with the counts vLLM 0.32 gives.
(The shapes themselves are compared with the real server's in ``test_sim_api_shapes.py``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from sparktop.sim import tokens
from sparktop.sim.server import SimConfig, SimServer
from tests.integration.sim_helpers import samples, sse_events, value

on_module_loop = pytest.mark.asyncio(loop_scope="module")
PROMPT = "Tell me about the Spark."
MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        profile="gemma4-26b-a4b-nvfp4", startup="instant", speed=60, seed=5, max_model_len=4096
    )
    async with SimServer(config) as server:
        await server.wait_ready()
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as c:
        yield c


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


@on_module_loop
async def test_n_choices_each_an_engine_request_usage_summed(
    client: httpx.AsyncClient, sim: SimServer
) -> None:
    before = samples((await client.get("/metrics")).text)
    body = await post(
        client, "/v1/chat/completions", {"messages": MESSAGES, "n": 3, "max_tokens": 9, "ignore_eos": True}
    )
    after = samples((await client.get("/metrics")).text)
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert len({c["message"]["content"] for c in choices}) == 3  # three samples, not one copied
    prompt = len(tokens.encode_chat(MESSAGES))
    # the prompt counted once, the completions summed (vLLM's usage)
    assert body["usage"]["prompt_tokens"] == prompt and body["usage"]["completion_tokens"] == 27

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # the engine ran three requests, each with its prompt; `n` is observed once, with its value
    assert delta("vllm:request_success_total", finished_reason="length") == 3
    assert delta("vllm:prompt_tokens_total") == 3 * prompt
    assert delta("vllm:generation_tokens_total") == 27
    assert delta("vllm:time_to_first_token_seconds_count") == 3
    assert (delta("vllm:request_params_n_count"), delta("vllm:request_params_n_sum")) == (1, 3)


@on_module_loop
async def test_n_choices_stream_with_their_index_and_one_usage_chunk(client: httpx.AsyncClient) -> None:
    events = await sse_events(
        client,
        "/v1/completions",
        {"prompt": PROMPT, "n": 2, "max_tokens": 6, "ignore_eos": True, "stream": True,
         "stream_options": {"include_usage": True}},
    )  # fmt: skip
    chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
    texts = {0: "", 1: ""}
    for c in chunks:
        (choice,) = c["choices"]
        texts[choice["index"]] += choice["text"]
    assert all(tokens.count_text(t) == 6 for t in texts.values())
    finals = [c["choices"][0]["index"] for c in chunks if c["choices"][0]["finish_reason"] == "length"]
    assert sorted(finals) == [0, 1]
    usage = events[-2]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 12
    assert events[-1] == "[DONE]"


@on_module_loop
async def test_chat_logprobs_have_the_top_alternatives_and_the_sampled_token_first(
    client: httpx.AsyncClient,
) -> None:
    body = await post(
        client,
        "/v1/chat/completions",
        {"messages": MESSAGES, "max_tokens": 5, "ignore_eos": True, "logprobs": True, "top_logprobs": 3},
    )
    choice = body["choices"][0]
    content = choice["logprobs"]["content"]
    assert "".join(e["token"] for e in content) == choice["message"]["content"]
    for entry in content:
        top = entry["top_logprobs"]
        assert len(top) == 3 and top[0]["token"] == entry["token"] and top[0]["logprob"] == entry["logprob"]
        assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
        assert all(t["logprob"] <= 0 for t in top) and bytes(entry["bytes"]).decode() == entry["token"]


@on_module_loop
async def test_completion_logprobs_echo_and_prompt_logprobs(client: httpx.AsyncClient) -> None:
    body = await post(
        client, "/v1/completions", {"prompt": PROMPT, "max_tokens": 4, "ignore_eos": True, "logprobs": 2}
    )
    lp = body["choices"][0]["logprobs"]
    assert "".join(lp["tokens"]) == body["choices"][0]["text"] and len(lp["tokens"]) == 4
    assert lp["text_offset"] == [sum(len(t) for t in lp["tokens"][:i]) for i in range(4)]
    assert all(
        len(top) == 2 and next(iter(top)) == tok
        for top, tok in zip(lp["top_logprobs"], lp["tokens"], strict=True)
    )
    echo = await post(
        client, "/v1/completions", {"prompt": PROMPT, "max_tokens": 3, "echo": True, "logprobs": 1}
    )
    choice = echo["choices"][0]
    prompt_len = len(tokens.encode_prompt(PROMPT))
    assert choice["text"].startswith(PROMPT)
    assert len(choice["logprobs"]["tokens"]) == prompt_len + 3
    assert choice["logprobs"]["token_logprobs"][0] is None  # the first prompt token has none
    prompt_lp = choice["prompt_logprobs"]  # echo with logprobs scores the prompt too
    assert len(prompt_lp) == prompt_len and prompt_lp[0] is None
    ids = tokens.encode_prompt(PROMPT)
    for i, entry in enumerate(prompt_lp[1:], start=1):
        own = entry[str(ids[i])]
        assert own["rank"] > 1 and {v["rank"] for k, v in entry.items() if k != str(ids[i])} == {1}


@on_module_loop
async def test_return_token_ids_streaming_as_llama_benchy_asks(client: httpx.AsyncClient) -> None:
    events = await sse_events(
        client,
        "/v1/chat/completions",
        {"messages": MESSAGES, "max_tokens": 12, "ignore_eos": True, "stream": True, "return_token_ids": True,
         "stream_options": {"include_usage": True}},
    )  # fmt: skip
    chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
    assert chunks[0]["prompt_token_ids"] == tokens.encode_chat(MESSAGES)
    content = [c for c in chunks[1:] if c["choices"][0]["delta"].get("content")]
    ids = [i for c in content for i in c["choices"][0]["token_ids"]]
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    assert len(ids) == 12 == events[-2]["usage"]["completion_tokens"]
    assert tokens.encode_text(text) == ids  # the ids are the text's own
    body = await post(
        client, "/v1/completions", {"prompt": PROMPT, "max_tokens": 5, "return_token_ids": True}
    )
    choice = body["choices"][0]
    assert choice["prompt_token_ids"] == tokens.encode_prompt(PROMPT)
    assert choice["token_ids"] == tokens.encode_text(choice["text"])


@on_module_loop
async def test_responses_answer_text_with_usage_streaming_or_not(client: httpx.AsyncClient) -> None:
    body = await post(client, "/v1/responses", {"input": PROMPT, "max_output_tokens": 7})
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    text = body["output"][0]["content"][0]["text"]
    usage = body["usage"]
    assert tokens.count_text(text) == usage["output_tokens"] == 7
    assert usage["input_tokens"] == len(tokens.encode_chat(MESSAGES))
    assert usage["total_tokens"] == usage["input_tokens"] + 7
    resp = await client.post("/v1/responses", json={"input": PROMPT, "max_output_tokens": 5, "stream": True})
    blocks = [b for b in resp.text.split("\n\n") if b]
    names = [b.split("\n", 1)[0].removeprefix("event: ") for b in blocks]
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(names[4:-4]) == {"response.output_text.delta"}
    datas = [orjson.loads(b.split("\ndata: ", 1)[1]) for b in blocks]
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    streamed = "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta")
    final = datas[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == streamed and final["usage"]["output_tokens"] == 5


@on_module_loop
async def test_refusals_in_vllms_words(client: httpx.AsyncClient) -> None:
    cases = [
        ({"messages": MESSAGES, "n": 0}, "n must be at least 1, got 0.", None),
        ({"messages": MESSAGES, "top_logprobs": 2}, None, "top_logprobs"),
        ({"messages": MESSAGES, "logprobs": True, "top_logprobs": 30}, None, "logprobs"),
    ]
    for body, message, param in cases:
        resp = await client.post("/v1/chat/completions", json=body)
        err = resp.json()["error"]
        assert resp.status_code == 400 and err["type"] == "BadRequestError" and err["param"] == param
        if message is not None:
            assert err["message"] == message
    missing = await client.post("/v1/responses", json={"model": "gemma-4-26b-a4b-nvfp4"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "body.input"
