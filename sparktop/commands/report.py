"""`sparktop report FILE [FILE...]`: published-style figures from recordings, side by side.

A damaged or cut-short recording is reported up to where it can be read, with a one-line note on
stderr saying where it stopped; only a file of which nothing can be read is an error (exit 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.recording.format import RecordingError
from sparktop.report import RENDERERS, read_report


def run(args: argparse.Namespace) -> int:
    reports = []
    for name in args.files:
        try:
            report = read_report(Path(name))
        except RecordingError as exc:
            raise CliError(str(exc), hint="sparktop reports on files it recorded (*.sparktop)") from None
        if report.stopped is not None:
            # what was read is reported; the one-line note says where it stopped (and the report's
            # notes say it too, so the output is not mistaken for the whole run)
            sys.stderr.write(f"sparktop: note: {fmt.clean(str(report.path))}: {fmt.clean(report.stopped)}\n")
        reports.append(report)
    sys.stdout.write(RENDERERS[args.format](reports))
    return EXIT_OK
