"""Option values are checked as they are parsed: a bad one is a one-line error naming the option."""

from __future__ import annotations

import pytest

from sparktop.cli import build_parser


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
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


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
