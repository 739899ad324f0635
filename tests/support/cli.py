"""Running the real ``sparktop`` command as a user would, without this machine's config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_sparktop(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``sparktop ARGV`` in a subprocess from the repository root (output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "sparktop", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={"SPARKTOP_CONFIG": "/nonexistent/sparktop.toml", "PATH": "/usr/bin:/bin"},
    )
