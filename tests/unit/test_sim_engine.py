"""The scheduler model: batching, chunked prefill, KV capacity, preemption, costs, spec decode."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sparktop.sim.costmodel import StepCost
from sparktop.sim.engine import Engine, EngineConfig, Request, StepResult

COST = StepCost(
    base_s=0.02,
    expert_s=0.03,
    expert_hit=0.1,
    per_seq_s=0.001,
    per_ctx_token_s=1e-7,
    per_prefill_token_s=1e-4,
    per_prefill_attn_s=1e-8,
)


def config(**kw: object) -> EngineConfig:
    base = EngineConfig(
        cost=COST, max_num_seqs=8, max_num_batched_tokens=512, block_size=16, num_blocks=10_000
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def run(engine: Engine, start: float = 0.0, limit: int = 100_000) -> list[StepResult]:
    """Drive the engine in virtual time until it is idle."""
    steps: list[StepResult] = []
    now = start
    for _ in range(limit):
        if not engine.has_work:
            return steps
        result = engine.step(now)
        if result is None:
            wake = engine.next_wakeup()
            assert wake is not None and wake > now
            now = wake
            continue
        steps.append(result)
        now = result.end
    raise AssertionError("engine did not finish")


def req(i: int, prompt: int = 100, out: int = 20) -> Request:
    return Request(request_id=f"r{i}", prompt_len=prompt, target=out, max_tokens=out)


def test_every_request_gets_exactly_its_tokens_and_the_cache_is_freed() -> None:
    engine = Engine(config())
    requests = [req(i, prompt=50 + 37 * i, out=5 + 3 * i) for i in range(12)]
    for r in requests:
        engine.add(r, 0.0)
    steps = run(engine)
    produced: dict[str, int] = {}
    for s in steps:
        for r, n in s.emissions:
            produced[r.request_id] = produced.get(r.request_id, 0) + n
    assert produced == {r.request_id: r.target for r in requests}
    assert all(r.done and r.out == r.target for r in requests)
    assert engine.free_blocks == engine.config.num_blocks


def test_running_batch_never_exceeds_max_num_seqs_and_waiting_is_fcfs() -> None:
    engine = Engine(config(max_num_seqs=3))
    requests = [req(i, prompt=10, out=30) for i in range(7)]
    for r in requests:
        engine.add(r, 0.0)
    steps = run(engine)
    assert max(s.running + len(s.finished) for s in steps) <= 3
    assert max(s.waiting for s in steps) == 4
    firsts = [r.first_token or 0.0 for r in requests]
    assert firsts == sorted(firsts)  # first come, first served
    assert requests[3].first_token is not None and requests[2].finished_at is not None
    assert requests[3].first_token >= requests[0].finished_at  # type: ignore[operator]


def test_chunked_prefill_respects_the_token_budget() -> None:
    engine = Engine(config(max_num_batched_tokens=256))
    long = req(0, prompt=1000, out=4)
    engine.add(long, 0.0)
    steps = run(engine)
    assert all(s.scheduled_tokens <= 256 for s in steps)
    # 1000 prompt tokens in chunks of 256: the first token comes with the 4th step.
    first_step = next(i for i, s in enumerate(steps) if s.emissions)
    assert first_step == 3
    assert sum(s.prefill_tokens for s in steps) == 1000


def test_decodes_are_scheduled_before_new_prefill_chunks() -> None:
    engine = Engine(config(max_num_batched_tokens=256))
    a = req(0, prompt=10, out=50)
    engine.add(a, 0.0)
    engine.step(0.0)  # a's prefill and first token
    b = req(1, prompt=5000, out=2)
    engine.add(b, 0.0)
    result = engine.step(1.0)
    assert result is not None
    assert (a, 1) in result.emissions
    assert result.prefill_tokens == 255  # budget minus a's decode token


def test_a_full_kv_cache_preempts_the_newest_request_and_everything_still_finishes() -> None:
    # 8 blocks of 16 tokens = 128 tokens of KV for three requests that each grow to 60 tokens.
    engine = Engine(config(num_blocks=8, max_num_seqs=8))
    requests = [req(i, prompt=20, out=40) for i in range(3)]
    for r in requests:
        engine.add(r, 0.0)
    steps = run(engine)
    assert sum(s.preemptions for s in steps) > 0
    assert requests[-1].preemptions > 0 and requests[0].preemptions == 0
    assert all(r.out == 40 for r in requests)
    assert max(s.kv_usage for s in steps) == 1.0
    assert engine.free_blocks == 8


def test_step_time_grows_with_batch_context_and_prefill() -> None:
    def decode_step(users: int, context: int) -> float:
        engine = Engine(config(max_num_seqs=64, max_num_batched_tokens=100_000))
        for i in range(users):
            engine.add(req(i, prompt=context, out=10), 0.0)
        engine.step(0.0)  # prefill
        result = engine.step(10.0)
        assert result is not None and result.prefill_tokens == 0
        return result.duration

    assert decode_step(1, 100) < decode_step(10, 100) < decode_step(40, 100)
    assert decode_step(4, 100) < decode_step(4, 20_000)
    one = Engine(config(max_num_batched_tokens=100_000))
    one.add(req(0, prompt=200), 0.0)
    two = Engine(config(max_num_batched_tokens=100_000))
    two.add(req(0, prompt=4000), 0.0)
    short, long = one.step(0.0), two.step(0.0)
    assert short is not None and long is not None and short.duration < long.duration


def test_requests_wait_for_the_api_server_overhead() -> None:
    engine = Engine(config(request_overhead_s=0.25))
    r = req(0)
    engine.add(r, 1.0)
    assert engine.step(1.0) is None
    assert engine.next_wakeup() == pytest.approx(1.25)
    run(engine, start=1.0)
    assert r.first_scheduled == pytest.approx(1.25)


def test_abort_frees_the_request_wherever_it_is() -> None:
    engine = Engine(config(max_num_seqs=1))
    running, waiting = req(0, out=100), req(1, out=100)
    engine.add(running, 0.0)
    engine.add(waiting, 0.0)
    engine.step(0.0)
    assert engine.abort(waiting, 0.1) and waiting.finish_reason == "abort"
    assert engine.abort(running, 0.2) and running.aborted
    assert not engine.has_work and engine.free_blocks == engine.config.num_blocks
    assert not engine.abort(running, 0.3)


def test_speculative_decoding_emits_several_tokens_per_step_and_counts_drafts() -> None:
    engine = Engine(config(spec_tokens=2, spec_acceptance=(0.8, 0.6), seed=3))
    r = req(0, prompt=10, out=300)
    engine.add(r, 0.0)
    steps = run(engine)
    per_step = [n for s in steps for _, n in s.emissions]
    assert max(per_step) == 3 and min(per_step) == 1
    drafts = sum(s.drafts for s in steps)
    accepted = sum(s.accepted_tokens for s in steps)
    assert sum(s.draft_tokens for s in steps) <= 2 * drafts
    assert accepted == sum(sum(s.accepted_per_pos) for s in steps)
    assert sum(per_step) == 300 == r.out
    assert 0.5 < accepted / (2 * drafts) < 0.9  # between the two positions' acceptance rates


def test_speculative_acceptance_is_deterministic_under_a_seed() -> None:
    def pattern(seed: int) -> list[int]:
        engine = Engine(config(spec_tokens=2, spec_acceptance=(0.7, 0.5), seed=seed))
        engine.add(req(0, prompt=10, out=200), 0.0)
        return [n for s in run(engine) for _, n in s.emissions]

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)


def test_only_the_first_long_prefill_pays_the_cold_start() -> None:
    engine = Engine(config(cold_start_s=2.0, cold_prefill_tokens=100, max_num_batched_tokens=4096))
    engine.add(req(0, prompt=10, out=1), 0.0)
    small = run(engine)[0]
    engine.add(req(1, prompt=500, out=1), 10.0)
    cold = run(engine, start=10.0)[0]
    engine.add(req(2, prompt=500, out=1), 20.0)
    warm = run(engine, start=20.0)[0]
    assert small.duration < 1.0
    assert cold.duration - warm.duration == pytest.approx(2.0)


def test_busy_time_is_the_sum_of_step_durations() -> None:
    engine = Engine(config())
    for i in range(3):
        engine.add(req(i), 0.0)
    steps = run(engine)
    assert engine.busy_seconds == pytest.approx(sum(s.duration for s in steps))
    assert 0 < engine.prefill_busy_seconds < engine.busy_seconds


def test_async_scheduling_plans_the_next_step_while_one_runs() -> None:
    def admitted_at(async_scheduling: bool) -> float | None:
        engine = Engine(config(async_scheduling=async_scheduling, max_num_batched_tokens=4096))
        engine.add(req(0, prompt=10, out=50), 0.0)
        first = engine.step(0.0)
        assert first is not None
        late = req(1, prompt=10, out=5)
        engine.add(late, first.start + first.duration / 2)  # arrives while the GPU is busy
        now = first.end
        for _ in range(3):
            step = engine.step(now)
            assert step is not None
            now = step.end
        return late.first_scheduled

    first_end = Engine(config()).config.cost.seconds(
        decode_seqs=0, decode_tokens=0, context_tokens=0, prefill_tokens=10, prefill_attn=50.0
    )
    sync, planned_ahead = admitted_at(False), admitted_at(True)
    assert sync == pytest.approx(first_end)  # joins the very next step
    assert planned_ahead is not None and sync is not None and planned_ahead > sync  # the step after next


def test_async_scheduling_admits_at_once_when_nothing_runs() -> None:
    engine = Engine(config(async_scheduling=True))
    engine.add(req(0, prompt=10, out=2), 0.0)
    run(engine)
    late = req(1, prompt=10, out=2)
    engine.add(late, 5.0)
    step = engine.step(5.0)
    assert step is not None and late.first_scheduled == 5.0


def test_requests_differ_in_how_many_drafts_they_get_accepted() -> None:
    def accepted_share(spread: float) -> list[float]:
        engine = Engine(
            config(
                spec_tokens=4,
                spec_acceptance=(0.7, 0.7, 0.7, 0.7),
                spec_spread=spread,
                max_num_seqs=32,
                seed=5,
            )
        )
        requests = [req(i, prompt=10, out=400) for i in range(30)]
        for r in requests:
            engine.add(r, 0.0)
        steps = run(engine)
        per_request: dict[str, list[int]] = {}
        for s in steps:
            for r, n in s.emissions:
                per_request.setdefault(r.request_id, []).append(n)
        return [sum(ns) / len(ns) for ns in per_request.values()]

    same, spread = accepted_share(0.0), accepted_share(0.5)
    assert max(same) - min(same) < 0.6
    assert max(spread) - min(spread) > 1.0
    assert all(1.0 <= x <= 5.0 for x in spread)


def test_drafting_costs_a_pass_per_draft_position_over_the_batch() -> None:
    cost = replace(COST, draft_s=0.004, draft_per_seq_s=0.001)
    plain = cost.seconds(
        decode_seqs=8, decode_tokens=8, context_tokens=800, prefill_tokens=0, prefill_attn=0.0
    )
    drafted = cost.seconds(
        decode_seqs=8,
        decode_tokens=40,
        context_tokens=800,
        prefill_tokens=0,
        prefill_attn=0.0,
        draft_passes=4,
    )
    coverage_only = cost.seconds(
        decode_seqs=8, decode_tokens=40, context_tokens=800, prefill_tokens=0, prefill_attn=0.0
    )
    assert drafted - coverage_only == pytest.approx(4 * (0.004 + 8 * 0.001))
    assert coverage_only > plain  # verifying the drafts touches more experts


def test_a_few_requests_wait_for_an_api_server_stall_that_grows_with_the_load() -> None:
    engine = Engine(config(stall_chance=0.1, stall_s=1.0, stall_per_request_s=0.5, max_num_seqs=64))
    requests = [req(i, prompt=10, out=2) for i in range(40)]
    for r in requests:
        engine.add(r, 0.0)
    delays = [r.eligible - r.arrival for r in requests]
    stalled = [d for d in delays if d > 0]
    assert len(stalled) == pytest.approx(4, abs=1)  # the chance, spread evenly, not drawn
    assert all(d == pytest.approx(1.0 + 0.5 * (i + 1)) for i, d in enumerate(delays) if d > 0)
    calm = Engine(config())
    calm.add(r := req(99), 0.0)
    assert r.eligible == r.arrival


def test_a_burst_sent_a_moment_apart_is_scheduled_as_one_sent_at_once() -> None:
    """Ten prompts of 300 tokens with room for 512 a step: the scheduler gets them together (they
    reach an idle engine within one preparation time), so those the first step has no room for join
    the next step (planned while the first runs), whether they were sent at once or a moment apart."""

    def first_tokens(gap: float) -> list[float | None]:
        engine = Engine(config(async_scheduling=True, request_overhead_s=0.05, max_num_seqs=16))
        burst = [req(i, prompt=300, out=4) for i in range(10)]
        for i, r in enumerate(burst):
            engine.add(r, i * gap)
        run(engine)
        return [r.first_token for r in burst]

    together, staggered = first_tokens(0.0), first_tokens(0.001)
    assert staggered == pytest.approx(together)
    assert len(set(together)) > 2  # the burst took several steps to prefill
