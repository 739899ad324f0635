"""The simulated Spark over HTTP against every published DGX Spark figure, closed and open loop.

For every profile (``sparktop sim --list-profiles``) and every published figure it carries, this
serves the simulator (``sparktop sim`` as a subprocess, one fresh server per workload step), drives
it with sparktop's own load generator (``sparktop.workload``: the arena presets A..J, streaming
token-id completions) and prints the published figure, the simulated one, their difference and the
same figure from the virtual-time engine (``sparktop.sim.calibration``, no HTTP) next to it, then
how many calibrated figures are within 20%. Exit status 1 when one is not.

Closed loop (llama-benchy's figures): decode tokens/s per user, decode tokens/s per lockstep batch,
mean TTFT, and prefill tokens/s where published. Open loop H, I, J (``vllm bench serve``'s):
achieved request rate, peak concurrent requests, total tokens/s, TTFT mean/p50/p90/p95/p99 and
TPOT mean/p50/p95/p99, E2E p50, as published for vLLM v0.20 and v0.23. Each figure is computed
from the load generator's request records with the published tools' definitions, by the same code
as the virtual-time column (``closed_figures``, ``open_figures``): llama-benchy's decode per user
is the mean of per-request rates, and the published ``vllm bench serve`` counted peak concurrency
in 1-second buckets; sparktop's own load summary defines both differently (per request-second,
and the exact maximum in flight), which in a closed loop whose users start decoding at different
times is not the same number (NVFP4 A 25k at 10 users: 5.8 against 7.2 tok/s).

How each workload is reproduced (the published runs, their logs read alongside the figures):

- Every step gets a fresh server, readied as the published suite's server was by the cells before
  it: llama-benchy's latency probe first for one-user cells (a one-token reply to a tiny prompt, one
  unmeasured and three measured), then one ``WARM_UP_TOKENS`` request that meets the cold kernels,
  except for the suite's first cell (A 4k at one user), which runs its three runs on the cold
  server as the published one did. The virtual-time engine readies itself the same way, so both see
  the same requests in the same order (and the same random draws).
- Closed-loop prompts are sent at the length the server counted (``PROMPT_TOKEN_RATIO``: llama-benchy
  measured its ``--pp`` prompts with GPT-2's tokenizer, 0.9 x pp Gemma or Nemotron tokens); E is its
  first turn (the published figures describe a 2,048-token request); one run per cell otherwise.
  Prefill at one user is llama-benchy's ``prompt / (TTFT - latency)``, from the probe's TTFT.
- Open loops are the presets as they stand, their request rate multiplied by the speed.

Time base. The simulator runs ``--speed X`` times faster than the Spark. Every figure here is
measured by the client in wall-clock seconds, so durations are multiplied back by X and rates
(requests/s, tokens/s) divided by X to compare with the published figures (``to_model``). The
server's own histograms are not used.

Speed and noise. Each step runs at the highest speed that keeps (a) the harness' own latency
(client send to server parse, server write to client read, and for a closed loop's burst the
requests encoded and parsed before each one; measured first, about 0.5 ms alone and 1 ms more per
request of a burst) plus the server's median lag under 3% of the step's shortest time figure (its
TTFT), and (b) the streamed tokens and engine steps per wall second within what one core delivers
(``MAX_TOKENS_PER_S``, ``MAX_STEPS_PER_S``).
After each step the script reads the server's lag behind its model time (``GET /sim/stats``) and the
harness latency of every request (``GET /sim/trace`` against the client's TTFT), prints both in
wall and model milliseconds with the load average, and reruns the step at half the speed when
either ate more than its share (a CPU-starved machine). Both are multiplied by the speed into model
time, always lengthening TTFTs: a step with a figure outside the tolerance over HTTP that the
virtual-time engine puts inside is also rerun at half the speed (twice at most), and the last
(slowest) run is the one counted, whatever it shows. On 2 busy cores the whole run takes
about a quarter of an hour; ``--quick`` checks a subset in one to four minutes.

Figures not counted, and why (``Figure.excluded`` in ``sparktop/sim/profiles.py``; each is printed
with its reason): the decode tokens/s per batch of the C and G cells (1,024 and 4,096 tokens out)
of the BF16 and NVFP4 profiles. llama-benchy sends no ``ignore_eos``, so the published replies ended
at EOS, some long before their cap; the load generator asks for full-length replies, as the same
cells' decode per user and TTFT need. In vLLM every running request gets a token per step, so with
full-length replies a batch's total is users x the per-user rate, less the prefill stagger: the
published totals of the A, B, E and F cells (256 and 512 tokens out, replies at their cap) match
that within 10%, those of C and G are 20-49% below it (G at 10 users: 83.8 tok/s against 10 x
11.75; NVFP4's v0.23 G: 121 +-50 between runs against 10 x 23.69). Matching them would contradict
the published decode per user of the same cells.

    .venv/bin/python benchmarks/bench_sim_calibration.py [--quick] [--profile NAME] [--speed X]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from sparktop.clock import SystemClock
from sparktop.model import RequestRecord
from sparktop.sim.calibration import (
    LATENCY_PROBE_TOKENS,
    WARM_UP_TOKENS,
    Timing,
    closed_figures,
    metric_label,
    open_figures,
    open_stage,
    run_open_loop,
    server_prompt_tokens,
    simulate_cell,
)
from sparktop.sim.profiles import (
    CLOSED_METRICS,
    PROFILES,
    RUNS_PER_CELL,
    SUITE_FIRST_CELL,
    TOLERANCE,
    WORKLOADS,
    Figure,
    Profile,
)
from sparktop.workload.generator import WorkloadRunner
from sparktop.workload.presets import ARENA_SEED, closed_name, get_preset
from sparktop.workload.spec import ClosedLoop, OpenLoop, Stage, Workload

ACCURACY = 0.05
"""Share of a step's shortest time figure (its TTFT) the harness latency and the server's lag may
add (model time); the virtual-time column shows every figure without them."""
MAX_TOKENS_PER_S = 12000.0
"""Streamed tokens per wall second one server and this client keep up with on a shared core."""
MAX_STEPS_PER_S = 3000.0
"""Engine steps per wall second (each one a timer, a write per stream and a read per stream)."""
MAX_SPEED = 100.0
JOBS = 3
"""Steps measured at once: most are held back by the harness' latency, not by the CPU, so a few
servers and clients side by side fit on two cores (their lag is checked like any step's)."""
MIN_SPEED = 1.0
MAX_RERUNS = 2
"""A step is measured at most this many more times, each at half the speed of the one before."""
BURST_SHARE = 0.8
"""Share of the request overhead a closed loop's burst may spread over (model time)."""
RATE_SHARE = 0.01
"""A step is rerun when the server's worst lag (model time) exceeds this share of the step's length
(it would bend its rates)."""
QUICK = {
    "gemma4-26b-a4b-bf16": {("A-4k", 1), ("C", 10), ("A-25k", 10), ("E", 10)},
    "gemma4-26b-a4b-nvfp4": {("J", 0)},
    "nemotron3-nano-30b-a3b-fp8": {("B-25k", 20)},
}
"""``--quick``: a cold start, chat, long-context and multi-turn cells, an open loop, a hybrid model."""


# --------------------------------------------------------------------------------------------------
# the time base


def to_model(value: float, kind: str, speed: float) -> float:
    """A client-measured wall-clock figure at ``--speed speed`` as the Spark would show it:
    durations (``kind`` "time") times the speed, rates ("rate") divided by it, counts as they are."""
    if kind == "time":
        return value * speed
    if kind == "rate":
        return value / speed
    return value


# --------------------------------------------------------------------------------------------------
# workload steps


@dataclass
class Step:
    """One workload step against one fresh server: a closed-loop cell or an open-loop run."""

    profile: Profile
    cell: str
    users: int
    figures: list[Figure]
    stage: Stage
    """In model time (an open loop's rate as published)."""
    first: bool = False
    predicted: dict[str, float] = field(default_factory=dict)
    model_s: float = 0.0
    tokens: int = 0
    steps: int = 0
    shortest_s: float = 1.0
    """The step's shortest time figure (model seconds) the harness latency is weighed against."""

    @property
    def label(self) -> str:
        return self.cell if self.users == 0 else f"{self.cell} c{self.users}"


def closed_stage(cell: str, users: int, runs: int) -> ClosedLoop:
    """The preset's closed-loop step for ``cell`` at ``users``, as the published run sent it."""
    pp, tg = WORKLOADS[cell]
    preset = get_preset(cell.split("-", maxsplit=1)[0])
    for stage in preset.stages:
        if isinstance(stage, ClosedLoop) and stage.users == users and stage.input_len == pp:
            sent = replace(
                stage, input_len=server_prompt_tokens(pp), depth=0, runs=runs, warmup=False, output_len=tg
            )
            return replace(sent, name=closed_name(cell.split("-", maxsplit=1)[0], sent))
    # a cell the preset does not step through (published at a concurrency the arena omits)
    sent = ClosedLoop(name="", users=users, input_len=server_prompt_tokens(pp), output_len=tg, runs=runs)
    return replace(sent, name=closed_name(cell.split("-", maxsplit=1)[0], sent))


def plan(profile: Profile, only: set[tuple[str, int]] | None) -> list[Step]:
    """Every step that produces a figure the profile carries, with its virtual-time prediction."""
    steps: dict[tuple[str, int], Step] = {}
    for f in profile.figures:
        key = (f.cell, f.users)
        if only is not None and key not in only:
            continue
        if key not in steps:
            first = key == SUITE_FIRST_CELL
            stage: Stage = (
                open_stage(f.cell)
                if f.users == 0
                else closed_stage(f.cell, f.users, RUNS_PER_CELL if first else 1)
            )
            steps[key] = Step(profile, f.cell, f.users, [], stage, first=first)
        steps[key].figures.append(f)
    ordered = sorted(steps.values(), key=lambda s: (not s.first, s.users == 0, s.cell, s.users))
    for step in ordered:
        predict(step)
    return ordered


def predict(step: Step) -> None:
    """The step in virtual time: its figures, model duration, tokens and engine steps."""
    if isinstance(step.stage, OpenLoop):
        run = run_open_loop(step.profile, step.stage)
        step.predicted = open_figures(run.timings)
        step.model_s = run.duration_s
        step.tokens = sum(t.output_tokens for t in run.timings)
        step.steps = run.steps
        ttfts = [step.predicted[f.metric] / 1000 for f in step.figures if f.metric.startswith("ttft")]
        step.shortest_s = min(ttfts) if ttfts else step.model_s
        return
    cell = simulate_cell(step.profile, step.cell, step.users)
    step.predicted = {m: cell.metric(m) for m in ("prefill_tps", "decode_per_user", "decode_total", "ttft_s")}
    step.model_s = cell.duration_s
    step.tokens = step.users * step.stage.output_len * step.stage.runs
    step.steps = cell.steps
    # Only TTFT and the batch prefill rate (to the last first token) feel the harness; decode rates
    # span the whole reply (at one user the prefill figure is TTFT less the latency probe's TTFT,
    # both measured through the same harness, so its latency cancels out).
    sensitive = {"ttft_s"} | ({"prefill_tps"} if step.users > 1 else set())
    if any(f.metric in sensitive for f in step.figures):
        step.shortest_s = cell.ttft_s
    else:
        step.shortest_s = cell.duration_s


@dataclass(frozen=True)
class Harness:
    """The harness' own latency (wall seconds): a lone request's, and what each request of a burst
    adds for the ones sent with it (the client encodes and the server parses them one at a time)."""

    base_s: float
    per_request_s: float
    per_token_s: float
    lag_s: float
    """The server's median lag behind its model time (a busy machine's share)."""
    lag_p99_s: float
    """Its 99th percentile: what a request whose first token meets a busy moment gets."""

    def expected(self, users: int, prompt_tokens: int) -> float:
        """Mean added TTFT of a burst of ``users`` requests of ``prompt_tokens`` each."""
        burst = (users - 1) / 2 * (self.per_request_s + self.per_token_s * prompt_tokens)
        return self.base_s + self.lag_s + burst


def choose_speed(step: Step, harness: Harness, cap: float, jobs: int = 1) -> float:
    """The highest speed within the harness, token and step budgets (shared by ``jobs`` steps run
    at once; rounded down to 2 digits)."""
    if isinstance(step.stage, ClosedLoop):
        added = harness.expected(step.users, step.stage.input_len)
    else:
        added = harness.base_s + harness.lag_s
    limits = [cap, ACCURACY * step.shortest_s / max(added, 1e-5)]
    stage = step.stage
    if isinstance(stage, ClosedLoop):
        # a busy moment's lag lands on one first token of the step's few: its share of the mean TTFT
        limits.append(ACCURACY * step.shortest_s * stage.users * stage.runs / max(harness.lag_p99_s, 1e-5))
    budget = step.profile.serving.max_num_batched_tokens
    if isinstance(stage, ClosedLoop) and stage.users > 1 and stage.input_len <= budget / 2:
        # The burst must reach the server within one API-server preparation time (model) of its
        # first request, as it reaches vLLM, or the first prefill step starts without the rest
        # (it matters where the first prompt leaves most of the step's token budget unused).
        spread = (stage.users - 1) * (harness.per_request_s + harness.per_token_s * stage.input_len)
        limits.append(BURST_SHARE * step.profile.request_overhead_s / max(spread, 1e-6))
    if step.model_s > 0:
        limits.append(MAX_TOKENS_PER_S / jobs * step.model_s / max(step.tokens, 1))
        limits.append(MAX_STEPS_PER_S / jobs * step.model_s / max(step.steps, 1))
    speed = max(MIN_SPEED, min(limits))
    digits = 10.0 ** math.floor(math.log10(speed) - 1)
    return float(math.floor(speed / digits) * digits)


# --------------------------------------------------------------------------------------------------
# the served simulator


class Served:
    """``sparktop sim`` in a subprocess for one step (so it has a core of its own)."""

    def __init__(self, profile: str, speed: float) -> None:
        cmd = [
            sys.executable, "-m", "sparktop", "sim", "--profile", profile, "--port", "0",
            "--speed", f"{speed:g}", "--startup", "instant", "--quiet", "--seed", "0",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"no URL from sparktop sim: {line!r}")
        self.url = match.group(1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit("the simulated server did not become healthy")

    def json(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=30).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_workload(url: str, stages: Sequence[Stage], name: str) -> list[RequestRecord]:
    workload = Workload(name=name, title=name, stages=tuple(stages), seed=ARENA_SEED)
    runner = WorkloadRunner(url, workload, clock=SystemClock(), endpoint="completions")
    asyncio.run(runner.run())
    return runner.records


def harness_latency(records: Sequence[RequestRecord], trace: dict[str, list[float | None]]) -> list[float]:
    """Per request: the client's TTFT less the server's (parse to first token written), wall seconds."""
    out = []
    for r in records:
        entry = trace.get(r.response_id or "")
        if entry is None or r.first_token is None or entry[1] is None or entry[0] is None:
            continue
        out.append((r.first_token - r.start) - (entry[1] - entry[0]))
    return out


@dataclass
class Measured:
    figures: dict[str, float]
    speed: float
    wall_s: float
    lag: dict[str, float]
    harness_s: list[float]
    load: float
    failed: int


def model_times(r: RequestRecord, speed: float) -> tuple[float, float, float]:
    """A finished request's start, first token and end in model time."""
    assert r.first_token is not None and r.end is not None
    return (
        to_model(r.start, "time", speed),
        to_model(r.first_token, "time", speed),
        to_model(r.end, "time", speed),
    )


def closed_from(records: list[RequestRecord], latency_s: float, speed: float) -> dict[str, float]:
    """llama-benchy's figures, in model time, from a closed-loop step's records."""
    batches: dict[int, list[tuple[float, float, float, int, int]]] = {}
    for r in records:
        if r.first_token is None or r.end is None:
            continue
        start, first, end = model_times(r, speed)
        batches.setdefault(r.batch, []).append((start, first, end, r.prompt_tokens, r.output_tokens))
    cell = closed_figures(list(batches.values()), latency_s)
    return {m: cell.metric(m) for m in CLOSED_METRICS}


def open_from(records: list[RequestRecord], speed: float) -> dict[str, float]:
    """``vllm bench serve``'s figures, in model time, from an open-loop step's records."""
    timings = [
        Timing(*model_times(r, speed), r.prompt_tokens, r.output_tokens)
        for r in records
        if r.first_token is not None and r.end is not None
    ]
    return open_figures(timings)


def measure(step: Step, speed: float) -> Measured:
    """Run ``step`` against a fresh server at ``speed``."""
    served = Served(step.profile.name, speed)
    try:
        before: list[Stage] = []
        latency_s = 0.0
        if isinstance(step.stage, ClosedLoop) and step.users == 1:
            probe = ClosedLoop(
                name="latency probe", users=1, input_len=LATENCY_PROBE_TOKENS, output_len=1, runs=4
            )
            before.append(probe)
        if not step.first:  # the suite's earlier cells compiled the long-prefill kernels
            before.append(ClosedLoop(name="warm-up", users=1, input_len=WARM_UP_TOKENS, output_len=1))
        if before:
            pre = run_workload(served.url, before, "before")
            # llama-benchy's probe: one unmeasured, then the mean of three
            probed = [r for r in pre if r.phase == "latency probe"]
            probes = [r.first_token - r.start for r in probed if r.first_token is not None][1:]
            if probes:
                latency_s = to_model(statistics.fmean(probes), "time", speed)
        stage = step.stage
        if isinstance(stage, OpenLoop):
            stage = replace(stage, rate=stage.rate * speed)
        t0 = time.perf_counter()
        records = [r for r in run_workload(served.url, [stage], step.label) if not r.warmup]
        wall = time.perf_counter() - t0
        stats = served.json("/sim/stats")
        trace = served.json("/sim/trace")["requests"]
    finally:
        served.stop()
    failed = sum(not r.ok for r in records)
    ok = [r for r in records if r.ok]
    figures = open_from(ok, speed) if isinstance(step.stage, OpenLoop) else closed_from(ok, latency_s, speed)
    lag = {k: float(stats[k]) for k in ("lag_p50_s", "lag_p99_s", "lag_max_s")}
    return Measured(figures, speed, wall, lag, harness_latency(ok, trace), os.getloadavg()[0], failed)


def measure_harness(profile: str) -> Harness:
    """The harness' own latency at speed 1: lone tiny requests (p90), then bursts of ten small and
    ten 4,000-token requests (means), each burst from a new client as every step's is, wall seconds."""
    served = Served(profile, 1.0)
    try:
        records = run_workload(
            served.url, [ClosedLoop(name="lone", users=1, input_len=8, output_len=1, runs=12)], "harness"
        )
        for _ in range(3):
            for name, tokens in (("small", 8), ("large", 4000)):
                burst = ClosedLoop(name=name, users=10, input_len=tokens, output_len=1)
                records += run_workload(served.url, [burst], "harness")
        trace = served.json("/sim/trace")["requests"]
    finally:
        served.stop()
    streaming = Served(profile, 20.0)  # the lag while a step's tokens stream, not an idle server's
    try:
        run_workload(streaming.url, [ClosedLoop(name="lag", users=2, input_len=8, output_len=300)], "lag")
        stats = streaming.json("/sim/stats")
        lag, lag_p99 = float(stats["lag_p50_s"]), float(stats["lag_p99_s"])
    finally:
        streaming.stop()

    def of(phase: str) -> list[float]:
        return harness_latency([r for r in records if r.phase == phase], trace)

    lone = sorted(of("lone")[2:])
    base = lone[int(0.9 * (len(lone) - 1))] if lone else 0.001
    per_request = max(0.0, (statistics.fmean(of("small")) - base) / 4.5)
    per_token = max(0.0, ((statistics.fmean(of("large")) - base) / 4.5 - per_request) / 4000)
    return Harness(base, per_request, per_token, lag, lag_p99)


# --------------------------------------------------------------------------------------------------
# the report


def noisy(step: Step, m: Measured) -> str | None:
    """Why this measurement should not be trusted, or None."""
    if m.failed:
        return f"{m.failed} requests failed"
    harness = statistics.fmean(m.harness_s) if m.harness_s else 0.0
    added = harness + m.lag["lag_p50_s"]
    if added * m.speed > 2 * ACCURACY * step.shortest_s:
        return f"harness latency and lag {1000 * added:.2f} ms wall = {1000 * added * m.speed:.0f} ms model"
    worst = m.lag["lag_max_s"]
    if worst * m.speed > RATE_SHARE * step.model_s:
        return f"server lag up to {1000 * worst:.1f} ms wall = {worst * m.speed:.1f} s model"
    return None


def astray(step: Step, m: Measured) -> list[str]:
    """Counted figures outside the tolerance over HTTP that the virtual-time engine puts inside: the
    harness' latency and the server's lag, multiplied by the speed into model time, are then the
    likely cause (they shrink with the speed; the model does not change)."""
    out = []
    for f in step.figures:
        if not f.calibrated or f.metric not in step.predicted:
            continue
        sim = m.figures.get(f.metric, math.nan)
        if (
            not abs(sim / f.value - 1) <= TOLERANCE
            and abs(step.predicted[f.metric] / f.value - 1) <= TOLERANCE
        ):
            out.append(f"{metric_label(f.metric)} [{f.source}]")
    return out


def rerun_reason(step: Step, runs: list[Measured]) -> str | None:
    """Why the last of ``runs`` is measured again at half its speed, or None: noisy (once), or a
    figure astray (at most ``MAX_RERUNS`` times in all). The last run is the one counted."""
    m = runs[-1]
    if m.speed <= MIN_SPEED or len(runs) > MAX_RERUNS:
        return None
    reason = noisy(step, m) if len(runs) == 1 else None
    if reason is not None:
        return reason
    off = astray(step, m)
    return f"outside over HTTP, inside in virtual time: {', '.join(off)}" if off else None


def run_step(step: Step, speed: float) -> list[Measured]:
    """Measure ``step`` at ``speed``, and again at half the speed while ``rerun_reason`` says so."""
    runs = [measure(step, speed)]
    while rerun_reason(step, runs) is not None:
        runs.append(measure(step, max(MIN_SPEED, runs[-1].speed / 2)))
    return runs


def print_step(step: Step, m: Measured) -> None:
    harness = statistics.fmean(m.harness_s) if m.harness_s else math.nan
    lag = m.lag
    p50, p99, most = (1000 * lag[k] for k in ("lag_p50_s", "lag_p99_s", "lag_max_s"))
    print(
        f"  [{step.label}] x{m.speed:g}: {step.model_s:.0f} s model in {m.wall_s:.1f} s; "
        f"lag p50/p99/max {p50:.2f}/{p99:.2f}/{most:.1f} ms wall ({p50 * m.speed:.0f}/{p99 * m.speed:.0f} ms "
        f"model); harness {1000 * harness:.2f} ms wall ({1000 * harness * m.speed:.0f} ms model); "
        f"load {m.load:.1f}"
    )


def report(step: Step, runs: list[Measured]) -> tuple[int, int, int, list[str]]:
    """Print one step's runs and figures; (inside, counted, not counted, lines outside)."""
    for i, m in enumerate(runs):
        print_step(step, m)
        if i + 1 < len(runs):
            print(f"    {rerun_reason(step, runs[: i + 1])}: rerun at x{runs[i + 1].speed:g}")
        elif (reason := noisy(step, m)) is not None:
            print(f"    noisy ({reason}), kept")
    m = runs[-1]
    inside = total = excluded = 0
    outside = []
    head = f"{'figure':20s} {'published':>10s} {'simulated':>10s} {'diff':>7s} {'virtual':>10s}"
    print(f"    {head}  source")
    for f in step.figures:
        sim = m.figures.get(f.metric, math.nan)
        diff = sim / f.value - 1
        ok = abs(diff) <= TOLERANCE
        if f.calibrated:
            total += 1
            inside += ok
            if not ok:
                outside.append(f"{step.profile.name} {step.label} {metric_label(f.metric)} [{f.source}]")
            mark = "  " if ok else "XX"
        else:
            excluded += 1
            mark = "--"
        virtual = step.predicted.get(f.metric, math.nan)
        print(
            f"  {mark} {metric_label(f.metric):20s} {f.value:10.2f} {sim:10.2f} "
            f"{100 * diff:+6.1f}% {virtual:10.2f}  {f.source}"
        )
        if not f.calibrated:
            print(f"       not counted: {f.excluded}")
    return inside, total, excluded, outside


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), action="append", help="only these profiles")
    parser.add_argument("--quick", action="store_true", help="a subset in a few minutes")
    parser.add_argument(
        "--speed", type=float, default=MAX_SPEED, help=f"highest speed (default {MAX_SPEED:g})"
    )
    parser.add_argument("--only", action="append", default=[], metavar="CELL:USERS", help="e.g. C:10, H:0")
    parser.add_argument(
        "--jobs",
        type=int,
        default=JOBS,
        help=f"steps measured at once, each its own server and client (default {JOBS})",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the steps, their speeds and expected time only"
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    names = args.profile or (sorted(QUICK) if args.quick else list(PROFILES))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.jobs} steps at once")
    harness = measure_harness(names[0])
    print(
        f"harness latency (client TTFT less the server's): {1000 * harness.base_s:.2f} ms wall alone,"
        f" +{1000 * harness.per_request_s:.2f} ms + {1e6 * harness.per_token_s:.2f} us per prompt token"
        f" for each request sent with it; server lag p50 {1000 * harness.lag_s:.2f} ms,"
        f" p99 {1000 * harness.lag_p99_s:.2f} ms while streaming"
    )
    todo: list[tuple[Step, float]] = []
    for name in names:
        only: set[tuple[str, int]] | None = QUICK.get(name, set()) if args.quick else None
        if args.only:
            only = {(c.split(":")[0], int(c.split(":")[1])) for c in args.only}
        todo += [
            (step, choose_speed(step, harness, args.speed, args.jobs)) for step in plan(PROFILES[name], only)
        ]
    planned = sum(step.model_s / speed for step, speed in todo)
    if args.plan:
        for step, speed in todo:
            wall = step.model_s / speed
            print(
                f"  {step.profile.name} [{step.label}] x{speed:g}: {step.model_s:.0f} s model, {wall:.0f} s"
            )
        print(
            f"\nabout {planned:.0f} s of workload steps, {planned / args.jobs:.0f} s at {args.jobs} at once"
        )
        return 0
    print(f"{len(todo)} steps, about {planned / args.jobs:.0f} s")
    results: dict[int, list[Measured]] = {}
    longest_first = sorted(range(len(todo)), key=lambda i: -todo[i][0].model_s / todo[i][1])
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_step, *todo[i]): i for i in longest_first}
        for done in as_completed(futures):
            i = futures[done]
            results[i] = done.result()
            step = todo[i][0]
            print(f"  done: {step.profile.name} [{step.label}] ({len(results)}/{len(todo)})", flush=True)
    inside = total = excluded = 0
    outside: list[str] = []
    shown = None
    for i, (step, _) in enumerate(todo):
        if step.profile.name != shown:
            shown = step.profile.name
            print(f"\n{step.profile.name}: {step.profile.description}")
        a, b, c, lines = report(step, results[i])
        inside, total, excluded = inside + a, total + b, excluded + c
        outside += lines
    elapsed = time.perf_counter() - t0
    print(
        f"\n{inside}/{total} calibrated figures within {100 * TOLERANCE:.0f}% over HTTP"
        f" ({excluded} published figures not counted, reasons above); {elapsed:.0f} s"
    )
    for line in outside:
        print(f"  outside: {line}")
    return 0 if inside == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
