"""Panel contents from frames: values, unknowns with reasons, badges. No terminal needed."""

from __future__ import annotations

from dataclasses import replace

from sparktop.model import TargetInfo, Unknown
from sparktop.session import Session
from sparktop.tui import drawing, panels
from tests.support.frames import T0, frame_at_end, gb10_sample


def test_every_panel_from_a_full_frame() -> None:
    frame = frame_at_end(seconds=120)
    views = {b.__name__: b(frame) for b in panels.BUILDERS}
    assert views["queue"].headline.endswith("wait")
    assert views["kv_cache"].rows[0].top == 1.0
    assert views["ttft"].headline.startswith("p50 ") and " · p99 " in views["ttft"].headline
    assert views["gpu"].badge == "SIMULATED"
    assert "J/token" in views["gpu"].note
    assert views["memory"].title == "Unified memory"
    assert "GiB" in views["memory"].headline
    assert any("switched to 10 users" in text for text, _ in views["events"].lines)
    marker = next(level for text, level in views["events"].lines if "switched" in text)
    assert marker == "warn"


def test_empty_session_shows_dashes_and_reasons() -> None:
    session = Session(TargetInfo("http://x:1", "url"), start=T0)
    frame = session.frame(60.0, now=T0 + 1)
    q = panels.queue(frame)
    assert q.headline == "– run · – wait"
    assert q.note == "no figures yet"
    g = panels.gpu(frame)
    assert g.note == "no GPU sample yet" and g.badge == ""
    assert panels.memory(frame).headline == "–"


def test_unsupported_gpu_fields_are_named() -> None:
    frame = frame_at_end(seconds=10)
    sample = gb10_sample(frame.t, 0.5)
    device = replace(sample.devices[0], power_w=Unknown("not supported on this device"))
    frame = replace(frame, gpu=replace(sample, devices=(device,)))
    view = panels.gpu(frame)
    assert "power: not supported on this device" in view.note
    assert "–" in view.headline


def test_columns_follow_time_and_leave_gaps() -> None:
    t = [0.0, 1.0, 2.0, 8.0, 9.0]
    v = [1.0, 3.0, float("nan"), 5.0, 7.0]
    cols = drawing.columns(t, v, width=5, now=10.0, span=10.0)
    assert cols[0] == 2.0  # 0 s and 1 s fall in the first 2-second column
    assert cols[1] != cols[1]  # 2 s is NaN: no data
    assert cols[2] != cols[2] and cols[3] != cols[3]
    assert cols[4] == 6.0
    assert drawing.columns(t, v, width=5, now=10.0, span=10.0, how="max")[4] == 7.0


def test_sparkline_levels() -> None:
    rows = drawing.sparkline([0.0, 4.0, 8.0, float("nan")], height=1, top=8.0)
    assert rows == ["▁▄█ "]  # zero shows the lowest block; no data is blank
    tall = drawing.sparkline([8.0, 4.0], height=2, top=8.0)
    assert tall == ["█ ", "██"]
    assert drawing.bar(0.5, 4) == "██  "
    assert drawing.bar(float("nan"), 3) == "   "


def test_startup_view_lines() -> None:
    from sparktop.tui.widgets.startup import starting, startup_lines
    from tests.support.frames import starting_frame

    frame = starting_frame()
    assert starting(frame)
    text = [line for line, _ in startup_lines(frame, 120)]
    assert text[0] == "vLLM is starting"
    done = [t for t, style in startup_lines(frame, 120) if style == "startup--done"]
    current = [t for t, style in startup_lines(frame, 120) if style == "startup--current"]
    assert any("engine start" in t for t in done)
    assert len(current) == 1 and "weights load" in current[0] and "50%" in current[0]
    assert any(t.strip().startswith("·  CUDA graphs") for t in text)
    healthy = replace(frame, server=replace(frame.server, state="healthy"))
    assert not starting(healthy)
