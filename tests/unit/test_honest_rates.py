"""Decode speed with one definition (never per user above the total), figures after a restart from
the new server only, and panels that say when their figures are stale."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparktop.derive.summary import RunSummary
from sparktop.derive.timeline import Timeline
from sparktop.model import (
    HISTOGRAM_KEYS,
    SCALAR_KEYS,
    MetricSnapshot,
    ScrapeResult,
    ServerStatus,
    TargetInfo,
    Unknown,
    WorkloadProgress,
)
from sparktop.session.core import Session
from sparktop.tui import panels
from tests.support.frames import T0, frame_at_end


def snap(t: float, gen: float, running: float) -> MetricSnapshot:
    scalars: dict[str, float | Unknown] = dict.fromkeys(SCALAR_KEYS, Unknown("absent"))
    scalars.update(generation_tokens_total=gen, requests_running=running)
    return MetricSnapshot(
        t, scalars, dict.fromkeys(HISTOGRAM_KEYS, Unknown("absent")), {"stop": 0.0}, (), (), {}
    )


def test_one_request_running_decodes_per_user_at_the_total_speed() -> None:
    """The reported case: one request at 7.5 tok/s read as '3.8 tok/s · 7.5/user' (the mean of a
    lagging gauge); with one request running, per user and total are the same speed."""
    tl = Timeline()
    running = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    gen = 0.0
    for i, r in enumerate(running):
        if i >= 2:
            gen += 7.5
        tl.add(snap(float(i), gen, float(r)))
    f = tl.figures(60.0, 10.0)
    assert f is not None
    assert f.decode_tps == pytest.approx(7.5) and f.decode_tps_per_request == pytest.approx(7.5)


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(0, 500), st.floats(0.2, 5.0)),
        min_size=2,
        max_size=60,
    )
)
def test_per_user_never_exceeds_the_total(steps: list[tuple[int, float, float]]) -> None:
    tl, run = Timeline(), RunSummary()
    t = gen = 0.0
    for running, tokens, dt in steps:
        t += dt
        gen += tokens
        s = snap(t, gen, float(running))
        tl.add(s)
        run.add_scrape(ScrapeResult(t, "healthy", "ok", 0.01, s))
        f = tl.figures(60.0, 10.0)
        assert f is not None
        total, per = f.decode_tps, f.decode_tps_per_request
        if isinstance(per, float) and isinstance(total, float):
            assert per <= total * (1 + 1e-9)
    whole = run.figures()
    per_run, total_run = whole["decode_tps_per_user"], whole["decode_tps"]
    if isinstance(per_run, float) and isinstance(total_run, float):
        assert per_run <= total_run * (1 + 1e-9)


def test_no_tokens_in_the_window_is_zero_total_and_no_per_user_figure() -> None:
    tl = Timeline()
    for i in range(5):
        tl.add(snap(float(i), 100.0, 3.0))  # three requests in prefill: nothing decoded yet
    f = tl.figures(60.0, 10.0)
    assert f is not None and f.decode_tps == 0.0
    assert isinstance(f.decode_tps_per_request, Unknown)


def test_panels_from_old_scrapes_say_they_are_stale_and_how_old() -> None:
    frame = frame_at_end(seconds=120)
    assert frame.figures is not None
    fresh = replace(frame, t=frame.figures.t + 1.0, interval_s=1.0)
    later = replace(
        frame,
        t=frame.figures.t + 14.0,
        interval_s=1.0,
        server=ServerStatus("unreachable", frame.figures.t + 2, "refused", False, None, 12, frame.figures.t),
    )
    for build in panels.BUILDERS[:6]:
        assert "stale" not in build(fresh).note
        view = build(later)
        assert view.note == "stale: last scrape 14s ago, unreachable" and view.note_level == "warn", view.key
    assert "stale" not in panels.BUILDERS[-1](later).note  # events are not scrapes


def test_a_request_still_waiting_for_its_first_token_shows_in_the_client_ttft() -> None:
    """While the queue grows no request finishes, so finished-request percentiles say nothing: the
    age of the oldest unanswered request is shown instead of a reassuring old p99."""
    session = Session(TargetInfo("http://x:1", "url"), start=T0)
    session.observe(WorkloadProgress("burst", 0, 60, 60, 0, 5.0, T0 + 5.0, unanswered_since=T0 + 1.0))
    frame = session.frame(300.0, now=T0 + 31.0)
    assert frame.client is not None and frame.client.oldest_unanswered_s == pytest.approx(30.0)
    view = panels.ttft(frame)
    assert "waiting 30.00 s" in view.headline and "has no first token yet" in view.note
    session.observe(WorkloadProgress("burst", 60, 60, 0, 0, 40.0, T0 + 40.0))
    later = session.frame(300.0, now=T0 + 41.0)
    assert later.client is None  # nothing waits, nothing finished in this test: no client figures
