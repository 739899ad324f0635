"""Recordings as untrusted input, secrets, full disks, and a process killed while recording."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparktop.model import Event, TargetInfo
from sparktop.recording.format import RecordingError
from sparktop.recording.reader import Recording
from sparktop.recording.writer import Recorder
from tests.support.recordings import (
    GOLDEN,
    KILL_WRITER,
    golden_observations,
    observations,
    record,
    secrets_in_recording,
)
from tests.support.waiting import wait_until

ENV = {**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml"}


def read_all(path: Path) -> list[object]:
    with Recording.open(path) as rec:
        return list(rec.observations())


def replay_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "replay", str(path)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a SQLite database"),
        (b"hello, world\n" * 100, "not a SQLite database"),
        (b"\x80\x04\x95pickle", "not a SQLite database"),
    ],
)
def test_not_a_recording(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.sparktop"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        Recording.open(path)
    proc = replay_cli(path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sparktop: error:") and "Traceback" not in proc.stderr
    assert message in proc.stderr


def test_foreign_sqlite_and_newer_version(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t(x)")
    with pytest.raises(RecordingError, match="not a sparktop recording"):
        Recording.open(foreign)
    newer = tmp_path / "newer.sparktop"
    shutil.copy(GOLDEN, newer)
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='7' WHERE key='version'")
    with pytest.raises(RecordingError, match="format 7 by a newer sparktop"):
        Recording.open(newer)
    proc = replay_cli(newer)
    assert proc.returncode == 2 and "upgrade sparktop" in proc.stderr


def test_truncated_files_give_one_line_errors(tmp_path: Path) -> None:
    data = GOLDEN.read_bytes()
    for cut in (100, 4096, len(data) // 2, len(data) - 100):
        path = tmp_path / f"cut{cut}.sparktop"
        path.write_bytes(data[:cut])
        try:
            got = read_all(path)
        except RecordingError as exc:
            assert "\n" not in str(exc)
        else:
            assert got == golden_observations()[: len(got)]


def test_damaged_rows(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sparktop"
    shutil.copy(GOLDEN, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE observations SET data=x'deadbeef' WHERE seq=10")
    with Recording.open(path) as rec:
        seen = []
        with pytest.raises(RecordingError, match="row 10"):
            for obs in rec.observations():
                seen.append(obs)
    assert seen == golden_observations()[:9]  # everything before the damage is delivered


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.integers(0, 60_000), st.integers(0, 255)), min_size=1, max_size=20))
def test_flipped_bytes_never_escape_as_other_errors(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOLDEN.read_bytes())
    for offset, value in flips:
        data[offset % len(data)] = value
    path = tmp_path / "fuzz.sparktop"
    path.write_bytes(bytes(data))
    try:
        read_all(path)
    except RecordingError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    secret = "hf_sEcReTtOkEn1234567890"
    path = tmp_path / "s.sparktop"
    recorder = Recorder(
        path,
        target=TargetInfo(f"http://admin:{secret}@127.0.0.1:8000/?api_key={secret}", "url"),
        profile={
            "image": "vllm/vllm-openai:v0.20.1",
            "env": ["HF_TOKEN"],
            "HF_TOKEN": secret,
            "nested": {"token": secret},
        },
    )
    recorder(Event(1.0, "log", "hello", "container"))
    assert recorder.close().ok
    assert secrets_in_recording(path, secret) == []  # every row decoded: they are compressed
    with Recording.open(path) as rec:
        assert "[redacted]" in rec.meta["target"]["label"]
        assert rec.meta["profile"]["env"] == ["HF_TOKEN"]


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RecordingError, match="cannot create the directory"):
        Recorder(blocker / "sub" / "r.sparktop", target=TargetInfo("x", "url"))
    existing = tmp_path / "exists.sparktop"
    existing.write_text("x")
    with pytest.raises(RecordingError, match="never overwritten"):
        Recorder(existing, target=TargetInfo("x", "url"))


def test_full_disk_stops_recording_and_keeps_the_file_readable(tmp_path: Path) -> None:
    path = tmp_path / "full.sparktop"
    recorder = Recorder(path, target=TargetInfo("x", "url"), commit_every=0.05)
    db = sqlite3.connect(path)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    # the recorder's own connection: cap the file a few pages beyond its size, as a full disk would
    recorder._db.execute(f"PRAGMA max_page_count={pages + 6}")
    written: list[object] = []
    stream = iter(observations(200))

    def hand_over(count: int) -> None:
        for obs in itertools.islice(stream, count):
            recorder(obs)  # never raises, whatever the disk does
            written.append(obs)

    def until(done: Callable[[], bool]) -> None:
        wait_until(done, 30.0, step=0.01)

    hand_over(20)
    until(lambda: recorder.status.bytes > 0)  # a first commit that fits
    first_bytes = recorder.status.bytes
    hand_over(1000)
    until(lambda: not recorder.status.ok)
    status = recorder.status
    assert first_bytes > 0 and status.bytes >= first_bytes
    assert not status.ok and status.detail.startswith("disk full")
    assert "keeps everything up to" in status.detail
    recorder.close()
    got = read_all(path)
    assert 0 < len(got) < len(written)
    assert got == written[: len(got)]


KILLED_MID_COMMIT = textwrap.dedent(
    """
    import os, signal, sqlite3
    db = sqlite3.connect({path!r}, isolation_level=None)
    db.execute("PRAGMA cache_size=1")  # spill dirty pages into the file before the commit
    db.execute("BEGIN")
    for i in range(2000):
        db.execute(
            "INSERT INTO observations(t, kind, keyframe, data) VALUES (?, 'event', 0, ?)",
            (1e12 + i, os.urandom(512)),
        )
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def killed_mid_commit(path: Path) -> None:
    """Leave ``path`` as a recorder killed inside a commit leaves it: a hot journal beside it."""
    script = KILLED_MID_COMMIT.format(path=str(path))
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{path}-journal").stat().st_size > 0


def test_a_recording_killed_mid_commit_opens_with_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "mid-commit.sparktop"
    recorded = record(path, 30)
    killed_mid_commit(path)
    with pytest.raises(sqlite3.OperationalError):  # what a plain read-only open makes of it
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM meta").fetchone()
    assert read_all(path) == recorded  # rolled back: the half-written rows are gone, nothing else
    assert not Path(f"{path}-journal").exists()


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """``paths`` made unwritable as read-only media are: by their mode, or for root (whom modes do
    not stop) by the immutable attribute."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root ignores file modes and chattr is not installed")
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False)
    try:
        if made.returncode != 0:
            pytest.skip(f"root ignores file modes and chattr +i failed: {made.stderr.strip()}")
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True, check=False)


def test_a_killed_recording_that_cannot_be_written_is_read_from_a_copy(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    path = folder / "mid-commit.sparktop"
    recorded = record(path, 30)
    killed_mid_commit(path)
    journal = Path(f"{path}-journal")
    before = (path.read_bytes(), journal.read_bytes())
    with read_only(path, journal, folder):
        assert not os.access(path, os.W_OK) and not os.access(folder, os.W_OK)
        with Recording.open(path) as rec:  # rolled back in a private copy, not in place
            assert list(rec.observations()) == recorded
        assert (path.read_bytes(), journal.read_bytes()) == before  # the original is untouched
        assert sorted(folder.iterdir()) == sorted([path, journal])  # nothing left beside it


def test_sigkill_keeps_all_but_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "killed.sparktop"
    script = KILL_WRITER.format(root=str(Path(__file__).parents[2]), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    handed: list[tuple[float, float]] = []  # (wall time it was handed over, observation time)
    first = proc.stdout.readline()  # the writer is running (however long Python took to start)
    handed.append((time.monotonic(), float(first)))
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        handed.append((time.monotonic(), float(line)))
    killed_at = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Recording.open(path) as rec:
        assert not rec.complete  # no clean close
        got = list(rec.observations())
    last_t = got[-1].t  # type: ignore[attr-defined]
    # everything handed over more than one second before the kill is in the file
    due = [t for wall, t in handed if wall < killed_at - 1.0]
    lag = killed_at - max((wall for wall, t in handed if t <= last_t), default=float("nan"))
    assert due and last_t >= due[-1], f"the file ends with what was handed over {lag:.2f} s before the kill"
