"""A live recording read by another program: a reader holding the file never stops the recording.

The reader is a real second SQLite connection in another process, holding a read transaction open
(what ``sqlite3 file.sparktop`` with ``BEGIN; SELECT ...`` does) for many times the writer's busy
timeout, while the writer keeps recording.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sparktop.recording.reader import Recording
from sparktop.recording.writer import BUSY_TIMEOUT_S, Recorder
from tests.support.recordings import TARGET, observations

READER = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    for line in sys.stdin:
        if line.strip() == "hold":
            db.execute("BEGIN")
            count = db.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        elif line.strip() == "count":
            count = db.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        elif line.strip() == "release":
            db.execute("COMMIT")
            count = -1
        print(count, flush=True)
    """
)


class Reader:
    """Another process with its own connection to the file, driven line by line."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, what: str) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def until(
    condition: Callable[[], object], feed: Callable[[], None] = lambda: None, within_s: float = 120
) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        feed()
        time.sleep(0.01)


def read_all(path: Path) -> list[object]:
    with Recording.open(path) as rec:
        assert rec.complete
        return list(rec.observations())


def start(path: Path) -> tuple[Recorder, Iterator[object], list[object]]:
    recorder = Recorder(path, target=TARGET, commit_every=0.05)
    return recorder, observations(100_000), []


def test_a_reader_holding_the_file_loses_nothing_written_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "live.sparktop"
    recorder, source, handed = start(path)

    def feed() -> None:
        obs = next(source)
        recorder(obs)
        handed.append(obs)

    for _ in range(20):
        feed()
    until(lambda: recorder.status.bytes > 0 and recorder.backlog == 0)
    reader = Reader(path)
    try:
        held = reader.ask("hold")
        assert held > 0
        # many commits put off, each after waiting out the busy timeout: the reader has held the
        # file for many times that timeout, and the writer is still recording
        busy_before = recorder.busy_commits
        until(lambda: recorder.busy_commits >= busy_before + 12 or not recorder.status.ok, feed)
        assert recorder.status.ok, recorder.status.detail
        assert "another program" in recorder.status.detail
        assert reader.ask("count") == held  # the reader's view stayed as it was
        during = len(handed)
        reader.ask("release")
        # the held rows go in once the reader lets go (one row per observation)
        until(lambda: reader.ask("count") >= during, feed)
        assert recorder.status.ok and recorder.status.detail == ""
    finally:
        reader.close()
    for _ in range(20):
        feed()
    status = recorder.close()
    assert status.ok, status.detail
    got = read_all(path)
    assert len(handed) > during
    assert got == handed


def test_close_waits_for_a_reader_that_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "live.sparktop"
    recorder, source, handed = start(path)
    for obs in [next(source) for _ in range(30)]:
        recorder(obs)
        handed.append(obs)
    until(lambda: recorder.status.bytes > 0)
    reader = Reader(path)
    try:
        reader.ask("hold")
        for obs in [next(source) for _ in range(30)]:
            recorder(obs)
            handed.append(obs)
        done: list[object] = []
        closer = threading.Thread(target=lambda: done.append(recorder.close(timeout=120)))
        closer.start()
        busy_before = recorder.busy_commits
        # the close is waiting on the reader
        until(lambda: recorder.busy_commits >= busy_before + 4 or not recorder.status.ok)
        assert recorder.status.ok, recorder.status.detail
        assert not done
        reader.ask("release")
        closer.join(60)
    finally:
        reader.close()
    assert done and done[0].ok, done  # type: ignore[attr-defined]
    assert read_all(path) == handed  # every row and the clean-close mark


def test_a_reader_that_never_lets_go_ends_the_recording_at_the_close_with_what_was_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.sparktop"
    recorder, source, handed = start(path)
    for obs in [next(source) for _ in range(30)]:
        recorder(obs)
        handed.append(obs)
    until(lambda: recorder.status.bytes > 0 and recorder.backlog == 0)
    committed = list(handed)
    reader = Reader(path)
    try:
        reader.ask("hold")
        for obs in [next(source) for _ in range(30)]:
            recorder(obs)
        recorder.close(timeout=8 * BUSY_TIMEOUT_S)
        until(lambda: not recorder.status.ok)  # on a loaded machine the writer may end after close returns
    finally:
        reader.close()
    assert "another program kept the file open" in recorder.status.detail
    with Recording.open(path) as rec:
        assert not rec.complete
        assert list(rec.observations()) == committed
