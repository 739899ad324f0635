"""sparktop smoke's parts: SLO names and limits, judging, baselines, the verdict and its JUnit file."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from sparktop.model import Num, Unknown
from sparktop.smoke import baseline
from sparktop.smoke.checks import Check, render_table, to_junit, verdict
from sparktop.smoke.slo import SLOS, Objective, Range, SloError, judge, parse_option, resolve, show


def objective(name: str, limit: float) -> Objective:
    return Objective(SLOS[name], limit, "--slo")


# names and limits


def test_an_option_parses_and_an_unknown_name_lists_the_known_ones() -> None:
    assert parse_option("ttft_p99_ms=2500") == ("ttft_p99_ms", 2500.0)
    assert parse_option(" decode_per_user_min = 12.5") == ("decode_per_user_min", 12.5)
    with pytest.raises(SloError) as bad:
        parse_option("ttft_p95_ms=100")
    assert "unknown SLO 'ttft_p95_ms'" in str(bad.value)
    assert all(name in str(bad.value) for name in SLOS)
    for text, words in (
        ("ttft_p99_ms", "NAME=LIMIT"),
        ("ttft_p99_ms=fast", "must be a number"),
        ("itl_p99_ms=-1", ">= 0"),
    ):
        with pytest.raises(SloError, match=words):
            parse_option(text)


def test_options_win_over_the_profile_which_wins_over_defaults() -> None:
    chosen = {
        o.spec.name: (o.limit, o.source)
        for o in resolve({"ttft_p99_ms": 2000, "itl_p99_ms": 150}, [("itl_p99_ms", 120.0)])
    }
    assert chosen["ttft_p99_ms"] == (2000.0, "profile")
    assert chosen["itl_p99_ms"] == (120.0, "--slo")
    assert chosen["tpot_p99_ms"] == (SLOS["tpot_p99_ms"].default, "default")
    assert "e2e_p99_ms" not in chosen and "startup_max_s" not in chosen  # no default: only when asked
    assert resolve(defaults={"startup_max_s": 600})[-1].limit == 600
    with pytest.raises(SloError):
        resolve({"no_such": 1})


# judging


def test_exact_figures_pass_or_fail_by_bound() -> None:
    assert judge(objective("ttft_p99_ms", 3000), 2999.0)[0] == "pass"
    assert judge(objective("ttft_p99_ms", 3000), 3000.0)[0] == "pass"
    status, reason = judge(objective("ttft_p99_ms", 3000), 3500.0)
    assert status == "fail" and "3500 ms above the limit of 3000 ms" in reason
    assert judge(objective("decode_per_user_min", 8), 7.9)[0] == "fail"
    assert judge(objective("decode_per_user_min", 8), 8.0)[0] == "pass"
    status, reason = judge(objective("error_rate_max", 0.01), 0.25)
    assert status == "fail" and "25%" in reason and "1%" in reason  # a fraction, shown in percent


def test_a_bucket_is_judged_as_the_range_it_is() -> None:
    slo = objective("itl_p99_ms", 300)
    assert judge(slo, Range(180.0, 100.0, 250.0))[0] == "pass"  # all of it within
    assert judge(slo, Range(400.0, 310.0, 500.0))[0] == "fail"  # none of it
    status, reason = judge(slo, Range(280.0, 250.0, 500.0))  # the estimate passes, the bucket cannot say
    assert status == "uncertain" and "250–500 ms" in reason
    assert show(SLOS["itl_p99_ms"], Range(1.0, 80_000.0, float("inf"))) == "> 80000 ms"


def test_an_unknown_figure_is_skipped_with_its_reason() -> None:
    status, reason = judge(objective("gpu_temp_max_c", 85), Unknown("no GPU readings (no-library)"))
    assert status == "skip" and "no-library" in reason


# baseline


def test_a_regression_beyond_the_tolerance_fails_and_says_by_how_much() -> None:
    then: dict[str, Num] = {
        "ttft_p99_ms": 200.0,
        "itl_p99_ms": 50.0,
        "decode_per_user_min": 30.0,
        "tpot_p99_ms": 40.0,
    }
    now: dict[str, Num] = {
        "ttft_p99_ms": 250.0,
        "itl_p99_ms": 52.0,
        "decode_per_user_min": 25.0,
        "tpot_p99_ms": Unknown("x"),
    }
    checks = {c.name: c for c in baseline.compare(now, then, tolerance=0.10)}
    ttft = checks["TTFT p99 vs baseline"]
    assert ttft.status == "fail" and "25.0% higher" in ttft.reason and ttft.limit == pytest.approx(220.0)
    assert checks["ITL p99 vs baseline"].status == "pass"  # 4% worse: within 10%
    decode = checks["decode per user at c=1 vs baseline"]
    assert decode.status == "fail" and "16.7% lower" in decode.reason  # a speed regresses downwards
    assert checks["TPOT p99 vs baseline"].status == "skip"
    assert (
        checks["E2E p99 vs baseline"].status == "skip" and "baseline" in checks["E2E p99 vs baseline"].reason
    )
    # faster is never a regression, however large
    better = baseline.compare({"ttft_p99_ms": 20.0}, {"ttft_p99_ms": 200.0}, 0.1, names=["ttft_p99_ms"])
    assert better[0].status == "pass"


def test_baselines_of_another_workload_are_refused() -> None:
    stages = [{"name": "smoke c=1"}]
    assert (
        baseline.same_workload(
            {"workload": {"name": "smoke", "stages": stages}},
            {"workload": {"name": "smoke", "stages": stages}},
        ).status
        == "pass"
    )
    other = baseline.same_workload(
        {"workload": {"name": "smoke", "stages": stages}}, {"workload": {"name": "C", "stages": []}}
    )
    assert other.status == "fail" and "not comparable" in other.reason
    assert baseline.same_workload({"workload": {}}, {}).status == "fail"


# the verdict and how it is written


CHECKS = [
    Check("launch", "server healthy", "pass", "healthy", "healthy", "", "ok", 0.1),
    Check(
        "api",
        "completion",
        "fail",
        None,
        "well-formed",
        "",
        "POST /v1/completions: HTTP 500 \x1b[31mboom",
        0.2,
    ),
    Check("slo", "gpu_temp_max_c", "skip", None, 85.0, "°C", "not measured: no GPU readings"),
    Check("slo", "ttft_p99_ms", "pass", 120.0, 3000.0, "ms", "120 ms is at most 3000 ms"),
]


def test_the_verdict_fails_on_any_failure_and_never_passes_on_nothing() -> None:
    assert verdict(CHECKS) == "fail"
    assert verdict([c for c in CHECKS if c.status != "fail"]) == "pass"  # a skip is not a failure
    assert verdict([]) == "fail"


def test_the_table_has_a_row_per_check_and_no_control_characters() -> None:
    table = render_table(CHECKS, "sparktop smoke x")
    assert "\x1b" not in table
    assert "verdict: FAIL (2 passed, 1 failed, 1 skipped)" in table
    row = next(line for line in table.splitlines() if "ttft_p99_ms" in line)
    assert row.split()[:5] == ["slo", "ttft_p99_ms", "pass", "120", "ms"]


def test_junit_is_read_by_a_junit_reader(tmp_path: Path) -> None:
    path = tmp_path / "smoke.xml"
    path.write_bytes(to_junit(CHECKS))
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [s.name for s in suites] == [
        "sparktop smoke: launch",
        "sparktop smoke: api",
        "sparktop smoke: slo",
    ]
    cases = {case.name: case for suite in suites for case in suite}
    assert set(cases) == {c.name for c in CHECKS}
    failed = cases["completion"].result
    assert len(failed) == 1 and isinstance(failed[0], Failure)
    assert "HTTP 500" in (failed[0].message or "") and "\x1b" not in (failed[0].message or "")
    skipped = cases["gpu_temp_max_c"].result
    assert len(skipped) == 1 and isinstance(skipped[0], Skipped) and "no GPU" in (skipped[0].message or "")
    assert cases["ttft_p99_ms"].is_passed and cases["ttft_p99_ms"].classname == "smoke.slo"
    assert sum(s.tests for s in suites) == 4 and sum(s.failures for s in suites) == 1
    assert sum(s.skipped for s in suites) == 1
