"""The real program in a real terminal: `sparktop demo` in tmux, read off the screen."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.waiting import poll, wait_until

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SPARKTOP = str(Path(sys.executable).parent / "sparktop")
CHARTS = "Queue (requests)"  # a chart's title: the charts screen is up


def tmux(pane: str, *args: str) -> str:
    """A tmux command on ``pane``'s own server (its socket is named after it), so that stopping or
    killing that server touches nothing else on the machine."""
    return subprocess.run(["tmux", "-L", pane, *args], capture_output=True, text=True, check=False).stdout


def open_pane(tmp_path: Path, width: int, height: int) -> str:
    name = f"sparktop-e2e-{uuid.uuid4().hex[:8]}"
    env = [f"SPARKTOP_CONFIG={tmp_path / 'none.toml'}", f"XDG_DATA_HOME={tmp_path}", "TERM=xterm-256color"]
    tmux(
        name,
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        str(width),
        "-y",
        str(height),
        *[part for e in env for part in ("-e", e)],
    )
    return name


def close_pane(pane: str) -> None:
    server = tmux(pane, "display-message", "-p", "-t", pane, "#{pid}").strip()
    if server.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(server), signal.SIGCONT)  # a test that failed while the server was stopped
    tmux(pane, "kill-server")
    # the server's socket (left behind by a server that was killed, as a dropped terminal's is)
    sockets = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    (sockets / pane).unlink(missing_ok=True)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[str]:
    name = open_pane(tmp_path, 120, 40)
    yield name
    close_pane(name)


@pytest.fixture
def small_pane(tmp_path: Path) -> Iterator[str]:
    """80x24: the operator's SSH window."""
    name = open_pane(tmp_path, 80, 24)
    yield name
    close_pane(name)


def screen(pane: str) -> str:
    return tmux(pane, "capture-pane", "-p", "-t", pane)


def wait_for(pane: str, text: str, timeout: float = 30.0) -> str:
    shown, found = poll(lambda: screen(pane), lambda shown: text in shown, timeout, step=0.2)
    if not found:
        pytest.fail(f"{text!r} never appeared; the screen was:\n{shown}")
    return shown


def wait_for_match(pane: str, pattern: str, timeout: float = 10.0) -> str:
    shown, found = poll(lambda: screen(pane), lambda shown: re.search(pattern, shown), timeout, step=0.1)
    if not found:
        pytest.fail(f"{pattern!r} never appeared; the screen was:\n{shown}")
    return shown


def wait_for_change(pane: str, previous: str, timeout: float = 10.0) -> str:
    """The next screen that differs from `previous`; fails if the screen stays frozen."""
    shown, changed = poll(lambda: screen(pane), lambda shown: shown != previous, timeout, step=0.25)
    if not changed:
        pytest.fail(f"the screen did not change for {timeout:.0f} s:\n{previous}")
    return shown


def alternate_screen(pane: str) -> bool:
    return tmux(pane, "display-message", "-p", "-t", pane, "#{alternate_on}").strip() == "1"


def shell_pid(pane: str) -> int:
    return int(tmux(pane, "display-message", "-p", "-t", pane, "#{pane_pid}").strip())


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def sparktop_pid(pane: str) -> int:
    """This pane's own sparktop: the shell's child (never another run's on the same machine)."""
    pids = children(shell_pid(pane))
    assert len(pids) == 1, pids
    return pids[0]


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    return wait_until(lambda: not running(pid), seconds, step=0.1)


def recording_complete(path: Path) -> bool:
    from sparktop.recording.reader import Recording

    recording = Recording.open(path)
    try:
        return recording.complete
    finally:
        recording.close()


def decode_tps(shown: str) -> str:
    # the title may name the time the sparklines cover ("Decode 40 s", "Decode 1m52s") before the figure
    match = re.search(r"Decode(?: [\d.]+ (?:s|min)| \d+m\d\ds)?\s+(\S+) tok/s", shown)
    return match.group(1) if match else ""


def test_demo_values_move_and_the_terminal_is_restored(pane: str) -> None:
    tmux(pane, "send-keys", "-t", pane, f"{SPARKTOP} demo --startup instant --speed 4 --no-record", "Enter")
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
    for key, title in (("c", CHARTS), ("e", "server healthy"), ("d", "Decode")):
        tmux(pane, "send-keys", "-t", pane, key)
        wait_for(pane, title, timeout=10)
    tmux(pane, "send-keys", "-t", pane, "q")
    left = wait_until(lambda: not alternate_screen(pane), 10, step=0.1)
    assert left, "the terminal was left in the dashboard's screen"
    tmux(pane, "send-keys", "-t", pane, "echo still-$((40+2))", "Enter")
    wait_for(pane, "still-42", timeout=15)  # the shell reads keys normally again


# --------------------------------------------------------------------------------------------------
# signals: a kill, a dropped SSH session (SIGHUP) or an interrupt ends sparktop on every screen

SIGNALS = {"HUP": signal.SIGHUP, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
SCREENS = {"dashboard": ("", "Decode"), "charts": ("c", CHARTS), "events": ("e", "server healthy")}
ENDS_WITHIN_S = 15.0
"""Ending takes a moment (the feed stops, the recording closes), a few seconds more when the
terminal does not read, never minutes."""


def start(pane: str, command: str, ready: str, key: str = "", shown: str = "") -> int:
    """Run ``command`` in ``pane`` (its exit status printed after it), wait for ``ready``, press
    ``key`` and wait for ``shown``; the pid of the sparktop it started."""
    tmux(pane, "send-keys", "-t", pane, f"{command}; echo exit=$?", "Enter")
    wait_for(pane, ready)
    pid = sparktop_pid(pane)
    if key:
        tmux(pane, "send-keys", "-t", pane, key)
        wait_for(pane, shown, timeout=15)
    return pid


def assert_ended_cleanly(pane: str, pid: int) -> None:
    """Gone within the bound, nothing left behind it, the shell back on the main screen."""
    assert gone_within(pid, ENDS_WITHIN_S), f"sparktop was still running {ENDS_WITHIN_S:.0f} s after"
    # the status the shell printed, at a line's start (the command line typed says `exit=$?` too):
    # a signal ends sparktop as `q` does, with success
    shown = wait_for_match(pane, r"(?m)^exit=\d+$")
    assert re.search(r"(?m)^exit=0$", shown), shown
    wait_for_the_shell(pane)
    assert not alternate_screen(pane), "the terminal was left in the dashboard's screen"
    assert "Traceback" not in shown


def wait_for_the_shell(pane: str, timeout: float = 10.0) -> None:
    """The shell has nothing running any more (sparktop, and the ``echo`` after it, are done)."""
    shell = shell_pid(pane)
    assert wait_until(lambda: not children(shell), timeout, step=0.1), (
        "something sparktop started is still running"
    )


def stall(pane: str) -> int:
    """Stop ``pane``'s tmux server: nothing reads what sparktop writes (an SSH session whose network
    has gone). Returns the server's pid, for ``resume``."""
    server = int(tmux(pane, "display-message", "-p", "-t", pane, "#{pid}").strip())
    os.kill(server, signal.SIGSTOP)
    return server


def resume(server: int) -> None:
    os.kill(server, signal.SIGCONT)


def signal_while_stalled(pane: str, pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to sparktop after its terminal has stopped reading for 3 s (long enough to fill
    the terminal's buffer); sparktop must end within ``ENDS_WITHIN_S`` all the same."""
    server = stall(pane)
    try:
        time.sleep(3.0)
        os.kill(pid, sig)
        assert gone_within(pid, ENDS_WITHIN_S), "sparktop kept running behind a terminal that did not read"
    finally:
        resume(server)


def demo(record: Path, *extra: str) -> str:
    return f"{SPARKTOP} demo --startup instant --record {record} {' '.join(extra)}"


@pytest.mark.parametrize("sig", list(SIGNALS))
@pytest.mark.parametrize("where", list(SCREENS))
def test_a_signal_ends_demo_on_every_screen(small_pane: str, tmp_path: Path, where: str, sig: str) -> None:
    record = tmp_path / "demo.sparktop"
    key, title = SCREENS[where]
    pid = start(small_pane, demo(record), "healthy", key, title)
    os.kill(pid, SIGNALS[sig])
    assert_ended_cleanly(small_pane, pid)
    assert recording_complete(record)


def test_sighup_ends_demo_from_the_help_overlay(small_pane: str, tmp_path: Path) -> None:
    record = tmp_path / "demo.sparktop"
    pid = start(small_pane, demo(record), "healthy", "?", "sparktop keys")
    os.kill(pid, signal.SIGHUP)
    assert_ended_cleanly(small_pane, pid)
    assert recording_complete(record)


def test_sigterm_ends_demo_on_charts_while_the_terminal_does_not_read(
    small_pane: str, tmp_path: Path
) -> None:
    # the charts write the most: four frames a second fill the terminal's buffer in a second or two,
    # after which every write waits for a reader that never comes
    record = tmp_path / "demo.sparktop"
    pid = start(small_pane, demo(record, "--interval 0.25"), "healthy", "c", CHARTS)
    signal_while_stalled(small_pane, pid, signal.SIGTERM)
    # what the terminal did not take is lost, the restoring sequences with it (there is no restoring
    # a terminal that does not read): the shell is back, and the recording is whole
    wait_for_the_shell(small_pane)
    assert recording_complete(record)


def test_a_dropped_terminal_ends_demo_on_charts(small_pane: str, tmp_path: Path) -> None:
    # the SSH connection stalls, then drops: the terminal hangs up (writes fail with EIO) and the
    # shell passes SIGHUP on as it exits
    record = tmp_path / "demo.sparktop"
    pid = start(small_pane, demo(record, "--interval 0.25"), "healthy", "c", CHARTS)
    server = stall(small_pane)
    time.sleep(3.0)
    os.kill(server, signal.SIGKILL)
    assert gone_within(pid, ENDS_WITHIN_S), "sparktop outlived its terminal"
    assert recording_complete(record)


def test_sigint_ends_replay_on_charts_while_the_terminal_does_not_read(
    small_pane: str, tmp_path: Path
) -> None:
    from tests.support.recordings import record

    path = tmp_path / "session.sparktop"
    record(path, 120)
    pid = start(small_pane, f"{SPARKTOP} replay {path} --speed 8", "REPLAY", "c", CHARTS)
    signal_while_stalled(small_pane, pid, signal.SIGINT)
    wait_for_the_shell(small_pane)


def test_signals_end_replay_on_charts(small_pane: str, tmp_path: Path) -> None:
    from tests.support.recordings import record

    path = tmp_path / "session.sparktop"
    record(path, 120)
    pid = start(small_pane, f"{SPARKTOP} replay {path}", "REPLAY", "c", CHARTS)
    os.kill(pid, signal.SIGHUP)
    assert_ended_cleanly(small_pane, pid)


@pytest.fixture
def sim_url() -> Iterator[str]:
    """A simulated Spark in a process of its own, answering."""
    import httpx

    port = free_port()
    command = [SPARKTOP, "sim", "--profile", "gemma4-26b-a4b-nvfp4", "--port", str(port)]
    command += ["--startup", "instant", "--quiet"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/metrics", timeout=1).status_code == 200
        return False

    try:
        if not wait_until(answers, 30, step=0.2):
            pytest.fail("the simulated Spark did not answer")
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_sigterm_ends_watch_on_charts(small_pane: str, tmp_path: Path, sim_url: str) -> None:
    record = tmp_path / "watch.sparktop"
    command = f"{SPARKTOP} watch {sim_url} --record {record}"
    pid = start(small_pane, command, "healthy", "c", CHARTS)
    os.kill(pid, signal.SIGTERM)
    assert_ended_cleanly(small_pane, pid)
    assert recording_complete(record)


def test_sighup_ends_watch_on_charts_while_the_terminal_does_not_read(
    small_pane: str, tmp_path: Path, sim_url: str
) -> None:
    record = tmp_path / "watch.sparktop"
    command = f"{SPARKTOP} watch {sim_url} --record {record} --interval 0.25"
    pid = start(small_pane, command, "healthy", "c", CHARTS)
    signal_while_stalled(small_pane, pid, signal.SIGHUP)
    wait_for_the_shell(small_pane)
    assert recording_complete(record)
