"""A replay shows what the live dashboard showed: the same session, live and then from its file.

The live session is real: the simulated Spark on loopback, the scraper, the simulated GPU over
HTTP, the simulator's log, a workload; every frame the live feed emitted is kept. Then the file is
replayed and, at each of those moments, the replay's frame must equal the live one (except what
only a live session has: the recording's status, and the target marked as a replay).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from sparktop.clock import SystemClock
from sparktop.commands.demo import demo_feed
from sparktop.config import Settings
from sparktop.model import Frame
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.sim.server import SimConfig, SimServer
from sparktop.workload.presets import get_preset


def comparable(frame: Frame) -> Frame:
    return replace(frame, recording=None, replay=None, target=replace(frame.target, kind="replay"))


async def test_replay_equals_live(tmp_path: Path) -> None:
    handle = SimServer(SimConfig(speed=4.0, startup="instant", access_log=False, seed=3)).start_in_thread()
    path = tmp_path / "live.sparktop"
    live: list[Frame] = []
    try:
        settings = Settings(interval=0.5, recordings_dir=tmp_path)
        args = argparse.Namespace(record=str(path), no_record=False)
        feed = demo_feed(
            handle.url,
            "gemma4-26b-a4b-nvfp4",
            settings,
            get_preset("C", quick=True),
            args,
            clock=SystemClock(),
        )
        task = asyncio.create_task(feed.run(live.append))
        await asyncio.sleep(8.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        handle.stop()
    assert len(live) > 10
    assert any(f.client is not None for f in live), "the workload never finished a request"
    assert any(f.figures is not None and f.gpu is not None for f in live)

    with Recording.open(path) as rec:
        replay = ReplayFeed(rec, playing=False, span_s=feed.span_s)
        checked = 0
        for frame in live:
            if frame.t < rec.start:
                continue
            replay.position = frame.t
            replay._feed_until(frame.t)
            again = replay.session.frame(feed.span_s, now=frame.t)
            assert comparable(again) == comparable(frame), f"frame at {frame.t} differs"
            checked += 1
        assert checked > 10
        # seeking straight to a moment gives the same figures as playing up to it
        last = live[-1]
        replay.seek(rec.start)
        replay.seek(last.t)
        sought = replay.session.frame(feed.span_s, now=last.t)
        assert sought.figures == last.figures and sought.client == last.client and sought.gpu == last.gpu
