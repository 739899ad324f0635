"""Capture the real vLLM's OpenAI API answers into ``tests/fixtures/real-vllm/api/``.

    tests/realvllm/provision && .venv/bin/python -m tests.realvllm.capture_api [--url URL]

Starts the provisioned real vLLM (``server.py``; or uses a running one at ``--url``), sends every
request kind in ``CASES`` and saves one JSON file per case: the request, the status, and either the
response body or the stream's events (``data:`` payloads in order; for ``/v1/responses`` each with
its ``event:`` name). ``tests/integration/test_sim_api_shapes.py`` compares the simulator's answers
to the same requests with these, key by key and type by type (values differ: the model differs).

Then it checks what a client that disconnects does to the server's figures, on a server that runs
one request at a time (``--max-num-seqs 1``): one stream decoding and one waiting behind it, both
cut; ``client-abort.json`` holds the gauges and ``request_success_total`` before, during and after.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.realvllm.server import MODEL_NAME, RealVllm, find_install

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm" / "api"
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
PROMPT = "hello world"
MESSAGES = [{"role": "user", "content": "hello"}]
USAGE = {"include_usage": True}


def _completion(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL_NAME, "prompt": PROMPT, "max_tokens": 3, **fields}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL_NAME, "messages": MESSAGES, "max_tokens": 3, **fields}


CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "completion": (COMPLETIONS, _completion()),
    "completion-stream": (COMPLETIONS, _completion(stream=True, stream_options=USAGE)),
    "completion-stream-no-usage": (COMPLETIONS, _completion(stream=True)),
    "completion-stream-continuous-usage": (
        COMPLETIONS,
        _completion(stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True}),
    ),
    "completion-n2": (COMPLETIONS, _completion(n=2)),
    "completion-n2-stream": (COMPLETIONS, _completion(n=2, stream=True, stream_options=USAGE)),
    "completion-logprobs": (COMPLETIONS, _completion(logprobs=2)),
    "completion-logprobs-stream": (COMPLETIONS, _completion(logprobs=1, stream=True)),
    "completion-echo": (COMPLETIONS, _completion(echo=True)),
    "completion-echo-logprobs": (COMPLETIONS, _completion(echo=True, logprobs=1)),
    "completion-echo-stream": (COMPLETIONS, _completion(echo=True, stream=True)),
    "completion-prompt-logprobs": (COMPLETIONS, _completion(prompt_logprobs=1)),
    "completion-token-ids": (COMPLETIONS, _completion(return_token_ids=True)),
    "completion-token-ids-stream": (
        COMPLETIONS,
        _completion(return_token_ids=True, stream=True, stream_options=USAGE),
    ),
    "chat": (CHAT, _chat()),
    "chat-stream": (CHAT, _chat(stream=True, stream_options=USAGE)),
    "chat-stream-no-usage": (CHAT, _chat(stream=True)),
    "chat-stream-continuous-usage": (
        CHAT,
        _chat(stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True}),
    ),
    "chat-n2": (CHAT, _chat(n=2)),
    "chat-n2-stream": (CHAT, _chat(n=2, stream=True, stream_options=USAGE)),
    "chat-logprobs": (CHAT, _chat(logprobs=True, top_logprobs=2)),
    "chat-logprobs-no-top": (CHAT, _chat(logprobs=True)),
    "chat-logprobs-stream": (CHAT, _chat(logprobs=True, top_logprobs=1, stream=True)),
    "chat-prompt-logprobs": (CHAT, _chat(prompt_logprobs=1)),
    "chat-token-ids": (CHAT, _chat(return_token_ids=True)),
    # what llama-benchy sends on every request
    "chat-token-ids-stream": (CHAT, _chat(return_token_ids=True, stream=True, stream_options=USAGE)),
    "responses": (RESPONSES, {"model": MODEL_NAME, "input": PROMPT, "max_output_tokens": 3}),
    "responses-stream": (
        RESPONSES,
        {"model": MODEL_NAME, "input": PROMPT, "max_output_tokens": 3, "stream": True},
    ),
    # refusals (status and error body)
    "error-n0": (COMPLETIONS, _completion(n=0)),
    "error-n-type": (COMPLETIONS, _completion(n="x")),
    "error-logprobs-too-many": (COMPLETIONS, _completion(logprobs=21)),
    "error-logprobs-negative": (COMPLETIONS, _completion(logprobs=-2)),
    "error-top-logprobs-without-logprobs": (CHAT, _chat(top_logprobs=2)),
    "error-top-logprobs-too-many": (CHAT, _chat(logprobs=True, top_logprobs=21)),
    "error-prompt-logprobs-stream": (COMPLETIONS, _completion(prompt_logprobs=1, stream=True)),
    "error-stream-options-without-stream": (CHAT, _chat(stream_options=USAGE)),
    "error-unknown-model": (CHAT, {**_chat(), "model": "no-such-model"}),
    "error-max-tokens-over-context": (COMPLETIONS, _completion(max_tokens=2000)),
    "error-missing-messages": (CHAT, {"model": MODEL_NAME}),
    "error-max-tokens-type": (CHAT, _chat(max_tokens="lots")),
}


def _events(resp: httpx.Response) -> Iterator[dict[str, Any] | str]:
    """The stream's events: the decoded ``data:`` payloads (``"[DONE]"`` as is), with the
    ``event:`` name when the server sends one."""
    buffer = ""
    for text in resp.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            name = None
            data = ""
            for line in block.split("\n"):
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
            payload: Any = data if data == "[DONE]" else orjson.loads(data)
            yield {"event": name, "data": payload} if name is not None else payload


def capture_case(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with client.stream("POST", path, json=body) as resp:
        streamed = resp.headers.get("content-type", "").startswith("text/event-stream")
        if streamed:
            return {
                "request": {"path": path, "body": body},
                "status": resp.status_code,
                "events": list(_events(resp)),
            }
        resp.read()
        return {"request": {"path": path, "body": body}, "status": resp.status_code, "response": resp.json()}


def _save(name: str, doc: object) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {path}")


def capture_cases(url: str) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        for name, (path, body) in CASES.items():
            _save(name, capture_case(client, path, body))


# --------------------------------------------------------------------------------------------------
# a client that disconnects

FIGURES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_count",
)


def figures(url: str) -> dict[str, float]:
    """The gauges and finished-request counts of ``/metrics`` (``request_success_total`` by reason)."""
    out: dict[str, float] = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if not line.startswith(FIGURES):
            continue
        name, value = line.rsplit(" ", 1)
        key = name.split("{", 1)[0]
        if key == "vllm:request_success_total":
            key += "{" + name.split('finished_reason="', 1)[1].split('"', 1)[0] + "}"
        out[key] = out.get(key, 0.0) + float(value)
    return out


def _settled(url: str, within_s: float = 10.0) -> tuple[dict[str, float], float]:
    """Figures once nothing runs or waits, and how long that took."""
    t0 = time.monotonic()
    while True:
        now = figures(url)
        if now["vllm:num_requests_running"] == 0 and now["vllm:num_requests_waiting"] == 0:
            return now, time.monotonic() - t0
        if time.monotonic() - t0 > within_s:
            return now, time.monotonic() - t0
        time.sleep(0.02)


def capture_abort(url: str) -> dict[str, Any]:
    """Two long streams on a one-at-a-time server; both clients leave mid-way."""
    long = {"model": MODEL_NAME, "prompt": PROMPT, "max_tokens": 1000, "ignore_eos": True, "stream": True}
    before = figures(url)
    with (
        httpx.Client(base_url=url, timeout=120) as first,
        httpx.Client(base_url=url, timeout=120) as second,
        first.stream("POST", COMPLETIONS, json=long) as running,
    ):
        chunks = running.iter_bytes()  # kept: a dropped iterator closes the response
        next(chunks)
        with second.stream("POST", COMPLETIONS, json=long) as waiting:
            deadline = time.monotonic() + 30
            during = figures(url)
            while during["vllm:num_requests_waiting"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
                during = figures(url)
            with contextlib.suppress(httpx.HTTPError):
                waiting.close()  # the waiting client leaves first
            waiting_cut, _ = _settled_waiting(url)
        with contextlib.suppress(httpx.HTTPError):
            running.close()
    after, took = _settled(url)
    return {
        "request": {"path": COMPLETIONS, "body": long},
        "server_args": ["--max-num-seqs", "1"],
        "before": before,
        "during": during,
        "after_waiting_client_left": waiting_cut,
        "after_both_left": after,
        "settled_within_s": round(took, 3),
    }


def _settled_waiting(url: str, within_s: float = 10.0) -> tuple[dict[str, float], float]:
    t0 = time.monotonic()
    while True:
        now = figures(url)
        if now["vllm:num_requests_waiting"] == 0 or time.monotonic() - t0 > within_s:
            return now, time.monotonic() - t0
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running real vLLM serving the tiny model (default: start one)")
    parser.add_argument("--skip-abort", action="store_true", help="do not start the one-at-a-time server")
    options = parser.parse_args()
    install = find_install()
    if options.url:
        capture_cases(options.url.rstrip("/"))
    else:
        if isinstance(install, str):
            raise SystemExit(install)
        with (
            tempfile.TemporaryDirectory() as tmp,
            RealVllm(install, log_path=Path(tmp) / "api.log") as server,
        ):
            server.wait_ready()
            server.warm_up()
            capture_cases(server.url)
    if options.skip_abort:
        return
    if isinstance(install, str):
        raise SystemExit(install)
    args = ("--enforce-eager", "--max-num-seqs", "1")
    with (
        tempfile.TemporaryDirectory() as tmp,
        RealVllm(install, log_path=Path(tmp) / "abort.log", args=args) as server,
    ):
        server.wait_ready()
        server.warm_up()
        _save("client-abort", capture_abort(server.url))


if __name__ == "__main__":
    main()
