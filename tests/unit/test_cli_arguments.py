"""Option values are checked as they are parsed: a bad one is a one-line error naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktop.cli import build_parser, main
from tests.support.recordings import record


def refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The parser refuses ``argv`` as bad input (exit 2) with ``message`` on stderr."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--port", "70000"], "argument --port: must be 0..65535: '70000'"),
        (["sim", "--port", "http"], "argument --port: not a port number: 'http'"),
        (["sim", "--speed", "0"], "argument --speed: must be > 0: '0'"),
        (["sim", "--crash-after", "-1"], "argument --crash-after: must be >= 0: '-1'"),
        (["sim", "--max-num-seqs", "0"], "argument --max-num-seqs: must be >= 1: '0'"),
        (["sim", "--max-num-seqs", "2.5"], "argument --max-num-seqs: not a whole number: '2.5'"),
        (["gpu", "--gpu-memory-utilization", "1.2"], "must be in (0, 1], e.g. 0.85: '1.2'"),
        (["gpu", "--gpu-memory-utilization", "most"], "not a number: 'most' (e.g. 0.85)"),
        (["load", "u", "--rate", "-3"], "argument --rate: must be > 0: '-3'"),
        (["load", "u", "--range-ratio", "1"], "argument --range-ratio: must be in [0, 1), e.g. 0.9: '1'"),
        (["load", "u", "--depth", "-1"], "argument --depth: must be >= 0: '-1'"),
    ],
)
def test_bad_values_name_the_option_and_the_bound(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(argv, message, capsys)


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["sim", "--port", "0"], "port", 0),
        (["sim", "--crash-after", "0"], "crash_after", 0.0),
        (["gpu", "--gpu-memory-utilization", "1"], "gpu_memory_utilization", 1.0),
        (["load", "u", "--rate", "inf"], "rate", float("inf")),
        (["load", "u", "--range-ratio", "0"], "range_ratio", 0.0),
    ],
)
def test_values_at_the_bounds_are_taken(argv: list[str], field: str, value: float) -> None:
    assert getattr(build_parser().parse_args(argv), field) == value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # endless or meaningless waits
        (["watch", "u", "--interval", "inf"], "argument --interval: must be a finite number: 'inf'"),
        (["watch", "u", "--interval", "nan"], "argument --interval: must be a finite number: 'nan'"),
        (["watch", "u", "--interval", "0"], "argument --interval: must be from 0.05 to 3600 seconds: '0'"),
        (["watch", "u", "--interval", "-1"], "argument --interval: must be from 0.05 to 3600 seconds: '-1'"),
        (["watch", "u", "--interval", "1e9"], "argument --interval: must be from 0.05 to 3600 seconds"),
        (["watch", "u", "--window", "inf"], "argument --window: must be a finite number: 'inf'"),
        (["watch", "u", "--window", "1e12"], "argument --window: must be at most 86400 s (a day): '1e12'"),
        (["watch", "u", "--count", "0"], "argument --count: must be >= 1: '0'"),
        (["watch", "u", "--count", "-3"], "argument --count: must be >= 1: '-3'"),
        (["demo", "--interval", "inf"], "argument --interval: must be a finite number: 'inf'"),
        (["demo", "--duration", "inf"], "argument --duration: must be a finite number: 'inf'"),
        (["demo", "--duration", "-5"], "argument --duration: must be > 0"),
        (["demo", "--speed", "nan"], "argument --speed: must be a finite number: 'nan'"),
        (["demo", "--window", "0"], "argument --window: must be > 0"),
        (["snapshot", "u", "--timeout", "inf"], "argument --timeout: must be a finite number: 'inf'"),
        (["replay", "f", "--speed", "inf"], "argument --speed: must be a finite number: 'inf'"),
        (["replay", "f", "--speed", "1000"], "argument --speed: must be from 0.25 to 64: '1000'"),
        (["replay", "f", "--at", "999%"], "argument --at: must be from 0% to 100% of the recording: '999%'"),
        (["replay", "f", "--at=-5%"], "argument --at: must be from 0% to 100% of the recording: '-5%'"),
        (["replay", "f", "--at", "half%"], "argument --at: not a percentage: 'half%' (e.g. 50%)"),
        (["replay", "f", "--at", "inf%"], "argument --at: must be from 0% to 100% of the recording: 'inf%'"),
        (["load", "u", "--timeout", "inf"], "argument --timeout: must be a finite number: 'inf'"),
        (["load", "u", "--deadline", "0"], "argument --deadline: must be > 0"),
        (["load", "u", "--deadline", "nan"], "argument --deadline: must be a finite number: 'nan'"),
        (["load", "u", "--rate", "nan"], "argument --rate: must be a finite number: 'nan'"),
        (["load", "u", "--duration", "inf"], "argument --duration: must be a finite number: 'inf'"),
        (["load", "u", "--burstiness", "inf"], "argument --burstiness: must be a finite number: 'inf'"),
        (
            ["load", "u", "--output-len", "1000000000000"],
            "argument --output-len: must be at most 1e+07 tokens",
        ),
        (["load", "u", "--input-len", "0"], "argument --input-len: must be >= 1: '0'"),
        (["load", "u", "--depth", "1000000"], "argument --depth: must be at most 10000 turns: '1000000'"),
        (["sim", "--speed", "inf"], "argument --speed: must be a finite number: 'inf'"),
        (["sim", "--crash-after", "inf"], "argument --crash-after: must be a finite number: 'inf'"),
        (["sim", "--metrics-delay", "nan"], "argument --metrics-delay: must be a finite number: 'nan'"),
        (
            ["sim", "--metrics-status", "42"],
            "argument --metrics-status: must be an HTTP status, 100..599: '42'",
        ),
        (["sim", "--generate-status", "-1"], "argument --generate-status: must be an HTTP status, 100..599"),
        (["sim", "--gpu-memory-utilization", "5"], "argument --gpu-memory-utilization: must be in (0, 1]"),
        (["smoke", "u", "--tolerance", "-0.1"], "argument --tolerance: must be >= 0: '-0.1'"),
        (["smoke", "u", "--tolerance", "nan"], "argument --tolerance: must be a finite number: 'nan'"),
        (
            ["gpu", "--gpu-memory-utilization", "nan"],
            "argument --gpu-memory-utilization: must be a finite number",
        ),
    ],
)
def test_endless_meaningless_and_absurd_values_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(argv, message, capsys)


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["watch", "u", "--interval", "0.05"], "interval", 0.05),
        (["watch", "u", "--interval", "3600"], "interval", 3600.0),
        (["replay", "f", "--at", "100%"], "at", "100%"),
        (["replay", "f", "--at", "0%"], "at", "0%"),
        (["replay", "f", "--at", "+5m"], "at", "+5m"),
        (["replay", "f", "--speed", "64"], "speed", 64.0),
        (["load", "u", "--deadline", "30"], "deadline", 30.0),
        (["load", "u"], "deadline", None),
        (["sim", "--metrics-status", "500"], "metrics_status", 500),
    ],
)
def test_sensible_values_at_the_new_bounds_are_taken(argv: list[str], field: str, value: object) -> None:
    assert getattr(build_parser().parse_args(argv), field) == value


# --------------------------------------------------------------------------------------------------
# --record PATH: a new file in a folder that exists


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("verb", [["watch", "http://127.0.0.1:1"], ["load", "http://127.0.0.1:1"], ["demo"]])
def test_record_into_a_missing_folder_is_refused_and_nothing_is_made(
    verb: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "run.sparktop"
    code, err = _run([*verb, "--record", str(target)], capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert f"argument --record: the folder {target.parent} does not exist" in line
    assert "hint: create it first" in line
    assert not (tmp_path / "no").exists()


def test_record_onto_an_existing_file_or_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.sparktop"
    old.write_bytes(b"keep me")
    code, err = _run(["watch", "http://127.0.0.1:1", "--record", str(old)], capsys)
    assert code == 2 and "already exists: recordings are never overwritten" in err
    assert old.read_bytes() == b"keep me"
    code, err = _run(["watch", "http://127.0.0.1:1", "--record", str(tmp_path)], capsys)
    assert code == 2 and "is a folder: give a file name in it" in err
    file_as_folder = old / "run.sparktop"
    code, err = _run(["watch", "http://127.0.0.1:1", "--record", str(file_as_folder)], capsys)
    assert code == 2 and f"the folder {old} is not a folder" in err


def test_record_into_a_folder_that_exists_and_record_alone_are_taken(tmp_path: Path) -> None:
    path = tmp_path / "run.sparktop"
    assert build_parser().parse_args(["watch", "u", "--record", str(path)]).record == str(path)
    assert build_parser().parse_args(["watch", "u", "--record"]).record == ""


# --------------------------------------------------------------------------------------------------
# replay --at: within the recording


@pytest.mark.parametrize("when", ["+99h", "-5m", "100.5%"])
def test_replay_at_a_moment_outside_the_recording_is_refused(
    when: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.sparktop"
    record(path, 30)
    code, err = _run(["replay", str(path), f"--at={when}"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    if when.endswith("%"):
        assert "must be from 0% to 100% of the recording" in err
    else:
        assert lines[0].startswith(f"sparktop: error: --at {when!r}: not within the recording (")
        assert lines[1].startswith("hint: give a time inside it, +0s to +")
