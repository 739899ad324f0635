"""Request validation with vLLM's status codes, error shapes and messages; SSE chunk shapes."""

from __future__ import annotations

import random

import orjson
import pytest

from sparktop.sim import tokens
from sparktop.sim.openai_api import (
    DONE,
    ApiError,
    ChunkFormat,
    ServedModel,
    parse_generation,
    parse_tokenize,
)
from sparktop.sim.streams import plan_output

SERVED = ServedModel(name="m", root="org/model", max_model_len=1000, reasoning=False)
REASONING = ServedModel(name="m", root="org/model", max_model_len=1000, reasoning=True)


def chat(**fields: object) -> bytes:
    return orjson.dumps({"messages": [{"role": "user", "content": "hi"}], **fields})


def error(kind: str, body: bytes, served: ServedModel = SERVED) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_generation(kind, body, served)  # type: ignore[arg-type]
    payload = orjson.loads(info.value.body())
    assert set(payload) == {"error"} and set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["code"] == info.value.status
    return info.value


def test_malformed_json_is_a_400_bad_request() -> None:
    err = error("chat", b'{"messages": [')
    assert (err.status, err.err_type, err.param) == (400, "Bad Request", None)
    assert "json_invalid" in err.message
    assert error("chat", b"[1, 2]").status == 400


def test_schema_errors_are_400_with_pydantics_words() -> None:
    assert "Field required" in error("chat", b"{}").message
    assert "valid integer" in error("chat", chat(max_tokens="lots")).message
    assert "valid boolean" in error("chat", chat(stream="yes")).message
    assert (
        "Stream options can only be defined when `stream=True`"
        in error("chat", chat(stream_options={"include_usage": True})).message
    )


def test_unknown_model_is_a_404_not_found() -> None:
    err = error("completion", orjson.dumps({"model": "gpt-4", "prompt": "x"}))
    assert (err.status, err.err_type, err.param) == (404, "NotFoundError", "model")
    assert err.message == "The model `gpt-4` does not exist."


def test_over_long_prompt_is_rejected_with_the_context_length() -> None:
    err = error("completion", orjson.dumps({"prompt": list(range(1000, 2200)), "max_tokens": 1}))
    assert (err.status, err.err_type, err.param) == (400, "BadRequestError", "input_tokens")
    assert err.message == (
        "This model's maximum context length is 1000 tokens. However, your request has 1200 input tokens. "
        "Please reduce the length of the input messages. (parameter=input_tokens, value=1200)"
    )


def test_negative_and_absurd_max_tokens_are_rejected() -> None:
    neg = error("completion", orjson.dumps({"prompt": "x", "max_tokens": -5}))
    assert (neg.status, neg.param) == (400, "max_tokens")
    assert neg.message == "max_tokens must be at least 1, got -5. (parameter=max_tokens, value=-5)"
    huge = error("chat", chat(max_tokens=10**9))
    assert (huge.status, huge.err_type, huge.param) == (400, "BadRequestError", "max_tokens")
    assert huge.message.startswith("'max_tokens' or 'max_completion_tokens' is too large: 1000000000.")
    assert error("chat", chat(min_tokens=50, max_tokens=10)).param == "min_tokens"
    assert error("chat", chat(temperature=-1)).param == "temperature"
    assert error("completion", orjson.dumps({"prompt": [-3]})).status == 400


def test_a_valid_request_counts_its_prompt_and_defaults_max_tokens() -> None:
    ids = [5000 + i for i in range(37)]
    req = parse_generation("completion", orjson.dumps({"prompt": ids}), SERVED)
    assert (req.prompt_tokens, req.max_tokens, req.model) == (37, 16, "m")
    chat_req = parse_generation("chat", chat(stream=True, stream_options={"include_usage": True}), SERVED)
    assert chat_req.prompt_tokens == len(tokens.encode_chat([{"role": "user", "content": "hi"}]))
    assert chat_req.max_tokens == 1000 - chat_req.prompt_tokens
    assert chat_req.stream and chat_req.include_usage and not chat_req.continuous_usage
    assert parse_generation("chat", chat(max_completion_tokens=7, max_tokens=9), SERVED).max_tokens == 7


def test_tokenize_returns_ids_and_count() -> None:
    out = parse_tokenize(orjson.dumps({"prompt": "hello world"}), SERVED)
    assert out["count"] == len(out["tokens"]) == 1 + tokens.count_text("hello world")
    assert out["max_model_len"] == 1000


def test_output_plans_force_or_stop_naturally() -> None:
    forced = parse_generation("chat", chat(max_tokens=300, ignore_eos=True), SERVED)
    plan = plan_output(forced, random.Random(1))
    assert (plan.target, plan.finish_reason, plan.reasoning_tokens) == (300, "length", 0)
    natural = parse_generation("chat", chat(max_tokens=900), SERVED)
    plans = [plan_output(natural, random.Random(i)) for i in range(50)]
    assert any(p.finish_reason == "stop" for p in plans)
    assert all(p.target <= 900 for p in plans)
    assert all(p.target == 900 for p in plans if p.finish_reason == "length")
    floor = parse_generation("chat", chat(max_tokens=900, min_tokens=800), SERVED)
    assert all(plan_output(floor, random.Random(i)).target >= 800 for i in range(20))
    thinking = plan_output(parse_generation("chat", chat(max_tokens=900), REASONING), random.Random(2))
    assert 0 < thinking.reasoning_tokens <= thinking.target
    off = parse_generation("chat", chat(chat_template_kwargs={"enable_thinking": False}), REASONING)
    assert plan_output(off, random.Random(2)).reasoning_tokens == 0


def test_stream_chunks_are_valid_sse_json_in_vllms_shape() -> None:
    req = parse_generation("chat", chat(stream=True, stream_options={"include_usage": True}), SERVED)
    fmt = ChunkFormat(req, "chatcmpl-1", 123)
    raw = (
        fmt.role()
        + fmt.delta(" a", reasoning=True)
        + fmt.delta(" b", finish_reason="stop")
        + fmt.usage_chunk(2)
    )
    events = [orjson.loads(e.removeprefix(b"data: ")) for e in raw.split(b"\n\n") if e]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[1]["choices"][0]["delta"] == {"reasoning": " a", "reasoning_content": " a"}
    assert events[2]["choices"][0]["finish_reason"] == "stop"
    assert events[3]["choices"] == [] and events[3]["usage"]["completion_tokens"] == 2
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == "chatcmpl-1" for e in events)
    assert DONE == b"data: [DONE]\n\n"


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_the_fast_content_chunk_is_the_same_as_the_general_one(kind: str) -> None:
    body = chat(stream=True) if kind == "chat" else orjson.dumps({"prompt": "x", "stream": True})
    fmt = ChunkFormat(parse_generation(kind, body, SERVED), "id-1", 5)  # type: ignore[arg-type]
    for text in (" word", 'quote " and \\ backslash', "ünïcode\n"):
        assert fmt.content(text) == fmt.delta(text)
