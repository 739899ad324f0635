"""Hostile text from servers and recordings: invisible bidi and zero-width characters never reach a
screen or a report, and raw HTML or Markdown in a recording is shown as typed in
``sparktop report --format md``, never rendered."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from sparktop import fmt
from sparktop.config import Settings
from sparktop.model import Event, ServerInfo, TargetInfo
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.recording.writer import Recorder
from sparktop.session.core import Session
from sparktop.session.feeds import Emit
from sparktop.tui.app import make_app
from sparktop.tui.widgets.status import StatusBar
from tests.support.frames import T0
from tests.support.recordings import observations

ROOT = Path(__file__).resolve().parents[2]

RLO = "\u202e"
INVISIBLE = (
    [chr(c) for c in range(0x200B, 0x2010)]  # zero-width space, joiners, direction marks
    + ["\u2028", "\u2029"]  # line and paragraph separators
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings and overrides
    + [chr(c) for c in range(0x2066, 0x206A)]  # bidi isolates
    + ["\ufeff"]  # byte-order mark, zero-width no-break space
)
HTML = "<img src=x onerror=alert(1)>"
MODEL = f"gemma{RLO}exe.txt\u200b{HTML}"
PROFILE = "prof**bold**\u2067"
WORKLOAD = "w_[link](http://evil.example)_\ufeff"
PHASE = "step|cell`code`\u200d"
MARKER = f"<script>alert(2)</script> ~~gone~~ ![img](http://evil.example/x.png){RLO}"


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_clean_strips_every_invisible_format_character(char: str) -> None:
    assert fmt.clean(f"a{char}b") == "ab"
    assert fmt.clean(f"a{char}b", keep_newlines=True) == "ab"


def test_clean_keeps_visible_text_of_every_script() -> None:
    text = "Qwen3 · 模型 · модель · نموذج · מודל · café 😀"
    assert fmt.clean(text) == text


def hostile_recording(path: Path) -> Path:
    """A recording whose texts (model, profile, workload, phase, marker, log) carry bidi and
    zero-width characters, HTML and Markdown."""
    recorder = Recorder(
        path,
        target=TargetInfo(f"http://127.0.0.1:8000{RLO}\u200b", "url"),
        settings={"interval": 1.0, "window": 60.0, "rate_window": 10.0},
        profile={"name": PROFILE},
        workload={"name": WORKLOAD},
    )
    for seen in observations(40):
        obs = ServerInfo(seen.t, f"0.23.0{RLO}", (MODEL,), 131072) if isinstance(seen, ServerInfo) else seen
        recorder(obs)
        if isinstance(obs, ServerInfo):
            recorder(
                Event(T0 + 1.5, "workload", PHASE, "workload", data={"phase": PHASE, "boundary": "start"})
            )
            recorder(Event(T0 + 2.0, "log", f"INFO {HTML} {RLO}log line", "vllm"))
            recorder(Event(T0 + 3.0, "marker", MARKER, "user"))
    recorder(Event(T0 + 39, "workload", PHASE, "workload", data={"phase": PHASE, "boundary": "end"}))
    assert recorder.close().ok
    return path


def _invisible(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if c in INVISIBLE]


def report(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``sparktop report PATH OPTIONS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "report", str(path), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_report_md_escapes_html_and_markdown_and_drops_invisible_characters(tmp_path: Path) -> None:
    proc = report(hostile_recording(tmp_path / "hostile.sparktop"), "--format", "md")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert _invisible(md) == []
    assert "<" not in md and ">" not in md.replace("> ", "")  # no tag: "> 1,000" is a bucket bound
    assert "&lt;img src=x onerror=alert(1)&gt;" in md  # the model's name, shown as typed
    assert (
        "&lt;script&gt;alert(2)&lt;/script&gt; \\~\\~gone\\~\\~ !\\[img\\](http://evil.example/x.png)" in md
    )
    assert "prof\\*\\*bold\\*\\*" in md and "w\\_\\[link\\](http://evil.example)\\_" in md
    lines = md.splitlines()
    at = next(i for i, line in enumerate(lines) if "step\\|cell" in line)
    header, rule = lines[at], lines[at + 1]
    assert "step\\|cell\\`code\\`" in header
    assert header.count("|") - header.count("\\|") == rule.count("|")  # the name is one cell


def test_report_table_keeps_the_names_as_typed_without_invisible_characters(tmp_path: Path) -> None:
    proc = report(hostile_recording(tmp_path / "hostile.sparktop"))
    assert proc.returncode == 0, proc.stderr
    assert _invisible(proc.stdout) == []
    assert "gemmaexe.txt<img src=x onerror=alert(1)>" in proc.stdout  # plain text: not escaped


async def test_the_dashboard_header_drops_invisible_characters(tmp_path: Path) -> None:
    path = hostile_recording(tmp_path / "hostile.sparktop")
    with Recording.open(path) as rec:
        feed = ReplayFeed(rec, playing=False, start_at=rec.start + 20)
        app = make_app(Settings(), feed)
        async with app.run_test(size=(200, 40)) as pilot:
            bar = app.screen.query_one(StatusBar)
            for _ in range(50):  # until the frame with the model's name is drawn
                await pilot.pause(0.05)
                header = "\n".join(bar.render_line(y).text for y in range(bar.size.height))
                if "exe.txt" in header:
                    break
            assert "gemmaexe.txt<img src=x onerror=alert(1)>" in header
            assert "http://127.0.0.1:8000 " in header
            assert _invisible(header) == []


class SessionFeed:
    """The frames of a real session, as a live feed hands them to the dashboard."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.span_s = 300.0

    async def run(self, emit: Emit) -> None:
        while True:
            emit(self.session.frame(self.span_s))
            await asyncio.sleep(0.02)

    def mark(self, note: str) -> None:
        pass


async def test_the_dashboard_header_never_shows_a_urls_credentials() -> None:
    session = Session(TargetInfo("http://admin:pAsSw0rd@127.0.0.1:8000/?token=tOkEn", "url"), start=T0)
    app = make_app(Settings(), SessionFeed(session))
    async with app.run_test(size=(200, 40)) as pilot:
        bar = app.screen.query_one(StatusBar)
        header = ""
        for _ in range(50):  # until the first frame is drawn
            await pilot.pause(0.05)
            header = "\n".join(bar.render_line(y).text for y in range(bar.size.height))
            if "127.0.0.1" in header:
                break
        assert "http://[redacted]@127.0.0.1:8000/?token=[redacted]" in header
        assert "pAsSw0rd" not in header and "tOkEn" not in header
