"""The simulator answers each request kind in the real vLLM 0.32's shape: the same keys, the same
types (values differ: another model, another tokenizer). The real answers are in
``tests/fixtures/real-vllm/api/`` (``tests/realvllm/capture_api.py`` captured them from the real
server serving "tiny" with max_model_len 1024); the simulator here serves the same name and length,
so the very same requests go to both, and refusals compare word for word.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from sparktop.sim.server import SimConfig, SimServer

on_module_loop = pytest.mark.asyncio(loop_scope="module")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm" / "api"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if p.stem != "client-abort")
MAPS = frozenset({"top_logprobs@completion", "prompt_logprobs"})
"""Objects keyed by data (token text or id): their shape is the shape of their values."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        profile="gemma4-26b-a4b-nvfp4",
        startup="instant",
        speed=50,
        seed=11,
        served_model_name="tiny",
        max_model_len=1024,
    )
    async with SimServer(config) as server:
        await server.wait_ready()
        yield server


def shape(value: Any, key: str = "", completion: bool = False) -> Any:
    """Keys and types, not values; a list is the set of its items' shapes."""
    if isinstance(value, dict):
        completion = completion or value.get("object") == "text_completion"
        if key == "prompt_logprobs" or (key == "top_logprobs" and completion):
            return {"*": sorted({json.dumps(shape(v, completion=completion)) for v in value.values()})}
        return {k: shape(v, k, completion) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", sorted({json.dumps(shape(v, key, completion), sort_keys=True) for v in value})]
    if value is None:
        return "null"
    return type(value).__name__


def events_of(text: str) -> list[Any]:
    """A stream's events as ``capture_api`` stores them."""
    out: list[Any] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        name = None
        data = ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
        payload = data if data == "[DONE]" else orjson.loads(data)
        out.append({"event": name, "data": payload} if name is not None else payload)
    return out


def kinds(events: list[Any]) -> list[Any]:
    """The stream's sequence of event shapes, runs of one shape counted once."""
    out: list[Any] = []
    for e in events:
        s = json.dumps(shape(e), sort_keys=True)
        if not out or out[-1] != s:
            out.append(s)
    return out


@pytest.mark.parametrize("case", CASES)
@on_module_loop
async def test_the_simulator_answers_in_the_real_servers_shape(sim: SimServer, case: str) -> None:
    real = json.loads((FIXTURES / f"{case}.json").read_text())
    request = real["request"]
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        resp = await client.post(request["path"], json=request["body"])
    assert resp.status_code == real["status"], resp.text
    if "events" in real:
        assert resp.headers["content-type"].startswith("text/event-stream")
        mine = events_of(resp.text)
        theirs = real["events"]
        # the same kinds of event (chunk), in the same order
        if request["body"].get("n", 1) > 1:
            # choices interleave differently: compare the set of kinds, and the ends
            assert sorted(set(kinds(mine))) == sorted(set(kinds(theirs)))
            assert kinds(mine)[-2:] == kinds(theirs)[-2:]
        else:
            assert kinds(mine) == kinds(theirs)
        return
    body = resp.json()
    assert shape(body) == shape(real["response"])
    if case.startswith("error-"):
        assert body == real["response"]  # same model name and length: the very words


def test_every_case_the_capture_script_sends_has_a_fixture() -> None:
    from tests.realvllm.capture_api import CASES as SENT

    assert set(SENT) <= set(CASES)
