"""``sparktop load --tool llama-benchy`` against the simulated Spark.

llama-benchy cannot be installed in the test environment, so a stand-in takes its place on
``PATH``: it does what llama-benchy does against the server first (unless ``--skip-coherence``,
asks for the capital of France and gives up without "Paris"; then streams one request exactly as
llama-benchy sends them, ``return_token_ids`` included, and needs token ids on every chunk), then
replays a real llama-benchy run's output (``tests/support/replay_tool.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.threaded import SimHandle
from sparktop.workload import external

ROOT = Path(__file__).resolve().parents[2]
REPLAY = ROOT / "tests" / "support" / "replay_tool.py"
LOG = ROOT / "tests" / "fixtures" / "load" / "llama_benchy_C.log"
MODEL = "gemma-4-26b-a4b-nvfp4"

STAND_IN = r"""
import json, subprocess, sys, urllib.request
args = sys.argv[1:]
with open(RECORD, "w") as f:
    json.dump(args, f)
base = args[args.index("--base-url") + 1]
model = args[args.index("--model") + 1]

def post(body):
    req = urllib.request.Request(base + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    return urllib.request.urlopen(req, timeout=30)

if "--skip-coherence" not in args:
    question = "What is the capital of France? Please reply with one word only"
    answer = json.load(post({"model": model, "messages": [{"role": "user", "content": question}],
                             "max_tokens": 100}))
    if "paris" not in answer["choices"][0]["message"]["content"].lower():
        print("Coherence test FAILED: Expected 'Paris'.")
        sys.exit(1)
body = {"model": model, "messages": [{"role": "user", "content": "hello " * 50}], "max_tokens": 16,
        "stream": True, "return_token_ids": True, "stream_options": {"include_usage": True}}
counted = 0
for line in post(body):
    line = line.decode().strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        continue
    chunk = json.loads(line[6:])
    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
        ids = chunk["choices"][0]["token_ids"]
        assert isinstance(ids, list), "No complete token_ids in response"
        counted += len(ids)
    elif chunk.get("usage"):
        assert chunk["usage"]["completion_tokens"] == counted, (chunk["usage"], counted)
subprocess.run([sys.executable, REPLAY, LOG, "--scale", "0"], check=True)
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = SimServer(SimConfig(startup="instant", speed=50)).start_in_thread()
    try:
        handle.wait_ready(10)
        yield handle
    finally:
        handle.stop()


def stand_in(tmp_path: Path) -> tuple[Path, Path]:
    """A ``llama-benchy`` on a PATH of its own, and the file its command line is written to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    script = bin_dir / "llama-benchy"
    script.write_text(
        f"#!{sys.executable}\nRECORD, REPLAY, LOG = {str(record)!r}, {str(REPLAY)!r}, {str(LOG)!r}\n"
        + STAND_IN
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir, record


def load(url: str, bin_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "load", url, "--workload", "C", "--tool", "llama-benchy",
         "--model", MODEL, "--no-record", *extra],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT, env=env,
    )  # fmt: skip


def test_llama_benchy_runs_against_the_simulator_with_a_local_tokenizer(
    sim: SimHandle, tmp_path: Path
) -> None:
    bin_dir, record = stand_in(tmp_path)
    tokenizer = tmp_path / "tokenizer.json"
    proc = load(sim.url, bin_dir, "--tokenizer", str(tokenizer))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv = json.loads(record.read_text())
    assert argv[argv.index("--tokenizer") + 1] == str(tokenizer)
    assert "--skip-coherence" in argv  # the simulated Spark cannot answer "Paris"
    assert "pp1024 tg1024 c=10" in proc.stdout


def test_without_the_skip_the_coherence_check_fails_on_the_simulator(sim: SimHandle, tmp_path: Path) -> None:
    """Why the skip is needed: run the stand-in by hand, without it, against the simulator."""
    bin_dir, _ = stand_in(tmp_path)
    proc = subprocess.run(
        [str(bin_dir / "llama-benchy"), "--base-url", f"{sim.url}/v1", "--model", MODEL],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "Coherence test FAILED" in proc.stdout


def test_only_the_simulated_spark_is_told_apart(sim: SimHandle) -> None:
    assert asyncio.run(external.simulated_target(sim.url))
    assert not asyncio.run(external.simulated_target("http://127.0.0.1:9", timeout_s=0.5))
