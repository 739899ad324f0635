"""A recording cut short at any byte: what it still holds is read, exactly, up to where it ends."""

from __future__ import annotations

from pathlib import Path

from sparktop.recording.format import RecordingError
from sparktop.recording.reader import Recording
from tests.support.recordings import record


def test_a_cut_at_any_byte_reads_an_exact_prefix(tmp_path: Path) -> None:
    whole = tmp_path / "whole.sparktop"
    recorded = record(whole, 120)
    data = whole.read_bytes()
    readable: list[int] = []
    for cut in range(len(data) // 2, len(data), 997):  # page boundaries and every offset within pages
        path = tmp_path / f"cut-{cut}.sparktop"
        path.write_bytes(data[:cut])
        got: list[object] = []
        try:
            with Recording.open(path) as rec:
                assert rec.truncated is not None and "cut short" in rec.truncated
                try:
                    got.extend(rec.observations())
                except RecordingError as exc:
                    assert "cut short" in str(exc) and "\n" not in str(exc)
        except RecordingError as exc:
            assert "\n" not in str(exc)
        assert got == recorded[: len(got)], f"cut at {cut}: not what was recorded"
        readable.append(len(got))
    # past its first half, a cut file always gives up something, and more the later the cut
    assert all(n > 0 for n in readable) and readable == sorted(readable)
    assert readable[-1] < len(recorded)
