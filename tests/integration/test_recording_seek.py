"""Seeking costs the same wherever it lands: SQLite finds the place, it does not scan up to it.

Work is counted in SQLite virtual-machine steps (a progress handler), not in seconds, so the check
holds on any machine: a seek near the end of a long file must cost about what a seek near its
start costs, although twenty times more rows lie before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sparktop.recording.reader import Recording
from tests.support.frames import T0
from tests.support.recordings import record

SECONDS = 1800
STEPS_PER_TICK = 50


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seek") / "long.sparktop"
    record(path, SECONDS)
    return path


def vm_steps(db: sqlite3.Connection, work: Callable[[], object]) -> int:
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0

    db.set_progress_handler(tick, STEPS_PER_TICK)
    try:
        work()
    finally:
        db.set_progress_handler(None, 0)
    return ticks * STEPS_PER_TICK


def first_arrival(recording: Recording, t: float) -> tuple[float, object]:
    return next(recording.arrivals(t_from=t))


@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda rec, t: rec.last_before("info", t), id="last info before"),
        pytest.param(lambda rec, t: rec.keyframe_before(t), id="keyframe before"),
        pytest.param(first_arrival, id="first arrival from"),
    ],
)
def test_a_late_seek_costs_what_an_early_one_does(
    long_recording: Path, lookup: Callable[[Recording, float], object]
) -> None:
    with Recording.open(long_recording) as recording:
        db = recording._db
        early = vm_steps(db, lambda: lookup(recording, T0 + 90))
        late = vm_steps(db, lambda: lookup(recording, T0 + SECONDS - 30))
        assert lookup(recording, T0 + SECONDS - 30) is not None
    # rows before the late point: ~20x those before the early one; the work must not follow them
    assert late <= 2 * early + 2000, (early, late)
