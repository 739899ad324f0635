"""`sparktop load` as a user runs it: a subprocess against the simulator over loopback, and the
external tools' subprocess handling with their real output replayed at a realistic pace."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sparktop.codec import decode
from sparktop.model import RequestRecord
from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.threaded import SimHandle
from sparktop.workload import external
from sparktop.workload.presets import get_preset
from sparktop.workload.spec import ClosedLoop

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "load"
REPLAY = ROOT / "tests" / "support" / "replay_tool.py"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    handle: SimHandle = SimServer(
        SimConfig(speed=25.0, seed=3, startup="instant", access_log=False)
    ).start_in_thread()
    handle.wait_ready(10)
    try:
        yield handle.url
    finally:
        handle.stop()


def sparktop(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "load", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env=env,
    )


def test_smoke_preset_end_to_end_with_json(sim_url: str, tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    env = {**os.environ, "SPARKTOP_API_KEY": "sk-not-to-be-seen"}
    proc = sparktop(sim_url, "--workload", "smoke", "--json", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Serving Benchmark Result" not in proc.stdout  # our own title, vllm's layout
    for label in ("Successful requests:", "Request throughput (req/s):", "Mean TTFT (ms):", "P99 E2EL (ms):"):
        assert label in proc.stdout
    assert "smoke c=4" in proc.stdout  # the per-phase table
    assert "Traceback" not in proc.stderr
    # not a terminal: plain progress lines, no carriage returns
    assert "\r" not in proc.stderr and "smoke burst 16 req/s: start" in proc.stderr
    doc = json.loads(out.read_text())
    for key in (
        "successful",
        "failed",
        "duration_s",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "peak_concurrency",
    ):
        assert key in doc
    smoke = get_preset("smoke")
    assert smoke.requests is not None
    assert doc["successful"] == smoke.requests and doc["failed"] == 0
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
        assert set(doc[key]) >= {"mean", "median", "p90", "p99"}
        assert doc[key]["mean"] > 0
    records = [decode(RequestRecord, r) for r in doc["requests"]]
    warmups = sum(s.users for s in smoke.stages if isinstance(s, ClosedLoop) and s.warmup)
    assert len(records) == smoke.requests + warmups and all(r.ok for r in records)
    assert sum(r.warmup for r in records) == warmups
    assert {e["data"]["boundary"] for e in doc["events"]} == {"start", "end"}
    everything = proc.stdout + proc.stderr + out.read_text()
    assert "sk-not-to-be-seen" not in everything


def test_ad_hoc_open_loop_to_stdout_json(sim_url: str) -> None:
    proc = sparktop(
        sim_url, "--rate", "50", "--num-prompts", "4", "--input-len", "32", "--output-len", "4", "--json", "-"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the JSON on stdout
    assert doc["successful"] == 4 and len(doc["requests"]) == 4
    assert "Successful requests:" in proc.stderr


def test_an_ad_hoc_closed_loop_warms_up_first_and_leaves_the_warm_up_out(sim_url: str) -> None:
    shape = ("--concurrency", "2", "--input-len", "16", "--output-len", "4", "--json", "-", "--no-record")
    proc = sparktop(sim_url, *shape)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    records = [decode(RequestRecord, r) for r in doc["requests"]]
    warm = [r for r in records if r.warmup]
    assert len(warm) == 2 and all(r.phase == "warm-up: closed pp=16 tg=4 c=2" and r.ok for r in warm)
    # the measured round started once the warm-up round had ended
    measured = [r for r in records if not r.warmup]
    assert len(measured) == 2 and min(r.start for r in measured) >= max(r.end or 0 for r in warm)
    assert doc["successful"] == 2 and doc["warmup"] == 2
    assert "(2 warm-up requests not counted)" in proc.stderr
    cold = sparktop(sim_url, *shape, "--no-warmup")
    assert cold.returncode == 0, cold.stderr
    doc = json.loads(cold.stdout)
    assert doc["warmup"] == 0 and len(doc["requests"]) == 2


def test_own_runs_print_the_definitions_of_their_figures(sim_url: str) -> None:
    proc = sparktop(sim_url, "--rate", "50", "--num-prompts", "2", "--input-len", "8", "--output-len", "2")
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.split("=" * 50)[-1]
    assert "Definitions (vllm bench serve's, except where said):" in tail
    assert "TTFT: start to the first chunk carrying text or reasoning" in tail


def test_unreachable_server_runs_to_the_end_and_exits_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = sparktop(f"http://127.0.0.1:{port}", "--concurrency", "2", "--input-len", "8", "--output-len", "2")
    assert proc.returncode == 1
    assert "Failed requests:                         2" in proc.stdout
    assert f"2 x connection refused by 127.0.0.1:{port}" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("http://127.0.0.1:1", "--workload", "nope"), "no workload called 'nope'"),
        (("127.0.0.1:8000", "--workload", "C"), "not an http(s) URL"),
        (("--workload", "C"), "no server URL"),
        (("http://127.0.0.1:1", "--workload", "I", "--tool", "vllm-bench"), "ShareGPT"),
    ],
)
def test_bad_input_is_one_line_with_a_hint(argv: tuple[str, ...], needle: str) -> None:
    proc = sparktop(*argv)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("sparktop: error: ") and needle in lines[0]
    assert lines[1].startswith("hint: ")


def test_interrupt_prints_what_ran_and_exits_130(sim_url: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sparktop",
            "load",
            sim_url,
            "--concurrency",
            "3",
            "--output-len",
            "100000",
            "--no-warmup",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # wait until the step has started
            if "c=3: start" in line:
                break
        deadline = time.monotonic() + 30.0  # then until the server is serving all three
        while running(sim_url) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:  # a failing run must not leave an endless load behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "sparktop load: closed loop (interrupted)" in out
    assert "3 x cancelled (the run was stopped)" in out
    # the three were in flight together when the run stopped, though none succeeded
    assert "Peak concurrent requests:                3" in out


def running(url: str) -> float:
    """The server's own count of requests running."""
    page = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in page.splitlines()
        if line.startswith("vllm:num_requests_running")
    )


def test_missing_api_key_variable_is_named() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_KEY_VAR"}
    proc = sparktop("http://127.0.0.1:1", "--workload", "smoke", "--api-key-env", "NO_SUCH_KEY_VAR", env=env)
    assert proc.returncode == 2 and "$NO_SUCH_KEY_VAR is not set" in proc.stderr


# --------------------------------------------------------------------------------------------------
# external tools


async def test_run_tool_follows_a_replayed_vllm_run_as_it_happens() -> None:
    phases: list[tuple[float, str]] = []
    progress = external.ToolProgress()
    seen_done: list[int] = []

    def line(_: str) -> None:
        seen_done.append(progress.done)

    t0 = time.monotonic()
    result = await external.run_tool(
        external.VLLM_BENCH,
        [sys.executable, str(REPLAY), str(FIXTURES / "vllm_bench_serve_J.log"), "--scale", "0.002"],
        on_line=line,
        on_phase=lambda p: phases.append((time.monotonic() - t0, p)),
        progress=progress,
    )
    assert result.returncode == 0
    assert [p for _, p in phases] == ["test prompt", "benchmark", "benchmark at 1.5 req/s"]
    # progress arrived redraw by redraw, not all at the end
    distinct = sorted(set(seen_done))
    assert len(distinct) > 100 and distinct[-1] == 300
    (parsed,) = external.parse_vllm_bench_output(result.output)
    assert parsed.summary.successful == 300 and parsed.max_concurrency == 25


async def test_run_tool_reports_a_missing_tool_and_a_failing_one() -> None:
    with pytest.raises(external.ExternalError, match="not installed"):
        await external.run_tool(external.VLLM_BENCH, ["/nonexistent/vllm", "bench"])
    result = await external.run_tool(
        external.LLAMA_BENCHY,
        [sys.executable, str(REPLAY), str(FIXTURES / "llama_benchy_C.log"), "--scale", "0", "--exit", "3"],
    )
    assert result.returncode == 3
    assert len(external.parse_llama_benchy_markdown(result.output)) == 3
    # a tool that never ends by itself is killed at the limit, however long it takes to start
    # (what it printed is followed as it comes: test_run_tool_follows_a_replayed_vllm_run_as_it_happens)
    slow = await external.run_tool(
        external.LLAMA_BENCHY,
        [sys.executable, "-c", "import time; time.sleep(3600)"],
        limit_s=0.5,
    )
    assert slow.returncode == -9


def stand_in(tmp_path: Path, name: str, log: str, result: str | None) -> Path:
    """An executable called ``name`` that replays a real captured run (the tool cannot be installed
    here) and, like ``--save-result``, writes its result file where the command line says."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    copy = ""
    if result is not None:
        copy = (
            "import shutil\n"
            "args = sys.argv[1:]\n"
            "if '--result-dir' in args:\n"
            "    folder = args[args.index('--result-dir') + 1]\n"
            "    dest = os.path.join(folder, args[args.index('--result-filename') + 1])\n"
            "    shutil.copyfile(" + repr(str(FIXTURES / result)) + ", dest)\n"
        )
    script.write_text(
        f"#!{sys.executable}\nimport os, subprocess, sys\n"
        "assert os.environ.get('OPENAI_API_KEY') in (None, 'sk-tool'), 'key not passed by environment'\n"
        f"subprocess.run([sys.executable, {str(REPLAY)!r}, {str(FIXTURES / log)!r}, '--scale', '0'],"
        " check=True)\n" + copy
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_load_with_vllm_bench_reads_its_detailed_result(tmp_path: Path) -> None:
    bin_dir = stand_in(tmp_path, "vllm", "vllm_bench_serve_H.log", "vllm_bench_serve_detailed.json")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SPARKTOP_API_KEY": "sk-tool"}
    out = tmp_path / "r.json"
    proc = sparktop(
        "http://127.0.0.1:8000", "--workload", "H", "--tool", "vllm-bench", "--json", str(out), env=env
    )
    assert proc.returncode == 1, proc.stderr  # the result file records one failed request
    assert "running: vllm bench serve --base-url http://127.0.0.1:8000" in proc.stderr
    assert "sk-tool" not in proc.stderr + proc.stdout
    doc = json.loads(out.read_text())
    assert doc["successful"] == 5 and doc["failed"] == 1 and len(doc["requests"]) == 6
    assert doc["requests"][0]["source"] == "vllm-bench-serve"


def test_load_with_llama_benchy_reads_its_table(tmp_path: Path) -> None:
    bin_dir = stand_in(tmp_path, "llama-benchy", "llama_benchy_C.log", None)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # the stand-in prints the table; the report file it was asked for is never written
    proc = sparktop(
        "http://127.0.0.1:8000",
        "--workload",
        "C",
        "--tool",
        "llama-benchy",
        "--model",
        "gemma-4-26b-a4b-bf16",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pp1024 tg1024 c=10" in proc.stdout
    assert "Decode tok/s per user:                   10.89" in proc.stdout
    assert "Definitions" not in proc.stdout  # the tool's figures, by the tool's definitions
