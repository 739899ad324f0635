"""Presets: the arena workloads as published, their quick variants, smoke and demo."""

from __future__ import annotations

import math

import pytest

from sparktop.workload.presets import QUICK_MAX_OUTPUT, get_preset, names
from sparktop.workload.spec import ClosedLoop, OpenLoop, Workload


def token_load(stage: OpenLoop) -> float:
    """Tokens per second the stage asks of the server, on average."""
    per_request = (
        (241 + 205) * stage.length_scale
        if stage.lengths == "conversation"
        else stage.input_len + stage.output_len
    )
    return stage.rate * per_request


def closed(w: Workload) -> list[ClosedLoop]:
    assert all(isinstance(s, ClosedLoop) for s in w.stages)
    return [s for s in w.stages if isinstance(s, ClosedLoop)]


def grid(w: Workload) -> list[tuple[int, int, int, int]]:
    return [(s.input_len, s.output_len, s.depth, s.users) for s in closed(w)]


def test_every_arena_workload_and_the_extras_exist() -> None:
    assert set(names()) == {"A", "B", "C", "E", "F", "G", "H", "I", "J", "smoke", "demo"}
    assert get_preset("c").name == "C"  # letters are case-insensitive
    with pytest.raises(KeyError):
        get_preset("D")  # the arena has no published D


@pytest.mark.parametrize(
    ("key", "prompts", "output", "depth", "users"),
    [
        ("A", (4096, 8192, 16384, 25000), 256, 0, (1, 5, 10)),
        ("B", (25000,), 256, 0, (5, 10, 20)),
        ("C", (1024,), 1024, 0, (1, 5, 10)),
        ("E", (2048,), 512, 4, (1, 5, 10)),
        ("F", (8192,), 512, 0, (5, 10, 20)),
        ("G", (256,), 4096, 0, (1, 5, 10)),
    ],
)
def test_closed_loop_presets_match_the_published_table(
    key: str, prompts: tuple[int, ...], output: int, depth: int, users: tuple[int, ...]
) -> None:
    w = get_preset(key)
    assert grid(w) == [(pp, output, depth, c) for pp in prompts for c in users]
    for s in closed(w):
        assert s.runs == 3 and s.warmup and s.force_output  # --runs 3, warmed up per step
        assert s.name.startswith(f"{key} pp=")
    assert w.seed == 42


def test_e_is_five_turns_of_growing_context() -> None:
    step = closed(get_preset("E"))[0]
    assert step.depth + 1 == 5
    assert step.requests == step.users * 3 * 5
    assert step.max_context == 5 * 2048 + 4 * 512
    assert "first turn" in get_preset("E").notes


@pytest.mark.parametrize(
    ("key", "prompts", "rate", "burstiness", "max_c", "lengths"),
    [
        ("H", 200, 0.3, 0.7, None, "random"),
        ("I", 250, 0.3, 0.7, None, "conversation"),
        ("J", 300, 1.5, 1.0, 25, "random"),
    ],
)
def test_open_loop_presets_match_the_published_table(
    key: str, prompts: int, rate: float, burstiness: float, max_c: int | None, lengths: str
) -> None:
    w = get_preset(key)
    (stage,) = w.stages
    assert isinstance(stage, OpenLoop)
    assert (stage.num_prompts, stage.rate, stage.burstiness, stage.max_concurrency) == (
        prompts,
        rate,
        burstiness,
        max_c,
    )
    assert stage.lengths == lengths
    assert w.seed == 42
    if lengths == "random":
        assert (stage.input_len, stage.output_len, stage.range_ratio) == (4000, 500, 0.9)


@pytest.mark.parametrize("key", ["A", "B", "C", "E", "F", "G"])
def test_quick_closed_variants_keep_the_steps_and_shrink_the_work(key: str) -> None:
    full, quick = get_preset(key), get_preset(key, quick=True)
    assert [(s.users, s.depth) for s in closed(quick)] == [(s.users, s.depth) for s in closed(full)]
    for f, q in zip(closed(full), closed(quick), strict=True):
        assert q.input_len < f.input_len
        assert q.output_len <= min(f.output_len, QUICK_MAX_OUTPUT)
        assert q.runs == 1 and not q.warmup
        assert q.name.startswith(f"{key} pp={q.input_len} tg={q.output_len}")
    # prompt sizes keep their order (context scaling still scales)
    assert [s.input_len for s in closed(quick)] == sorted(s.input_len for s in closed(quick))


@pytest.mark.parametrize("key", ["H", "I", "J"])
def test_quick_open_variants_keep_rate_relative_to_prompts(key: str) -> None:
    (full,) = get_preset(key).stages
    (quick,) = get_preset(key, quick=True).stages
    assert isinstance(full, OpenLoop) and isinstance(quick, OpenLoop)
    assert full.num_prompts is not None and quick.num_prompts is not None
    assert quick.num_prompts < full.num_prompts
    # ten times the rate of requests an eighth the size: about the same token load on the server
    assert token_load(quick) == pytest.approx(token_load(full), rel=0.5)
    assert quick.num_prompts / quick.rate < full.num_prompts / full.rate / 50
    assert (quick.burstiness, quick.max_concurrency, quick.lengths) == (
        full.burstiness,
        full.max_concurrency,
        full.lengths,
    )


def test_smoke_is_short_and_covers_both_loops() -> None:
    w = get_preset("smoke")
    kinds = {type(s) for s in w.stages}
    assert kinds == {ClosedLoop, OpenLoop}
    assert w.requests is not None and w.requests <= 30
    assert get_preset("smoke", quick=True) == w
    # the single-user step that decode_per_user_min is judged on, measured after a warm-up
    alone = [s for s in w.stages if isinstance(s, ClosedLoop) and s.users == 1]
    assert len(alone) == 1 and alone[0].warmup and alone[0].requests >= 3


def test_demo_loops_through_calm_ramp_burst_and_recovery() -> None:
    w = get_preset("demo")
    assert w.repeat
    assert w.requests is None
    stages = [s for s in w.stages if isinstance(s, OpenLoop)]
    assert len(stages) == len(w.stages) == 4
    load = [s.rate * (s.input_len + s.output_len) for s in stages]
    burst = max(range(4), key=load.__getitem__)
    assert 0 < burst < 3  # the burst sits between calm traffic and recovery
    assert load[-1] < load[burst] and load[0] < load[burst]
    assert all(s.duration_s is not None and not math.isinf(s.rate) for s in stages)


def test_stage_definitions_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="users"):
        ClosedLoop(name="x", users=0, input_len=1, output_len=1)
    with pytest.raises(ValueError, match="prompts or a duration"):
        OpenLoop(name="x", rate=1.0)
    with pytest.raises(ValueError, match="range ratio"):
        OpenLoop(name="x", rate=1.0, num_prompts=3, range_ratio=1.5)
    with pytest.raises(ValueError, match="finite rate"):
        OpenLoop(name="x", rate=math.inf, duration_s=3)
