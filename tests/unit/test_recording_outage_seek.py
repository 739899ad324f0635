"""Seeking to a moment after an outage: a scrape that read nothing is no place to start decoding.

The deltas after an unreachable scrape build on the values before it, so decoding from a moment
after an outage must start at the last keyframe that holds values: in new files (where an empty
scrape row is not a keyframe) and in older ones (where it was marked one).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sparktop.model import ScrapeResult
from sparktop.recording.kinds import time_of
from sparktop.recording.reader import Recording
from tests.support.recordings import record


def outage(recorded: list[object]) -> float:
    return next(time_of(o) for o in recorded if isinstance(o, ScrapeResult) and o.state == "unreachable")


@pytest.mark.parametrize("written_as", ["now", "before"])
def test_reading_from_just_after_an_outage_gives_what_was_recorded(tmp_path: Path, written_as: str) -> None:
    path = tmp_path / "outage.sparktop"
    recorded = record(path, 40)
    down = outage(recorded)
    db = sqlite3.connect(path)
    empty = db.execute("SELECT keyframe FROM observations WHERE kind='scrape' AND t=?", (down,)).fetchone()
    assert empty == (0,)  # not a decoding start
    if written_as == "before":  # as files from before this was known mark it
        db.execute("UPDATE observations SET keyframe=1 WHERE kind='scrape' AND t=?", (down,))
        db.commit()
    db.close()
    with Recording.open(path) as rec:
        for t_from in (down, down + 0.5, down + 1.0, down + 2.5):
            expected = [o for o in recorded if time_of(o) >= t_from]
            assert list(rec.observations(t_from=t_from)) == expected, t_from
