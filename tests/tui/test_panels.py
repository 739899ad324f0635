"""Panel contents from frames: values, unknowns with reasons, badges. No terminal needed."""

from __future__ import annotations

from dataclasses import replace

from sparktop.model import History, TargetInfo, Unknown
from sparktop.session.core import Session
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
    axis = drawing.time_axis(t, now=9.0, span=10.0, width=5, interval=1.0)
    assert axis.step == 2.0 and axis.full
    # two scrapes a column, on a grid fixed in time: (1, 2), (3, 4), (5, 6), (7, 8), (9, next)
    cols = drawing.columns(t, v, axis)
    assert cols[0] == 3.0  # 2 s is NaN (unknown): the column shows the known value
    assert cols[1] != cols[1] and cols[2] != cols[2]  # nothing from 3 s to 6 s: a gap
    assert cols[3] == 5.0
    assert cols[4] == 7.0
    both = drawing.columns([7.0, 8.0], [2.0, 6.0], axis)
    assert both[3] == 4.0
    assert drawing.columns([7.0, 8.0], [2.0, 6.0], axis, how="max")[3] == 6.0


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


def test_prefix_cache_hit_rate_is_a_row_when_the_server_has_one() -> None:
    frame = frame_at_end(seconds=60)
    assert frame.figures is not None
    hits = frame.figures.prefix_cache_hit_rate
    assert isinstance(hits, float)
    row = next(r for r in panels.kv_cache(frame).rows if r.series == "prefix_hit_rate")
    assert row.value == f"{hits * 100:.0f}%" and row.top == 1.0
    # never known in the span: no row
    none = Unknown("no prefix-cache queries in the window")
    series = dict(frame.history.series)
    series["prefix_hit_rate"] = tuple(float("nan") for _ in frame.history.t)
    quiet = replace(
        frame,
        figures=replace(frame.figures, prefix_cache_hit_rate=none),
        history=History(frame.history.t, series, frame.history.span_s),
    )
    assert all(r.series != "prefix_hit_rate" for r in panels.kv_cache(quiet).rows)
    # known earlier in the span: the row stays, with a dash, and the note says why
    series["prefix_hit_rate"] = tuple(0.4 for _ in frame.history.t)
    earlier = replace(quiet, history=History(frame.history.t, series, frame.history.span_s))
    view = panels.kv_cache(earlier)
    assert view.rows[-1].label == "hit rate" and view.rows[-1].value == "–"
    assert view.note.endswith("prefix hits: no prefix-cache queries in the window")


def test_speculative_decoding_shows_only_where_the_server_drafts() -> None:
    frame = frame_at_end(seconds=60)
    assert frame.figures is not None
    plain = panels.decode(frame)
    assert [r.series for r in plain.rows] == ["decode_tps", "decode_per_user"]
    assert "spec" not in plain.note
    mtp = replace(
        frame, figures=replace(frame.figures, spec_decode_acceptance=0.57, spec_decode_mean_length=2.15)
    )
    view = panels.decode(mtp)
    assert view.rows[-1].label == "spec acc" and view.rows[-1].value == "57%"
    assert "2.15 tok/step" in view.note and "57%" in view.note


def test_an_idle_speculative_server_shows_a_dash_and_the_reason() -> None:
    """Acceptance known earlier in the span, unknown now: the row stays, with a dash and why."""
    frame = frame_at_end(seconds=60)
    assert frame.figures is not None
    history = frame.history
    series = dict(history.series)
    series["spec_acceptance"] = tuple(0.6 if i < 10 else float("nan") for i in range(len(history.t)))
    idle = replace(
        frame,
        figures=replace(frame.figures, spec_decode_acceptance=Unknown("no draft tokens in the window")),
        history=History(history.t, series, history.span_s),
    )
    view = panels.decode(idle)
    assert view.rows[-1].label == "spec acc" and view.rows[-1].value == "–"
    assert "no draft tokens in the window" in view.note


def test_a_headline_drops_whole_figures_rather_than_cutting_one() -> None:
    from sparktop.tui.widgets.panel import fit_headline

    text = "GPU 110.0 GiB · free 9.5 GiB"
    assert fit_headline(text, 40) == text
    assert fit_headline(text, 27) == "GPU 110.0 GiB"  # not "GPU 110.0 GiB · free 9."
    assert fit_headline(text, 8) == "GPU 110…"  # one figure that alone does not fit says it is cut
    assert fit_headline(text, 0) == ""
