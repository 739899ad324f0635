"""`sparktop replay FILE`: a recording in the dashboard, with the replay bar. Markers added with
``m`` are kept next to the recording (``FILE.markers.json``): the next replay and ``report`` show them."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import TYPE_CHECKING, TextIO

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.config import Settings, load_settings
from sparktop.prometheus.api import prometheus_url
from sparktop.recording.format import RecordingError
from sparktop.recording.reader import Recording

if TYPE_CHECKING:
    from sparktop.recording.fleet_replay import FleetReplayFeed
    from sparktop.recording.replay import ReplayFeed


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    url = prometheus_url(args.file)
    if url is not None:
        from sparktop.commands.prometheus import range_recording

        with range_recording(args, url, settings, args.save) as path:
            args.file = str(path)
            return _replay(args, settings)
    if args.range_from or args.range_to or args.match or args.save:
        raise CliError(
            "--from, --to, --match and --save apply to prometheus:URL",
            hint="sparktop replay prometheus:http://HOST:9090 --from 1h",
        )
    return _replay(args, settings)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from sparktop.recording.fleet_replay import FleetReplayFeed
    from sparktop.recording.replay import ReplayFeed
    from sparktop.tui.app import make_app
    from sparktop.tui.screens.goto import parse_target

    try:
        recording = Recording.open(args.file)
    except RecordingError as exc:
        raise CliError(str(exc), hint="sparktop replays files it recorded (*.sparktop)") from None
    start_at = None
    if args.at:
        start_at = parse_target(args.at, recording.start, recording.start, recording.end)
        if start_at is None:
            raise CliError(
                f"--at {args.at!r}: not a time", hint="use HH:MM[:SS], +5m (from the start) or 50%"
            )
        if not recording.start <= start_at <= recording.end:
            recording.close()
            span = fmt.duration(recording.end - recording.start)
            first, last = (
                time.strftime("%H:%M:%S", time.localtime(t)) for t in (recording.start, recording.end)
            )
            raise CliError(
                f"--at {args.at!r}: not within the recording ({first} to {last}, {span})",
                hint=f"give a time inside it, +0s to +{int(recording.end - recording.start)}s, or 0% to 100%",
            )
    feed: ReplayFeed | FleetReplayFeed
    try:
        if recording.fleet:  # every server on one clock, the fleet screen first
            feed = FleetReplayFeed(recording, speed=args.speed, playing=not args.paused, start_at=start_at)
        else:
            feed = ReplayFeed(recording, speed=args.speed, playing=not args.paused, start_at=start_at)
    except RecordingError as exc:
        recording.close()
        raise CliError(str(exc)) from None
    from sparktop.smoke.slo import from_meta

    app = make_app(settings, feed, objectives=from_meta(recording.meta))
    try:
        app.run()
    finally:
        recording.close()
    say_markers(feed, sys.stderr)
    return app.return_code or EXIT_OK


def say_markers(feed: ReplayFeed | FleetReplayFeed, out: TextIO) -> None:
    """Where the markers added in this replay were kept, or why they were not (on the restored
    terminal, once the dashboard has closed)."""
    if not feed.added:
        return
    if feed.save_problem is not None:
        line = f"{feed.save_problem} (shown in this replay only)"
    elif feed.markers_file is not None:
        line = f"markers saved to {feed.markers_file} (replay and report read them)"
    else:
        return
    with contextlib.suppress(OSError, ValueError):
        out.write(fmt.clean(line) + "\n")
        out.flush()
