"""`sparktop report FILE [FILE...]`: published-style figures from recordings, side by side (a
fleet recording gives one column per server).

A damaged or cut-short recording is reported up to where it can be read, with a one-line note on
stderr saying where it stopped; only a file of which nothing can be read is an error (exit 2)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.config import load_settings
from sparktop.prometheus.api import prometheus_url
from sparktop.recording.format import RecordingError
from sparktop.report import RENDERERS, read_reports


def run(args: argparse.Namespace) -> int:
    ranges = contextlib.ExitStack()
    with ranges:
        return _report(args, ranges)


def _report(args: argparse.Namespace, ranges: contextlib.ExitStack) -> int:
    reports = []
    names = list(args.files)
    if not any(prometheus_url(name) is not None for name in names) and (
        args.range_from or args.range_to or args.match
    ):
        raise CliError(
            "--from, --to and --match apply to prometheus:URL",
            hint="sparktop report prometheus:URL --from 1h",
        )
    for name in names:
        url = prometheus_url(name)
        path = Path(name)
        if url is not None:
            from sparktop.commands.prometheus import range_recording

            path = ranges.enter_context(range_recording(args, url, load_settings(args), None))
        try:
            found = read_reports(path)  # one per server of a fleet recording
        except RecordingError as exc:
            raise CliError(str(exc), hint="sparktop reports on files it recorded (*.sparktop)") from None
        for report in found:
            if report.stopped is not None:
                # what was read is reported; the one-line note says where it stopped (and the
                # report's notes say it too, so the output is not mistaken for the whole run)
                sys.stderr.write(f"sparktop: note: {fmt.clean(report.source)}: {fmt.clean(report.stopped)}\n")
        reports.extend(found)
    sys.stdout.write(RENDERERS[args.format](reports))
    return EXIT_OK
