"""80x24, the operator's SSH window: the status bar keeps what matters, the keys are all listed."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.containers import VerticalScroll

from sparktop.config import Settings
from sparktop.model import Frame, RecordingStatus, TargetInfo, Unknown
from sparktop.recording.reader import Recording
from sparktop.recording.replay import ReplayFeed
from sparktop.session.feeds import StaticFeed
from sparktop.tui.app import ReplayApp, SparktopApp, make_app
from sparktop.tui.screens.help import HelpScreen
from sparktop.tui.widgets.keybar import KEYS, arrange, width_of
from sparktop.tui.widgets.status import Part, StatusBar, fit
from tests.support.frames import frame_at_end
from tests.support.recordings import record

CLOCK = re.compile(r"\d\d:\d\d:\d\d")


def rendered(app: App[int]) -> list[str]:
    """The screen's lines as the terminal gets them (Textual's compositor, every layer)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def recorded(frame: Frame) -> Frame:
    """``frame`` from a recorded live session: REC in the status bar."""
    return replace(frame, recording=RecordingStatus("/tmp/demo.sparktop", 1_234_567, True))


def unreachable(frame: Frame) -> Frame:
    server = replace(
        frame.server,
        state="unreachable",
        since=frame.t - 20,
        scrape_ok=False,
        failed_scrapes=7,
        detail="connection refused by 127.0.0.1:8000 (is the server up? ECONNREFUSED)",
    )
    return replace(frame, server=server)


async def status_lines(frame: Frame, *, pause: bool = False, width: int = 80) -> list[str]:
    app = make_app(Settings(), StaticFeed([frame]))
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause(0.1)
        if pause:
            await pilot.press("p")
            await pilot.pause(0.05)
        lines = rendered(app)[:2]
        # what tests read off the bar is what is drawn
        assert app.screen.query_one(StatusBar).text.splitlines() == lines
        return lines


async def test_the_status_bar_keeps_state_paused_rec_simulated_and_clock_at_80_columns() -> None:
    frame = recorded(frame_at_end(seconds=60))
    assert frame.target.simulated and frame.workload is not None
    first, second = await status_lines(frame, pause=True)
    assert "SIMULATED" in first
    assert "model gemma-4-26b-a4b-nvfp4" in first
    assert re.search(r"● healthy \d", second), second
    assert "PAUSED" in second
    assert "● REC" in second
    assert CLOCK.search(second), second


async def test_unreachable_and_paused_fit_at_80_columns() -> None:
    first, second = await status_lines(unreachable(recorded(frame_at_end(seconds=60))), pause=True)
    assert "SIMULATED" in first
    assert "✖ unreachable 20s" in second
    assert "scrape ✖ 7×" in second
    assert "PAUSED" in second
    assert "● REC" in second


async def test_wide_status_bar_says_everything() -> None:
    frame = recorded(frame_at_end(seconds=60))
    first, second = await status_lines(frame, pause=True, width=200)
    assert "sparktop" in first and "http://127.0.0.1:8000" in first and "vLLM 0.23.0" in first
    assert "PAUSED (still collecting)" in second
    assert "REC 1.2 MB" in second
    assert "load C-quick 10 users 42/60 (10 in flight)" in second


async def test_the_model_and_the_profile_are_each_named_once_and_labelled() -> None:
    frame = frame_at_end(seconds=60)
    # the served name and a profile named after it: the model, once
    first, _ = await status_lines(frame, width=160)
    assert "model gemma-4-26b-a4b-nvfp4" in first
    assert "gemma4-26b-a4b-nvfp4" not in first
    # a profile that says something else: both, each labelled
    other = replace(frame, target=replace(frame.target, profile="gemma4-nvfp4-mtp"))
    first, _ = await status_lines(other, width=160)
    assert "model gemma-4-26b-a4b-nvfp4" in first
    assert "profile gemma4-nvfp4-mtp" in first
    # the model not known yet: the profile says what is served
    unknown = replace(frame, target=replace(frame.target, model=Unknown("not known yet")))
    first, _ = await status_lines(unknown, width=160)
    assert "profile gemma4-26b-a4b-nvfp4" in first


def test_cuts_go_least_important_first_and_keep_the_protected_parts() -> None:
    parts = (
        Part(" ● healthy 5m ", "s"),
        Part("│ scrape ok 4 ms ", "s", ((10, ""),)),
        Part("│ ⏸ PAUSED (still collecting) ", "s", ((25, "│ ⏸ PAUSED "),)),
        Part("│ ● REC 1.2 MB ", "s", ((50, "│ ● REC "),)),
        Part(" 12:00:00 ", "s", ((60, ""),)),
    )
    assert fit(parts, 200) == [p.text for p in parts]
    assert fit(parts, 70) == [
        " ● healthy 5m ",
        "",
        "│ ⏸ PAUSED (still collecting) ",
        "│ ● REC 1.2 MB ",
        " 12:00:00 ",
    ]
    assert fit(parts, 55) == [" ● healthy 5m ", "", "│ ⏸ PAUSED ", "│ ● REC 1.2 MB ", " 12:00:00 "]
    narrow = fit(parts, 20)  # too narrow for anything: the protected parts stay, the line is cut
    assert narrow == [" ● healthy 5m ", "", "│ ⏸ PAUSED ", "│ ● REC ", ""]


def test_the_keys_fit_80_columns_live_and_in_replay() -> None:
    rows, _ = arrange((), 80)
    assert rows == (KEYS,)
    rows, tight = arrange(ReplayApp.extra_keys, 80)
    assert len(rows) == 2 and all(width_of(row, tight=tight) <= 80 for row in rows)
    rows, _ = arrange(ReplayApp.extra_keys, 200)
    assert len(rows) == 1


def replay_app(tmp_path: Path) -> tuple[SparktopApp, Recording]:
    path = tmp_path / "session.sparktop"
    record(path, 120)
    recording = Recording.open(path)
    app = make_app(Settings(), ReplayFeed(recording, playing=False))
    assert isinstance(app, ReplayApp)
    return app, recording


def key_names(app: SparktopApp) -> list[str]:
    """How the key bar and the help write each key the app answers (escape is the help's close)."""
    return [app.get_key_display(b) for b in app.BINDINGS if isinstance(b, Binding) and b.show]


async def test_the_key_bar_lists_every_replay_key_at_80x24(tmp_path: Path) -> None:
    app, recording = replay_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            shown = rendered(app)
            keys = "\n".join(shown[-2:])  # the key bar: two rows at this width
            assert all(len(line.rstrip()) <= 80 for line in shown)
            assert "…" not in keys
            for name in key_names(app):
                assert name in keys, (name, keys)
            for label in ("play", "speed", "step", "event", "start/end", "go to", "quit", "help"):
                assert label in keys
    finally:
        recording.close()


async def test_the_help_lists_every_replay_key_within_80x24(tmp_path: Path) -> None:
    app, recording = replay_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("question_mark")
            await pilot.pause(0.2)
            assert isinstance(app.screen, HelpScreen)
            text = "\n".join(rendered(app))
            for keys, what in app.screen.rows:
                assert re.search(rf"{re.escape(keys)}  {re.escape(what)}", text), (keys, what)
            assert app.screen.query_one(VerticalScroll).max_scroll_y == 0  # all of it in view
            listed = " ".join(keys for keys, _ in app.screen.rows).split()
            for name in key_names(app):
                assert name in listed, name
    finally:
        recording.close()


async def test_a_help_longer_than_the_terminal_scrolls(tmp_path: Path) -> None:
    app, recording = replay_app(tmp_path)
    try:
        async with app.run_test(size=(80, 16)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("question_mark")
            await pilot.pause(0.2)
            assert isinstance(app.screen, HelpScreen)
            _, last_what = app.screen.rows[-1]
            assert last_what not in "\n".join(rendered(app))
            await pilot.press("end")
            await pilot.pause(0.2)
            assert last_what in "\n".join(rendered(app))
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
    finally:
        recording.close()


def test_the_target_is_shortened_before_the_model_goes() -> None:
    frame = frame_at_end(seconds=60)
    target = TargetInfo(
        "http://spark-01.lab.example.org:8000",
        "url",
        model="nvidia/Gemma-4-26B-A4B-NVFP4",
        version="0.23.0",
        simulated=True,
    )
    bar = StatusBar()
    bar.show(replace(frame, target=target))
    (left, right), _ = bar.lines(80)
    line = "".join(text for text, _ in (*left, *right))
    assert len(line) <= 80
    assert "model nvidia/Gemma-4-26B-A4B-NVFP4" in line
    assert "spark-01.lab.example.org:8000" in line and "http://" not in line
    assert line.rstrip().endswith("SIMULATED")
