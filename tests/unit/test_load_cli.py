"""`sparktop load` options: what they build, and clear one-line refusals for what does not fit."""

from __future__ import annotations

import argparse
import math

import pytest

from sparktop.cli import CliError, build_parser
from sparktop.commands.load import build_workload, render_definitions, render_summary
from sparktop.model import RequestRecord, Unknown
from sparktop.workload.spec import ClosedLoop, OpenLoop
from sparktop.workload.summary import itl_summary, summarize, summary_dict


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["load", "http://127.0.0.1:8000", *argv])


def test_a_preset_and_its_quick_variant() -> None:
    w = build_workload(parse("--workload", "j", "--quick"))
    assert w.name == "J (quick)"
    assert build_workload(parse("--workload", "J", "--seed", "7")).seed == 7


def test_ad_hoc_closed_loop_with_a_concurrency_list() -> None:
    w = build_workload(
        parse(
            "--concurrency",
            "1",
            "4",
            "--input-len",
            "256",
            "--output-len",
            "32",
            "--depth",
            "2",
            "--requests",
            "20",
        )
    )
    stages = [s for s in w.stages if isinstance(s, ClosedLoop)]
    assert [(s.users, s.input_len, s.output_len, s.depth) for s in stages] == [
        (1, 256, 32, 2),
        (4, 256, 32, 2),
    ]
    # 20 requests per step, three turns per conversation: ceil(20 / 3) runs with one user,
    # ceil(20 / 12) with four
    assert [s.runs for s in stages] == [7, 2]
    assert stages[1].name == "closed pp=256 tg=32 turns=3 c=4"


def test_ad_hoc_open_loop() -> None:
    w = build_workload(
        parse(
            "--rate",
            "inf",
            "--num-prompts",
            "5",
            "--max-concurrency",
            "2",
            "--range-ratio",
            "0.5",
            "--burstiness",
            "0.7",
        )
    )
    (stage,) = w.stages
    assert isinstance(stage, OpenLoop)
    assert math.isinf(stage.rate) and stage.num_prompts == 5 and stage.max_concurrency == 2
    assert (stage.range_ratio, stage.burstiness, stage.input_len, stage.output_len) == (0.5, 0.7, 1024, 128)
    timed = build_workload(parse("--rate", "2", "--duration", "30"))
    assert timed.stages[0].requests is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--workload", "Z"), "no workload called 'Z'"),
        (("--workload", "C", "--rate", "1"), "choose either --workload or an ad-hoc shape"),
        (("--concurrency", "2", "--rate", "1"), "describe different workloads"),
        ((), "nothing to run"),
        (("--rate", "1"), "an open loop needs --num-prompts N or --duration S"),
        (
            ("--rate", "1", "--num-prompts", "3", "--duration", "3"),
            "either a number of prompts or a duration",
        ),
        (("--rate", "1", "--num-prompts", "3", "--depth", "2"), "--depth is for a closed loop"),
        (("--rate", "inf", "--duration", "3"), "finite rate"),
    ],
)
def test_what_does_not_fit_is_refused_with_a_reason(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(CliError) as info:
        build_workload(parse(*argv))
    assert message in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ("--concurrency", "0"),
        ("--rate", "-1"),
        ("--range-ratio", "1"),
        ("--timeout", "0"),
        ("--endpoint", "x"),
        ("--seed", "-1"),
    ],
)
def test_bad_values_are_usage_errors(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_summary_text_and_json_say_unknown_instead_of_zero() -> None:
    s = summarize([])
    text = render_summary("t", s)
    assert "Mean TTFT (ms):                          n/a" in text
    doc = summary_dict(s)
    assert doc["ttft_ms"] == {
        "mean": None,
        "median": None,
        "p90": None,
        "p95": None,
        "p99": None,
        "std": None,
    }
    assert doc["successful"] == 0 and doc["duration_s"] is None
    assert doc["unknown"]["duration_s"] == "no request was made"
    assert isinstance(s.duration_s, Unknown)


def test_an_ad_hoc_closed_loop_warms_up_unless_told_not_to() -> None:
    stages = build_workload(parse("--concurrency", "2", "8")).stages
    assert [(s.users, s.warmup) for s in stages if isinstance(s, ClosedLoop)] == [(2, True), (8, True)]
    cold = build_workload(parse("--concurrency", "2", "8", "--no-warmup")).stages
    assert not any(isinstance(s, ClosedLoop) and s.warmup for s in cold)
    # a preset's warm-up rounds go too
    assert any(
        isinstance(s, ClosedLoop) and s.warmup for s in build_workload(parse("--workload", "C")).stages
    )
    preset = build_workload(parse("--workload", "C", "--no-warmup"))
    assert preset.stages and not any(isinstance(s, ClosedLoop) and s.warmup for s in preset.stages)


def test_the_summary_says_why_a_figure_is_unknown_and_groups_failures() -> None:
    failed = [
        RequestRecord(
            id=i,
            phase="p",
            start=100.0,
            first_token=None,
            end=100.5,
            prompt_tokens=8,
            output_tokens=0,
            itl=itl_summary(()),
            ok=False,
            status=None,
            error=f"connection reset mid-stream after {3 + i} chunks",
            finish_reason=None,
        )
        for i in range(4)
    ]
    text = render_summary("t", summarize(failed))
    assert "Failed requests by kind" in text
    assert "     4 x connection reset mid-stream after 3 to 6 chunks" in text
    assert "Peak concurrent requests:                4" in text
    assert "n/a: no successful request" in text.splitlines()[-5:]


def test_the_definitions_name_where_sparktop_and_vllm_bench_serve_differ() -> None:
    text = render_definitions()
    assert "TTFT: start to the first chunk carrying text or reasoning" in text
    assert "role-only" in text and "vllm bench serve" in text
    assert "Peak concurrent requests: the most in flight at once, failed and cancelled ones included" in text
    assert all(len(line) <= 100 for line in text.splitlines())
