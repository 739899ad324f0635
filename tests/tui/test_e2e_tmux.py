"""The real program in a real terminal: `sparktop demo` in tmux, read off the screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SPARKTOP = str(Path(sys.executable).parent / "sparktop")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[str]:
    name = f"sparktop-e2e-{uuid.uuid4().hex[:8]}"
    env = [f"SPARKTOP_CONFIG={tmp_path / 'none.toml'}", f"XDG_DATA_HOME={tmp_path}", "TERM=xterm-256color"]
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", *[part for e in env for part in ("-e", e)])
    yield name
    tmux("kill-session", "-t", name)


def screen(pane: str) -> str:
    return tmux("capture-pane", "-p", "-t", pane)


def wait_for(pane: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(pane)
        if text in shown:
            return shown
        time.sleep(0.2)
    pytest.fail(f"{text!r} never appeared; the screen was:\n{screen(pane)}")


def wait_for_change(pane: str, previous: str, timeout: float = 10.0) -> str:
    """The next screen that differs from `previous`; fails if the screen stays frozen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        shown = screen(pane)
        if shown != previous:
            return shown
    pytest.fail(f"the screen did not change for {timeout:.0f} s:\n{previous}")


def alternate_screen(pane: str) -> bool:
    return tmux("display-message", "-p", "-t", pane, "#{alternate_on}").strip() == "1"


def decode_tps(shown: str) -> str:
    match = re.search(r"Decode\s+(\S+) tok/s", shown)
    return match.group(1) if match else ""


def test_demo_values_move_and_the_terminal_is_restored(pane: str) -> None:
    tmux("send-keys", "-t", pane, f"{SPARKTOP} demo --startup instant --speed 4 --no-record", "Enter")
    first = wait_for(pane, "healthy")
    assert "SIMULATED" in first
    assert alternate_screen(pane)
    samples = [wait_for(pane, "load demo")]
    for _ in range(6):
        # the screen keeps changing on its own (clock, sparklines), however loaded the machine is
        time.sleep(1.0)
        samples.append(wait_for_change(pane, samples[-1]))
    # the workload drives the server: decode throughput moves
    assert len({decode_tps(s) for s in samples}) > 1, [decode_tps(s) for s in samples]
    for key, title in (("c", "Queue (requests)"), ("e", "server healthy"), ("d", "Decode")):
        tmux("send-keys", "-t", pane, key)
        wait_for(pane, title, timeout=10)
    tmux("send-keys", "-t", pane, "q")
    deadline = time.monotonic() + 10
    while alternate_screen(pane) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alternate_screen(pane), "the terminal was left in the dashboard's screen"
    tmux("send-keys", "-t", pane, "echo still-$((40+2))", "Enter")
    wait_for(pane, "still-42", timeout=15)  # the shell reads keys normally again


def test_sigterm_restores_the_terminal(pane: str) -> None:
    tmux("send-keys", "-t", pane, f"{SPARKTOP} demo --startup instant --no-record; echo exit=$?", "Enter")
    wait_for(pane, "healthy")
    shell = tmux("display-message", "-p", "-t", pane, "#{pane_pid}").strip()
    # this pane's own sparktop: the shell's child (never another run's on the same machine)
    pid = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, check=False).stdout.split()
    assert len(pid) == 1, pid
    os.kill(int(pid[0]), 15)
    shown = wait_for(pane, "exit=", timeout=15)
    assert not alternate_screen(pane)
    assert "Traceback" not in shown
