"""`sparktop watch`."""

from __future__ import annotations

import argparse

from sparktop.cli import CliError


def run(args: argparse.Namespace) -> int:
    raise CliError("`sparktop watch` is not available in this build yet")
