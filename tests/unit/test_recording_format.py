"""The delta encoding is lossless; a recording reads back exactly what was written."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from sparktop.recording.format import decode_delta, decode_keyframe, encode_delta, encode_keyframe
from sparktop.recording.reader import Recording
from tests.support.recordings import GOLDEN, golden_observations, record

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([0.0, 1.0, 2.0**53, -(2.0**53), 1e300]),
)


def bits(xs: list[float]) -> list[bytes]:
    return [struct.pack("<d", x) if x == x else b"nan" for x in xs]


@given(st.lists(st.tuples(values, values), max_size=300))
def test_delta_round_trip(pairs: list[tuple[float, float]]) -> None:
    previous = [a for a, _ in pairs]
    current = [b for _, b in pairs]
    decoded = decode_delta(encode_delta(current, previous), previous)
    # equal bit for bit, except that 0.0 and -0.0 compare equal (a metric never tells them apart)
    for a, b in zip(decoded, current, strict=True):
        assert (a == b) or (math.isnan(a) and math.isnan(b))


@given(st.lists(values, min_size=1, max_size=40), st.integers(-(2**31), 2**31 - 1))
@example([math.nan, 1.0], 3)
@example([math.inf], -1)
@example([0.5], 1)
def test_a_crafted_step_onto_any_value_never_raises(previous: list[float], step: int) -> None:
    """A damaged or crafted file may step a value that was never a whole number (NaN, inf, 0.5)."""
    n = len(previous)
    size = (n + 7) // 8
    marks = b"\x01" + bytes(size - 1)  # the first value changed, by a step
    decoded = decode_delta(marks + marks + struct.pack("<i", step), previous)
    assert len(decoded) == n and bits(decoded[1:]) == bits(previous[1:])


@given(st.lists(values, max_size=300))
def test_keyframe_round_trip(xs: list[float]) -> None:
    assert bits(decode_keyframe(encode_keyframe(xs), len(xs))) == bits(xs)


def test_unchanged_values_cost_only_bitmaps() -> None:
    previous = [float(i) for i in range(800)]
    assert len(encode_delta(previous, previous)) == 2 * 100


def test_recording_reads_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "r.sparktop"
    written = record(path, 150)
    with Recording.open(path) as rec:
        assert rec.complete
        assert rec.count == len(written)
        assert list(rec.observations()) == written
        # from the middle: decoding starts at a keyframe, rows before t_from are not yielded
        middle = written[len(written) // 2].t  # type: ignore[attr-defined]
        tail = list(rec.observations(t_from=middle))
        assert tail == [o for o in written if o.t >= middle]  # type: ignore[attr-defined]
        assert rec.target.profile == "gemma4-26b-a4b-nvfp4"
        assert rec.meta["settings"]["interval"] == 1.0
        assert rec.meta["gpu"]["devices"] == ["NVIDIA GB10"]


def test_golden_v1_file_still_reads() -> None:
    """A file made by the first release of the format (tests/fixtures/golden-v1.sparktop, made by
    ``record(path, 40)`` and checked by eye with sqlite3) keeps reading the same observations."""
    with Recording.open(GOLDEN) as rec:
        assert list(rec.observations()) == golden_observations()
