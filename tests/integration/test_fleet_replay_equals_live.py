"""A fleet replay shows what the live fleet showed: every server's frame, at every moment.

Three simulated Sparks (different profiles and seeds) under a workload each, watched as one fleet
and recorded into one file; then the file is replayed and, at each moment a live fleet frame was
emitted, each server's replayed frame must equal its live one (except what only a live session has:
the recording's status, and the target marked as a replay).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from sparktop.clock import SystemClock
from sparktop.commands.demo import demo_feed
from sparktop.commands.recording import record_fleet
from sparktop.config import Settings
from sparktop.model import Frame
from sparktop.recording.fleet_replay import FleetReplayFeed
from sparktop.recording.reader import Recording
from sparktop.session.fleet import FleetFeed
from sparktop.sim.server import SimConfig, SimServer
from sparktop.workload.presets import get_preset

PROFILES = ("gemma4-26b-a4b-nvfp4", "gemma4-26b-a4b-mtp", "nemotron3-nano-30b-a3b-fp8")


def comparable(frame: Frame) -> Frame:
    return replace(
        frame, recording=None, replay=None, fleet=None, target=replace(frame.target, kind="replay")
    )


async def test_a_fleet_replay_equals_the_live_fleet(tmp_path: Path) -> None:
    handles = [
        SimServer(
            SimConfig(profile=p, speed=4.0, startup="instant", access_log=False, seed=i)
        ).start_in_thread()
        for i, p in enumerate(PROFILES)
    ]
    path = tmp_path / "fleet.sparktop"
    live: list[Frame] = []
    try:
        settings = Settings(interval=0.5, recordings_dir=tmp_path)
        args = argparse.Namespace(record=str(path), no_record=False)
        clock = SystemClock()
        feeds = [
            demo_feed(h.url, p, settings, get_preset("C", quick=True), args, clock, record=False, label=p)
            for h, p in zip(handles, PROFILES, strict=True)
        ]
        fleet = FleetFeed(feeds, interval=settings.interval, clock=clock)
        record_fleet(fleet, args, settings, what="test", simulated=True, default=True)
        task = asyncio.create_task(fleet.run(live.append))
        await asyncio.sleep(8.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for handle in handles:
            handle.stop()
    assert len(live) > 10 and all(f.fleet is not None for f in live)
    assert all(any(f.fleet.frames[i].client is not None for f in live) for i in range(3))  # type: ignore[union-attr]

    with Recording.open(path) as rec:
        assert [t.label for t in rec.targets] == list(PROFILES)
        replay = FleetReplayFeed(rec, playing=False, span_s=fleet.span_s)
        checked = 0
        for frame in live:
            assert frame.fleet is not None
            for i, sub in enumerate(frame.fleet.frames):
                if sub.t < rec.start:
                    continue
                server = replay.feeds[i]
                server.advance(max(server.position, sub.t))
                again = server.session.frame(fleet.span_s, now=sub.t)
                assert comparable(again) == comparable(sub), f"server {i}'s frame at {sub.t} differs"
                checked += 1
        assert checked > 30
        # the fleet frame of a replay carries every server, each as it was at that moment
        last = live[-1]
        assert last.fleet is not None
        replay.seek(rec.start)
        replay.seek(max(f.t for f in last.fleet.frames))
        frame = replay.frame()
        assert frame.fleet is not None and len(frame.fleet.frames) == 3
        for sub, live_sub in zip(frame.fleet.frames, last.fleet.frames, strict=True):
            assert sub.target.label == live_sub.target.label
