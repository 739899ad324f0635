"""Closed-loop runs in virtual time, measured the way llama-benchy measures them.

N users send one request each at t=0 (``pp`` prompt tokens, exactly ``tg`` output tokens). Per user,
TTFT is the time of the first generated token and decode speed is ``(tg - 1) / (t_last - t_first)``;
a cell reports the means over users. The engine runs with no clock at all, so a whole cell takes a
fraction of a second and the result is exact and repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparktop.sim.engine import Engine, EngineConfig, Request
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import RUNS_PER_CELL, SUITE_FIRST_CELL, WORKLOADS, Figure, Profile, Serving


def engine_config(
    profile: Profile, serving: Serving | None = None, *, seed: int = 0, cold: bool = True
) -> EngineConfig:
    """The engine for ``profile`` with its KV cache sized as vLLM would size it.

    ``cold``: the engine has just started, so its first long prefill pays ``profile.cold_start_s``.
    """
    s = serving if serving is not None else profile.serving
    plan = plan_memory(profile, s)
    spec = profile.spec
    return EngineConfig(
        cost=profile.cost,
        max_num_seqs=s.max_num_seqs,
        max_num_batched_tokens=s.max_num_batched_tokens,
        block_size=s.block_size,
        num_blocks=max(1, plan.num_blocks),
        request_overhead_s=profile.request_overhead_s,
        spec_tokens=spec.num_speculative_tokens if spec else 0,
        spec_acceptance=spec.acceptance if spec else (),
        cold_start_s=profile.cold_start_s if cold else 0.0,
        seed=seed,
    )


@dataclass(frozen=True, slots=True)
class CellResult:
    """Means over users of one closed-loop cell."""

    ttft_s: float
    decode_per_user: float
    duration_s: float

    def metric(self, name: str) -> float:
        return self.ttft_s if name == "ttft_s" else self.decode_per_user


def run_closed_loop(
    profile: Profile, prompt_tokens: int, output_tokens: int, users: int, *, seed: int = 0, cold: bool = False
) -> CellResult:
    """Simulate ``users`` simultaneous requests of ``prompt_tokens`` in / ``output_tokens`` out."""
    engine = Engine(engine_config(profile, seed=seed, cold=cold))
    requests = [
        Request(request_id=f"u{i}", prompt_len=prompt_tokens, target=output_tokens, max_tokens=output_tokens)
        for i in range(users)
    ]
    for req in requests:
        engine.add(req, 0.0)
    now = 0.0
    while engine.has_work:
        result = engine.step(now)
        if result is None:
            wake = engine.next_wakeup()
            if wake is None or wake <= now:
                raise RuntimeError("engine stalled with work queued")
            now = wake
            continue
        now = result.end
    ttft = [r.first_token or 0.0 for r in requests]
    speeds = []
    for r in requests:
        span = (r.last_token or 0.0) - (r.first_token or 0.0)
        speeds.append((output_tokens - 1) / span if span > 0 else float("inf"))
    return CellResult(ttft_s=sum(ttft) / users, decode_per_user=sum(speeds) / users, duration_s=now)


def simulate_cell(profile: Profile, cell: str, users: int, *, seed: int = 0) -> CellResult:
    """One published cell as the suite ran it: the mean of its runs, the suite's first run cold."""
    pp, tg = WORKLOADS[cell]
    warm = run_closed_loop(profile, pp, tg, users, seed=seed)
    if (cell, users) != SUITE_FIRST_CELL or profile.cold_start_s <= 0:
        return warm
    cold = run_closed_loop(profile, pp, tg, users, seed=seed, cold=True)
    n = RUNS_PER_CELL
    return CellResult(
        ttft_s=(cold.ttft_s + (n - 1) * warm.ttft_s) / n,
        decode_per_user=(cold.decode_per_user + (n - 1) * warm.decode_per_user) / n,
        duration_s=cold.duration_s + (n - 1) * warm.duration_s,
    )


def simulate_figure(profile: Profile, figure: Figure, *, seed: int = 0) -> float:
    """The simulated value of one published figure."""
    return simulate_cell(profile, figure.cell, figure.users, seed=seed).metric(figure.metric)
