"""One recording for a whole fleet: each observation tagged with its server, each server read back
exactly as it was given (its own keyframes and deltas), the report one column per server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sparktop.recording import format as fmt
from sparktop.recording.format import RecordingError
from sparktop.recording.kinds import time_of
from sparktop.recording.reader import Recording
from sparktop.recording.writer import Recorder
from sparktop.report import read_reports
from tests.support.recordings import FLEET_TARGETS as TARGETS
from tests.support.recordings import SETTINGS, TARGET, record, record_fleet


def test_each_server_reads_back_exactly_what_it_gave(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    streams = record_fleet(path)
    with Recording.open(path) as rec:
        assert rec.fleet and rec.meta["version"] == fmt.FLEET_VERSION
        assert [t.label for t in rec.targets] == [t.label for t in TARGETS]
        for i, stream in enumerate(streams):
            view = rec.for_target(i)
            assert view.target.label == TARGETS[i].label
            assert (view.start, view.end) == (rec.start, rec.end)  # the file's clock
            assert list(view.observations()) == stream
            assert view.count == len(stream)
            # seeking inside one server's rows starts at that server's keyframe
            middle = stream[len(stream) // 2]
            later = [obs for obs in stream if time_of(obs) >= time_of(middle)]
            assert list(view.observations(t_from=time_of(middle))) == later
        assert sum(rec.for_target(i).count for i in range(3)) == rec.count


def test_every_server_keeps_its_own_delta_chain(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    record_fleet(path, 30)
    db = sqlite3.connect(path)
    firsts = db.execute(
        "SELECT target, MIN(seq) FROM observations WHERE kind='scrape' GROUP BY target"
    ).fetchall()
    for target, seq in firsts:
        (keyframe,) = db.execute("SELECT keyframe FROM observations WHERE seq=?", (seq,)).fetchone()
        assert keyframe == 1, f"server {target}'s first scrape row is not a keyframe"
    db.close()


def test_the_whole_file_is_read_one_server_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    record_fleet(path, 10)
    with Recording.open(path) as rec:
        with pytest.raises(RecordingError, match="a fleet recording \\(3 targets\\): read one target"):
            list(rec.observations())
        with pytest.raises(RecordingError, match="no target 4"):
            rec.for_target(3)


def test_one_server_is_still_format_1(tmp_path: Path) -> None:
    path = tmp_path / "one.sparktop"
    recorded = record(path, 20)
    with Recording.open(path) as rec:
        assert rec.meta["version"] == fmt.FORMAT_VERSION and not rec.fleet
        assert [t.label for t in rec.targets] == [TARGET.label]
        assert list(rec.observations()) == recorded
        assert list(rec.for_target(0).observations()) == recorded


def test_a_newer_format_than_fleets_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    record_fleet(path, 5)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='3' WHERE key='version'")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="format 3 by a newer sparktop"):
        Recording.open(path)


def test_the_report_has_a_column_per_server(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    streams = record_fleet(path, 60)
    reports = read_reports(path)
    assert [r.target for r in reports] == [t.label for t in TARGETS]
    assert all(r.label.endswith(t.label) for r, t in zip(reports, TARGETS, strict=True))
    # each column is its own server's: the same figures as a file of that server alone
    for i, stream in enumerate(streams):
        alone = tmp_path / f"alone-{i}.sparktop"
        recorder = Recorder(alone, target=TARGETS[i], settings=SETTINGS)
        for obs in stream:
            recorder(obs)
        recorder.close()
        (single,) = read_reports(alone)
        assert single.target is None
        assert reports[i].server == single.server
    assert reports[0].server != reports[1].server


def test_a_fleet_target_keeps_what_its_server_said_about_itself(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sparktop"
    record_fleet(path, 5)
    with Recording.open(path) as rec:
        targets = rec.meta["targets"]
    assert all(t["model"] == "gemma-4-26b-a4b-nvfp4" and t["version"] == "0.23.0" for t in targets)
