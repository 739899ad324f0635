"""A session fed a container's log lines and readings: startup and container in the frame."""

from __future__ import annotations

from sparktop import codec
from sparktop.model import ContainerStats, Event, Frame, TargetInfo, Unknown
from sparktop.session.core import Session
from sparktop.sim import startup as st
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import get_profile


def log_events(profile_name: str = "gemma4-26b-a4b-nvfp4") -> list[Event]:
    profile = get_profile(profile_name)
    steps = st.startup_script(
        profile,
        profile.serving,
        plan_memory(profile),
        mode="realistic",
        served_model_name="g",
        host="0.0.0.0",
        port=8000,
        vllm_version=profile.vllm_version,
    )
    t, out = 1_750_000_000.0, []
    for step in steps:
        t += step.after_s
        out += [Event(t, "log", st.LogFormat.render(line, t), "container") for line in step.lines]
    return out


def stats(t: float, state: str = "running", **kw: object) -> ContainerStats:
    return ContainerStats(t, "vllm-bench", state, 12.5, 2.0e9, 8.0e9, **kw)  # type: ignore[arg-type]


def test_log_lines_become_startup_progress_and_events_not_event_spam() -> None:
    session = Session(TargetInfo("x", "container"), start=1_750_000_000.0)
    recorded: list[object] = []
    session.sinks.append(recorded.append)
    lines = log_events()
    assert session.frame(60).startup is None  # no log yet: nothing to say
    for event in lines:
        session.observe(event)
    frame = session.frame(60)
    assert recorded == lines  # the recorder gets the raw lines, untouched
    assert frame.startup is not None and frame.startup.ready
    assert frame.startup.phases[0].name == "engine"
    assert all(e.kind in ("startup", "error") for e in frame.events)  # raw lines stay out of the events
    assert len(frame.events) < len(lines) / 2
    assert list(session.logs)[-1] is lines[-1] and len(session.logs) <= 200


def test_container_readings_reach_the_frame_and_the_codec_carries_them() -> None:
    session = Session(TargetInfo("x", "container"), start=1_750_000_000.0)
    for event in log_events()[:20]:
        session.observe(event)
    session.observe(stats(1_750_000_100.0))
    frame = session.frame(60)
    assert frame.container == stats(1_750_000_100.0)
    assert frame.startup is not None and frame.startup.current == "weights"
    dead = ContainerStats(
        1_750_000_200.0,
        "vllm-bench",
        "exited",
        Unknown("container exited"),
        Unknown("x"),
        Unknown("x"),
        137,
        True,
        "OOM",
    )
    session.observe(dead)
    frame = session.frame(60)
    assert frame.container == dead
    assert codec.decode(Frame, codec.encode(frame)) == frame


def test_replaying_the_same_observations_gives_the_same_startup() -> None:
    observations: list[Event | ContainerStats] = [*log_events("gemma4-26b-a4b-bf16"), stats(1_750_009_000.0)]
    frames = []
    for _ in range(2):
        session = Session(TargetInfo("x", "container"), start=1_750_000_000.0)
        for obs in observations:
            session.observe(obs)
        frames.append(session.frame(60, now=1_750_009_000.0))
    assert frames[0].startup == frames[1].startup and frames[0].events == frames[1].events
    assert frames[0].container == frames[1].container


def test_frames_without_a_container_are_unchanged() -> None:
    frame = Session(TargetInfo("http://x", "url")).frame(60)
    assert frame.startup is None and frame.container is None
