"""`sparktop report` on a damaged recording: the readable part is reported, with a note saying
where reading stopped; only a file of which nothing is readable is an error."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sparktop.recording.writer import Recorder
from tests.support.recordings import TARGET, record

ENV = {**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml"}
SETTINGS = {"interval": 1.0, "window": 60.0, "rate_window": 10.0}


def report(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "report", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )


def figures(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (one,) = doc["recordings"]
    return dict(one)


def reference(tmp_path: Path, observations: list[object]) -> dict[str, Any]:
    """The report of a recording holding exactly ``observations``, undamaged."""
    path = tmp_path / f"reference-{len(observations)}.sparktop"
    recorder = Recorder(path, target=TARGET, settings=SETTINGS)
    for obs in observations:
        recorder(obs)
    assert recorder.close().ok
    return figures(report(path))


def note_of(proc: subprocess.CompletedProcess[str], path: Path) -> str:
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sparktop: note: {path}: "), lines[0]
    return lines[0]


def test_a_damaged_row_reports_everything_before_it(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sparktop"
    recorded = record(path, 90)
    damaged_seq = 120  # rows are numbered from 1 in the order they were recorded
    with sqlite3.connect(path) as db:
        db.execute("UPDATE observations SET data=x'deadbeef' WHERE seq=?", (damaged_seq,))
    proc = report(path)
    note = note_of(proc, path)
    assert f"row {damaged_seq}" in note and f"({damaged_seq - 1} observations)" in note
    got = figures(proc)
    assert any(f"row {damaged_seq}" in n for n in got["notes"])  # the report says it too
    want = reference(tmp_path, recorded[: damaged_seq - 1])
    assert got["server"] == want["server"] and got["server"]["duration_s"] > 0
    assert got["client"] == want["client"]


def test_a_file_cut_short_reports_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "whole.sparktop"
    recorded = record(path, 120)
    data = path.read_bytes()
    cut = tmp_path / "cut.sparktop"
    cut.write_bytes(data[: len(data) * 3 // 4 + 1234])  # mid-page, as a copy that stopped does
    proc = report(cut)
    note = note_of(proc, cut)
    assert "cut short" in note
    found = re.search(r"\((\d+) observations\)", note)
    assert found is not None
    readable = int(found.group(1))
    assert 0 < readable < len(recorded)
    got = figures(proc)
    want = reference(tmp_path, recorded[:readable])
    assert got["server"] == want["server"] and got["server"]["duration_s"] > 0


def test_nothing_readable_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "first-row.sparktop"
    record(path, 30)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE observations SET data=x'deadbeef' WHERE seq=1")
    proc = report(path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("sparktop: error:") and "row 1" in proc.stderr
    cut = tmp_path / "cut-early.sparktop"
    cut.write_bytes(path.read_bytes()[:6000])  # before the metadata is whole
    proc = report(cut)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("sparktop: error:") and "Traceback" not in proc.stderr
