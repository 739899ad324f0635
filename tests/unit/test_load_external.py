"""The external tools' parsers on their real output, their progress followers and command lines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from sparktop.model import Unknown
from sparktop.workload import external
from sparktop.workload.presets import get_preset
from sparktop.workload.summary import summarize

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "load"


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def data(name: str) -> object:
    return json.loads(text(name))


# --------------------------------------------------------------------------------------------------
# vllm bench serve


def test_vllm_result_block_of_run_h() -> None:
    (result,) = external.parse_vllm_bench_output(text("vllm_bench_serve_H.log"))
    s = result.summary
    assert (s.successful, s.failed) == (200, 0)
    assert s.duration_s == 750.09
    assert (s.total_input_tokens, s.total_output_tokens) == (815399, 97092)
    assert s.request_throughput == 0.27
    assert s.output_throughput == 129.44
    assert s.peak_output_throughput == 234.0
    assert s.peak_concurrency == 39.0
    assert s.total_token_throughput == 1216.5
    assert (s.ttft_ms.mean, s.ttft_ms.median, s.ttft_ms.p90, s.ttft_ms.p95, s.ttft_ms.p99) == (
        1577.96,
        1434.65,
        2573.07,
        3077.46,
        3914.26,
    )
    assert (s.tpot_ms.mean, s.tpot_ms.p99) == (191.17, 231.23)
    assert (s.itl_ms.median, s.itl_ms.p99) == (156.4, 1347.57)
    assert (s.e2el_ms.mean, s.e2el_ms.p99) == (92922.93, 187416.14)
    assert result.rate == 0.3 and result.max_concurrency is None
    assert isinstance(s.decode_tps_per_user, Unknown)  # vllm bench serve does not report it
    assert s.source == "vllm-bench-serve"


def test_vllm_result_block_with_a_concurrency_cap() -> None:
    (result,) = external.parse_vllm_bench_output(text("vllm_bench_serve_J.log"))
    assert result.max_concurrency == 25
    assert result.rate == 1.5
    assert result.summary.successful == 300
    assert result.summary.ttft_ms.p99 == 7778.11


def test_vllm_rate_sweep_gives_one_result_per_run() -> None:
    results = external.parse_vllm_bench_output(text("vllm_bench_serve_rate_sweep.log"))
    assert [r.rate for r in results] == [0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
    assert all(isinstance(r.summary.successful, int) and r.summary.successful > 0 for r in results)


def test_vllm_result_file_matches_its_stdout() -> None:
    summary, records = external.parse_vllm_bench_json(data("vllm_bench_serve_H.json"))
    (printed,) = external.parse_vllm_bench_output(text("vllm_bench_serve_H.log"))
    assert records == []  # not a detailed file
    assert summary.successful == printed.summary.successful
    for key in ("mean", "median", "p90", "p95", "p99"):
        assert getattr(summary.ttft_ms, key) == pytest.approx(getattr(printed.summary.ttft_ms, key), abs=0.01)
    assert summary.ttft_ms.std == pytest.approx(782.125, abs=0.001)
    assert summary.peak_concurrency == 39


def test_detailed_result_file_becomes_records_that_resummarize_to_its_figures() -> None:
    raw = data("vllm_bench_serve_detailed.json")
    assert isinstance(raw, dict)
    summary, records = external.parse_vllm_bench_json(raw, t0=1000.0)
    assert len(records) == 6
    failed = [r for r in records if not r.ok]
    assert len(failed) == 1 and failed[0].error is not None and "ServerDisconnectedError" in failed[0].error
    assert all(r.source == "vllm-bench-serve" for r in records)
    assert min(r.start for r in records) == 1000.0
    # sparktop's own maths on the tool's records gives the tool's figures back
    ours = summarize(records)
    assert ours.successful == summary.successful == 5
    assert ours.failed == 1
    assert ours.ttft_ms.mean == pytest.approx(raw["mean_ttft_ms"])
    assert ours.ttft_ms.p99 == pytest.approx(raw["p99_ttft_ms"])
    assert ours.total_output_tokens == raw["total_output_tokens"]


def test_vllm_parsers_refuse_what_they_do_not_know() -> None:
    assert external.parse_vllm_bench_output("no result here\n") == []
    cut = "============ Serving Benchmark Result ============\nSuccessful requests: "
    assert external.parse_vllm_bench_output(cut) == []
    with pytest.raises(external.ExternalError):
        external.parse_vllm_bench_json([1, 2])
    with pytest.raises(external.ExternalError):
        external.parse_vllm_bench_json({"hello": 1})
    with pytest.raises(external.ExternalError, match="inconsistent"):
        external.parse_vllm_bench_json({"completed": 1, "ttfts": [0.1], "itls": [], "latencies": [1.0]})


# --------------------------------------------------------------------------------------------------
# llama-benchy


def test_llama_benchy_table_of_run_c() -> None:
    steps = external.parse_llama_benchy_markdown(text("llama_benchy_C.log"))
    assert [(s.prompt, s.output, s.depth, s.concurrency) for s in steps] == [
        (1024, 1024, 0, 1),
        (1024, 1024, 0, 5),
        (1024, 1024, 0, 10),
    ]
    c10 = steps[2]
    assert c10.tg_total is not None and (c10.tg_total.mean, c10.tg_total.std) == (84.56, 1.7)
    assert c10.tg_req is not None and c10.tg_req.mean == 10.89
    assert c10.pp_total is not None and c10.pp_total.mean == 5077.55
    assert c10.e2e_ttft_ms is not None and c10.e2e_ttft_ms.mean == 1472.77
    assert c10.peak_total is not None and c10.peak_total.mean == 123.33
    s = c10.summary()
    assert s.decode_tps_per_user == 10.89
    assert s.decode_tps_total == 84.56
    assert s.prefill_tps_total == 5077.55
    assert s.ttft_ms.mean == 1472.77 and s.ttft_ms.std == 545.8
    assert isinstance(s.ttft_ms.p99, Unknown)  # the table has mean ± std only
    assert isinstance(s.successful, Unknown)


def test_llama_benchy_depth_and_many_prompt_sizes() -> None:
    e = external.parse_llama_benchy_markdown(text("llama_benchy_E.log"))
    assert [(s.prompt, s.output, s.depth, s.concurrency) for s in e] == [
        (2048, 512, 4, c) for c in (1, 5, 10)
    ]
    assert e[0].name == "pp2048 tg512 @ d4 c=1"
    a = external.parse_llama_benchy_markdown(text("llama_benchy_A.log"))
    assert [(s.prompt, s.concurrency) for s in a] == [
        (p, c) for p in (4096, 8192, 16384, 25000) for c in (1, 5, 10)
    ]
    assert a[-1].e2e_ttft_ms is not None and a[-1].e2e_ttft_ms.mean == 41167.72


def test_llama_benchy_single_user_table() -> None:
    steps = external.parse_llama_benchy_markdown(text("llama_benchy_single_user.md"))
    assert [(s.prompt, s.output, s.depth, s.concurrency) for s in steps] == [
        (2048, 32, d, 1) for d in (0, 4096, 8192, 16384, 32768)
    ]
    first = steps[0]
    # one user: the only t/s column is per user too
    assert first.tg_req is not None and first.tg_req.mean == 73.18
    assert first.summary().decode_tps_per_user == 73.18


def test_llama_benchy_json_report_keeps_values_for_percentiles() -> None:
    steps = external.parse_llama_benchy_json(data("llama_benchy_report.json"))
    assert steps and all(s.model == "test" for s in steps)
    first = steps[0]
    assert (first.prompt, first.output, first.concurrency) == (2048, 32, 1)
    assert first.e2e_ttft_ms is not None and len(first.e2e_ttft_ms.values) == 2
    s = first.summary()
    assert isinstance(s.ttft_ms.p99, float)
    assert min(first.e2e_ttft_ms.values) <= s.ttft_ms.p99 <= max(first.e2e_ttft_ms.values)
    with pytest.raises(external.ExternalError):
        external.parse_llama_benchy_json({"benchmarks": "no"})


def test_table_noise_is_ignored() -> None:
    assert external.parse_llama_benchy_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n") == []
    garbage = "| model | test | t/s |\n|:--|--:|--:|\n| m | pp12 | not a number |\n"
    (step,) = external.parse_llama_benchy_markdown(garbage)
    assert step.pp_total is None


# --------------------------------------------------------------------------------------------------
# progress


def follow(tool: str, name: str) -> external.ToolProgress:
    progress = external.ToolProgress()
    for line in text(name).replace("\r", "\n").split("\n"):
        external.follow_line(tool, line, progress)
    return progress


def test_vllm_progress_follows_tqdm_to_the_end() -> None:
    progress = external.ToolProgress()
    lines = text("vllm_bench_serve_J.log").split("\n")
    seen: list[tuple[int, int | None]] = []
    for line in lines:
        external.follow_line(external.VLLM_BENCH, line, progress)
        seen.append((progress.done, progress.total))
    assert progress.phases[:2] == ["test prompt", "benchmark"]
    assert progress.phases[-1] == "benchmark at 1.5 req/s"
    assert (progress.done, progress.total) == (300, 300)


def test_llama_benchy_progress_names_each_step() -> None:
    progress = follow(external.LLAMA_BENCHY, "llama_benchy_E.log")
    assert progress.phases == [f"pp2048 tg512 @ d4 c={c}" for c in (1, 5, 10)]
    assert progress.total == 3


# --------------------------------------------------------------------------------------------------
# command lines


def test_vllm_bench_command_for_run_j() -> None:
    cmd = external.vllm_bench_command(
        get_preset("J"), "http://127.0.0.1:8000/v1", model="gemma", result_dir="/tmp/x", result_file="r.json"
    )
    assert cmd[:3] == ["vllm", "bench", "serve"]
    args = dict(itertools.pairwise(cmd))
    assert args["--base-url"] == "http://127.0.0.1:8000"
    assert args["--backend"] == "openai-chat"
    assert args["--num-prompts"] == "300"
    assert args["--request-rate"] == "1.5"
    assert args["--burstiness"] == "1"
    assert args["--max-concurrency"] == "25"
    assert args["--random-input-len"] == "4000" and args["--random-range-ratio"] == "0.9"
    assert args["--seed"] == "42"
    assert "--save-detailed" in cmd and args["--result-filename"] == "r.json"


def test_docker_exec_passes_the_key_by_name_only() -> None:
    inner = external.vllm_bench_command(
        get_preset("H"), "http://127.0.0.1:8000", model=None, endpoint="completions"
    )
    cmd = external.docker_exec("vllm-bench", inner, ["OPENAI_API_KEY"])
    assert cmd[:5] == ["docker", "exec", "-e", "OPENAI_API_KEY", "vllm-bench"]
    assert cmd[5:8] == ["vllm", "bench", "serve"]
    assert "--model" not in cmd and "/v1/completions" in cmd
    with pytest.raises(external.ExternalError):
        external.docker_exec("--privileged", inner)


def test_llama_benchy_command_for_run_a_and_the_key_never_shown() -> None:
    cmd = external.llama_benchy_command(get_preset("A"), "http://h:8000", model="gemma", api_key="sk-secret")
    shown = external.shown(cmd)
    assert "sk-secret" not in shown and "--api-key '***'" in shown
    i = cmd.index("--pp")
    assert cmd[i + 1 : i + 5] == ["4096", "8192", "16384", "25000"]
    assert cmd[cmd.index("--concurrency") + 1 :][:3] == ["1", "5", "10"]
    assert cmd[cmd.index("--runs") + 1] == "3"
    assert cmd[cmd.index("--base-url") + 1] == "http://h:8000/v1"
    assert "--no-warmup" not in cmd


def test_shapes_the_tools_cannot_run_are_refused() -> None:
    with pytest.raises(external.ExternalError, match="open-loop"):
        external.vllm_bench_command(get_preset("C"), "http://h:1", model=None)
    with pytest.raises(external.ExternalError, match="ShareGPT"):
        external.vllm_bench_command(get_preset("I"), "http://h:1", model=None)
    with pytest.raises(external.ExternalError, match="closed-loop"):
        external.llama_benchy_command(get_preset("smoke"), "http://h:1", model="m")


def test_a_local_tokenizer_reaches_both_tools_and_the_coherence_check_can_be_skipped() -> None:
    cmd = external.llama_benchy_command(
        get_preset("A"), "http://h:8000", model="m", tokenizer="/models/tok", skip_coherence=True
    )
    assert cmd[cmd.index("--tokenizer") + 1] == "/models/tok" and "--skip-coherence" in cmd
    plain = external.llama_benchy_command(get_preset("A"), "http://h:8000", model="m")
    assert "--tokenizer" not in plain and "--skip-coherence" not in plain
    bench = external.vllm_bench_command(get_preset("H"), "http://h:8000", model=None, tokenizer="/models/tok")
    assert bench[bench.index("--tokenizer") + 1] == "/models/tok"
    assert "--tokenizer" not in external.vllm_bench_command(get_preset("H"), "http://h:8000", model=None)
