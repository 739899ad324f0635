"""A real terminal for the real program: a tmux pane on a tmux server of its own.

Each pane has its own server (``tmux -L NAME``), so stopping or killing it touches nothing else on
the machine; ``close`` kills that server and removes its socket."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.waiting import poll

SPARKTOP = str(Path(sys.executable).parent / "sparktop")
"""The installed entry point; run it with ``env -u PYTHONPATH`` so it imports what is installed."""


class Pane:
    """One window of ``width`` x ``height`` on its own tmux server."""

    def __init__(self, prefix: str, width: int, height: int, env: Mapping[str, str]) -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        settings = [part for key, value in env.items() for part in ("-e", f"{key}={value}")]
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(width),
            "-y",
            str(height),
            *settings,
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.name, *args], capture_output=True, text=True, check=False
        ).stdout

    def run(self, command: str) -> None:
        """Type ``command`` at the shell and press Enter."""
        self.tmux("send-keys", "-t", self.name, command, "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self, escapes: bool = False) -> str:
        """The pane's text; with ``escapes`` its colours and attributes as SGR sequences too."""
        return self.tmux("capture-pane", "-p", "-t", self.name, *(["-e"] if escapes else []))

    def wait_for(self, pattern: str, within_s: float = 30.0) -> str:
        """The screen once ``pattern`` (a regular expression) shows; fails with it if it never does."""
        shown, found = poll(
            self.screen, lambda text: re.search(pattern, text) is not None, within_s, step=0.2
        )
        if not found:
            pytest.fail(f"{pattern!r} never appeared; the screen was:\n{shown}")
        return shown

    def alternate_screen(self) -> bool:
        return self.tmux("display-message", "-p", "-t", self.name, "#{alternate_on}").strip() == "1"

    def close(self) -> None:
        server = self.tmux("display-message", "-p", "-t", self.name, "#{pid}").strip()
        if server.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(server), signal.SIGCONT)  # a test that failed while the server was stopped
        self.tmux("kill-server")
        sockets = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (sockets / self.name).unlink(missing_ok=True)
