"""Regenerate the real-vLLM fixtures in ``tests/fixtures/real-vllm/``: pages and startup logs.

    tests/realvllm/provision && .venv/bin/python -m tests.realvllm.capture [--compiled]

Starts the provisioned real vLLM (``server.py``) and saves:

- ``startup-eager.log``: the log of ``vllm serve --enforce-eager`` from launch to the first request;
- ``shutdown-sigterm.log``: what the same server logs when it is stopped (SIGTERM);
- ``startup-compiled.log`` (with ``--compiled``, ~2 minutes more): the same without
  ``--enforce-eager``, so torch.compile's warm-up lines are in it;
- ``idle.metrics``: ``/metrics`` after a few requests, nothing running;
- ``loaded.metrics``: ``/metrics`` while 8 streams are decoding;
- ``constrained.metrics``: ``/metrics`` of a server with ``--max-num-seqs 4
  --num-gpu-blocks-override 16`` under 12 users, once requests wait and preemptions happened.

The provisioned folder's path is replaced by ``/opt/real-vllm`` in the saved text.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from tests.realvllm.server import MODEL_NAME, Install, RealVllm, find_install

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm"
CONSTRAINED_ARGS = ("--enforce-eager", "--max-num-seqs", "4", "--num-gpu-blocks-override", "16")


def _clean(text: str, install: Install) -> str:
    venv = install.vllm.resolve().parents[1]  # the virtualenv may be a link to another folder
    return text.replace(str(venv), "/opt/real-vllm/venv").replace(str(install.home), "/opt/real-vllm")


async def _stream(client: httpx.AsyncClient, prompt_len: int, max_tokens: int) -> None:
    body = {
        "model": MODEL_NAME,
        "prompt": list(range(100, 100 + prompt_len)),
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    async with client.stream("POST", "/v1/completions", json=body) as resp:
        async for _ in resp.aiter_bytes():
            pass


async def _page_while(url: str, users: int, prompt_len: int, max_tokens: int, ready: str) -> str:
    """``/metrics`` taken while ``users`` streams run, once ``ready`` (a condition on the page) holds."""
    async with httpx.AsyncClient(base_url=url, timeout=300.0) as client:
        tasks = [asyncio.create_task(_stream(client, prompt_len, max_tokens)) for _ in range(users)]
        page = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            page = (await client.get("/metrics")).text
            if _holds(page, ready):
                break
        else:
            raise RuntimeError(f"the page never showed {ready!r}")
        await asyncio.gather(*tasks)
        return page


def _value(page: str, name: str) -> float:
    total = 0.0
    for line in page.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _holds(page: str, ready: str) -> bool:
    if ready == "running":
        return _value(page, "vllm:num_requests_running") >= 4
    if ready == "constrained":
        return (
            _value(page, "vllm:num_requests_waiting") > 0 and _value(page, "vllm:num_preemptions_total") > 0
        )
    raise ValueError(ready)


def _save(name: str, text: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(text)
    print(f"wrote {OUT / name} ({len(text):,} B)")


def capture(install: Install, compiled: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "eager.log"
        with RealVllm(install, log_path=log) as server:
            server.wait_ready()
            server.warm_up()
            _save("startup-eager.log", _clean(log.read_text(errors="replace"), install))
            for _ in range(3):
                httpx.post(
                    server.url + "/v1/completions",
                    json={"model": MODEL_NAME, "prompt": "hello world", "max_tokens": 8},
                    timeout=60,
                ).raise_for_status()
            _save("idle.metrics", httpx.get(server.url + "/metrics").text)
            _save("loaded.metrics", asyncio.run(_page_while(server.url, 8, 64, 400, "running")))
            served = len(log.read_text(errors="replace").splitlines())
        # `kill` of the server (SIGTERM to its process group, as `docker stop` and systemd do)
        time.sleep(2)  # the last lines of a dying process reach the file late
        tail = log.read_text(errors="replace").splitlines()[served:]
        _save("shutdown-sigterm.log", _clean("\n".join(tail) + "\n", install))
        with RealVllm(install, log_path=Path(tmp) / "constrained.log", args=CONSTRAINED_ARGS) as server:
            server.wait_ready()
            server.warm_up()
            _save("constrained.metrics", asyncio.run(_page_while(server.url, 12, 300, 400, "constrained")))
        if compiled:
            log = Path(tmp) / "compiled.log"
            with RealVllm(install, log_path=log, args=()) as server:
                server.wait_ready(timeout=600)
                server.warm_up()
                _save("startup-compiled.log", _clean(log.read_text(errors="replace"), install))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compiled", action="store_true", help="also capture a startup with torch.compile")
    options = parser.parse_args()
    install = find_install()
    if isinstance(install, str):
        raise SystemExit(install)
    capture(install, options.compiled)


if __name__ == "__main__":
    main()
