"""The published workloads in virtual time, measured the way the published tools measured them.

The engine runs with no clock and no HTTP, so a whole closed-loop cell or a 300-request open-loop
run takes a fraction of a second and the result is exact and repeatable. This is what the profile
fitter (``benchmarks/fit_sim_profiles.py``) and the unit tests use; the HTTP calibration
(``benchmarks/bench_sim_calibration.py``) drives the same workloads through the served simulator
with sparktop's own load generator and must agree with it.

Closed loop (llama-benchy): N users send one request each at once (the server-side prompt length,
see ``PROMPT_TOKEN_RATIO``), exactly ``tg`` output tokens; a cell of several runs sends the next
batch when the previous one has finished. Per request, TTFT is the time of the first token and
decode speed is ``(tg - 1) / (t_last - t_first)``; per batch, total decode is ``(sum of tokens -
requests) / (last end - first first-token)`` and prefill is ``prompt tokens / (last first-token -
first start)``; at one user llama-benchy reports prefill per request instead, as ``prompt tokens /
(TTFT - latency)`` where latency is the TTFT of a one-token reply to "hello" (its ``--latency-mode
generation`` probe). A cell reports the means over requests and over batches.

Open loop (``vllm bench serve``): the load generator's preset (arrival times and lengths drawn
from the same seeded generators as ``WorkloadRunner`` draws them, so both see the same requests),
requests waiting for a slot under ``max_concurrency`` start when one frees; figures as the
published runs' ``vllm bench serve`` defined them.

Both kinds of figures are computed here from request times alone (``closed_figures``,
``open_figures``), so the HTTP calibration derives them from the load generator's records with the
very same code. (The load generator's own summary differs in two definitions: its decode tokens/s
per user weights every request-second alike, where llama-benchy averages per-request rates, and its
peak concurrency is the exact maximum in flight, where the published tool counted 1-second buckets.)
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sparktop.sim.engine import Engine, EngineConfig, Request
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import (
    OPEN_RUNS,
    PROMPT_TOKEN_RATIO,
    RUNS_PER_CELL,
    SUITE_FIRST_CELL,
    WORKLOADS,
    Figure,
    Metric,
    Profile,
    Serving,
)
from sparktop.workload import arrivals
from sparktop.workload.presets import ARENA_SEED, get_preset
from sparktop.workload.spec import OpenLoop
from sparktop.workload.summary import percentile

LATENCY_PROBE_TOKENS = 12
"""Prompt tokens of llama-benchy's latency probe: "hello" and the chat template's 11 (the published
logs' warm-up: 33 server tokens for 22 of its own)."""
LATENCY_PROBE_RUNS = 3
WARM_UP_TOKENS = 4096
"""The prompt that warms a fresh server's long-prefill kernels before a step (in the published suite
the earlier cells had)."""


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
        stall_chance=profile.stall_chance,
        stall_s=profile.stall_s,
        stall_per_request_s=profile.stall_per_request_s,
        spec_tokens=spec.num_speculative_tokens if spec else 0,
        spec_acceptance=spec.acceptance if spec else (),
        spec_spread=spec.spread if spec else 0.0,
        async_scheduling=s.async_scheduling,
        cold_start_s=profile.cold_start_s if cold else 0.0,
        seed=seed,
    )


def server_prompt_tokens(pp: int) -> int:
    """The prompt the server saw for llama-benchy's ``--pp pp`` (see ``PROMPT_TOKEN_RATIO``)."""
    return max(1, round(PROMPT_TOKEN_RATIO * pp))


def _drain(engine: Engine, now: float) -> tuple[float, int]:
    """Run the engine until it has no work; the model time it ends at and the steps it took."""
    steps = 0
    while engine.has_work:
        result = engine.step(now)
        if result is None:
            wake = engine.next_wakeup()
            if wake is None or wake <= now:
                raise RuntimeError("engine stalled with work queued")
            now = wake
            continue
        now = result.end
        steps += 1
    return now, steps


# --------------------------------------------------------------------------------------------------
# closed loop


@dataclass(frozen=True, slots=True)
class CellResult:
    """One closed-loop cell: means over requests (TTFT, decode per user) and over batches."""

    ttft_s: float
    decode_per_user: float
    decode_total: float
    prefill_tps: float
    duration_s: float
    steps: int = 0
    """Engine steps the cell took (what the served simulator must keep up with)."""

    def metric(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


def _probe(engine: Engine, now: float) -> tuple[float, float]:
    """llama-benchy's latency probe on ``engine``: (its latency, the time it ends)."""
    ttfts = []
    for i in range(LATENCY_PROBE_RUNS + 1):
        req = Request(request_id=f"probe{i}", prompt_len=LATENCY_PROBE_TOKENS, target=1, max_tokens=1)
        engine.add(req, now)
        end, _ = _drain(engine, now)
        if i:  # one unmeasured, then the mean of the others
            ttfts.append((req.first_token or end) - now)
        now = end
    return sum(ttfts) / len(ttfts), now


def fresh_server(
    profile: Profile, *, probe: bool = False, warm: bool = True, seed: int = 0
) -> tuple[Engine, float, float]:
    """A freshly started engine, readied as the HTTP calibration readies a fresh server before a
    step: llama-benchy's latency probe first (one-user cells), then one ``WARM_UP_TOKENS`` request
    that meets the cold kernels, unless the step is the suite's first. (engine, now, latency)."""
    engine = Engine(engine_config(profile, seed=seed, cold=True))
    now = 0.0
    latency = math.nan
    if probe:
        latency, now = _probe(engine, now)
    if warm:
        engine.add(Request(request_id="warm-up", prompt_len=WARM_UP_TOKENS, target=1, max_tokens=1), now)
        now, _ = _drain(engine, now)
    return engine, now, latency


def probe_latency(profile: Profile, *, seed: int = 0) -> float:
    """llama-benchy's ``--latency-mode generation``: the mean TTFT of one-token replies to a tiny
    prompt on an idle server (one unmeasured probe first)."""
    return _probe(Engine(engine_config(profile, seed=seed, cold=False)), 0.0)[0]


def closed_figures(
    batches: Sequence[Sequence[tuple[float, float, float, int, int]]], latency_s: float
) -> CellResult:
    """llama-benchy's figures from batches of (start, first token, end, prompt, output) per request."""
    ttfts: list[float] = []
    speeds: list[float] = []
    totals: list[float] = []
    prefills: list[float] = []
    first_start = math.inf
    last_end = -math.inf
    users = len(batches[0]) if batches else 0
    for batch in batches:
        for start, first, end, prompt, out in batch:
            ttfts.append(first - start)
            if out > 1 and end > first:
                speeds.append((out - 1) / (end - first))
            if users == 1 and first - start > latency_s:
                prefills.append(prompt / (first - start - latency_s))
        starts = [r[0] for r in batch]
        firsts = [r[1] for r in batch]
        ends = [r[2] for r in batch]
        first_start = min(first_start, *starts)
        last_end = max(last_end, *ends)
        span = max(ends) - min(firsts)
        generated = sum(r[4] for r in batch)
        if span > 0 and generated > len(batch):
            totals.append((generated - len(batch)) / span)
        if users > 1:
            pp_span = max(firsts) - min(starts)
            if pp_span > 0:
                prefills.append(sum(r[3] for r in batch) / pp_span)

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    return CellResult(
        ttft_s=mean(ttfts),
        decode_per_user=mean(speeds),
        decode_total=mean(totals),
        prefill_tps=mean(prefills),
        duration_s=last_end - first_start,
    )


def run_closed_loop(
    profile: Profile,
    prompt_tokens: int,
    output_tokens: int,
    users: int,
    *,
    runs: int = 1,
    seed: int = 0,
    cold: bool = False,
    latency_s: float | None = None,
) -> CellResult:
    """``runs`` lockstep batches of ``users`` requests of ``prompt_tokens`` in / ``output_tokens`` out
    on a fresh server (``cold``: not warmed up, so the first long prefill pays the cold start); at one
    user llama-benchy's latency probe runs first unless ``latency_s`` is given."""
    engine, now, latency = fresh_server(
        profile, probe=users == 1 and latency_s is None, warm=not cold, seed=seed
    )
    if latency_s is not None:
        latency = latency_s
    batches = []
    steps = 0
    for run in range(runs):
        requests = [
            Request(
                request_id=f"r{run}u{i}",
                prompt_len=prompt_tokens,
                target=output_tokens,
                max_tokens=output_tokens,
            )
            for i in range(users)
        ]
        for req in requests:
            engine.add(req, now)
        start = now
        now, taken = _drain(engine, now)
        steps += taken
        batches.append(
            [(start, r.first_token or now, r.finished_at or now, r.prompt_len, r.out) for r in requests]
        )
    return replace(closed_figures(batches, latency), steps=steps)


def simulate_cell(profile: Profile, cell: str, users: int, *, seed: int = 0) -> CellResult:
    """One published cell as the suite ran it: the server-side prompt, one run on a warm server,
    or for the suite's first cell three runs on a freshly started one (the first pays the cold start)."""
    pp, tg = WORKLOADS[cell]
    first = (cell, users) == SUITE_FIRST_CELL and profile.cold_start_s > 0
    return run_closed_loop(
        profile,
        server_prompt_tokens(pp),
        tg,
        users,
        runs=RUNS_PER_CELL if first else 1,
        seed=seed,
        cold=first,
    )


# --------------------------------------------------------------------------------------------------
# open loop


@dataclass(frozen=True, slots=True)
class Timing:
    """One open-loop request's times (model seconds) and lengths."""

    start: float
    first_token: float
    end: float
    prompt_tokens: int
    output_tokens: int


def open_loop_requests(
    stage: OpenLoop, *, seed: int = ARENA_SEED, index: int = 0
) -> list[tuple[float, int, int]]:
    """(arrival offset, prompt tokens, output tokens) of every request of ``stage``, drawn exactly as
    ``WorkloadRunner`` draws them for stage ``index`` of a workload seeded ``seed``."""
    if stage.num_prompts is None:
        raise ValueError("an open-loop stage bounded by time has no fixed list of requests")

    def rng(*parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (seed, *parts)))

    offsets = arrivals.arrival_offsets(
        stage.num_prompts, stage.rate, stage.burstiness, rng(index, "arrivals")
    )
    lengths_rng = rng(index, "lengths")
    out = []
    for offset in offsets:
        if stage.lengths == "conversation":
            prompt, output = arrivals.conversation_lengths(lengths_rng)
            prompt = max(1, round(prompt * stage.length_scale))
            output = max(1, round(output * stage.length_scale))
        else:
            prompt = arrivals.random_length(stage.input_len, stage.range_ratio, lengths_rng)
            output = arrivals.random_length(stage.output_len, stage.range_ratio, lengths_rng)
        out.append((offset, prompt, output))
    return out


@dataclass(frozen=True, slots=True)
class OpenRun:
    """An open-loop run in virtual time: every request's timing and the engine steps it took."""

    timings: list[Timing]
    steps: int

    @property
    def duration_s(self) -> float:
        return max(t.end for t in self.timings) - min(t.start for t in self.timings)


def run_open_loop(
    profile: Profile, stage: OpenLoop, *, seed: int = ARENA_SEED, engine_seed: int = 0
) -> OpenRun:
    """Every request of ``stage`` through a fresh, warmed-up server; at most ``max_concurrency`` in
    flight."""
    engine, t0, _ = fresh_server(profile, seed=engine_seed)
    todo = [(t0 + offset, prompt, output) for offset, prompt, output in open_loop_requests(stage, seed=seed)]
    limit = stage.max_concurrency or math.inf
    queue: deque[Request] = deque()
    started: dict[int, float] = {}
    in_flight = 0
    requests: list[Request] = []
    i = 0
    now = t0
    steps = 0

    def start(req: Request, t: float) -> None:
        nonlocal in_flight
        in_flight += 1
        started[id(req)] = t
        engine.add(req, t)

    def arrive_until(t: float) -> None:
        nonlocal i
        while i < len(todo) and todo[i][0] <= t:
            at, prompt, output = todo[i]
            req = Request(request_id=f"o{i}", prompt_len=prompt, target=output, max_tokens=output)
            requests.append(req)
            if in_flight < limit:
                start(req, at)
            else:
                queue.append(req)
            i += 1

    while i < len(todo) or queue or engine.has_work:
        arrive_until(now)
        result = engine.step(now) if engine.has_work else None
        if result is None:
            wakes = [todo[i][0]] if i < len(todo) else []
            wake = engine.next_wakeup()
            if wake is not None:
                wakes.append(wake)
            later = [w for w in wakes if w > now]
            if not later:
                raise RuntimeError("open loop stalled")
            now = min(later)
            continue
        now = result.end
        steps += 1
        arrive_until(now)
        for _ in result.finished:
            in_flight -= 1
            if queue and in_flight < limit:
                start(queue.popleft(), now)
    timings = [
        Timing(started[id(r)], r.first_token or math.nan, r.finished_at or math.nan, r.prompt_len, r.out)
        for r in requests
    ]
    return OpenRun(timings, steps)


def open_figures(timings: Iterable[Timing]) -> dict[str, float]:
    """``vllm bench serve``'s figures (``OPEN_METRICS``) from request timings, as the published runs'
    version defined them (latencies in ms, rates per second)."""
    done = list(timings)
    first = min(t.start for t in done)
    last = max(t.end for t in done)
    duration = last - first
    ttft = sorted(1000 * (t.first_token - t.start) for t in done)
    tpot = sorted(1000 * (t.end - t.first_token) / (t.output_tokens - 1) for t in done if t.output_tokens > 1)
    e2el = sorted(1000 * (t.end - t.start) for t in done)
    figures: dict[str, float] = {
        "request_rate": len(done) / duration,
        "peak_concurrency": float(peak_concurrency(done)),
        "total_tps": sum(t.prompt_tokens + t.output_tokens for t in done) / duration,
        "ttft_mean_ms": sum(ttft) / len(ttft),
        "tpot_mean_ms": sum(tpot) / len(tpot),
        "e2el_p50_ms": percentile(e2el, 50),
    }
    for p in (50, 90, 95, 99):
        figures[f"ttft_p{p}_ms"] = percentile(ttft, p)
    for p in (50, 95, 99):
        figures[f"tpot_p{p}_ms"] = percentile(tpot, p)
    return figures


def peak_concurrency(timings: Iterable[Timing]) -> int:
    """``vllm bench serve``'s peak concurrent requests, as the published runs computed it: the most
    requests active in one 1-second bucket counted from the first start (a request counts in
    every bucket from its start's to its end's), which can exceed what was ever in flight at once
    (J: 27 under a cap of 25)."""
    done = list(timings)
    first = min(t.start for t in done)
    buckets = [0] * (int(max(t.end for t in done) - first) + 2)
    for t in done:
        for second in range(int(t.start - first), int(t.end - first) + 1):
            buckets[second] += 1
    return max(buckets)


def open_stage(run: str) -> OpenLoop:
    """The load generator's preset for open-loop run ``run`` (H, I or J)."""
    stage = get_preset(run).stages[0]
    assert isinstance(stage, OpenLoop)
    return stage


def simulate_run(profile: Profile, run: str, *, engine_seed: int = 0) -> dict[str, float]:
    """The figures of open-loop run ``run`` (H, I or J) in virtual time."""
    return open_figures(run_open_loop(profile, open_stage(run), engine_seed=engine_seed).timings)


# --------------------------------------------------------------------------------------------------
# every published figure


def simulate_figures(profile: Profile, figures: Iterable[Figure] | None = None) -> dict[Figure, float]:
    """The simulated value of each of ``figures`` (default: every figure the profile carries)."""
    wanted = list(profile.figures if figures is None else figures)
    cells: dict[tuple[str, int], CellResult] = {}
    runs: dict[str, dict[str, float]] = {}
    out: dict[Figure, float] = {}
    for f in wanted:
        if f.cell in OPEN_RUNS:
            if f.cell not in runs:
                runs[f.cell] = simulate_run(profile, f.cell)
            out[f] = runs[f.cell][f.metric]
        else:
            key = (f.cell, f.users)
            if key not in cells:
                cells[key] = simulate_cell(profile, f.cell, f.users)
            out[f] = cells[key].metric(f.metric)
    return out


def simulate_figure(profile: Profile, figure: Figure) -> float:
    """The simulated value of one published figure."""
    return simulate_figures(profile, [figure])[figure]


def metric_label(metric: Metric | str) -> str:
    """A short human label for a figure's metric."""
    return _LABELS[metric]


_LABELS: dict[str, str] = {
    "prefill_tps": "prefill tok/s",
    "decode_per_user": "decode tok/s/user",
    "decode_total": "decode tok/s/batch",
    "ttft_s": "TTFT s",
    "request_rate": "achieved req/s",
    "peak_concurrency": "peak concurrent",
    "total_tps": "total tok/s",
    "ttft_mean_ms": "TTFT mean ms",
    "ttft_p50_ms": "TTFT p50 ms",
    "ttft_p90_ms": "TTFT p90 ms",
    "ttft_p95_ms": "TTFT p95 ms",
    "ttft_p99_ms": "TTFT p99 ms",
    "tpot_mean_ms": "TPOT mean ms",
    "tpot_p50_ms": "TPOT p50 ms",
    "tpot_p95_ms": "TPOT p95 ms",
    "tpot_p99_ms": "TPOT p99 ms",
    "e2el_p50_ms": "E2E p50 ms",
}
