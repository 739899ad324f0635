"""`sparktop report FILE [FILE...]`: published-style figures from recordings, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sparktop.cli import EXIT_OK, CliError
from sparktop.recording.format import RecordingError
from sparktop.report import RENDERERS, read_report


def run(args: argparse.Namespace) -> int:
    reports = []
    for name in args.files:
        try:
            reports.append(read_report(Path(name)))
        except RecordingError as exc:
            raise CliError(str(exc), hint="sparktop reports on files it recorded (*.sparktop)") from None
    sys.stdout.write(RENDERERS[args.format](reports))
    return EXIT_OK
