"""The engine's prefix cache: shared leading blocks are found, held, kept free and reused as in vLLM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sparktop.sim.costmodel import StepCost
from sparktop.sim.engine import Engine, EngineConfig, Request, StepResult
from sparktop.sim.prefix import block_hashes

BLOCK = 16
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
        cost=COST,
        max_num_seqs=8,
        max_num_batched_tokens=512,
        block_size=BLOCK,
        num_blocks=10_000,
        enable_prefix_caching=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def run(engine: Engine, start: float = 0.0) -> list[StepResult]:
    """Drive the engine in virtual time until it is idle."""
    steps: list[StepResult] = []
    now = start
    while engine.has_work:
        result = engine.step(now)
        if result is None:
            wake = engine.next_wakeup()
            assert wake is not None and wake > now
            now = wake
            continue
        steps.append(result)
        now = result.end
    return steps


def ids(n: int, start: int = 1000) -> list[int]:
    return list(range(start, start + n))


def request(name: str, prompt_ids: list[int], out: int = 8) -> Request:
    return Request(
        request_id=name,
        prompt_len=len(prompt_ids),
        target=out,
        max_tokens=out,
        block_hashes=block_hashes(prompt_ids, BLOCK),
    )


def run_until(engine: Engine, condition: Callable[[], bool], now: float) -> float:
    """Step the engine from ``now`` until ``condition()`` holds; the time it holds at."""
    while not condition():
        result = engine.step(now)
        assert result is not None
        now = result.end
    return now


def alone(engine: Engine, req: Request, now: float) -> tuple[list[StepResult], float]:
    """Run ``req`` by itself from ``now``; its steps and its time to first token."""
    engine.add(req, now)
    steps = run(engine, now)
    assert req.first_token is not None
    return steps, req.first_token - now


def test_block_hashes_name_the_whole_prefix() -> None:
    a = block_hashes(ids(100), BLOCK)
    assert len(a) == 100 // BLOCK  # a partial last block has no hash
    assert block_hashes([*ids(100), 7, 8, 9], BLOCK)[: len(a)] == a
    b = block_hashes([1, *ids(99, 1001)], BLOCK)  # first token differs: no block is shared
    assert not set(a) & set(b)
    c = block_hashes([*ids(40), 5, *ids(59, 1041)], BLOCK)  # differs in block 2: blocks 0 and 1 shared
    assert c[:2] == a[:2] and c[2] != a[2] and c[3] != a[3]


def test_a_repeated_prompt_hits_all_but_its_last_block_and_prefills_faster() -> None:
    engine = Engine(config())
    prompt = ids(400)
    first_steps, first_ttft = alone(engine, request("a", prompt), 0.0)
    second = request("b", prompt)
    second_steps, second_ttft = alone(engine, second, 100.0)
    # 400 tokens = 25 full blocks; the last token is always computed, so 24 blocks are found.
    assert second.cached_tokens == 24 * BLOCK
    assert sum(s.prefill_tokens for s in second_steps) == 400 - 24 * BLOCK
    assert second_ttft < first_ttft
    assert [(s.cache_lookups, s.cache_queries, s.cache_hits) for s in first_steps if s.cache_lookups] == [
        (1, 400, 0)
    ]
    assert [(s.cache_lookups, s.cache_queries, s.cache_hits) for s in second_steps if s.cache_lookups] == [
        (1, 400, 24 * BLOCK)
    ]
    first_token_step = next(s for s in second_steps if s.first_token_prompt_tokens)
    assert first_token_step.first_token_cached_tokens == 24 * BLOCK


def test_a_conversation_hits_its_previous_prompt() -> None:
    engine = Engine(config())
    turn1 = ids(330)
    alone(engine, request("t1", turn1), 0.0)
    turn2 = turn1 + ids(90, 5000)  # the same context plus the answer and a new message
    second = request("t2", turn2)
    alone(engine, second, 50.0)
    assert second.cached_tokens == (330 // BLOCK) * BLOCK  # every full block of turn 1's prompt
    third = request("other", ids(330, 9000))
    alone(engine, third, 100.0)
    assert third.cached_tokens == 0


def test_off_means_no_lookups_even_with_hashes() -> None:
    engine = Engine(config(enable_prefix_caching=False))
    prompt = ids(400)
    alone(engine, request("a", prompt), 0.0)
    second = request("b", prompt)
    steps, _ = alone(engine, second, 100.0)
    assert second.cached_tokens == 0 and engine.cached_blocks == 0
    assert sum(s.prefill_tokens for s in steps) == 400
    assert not any(s.cache_lookups or s.cache_queries or s.cache_hits for s in steps)


def test_running_requests_share_their_common_blocks() -> None:
    prompt = ids(40 * BLOCK)
    engine = Engine(config())
    a, b = request("a", prompt, out=200), request("b", prompt, out=200)
    engine.add(a, 0.0)
    now = run_until(engine, lambda: a.out > 0, 0.0)
    used_by_one = engine.config.num_blocks - engine.free_blocks
    engine.add(b, now)
    now = run_until(engine, lambda: b.out > 0, now)
    used_by_two = engine.config.num_blocks - engine.free_blocks
    assert b.cached_tokens == 39 * BLOCK
    assert used_by_two - used_by_one <= 2  # b holds a's 39 prompt blocks; only its own tail is new
    run(engine, now)
    assert engine.free_blocks == engine.config.num_blocks  # cached blocks nobody holds are free
    assert engine.cached_blocks == 40


def test_free_cached_blocks_are_reused_oldest_first_when_the_cache_fills() -> None:
    engine = Engine(config(num_blocks=60))
    old = ids(20 * BLOCK)
    alone(engine, request("old", old), 0.0)
    alone(engine, request("recent", ids(20 * BLOCK, 7000)), 10.0)
    assert engine.cached_blocks == 40 and engine.free_blocks == 60
    # A request that needs 30 blocks uses the 20 never-cached ones, then the 10 oldest cached ones.
    alone(engine, request("big", ids(30 * BLOCK - 1, 20000)), 20.0)
    again_recent = request("again-recent", ids(20 * BLOCK, 7000))
    again_old = request("again-old", old)
    alone(engine, again_recent, 30.0)
    alone(engine, again_old, 40.0)
    assert again_recent.cached_tokens == 19 * BLOCK
    # "old"'s blocks were freed last block first, so its tail went first and its head survived.
    assert 0 < again_old.cached_tokens < 19 * BLOCK
    assert engine.free_blocks == engine.config.num_blocks


def test_preempted_requests_are_counted_once_and_give_their_blocks_back() -> None:
    engine = Engine(config(num_blocks=40, max_num_batched_tokens=2048))
    prompt = ids(10 * BLOCK)
    requests = [request(f"r{i}", prompt + ids(4 * BLOCK, 100 * (i + 1) + 20000), out=150) for i in range(4)]
    for r in requests:
        engine.add(r, 0.0)
    steps = run(engine)
    assert sum(s.preemptions for s in steps) > 0
    assert sum(s.cache_lookups for s in steps) == len(requests)
    assert sum(s.cache_queries for s in steps) == sum(r.prompt_len for r in requests)
    assert all(r.done and r.out == r.target for r in requests)
    assert engine.free_blocks == engine.config.num_blocks


def test_time_scale_divides_every_modelled_duration() -> None:
    def durations(scale: float) -> tuple[list[float], list[float]]:
        engine = Engine(config(time_scale=scale, request_overhead_s=0.05, enable_prefix_caching=False))
        reqs = [request(f"r{i}", ids(300 + 50 * i), out=20) for i in range(3)]
        for r in reqs:
            engine.add(r, 0.0)
        steps = run(engine)
        return [s.duration for s in steps], [r.first_token or 0.0 for r in reqs]

    slow_steps, slow_first = durations(1.0)
    fast_steps, fast_first = durations(0.1)
    assert len(slow_steps) == len(fast_steps)
    assert all(abs(f - s / 10) < 1e-12 for s, f in zip(slow_steps, fast_steps, strict=True))
    assert all(abs(f - s / 10) < 1e-9 for s, f in zip(slow_first, fast_first, strict=True))


def test_free_cached_hits_count_against_the_free_blocks_at_admission() -> None:
    engine = Engine(config(num_blocks=30))
    cached = ids(20 * BLOCK)
    alone(engine, request("cached", cached, out=1), 0.0)  # leaves 20 free cached blocks, 10 uncached
    long = request("long", ids(8 * BLOCK, 30000), out=20)  # grows into the 10 uncached blocks
    engine.add(long, 10.0)
    now = run_until(engine, lambda: long.out > 0, 10.0)
    reuse = request("reuse", cached + ids(5 * BLOCK, 40000), out=1)
    engine.add(reuse, now)
    while engine.has_work:
        result = engine.step(now)
        assert result is not None and engine.free_blocks >= 0
        now = result.end
    # 20 hit blocks (all free) and 5 new ones do not fit beside "long": "reuse" waited for it.
    assert reuse.cached_tokens == 20 * BLOCK
    assert long.finished_at is not None and reuse.first_scheduled is not None
    assert reuse.first_scheduled >= long.finished_at
