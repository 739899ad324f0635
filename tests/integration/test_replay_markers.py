"""Markers added in a replay: kept next to the recording, shown by the next replay, listed by report."""

from __future__ import annotations

import errno
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from sparktop.commands import replay as replay_command
from sparktop.config import Settings
from sparktop.model import Event
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.report import read_report, render_json, render_table
from sparktop.tui.app import make_app
from tests.support.recordings import record


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "run.sparktop"
    record(path, 40)  # holds a marker added live ("halfway")
    return path


def sidecar(recording: Path) -> Path:
    """Where a replay keeps its markers: ``FILE.markers.json`` next to the recording (the documented name)."""
    return recording.with_name(recording.name + ".markers.json")


def read_markers(recording: Path) -> tuple[list[Any], str | None]:
    from sparktop.recording.markers import read_markers as read

    return read(recording)


def markers_in(feed: ReplayFeed) -> list[Event]:
    return [e for e in feed.frame().events if e.kind == "marker"]


async def test_a_marker_added_in_a_replay_outlives_the_replay(recording: Path) -> None:
    with Recording.open(recording) as rec:
        feed = ReplayFeed(rec, playing=False, start_at=rec.start + 12)
        app = make_app(Settings(), feed)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("m")
            await pilot.pause()
            await pilot.press(*"queue grows", "enter")
            await pilot.pause()
            await pilot.press("q")
            await pilot.pause()
        at = rec.start + 12
    assert sidecar(recording).exists()
    out = io.StringIO()
    replay_command.say_markers(feed, out)
    assert f"markers saved to {sidecar(recording)}" in out.getvalue()

    with Recording.open(recording) as rec:  # the next replay shows it, and steps to it
        again = ReplayFeed(rec, playing=False)
        again.to_end()
        notes = {e.text: e for e in markers_in(again)}
        assert "queue grows" in notes and "halfway" in notes
        assert notes["queue grows"].t == pytest.approx(at)
        again.to_start()
        while again.position < at - 1e-6:
            before = again.position
            again.next_mark()
            assert again.position > before
        assert again.position == pytest.approx(at)
        assert "queue grows" in {e.text for e in markers_in(again)}


def test_report_lists_live_and_replay_markers(recording: Path) -> None:
    with Recording.open(recording) as rec:
        feed = ReplayFeed(rec, playing=False, start_at=rec.start + 30)
        feed.mark("after the burst")
    report = read_report(recording)
    assert [(m.note, m.added) for m in report.markers] == [("halfway", "live"), ("after the burst", "replay")]
    table = render_table([report])
    assert "marker " in table and "after the burst (added in a replay)" in table and ": halfway" in table
    doc = json.loads(render_json([report]))
    listed = doc["recordings"][0]["markers"]
    assert [m["note"] for m in listed] == ["halfway", "after the burst"]
    assert listed[1]["added"] == "replay" and listed[1]["offset_s"] is not None


def test_markers_that_cannot_be_saved_say_why_and_last_the_replay(recording: Path) -> None:
    sidecar(recording).mkdir()  # where the file would go, something that cannot be written over
    with Recording.open(recording) as rec:
        feed = ReplayFeed(rec, playing=False, start_at=rec.start + 20)
        feed.mark("kept for now")
        assert feed.save_problem is not None and "cannot save markers" in feed.save_problem
        warnings = [e.text for e in feed.frame().events if e.kind == "error"]
        assert any("marker not saved" in text for text in warnings)
        feed.to_start()
        feed.seek(rec.start + 25)  # a new session from the recording: the marker is still there
        assert "kept for now" in {e.text for e in markers_in(feed)}
    out = io.StringIO()
    replay_command.say_markers(feed, out)
    assert "marker not saved" in out.getvalue() and "this replay only" in out.getvalue()
    assert read_report(recording).markers[-1].note == "halfway"  # nothing half-written


def test_a_read_only_folder_is_named_as_such(recording: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, **kw: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with Recording.open(recording) as rec:
        feed = ReplayFeed(rec, playing=False)
        feed.mark("note")
    assert feed.save_problem is not None
    assert f"{recording.parent} is read-only (Read-only file system)" in feed.save_problem


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": "other"}', b'{"format": "sparktop-markers", "version": 9, "markers": []}'],
)
def test_a_damaged_markers_file_is_a_note_not_a_failure(recording: Path, content: bytes) -> None:
    sidecar(recording).write_bytes(content)
    markers, problem = read_markers(recording)
    assert markers == [] and problem is not None and str(sidecar(recording)) in problem
    with Recording.open(recording) as rec:
        feed = ReplayFeed(rec, playing=False)
        assert any(e.kind == "error" and "markers in" in e.text for e in feed.frame().events)
    assert any("markers in" in note for note in read_report(recording).notes)


def test_malformed_markers_are_left_out_one_by_one(recording: Path) -> None:
    doc = {
        "format": "sparktop-markers",
        "version": 1,
        "markers": [{"t": 1.0, "note": "ok"}, {"t": "x", "note": "bad"}, {"t": 2.0}],
    }
    sidecar(recording).write_text(json.dumps(doc))
    markers, problem = read_markers(recording)
    assert [m.note for m in markers] == ["ok"] and problem is not None and "2 malformed" in problem
