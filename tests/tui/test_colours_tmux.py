"""What the README promises of the terminal: sparktop uses the room of 200x60, reads with 16 colours
(a terminal that has no more gets none of the 256 or true colours) and with ``NO_COLOR`` (no colour
at all). The real program in tmux, its screen read back with its escape sequences."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import SPARKTOP, Pane

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colours(screen: str) -> set[str]:
    """Every colour the screen's SGR sequences set: ``38;5;n``/``48;5;n`` (256), ``38;2;r;g;b``
    (true colour), ``31``, ``97``... (the 16), each as written."""
    found: set[str] = set()
    for match in SGR.finditer(screen):
        params = match.group(1).replace(":", ";").split(";")
        i = 0
        while i < len(params):
            p = params[i]
            if p in ("38", "48", "58") and i + 1 < len(params):
                width = 3 if params[i + 1] == "5" else 5
                found.add(";".join(params[i : i + width]))
                i += width
                continue
            if p.isdigit() and (
                30 <= int(p) <= 37 or 40 <= int(p) <= 47 or 90 <= int(p) <= 97 or 100 <= int(p) <= 107
            ):
                found.add(p)
            i += 1
    return found


def beyond_16(found: set[str]) -> set[str]:
    return {c for c in found if c.startswith(("38;", "48;", "58;"))}


def open_pane(tmp_path: Path, width: int, height: int) -> Pane:
    env = {"SPARKTOP_CONFIG": str(tmp_path / "none.toml"), "XDG_DATA_HOME": str(tmp_path)}
    return Pane("sparktop-colours", width, height, env)


@pytest.fixture
def large(tmp_path: Path) -> Iterator[Pane]:
    pane = open_pane(tmp_path, 200, 60)
    yield pane
    pane.close()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Pane]:
    pane = open_pane(tmp_path, 80, 24)
    yield pane
    pane.close()


def demo(term: str, *, no_color: bool = False) -> str:
    """``sparktop demo`` as a terminal of type ``term`` runs it: TERM alone says what it can show."""
    unset = "-u PYTHONPATH -u COLORTERM -u NO_COLOR -u FORCE_COLOR -u TEXTUAL_COLOR_SYSTEM"
    extra = " NO_COLOR=1" if no_color else ""
    run = f"{SPARKTOP} demo --startup instant --speed 4 --no-record"
    return f"env {unset} TERM={term}{extra} {run}; echo exit=$?"


def dashboard(pane: Pane) -> str:
    """The screen, with escapes, once the demo's load drives the dashboard."""
    pane.wait_for(r"load demo")
    pane.wait_for(r"scrape ok")
    return pane.screen(escapes=True)


def quit_cleanly(pane: Pane) -> None:
    pane.keys("q")
    shown = pane.wait_for(r"(?m)^exit=\d+$")
    assert re.search(r"(?m)^exit=0$", shown), shown


def test_sixteen_colours_at_200x60(large: Pane) -> None:
    large.run(demo("xterm"))
    shown = dashboard(large)
    found = colours(shown)
    assert found, "no colour at all on a terminal that has 16"
    assert beyond_16(found) == set(), sorted(beyond_16(found))
    # the room is used: rows down to the bottom, and the status bar's clock at the right edge
    lines = large.screen().splitlines()
    assert len(lines) == 60
    drawn = [i for i, line in enumerate(lines) if line.strip()]
    assert drawn[0] == 0 and drawn[-1] >= 57, drawn
    assert max(len(line.rstrip()) for line in lines) >= 198
    assert re.search(r"\d\d:\d\d:\d\d\s*$", lines[1]) or re.search(r"\d\d:\d\d:\d\d\s*$", lines[0]), lines[:2]
    quit_cleanly(large)


def test_256_colours_are_used_where_the_terminal_has_them(small: Pane) -> None:
    """The counterpart of the 16-colour test: the same check does see richer colours when allowed."""
    small.run(demo("xterm-256color"))
    assert beyond_16(colours(dashboard(small)))
    quit_cleanly(small)


def test_no_color_draws_no_colour_at_all(small: Pane) -> None:
    small.run(demo("xterm-256color", no_color=True))
    shown = dashboard(small)
    assert colours(shown) == set(), sorted(colours(shown))
    assert "SIMULATED" in shown
    quit_cleanly(small)
