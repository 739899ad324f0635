"""Request validation with vLLM's status codes, error shapes and messages; SSE chunk shapes."""

from __future__ import annotations

import random

import orjson
import pytest

from sparktop.sim import tokens
from sparktop.sim.chunks import DONE, ChunkFormat
from sparktop.sim.openai_api import (
    ApiError,
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


def test_malformed_json_is_a_400_bad_request_in_vllms_words() -> None:
    err = error("chat", b'{"messages": [')
    assert (err.status, err.err_type, err.param) == (400, "Bad Request", "body.14")
    assert err.message == (
        "1 validation error:\n  {'type': 'json_invalid', 'loc': 'body.14', 'msg': 'JSON decode error', "
        "'input': '<dict of 0 items>', 'ctx': {'error': 'Expecting value'}}"
    )
    listed = error("chat", b"[1, 2]")
    assert (listed.status, listed.param) == (400, "body")
    assert "'input': '<list of 2 items>'" in listed.message


def test_schema_errors_are_400_with_pydantics_words_and_a_dotted_param() -> None:
    missing = error("chat", b"{}")
    assert missing.message == (
        "1 validation error:\n  {'type': 'missing', 'loc': 'body.messages', 'msg': 'Field required', "
        "'input': '<dict of 0 items>'}"
    )
    assert missing.param == "body.messages"
    lots = error("chat", chat(max_tokens="lots"))
    assert lots.param == "body.max_tokens" and "'type': 'int_parsing'" in lots.message
    assert "'type': 'bool_parsing'" in error("chat", chat(stream="maybe")).message
    assert "'type': 'bool_type'" in error("chat", chat(stream=[1])).message
    assert "'input': '1.5'" in error("completion", orjson.dumps({"prompt": "x", "max_tokens": 1.5})).message


def test_lax_booleans_are_read_as_pydantic_reads_them() -> None:
    assert parse_generation("chat", chat(stream="yes"), SERVED).stream
    assert parse_generation("chat", chat(return_token_ids="on"), SERVED).return_token_ids
    assert not parse_generation("chat", chat(stream=0), SERVED).stream


def test_checks_vllm_runs_before_the_schema_name_their_parameter() -> None:
    opts = error("chat", chat(stream_options={"include_usage": True}))
    assert (opts.err_type, opts.param) == ("BadRequestError", "stream_options")
    assert opts.message == "Stream options can only be defined when `stream=True`. (parameter=stream_options)"
    empty = error("completion", orjson.dumps({"prompt": ""}))
    assert empty.message == (
        "Either prompt or prompt_embeds must be provided and non-empty. (parameter=prompt)"
    )
    none = error("completion", orjson.dumps({"prompt": []}))
    assert (none.message, none.param) == ("You must pass at least one prompt", None)


def test_unknown_model_is_a_404_not_found() -> None:
    err = error("completion", orjson.dumps({"model": "gpt-4", "prompt": "x"}))
    assert (err.status, err.err_type, err.param) == (404, "NotFoundError", "model")
    assert err.message == "The model `gpt-4` does not exist. Valid aliases: m."


def test_over_long_prompt_is_rejected_with_the_context_length() -> None:
    err = error("completion", orjson.dumps({"prompt": list(range(1000, 2200)), "max_tokens": 1}))
    assert (err.status, err.err_type, err.param) == (400, "BadRequestError", "input_tokens")
    assert err.message == (
        "This model's maximum context length is 1000 tokens. However, your prompt contains 1200 input "
        "tokens, which exceeds this limit even without any output tokens. Please reduce the length of the "
        "input prompt. (parameter=input_tokens, value=1200)"
    )
    # a text prompt is tokenized one token past the limit only
    text = error("completion", orjson.dumps({"prompt": "word " * 1500, "max_tokens": 1}))
    assert "your prompt contains at least 1001 input tokens" in text.message
    assert text.message.endswith("(parameter=input_tokens, value=1001)")


def test_max_tokens_is_clamped_to_the_context_left_and_checked_against_the_whole() -> None:
    neg = error("completion", orjson.dumps({"prompt": "x", "max_tokens": -5}))
    assert (neg.status, neg.param) == (400, "max_tokens")
    assert neg.message == "max_tokens must be at least 1, got -5. (parameter=max_tokens, value=-5)"
    huge = error("chat", chat(max_tokens=10**9))
    assert (huge.status, huge.err_type, huge.param) == (400, "BadRequestError", "max_tokens")
    assert huge.message == (
        "max_tokens=1000000000 cannot be greater than max_model_len=1000. Please request fewer output "
        "tokens. (parameter=max_tokens, value=1000000000)"
    )
    clamped = parse_generation("chat", chat(max_tokens=1000), SERVED)
    assert clamped.max_tokens == 1000 - clamped.prompt_tokens
    full = error("completion", orjson.dumps({"prompt": list(range(1000, 2000))}))
    assert full.message == "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)"
    low = error("chat", chat(min_tokens=50, max_tokens=10))
    assert (low.message, low.param) == (
        "min_tokens must be less than or equal to max_tokens=10, got 50.",
        None,
    )
    assert error("chat", chat(temperature=-1)).param == "temperature"
    assert error("chat", chat(temperature=2.5)).message.startswith("temperature must be in [0, 2], got 2.5.")
    oov = error("completion", orjson.dumps({"prompt": [-3]}))
    assert (oov.message, oov.param) == ("Token id -3 is out of vocabulary", None)


def test_n_logprobs_and_token_ids_are_read_and_bounded_as_vllm_bounds_them() -> None:
    req = parse_generation(
        "chat", chat(n=3, logprobs=True, top_logprobs=4, return_token_ids=True, stream=True), SERVED
    )
    assert (req.n, req.logprobs, req.return_token_ids) == (3, 4, True)
    assert req.prompt_ids == tuple(tokens.encode_chat([{"role": "user", "content": "hi"}]))
    assert parse_generation("chat", chat(logprobs=True), SERVED).logprobs == 0
    assert parse_generation("chat", chat(), SERVED).logprobs is None
    zero = error("chat", chat(n=0))
    assert (zero.message, zero.param) == ("n must be at least 1, got 0.", None)
    assert error("chat", chat(n=20000)).message.startswith("n must be at most 16384, got 20000.")
    many = error("completion", orjson.dumps({"prompt": "x", "logprobs": 21}))
    assert many.message == (
        "Requested sample logprobs of 21, which is greater than max allowed: 20 "
        "(parameter=logprobs, value=21)"
    )
    assert error("completion", orjson.dumps({"prompt": "x", "logprobs": -2})).message == (
        "`logprobs` must be a positive value or -1. (parameter=logprobs, value=-2)"
    )
    assert error("chat", chat(top_logprobs=2)).message == (
        "when using `top_logprobs`, `logprobs` must be set to true. (parameter=top_logprobs)"
    )
    assert error("chat", chat(logprobs=True, top_logprobs=-1)).param == "logprobs"
    streamed = error("completion", orjson.dumps({"prompt": "x", "prompt_logprobs": 1, "stream": True}))
    assert streamed.message == (
        "`prompt_logprobs` are not available when `stream=True`. (parameter=prompt_logprobs)"
    )
    echo = parse_generation(
        "completion", orjson.dumps({"prompt": "a b", "echo": True, "logprobs": 2}), SERVED
    )
    assert (echo.echo, echo.prompt_logprobs, echo.prompt_text) == (True, 2, "a b")
    assert echo.prompt_pieces == ("<bos>", "a", " b")


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
    assert events[1]["choices"][0]["delta"] == {"reasoning": " a"}
    assert events[2]["choices"][0]["finish_reason"] == "stop"
    assert "system_fingerprint" not in events[2] and events[3]["system_fingerprint"] == ""
    assert events[3]["choices"] == [] and events[3]["usage"]["completion_tokens"] == 2
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == "chatcmpl-1" for e in events)
    assert DONE == b"data: [DONE]\n\n"


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_the_fast_content_chunk_is_the_same_as_the_general_one(kind: str) -> None:
    body = chat(stream=True) if kind == "chat" else orjson.dumps({"prompt": "x", "stream": True})
    fmt = ChunkFormat(parse_generation(kind, body, SERVED), "id-1", 5)  # type: ignore[arg-type]
    for text in (" word", 'quote " and \\ backslash', "ünïcode\n"):
        assert fmt.content(text) == fmt.delta(text)
        assert fmt.content_ids(text, b"[7,8]") == fmt.delta(text, ids=[7, 8])
