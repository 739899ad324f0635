"""`sparktop demo --duration S` in a real terminal: the dashboard ends by itself, cleanly, and says
where the session was recorded. (tmux as in test_e2e_tmux.py, on a tmux server of its own.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparktop.recording.reader import Recording
from tests.support.waiting import poll

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SPARKTOP = str(Path(sys.executable).parent / "sparktop")


def tmux(pane: str, *args: str) -> str:
    """A tmux command on the pane's own server (its socket named after it)."""
    return subprocess.run(["tmux", "-L", pane, *args], capture_output=True, text=True, check=False).stdout


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[str]:
    name = f"sparktop-duration-{uuid.uuid4().hex[:8]}"
    env = [f"SPARKTOP_CONFIG={tmp_path / 'none.toml'}", f"XDG_DATA_HOME={tmp_path}", "TERM=xterm-256color"]
    settings = [part for e in env for part in ("-e", e)]
    tmux(name, "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", *settings)
    yield name
    tmux(name, "kill-server")


def screen(pane: str) -> str:
    """The pane's text, lines the pane wrapped joined again (a long path stays whole)."""
    return tmux(pane, "capture-pane", "-p", "-J", "-t", pane)


def alternate_screen(pane: str) -> bool:
    return tmux(pane, "display-message", "-p", "-t", pane, "#{alternate_on}").strip() == "1"


def wait_until(pane: str, pattern: str, timeout: float) -> str:
    shown, found = poll(lambda: screen(pane), lambda shown: re.search(pattern, shown), timeout, step=0.2)
    if not found:
        pytest.fail(f"{pattern!r} never appeared; the screen was:\n{shown}")
    return shown


def test_demo_duration_ends_the_dashboard_and_prints_the_recording(pane: str, tmp_path: Path) -> None:
    command = f"{SPARKTOP} demo --startup instant --speed 4 --duration 5; echo exit=$?"
    tmux(pane, "send-keys", "-t", pane, command, "Enter")
    wait_until(pane, "healthy", timeout=30)
    assert alternate_screen(pane)
    shown = wait_until(pane, r"exit=\d", timeout=40)  # no key is pressed: the duration ends it
    assert "exit=0" in shown and "Traceback" not in shown, shown
    assert not alternate_screen(pane)
    found = re.search(r"recorded to (\S+\.sparktop)", shown)
    assert found is not None, shown
    path = Path(found[1])
    assert path.is_relative_to(tmp_path) and path.exists()
    with Recording.open(path) as rec:
        assert rec.complete and rec.simulated  # closed cleanly, not cut off
