"""Named workloads: the arena suite A..J as published, their quick variants, ``smoke`` and ``demo``.

The arena suite (``shared/reference/spark-benchmarks.md``): A, B, C, E, F, G are llama-benchy closed
loops (``--runs 3 --latency-mode generation``, each concurrency step warmed up first); H, I, J are
``vllm bench serve`` open loops with ``--seed 42``. The published runs used the chat endpoint; the
presets run on whichever endpoint the caller picks (token-id completions by default: exact lengths).

Run E is read as the published figures read. Its command was ``llama-benchy --pp 2048 --tg 512
--depth 4``, and llama-benchy's ``--depth`` counts context tokens, so each measured request carried
about 2048 prompt tokens: its TTFT (0.52 s at one user on Gemma BF16) is a ~2048-token prefill. The
arena describes E as five turns of office work, so the preset is a five-turn conversation (depth 4)
whose every turn adds 2048 new tokens and 512 output tokens to a growing context. The first turn is
the request the published figures describe; later turns show what the history costs (on a server
with prefix caching they prefill only the new tokens, as the published TTFT suggests; without it
they re-prefill the whole context). Each record carries its turn, so turn-1 figures can be compared
with the published ones.

Run I replays ShareGPT conversations; that dataset cannot be downloaded here, so the preset draws
lengths from a conversation-like distribution fitted to the published run's averages (see
``sparktop.workload.arrivals``).

Quick variants keep each shape (the same steps, concurrencies, rates relative to the lengths) but
shrink lengths, runs and prompt counts so a preset takes seconds. ``demo`` is a looping story for
the dashboard against the simulator's default profile at real time: calm traffic, a ramp, a burst
that builds a queue, fills the KV cache and drives TTFT up, then recovery. It is plain data: retune
the stages below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from sparktop.workload.spec import ClosedLoop, OpenLoop, Stage, Workload

ARENA_RUNS = 3
ARENA_SEED = 42
QUICK_LENGTH_DIVISOR = 8
QUICK_MIN_LENGTH = 16
QUICK_MAX_OUTPUT = 64
"""Output tokens per quick request at most: a quick step must end in seconds at ~25 tok/s per user."""
QUICK_PROMPT_DIVISOR = 10
QUICK_MIN_PROMPTS = 10


def closed_name(prefix: str, stage: ClosedLoop) -> str:
    """``A pp=4096 tg=256 c=5``: what a closed-loop step is called on screen and in records."""
    turns = f" turns={stage.depth + 1}" if stage.depth else ""
    return f"{prefix} pp={stage.input_len} tg={stage.output_len}{turns} c={stage.users}"


def _closed(
    key: str,
    title: str,
    prompts: tuple[int, ...],
    output: int,
    users: tuple[int, ...],
    depth: int = 0,
    notes: str = "",
) -> Workload:
    stages: list[Stage] = []
    for pp in prompts:
        for c in users:
            stage = ClosedLoop(
                name=key, users=c, input_len=pp, output_len=output, depth=depth, runs=ARENA_RUNS, warmup=True
            )
            stages.append(replace(stage, name=closed_name(key, stage)))
    return Workload(
        name=key, title=title, stages=tuple(stages), seed=ARENA_SEED, endpoint="chat", notes=notes
    )


def _open(
    key: str,
    title: str,
    *,
    prompts: int,
    rate: float,
    burstiness: float,
    max_concurrency: int | None = None,
    input_len: int = 4000,
    output_len: int = 500,
    range_ratio: float = 0.9,
    conversation: bool = False,
    notes: str = "",
) -> Workload:
    stage = OpenLoop(
        name=f"{key} {rate:g} req/s",
        rate=rate,
        input_len=input_len,
        output_len=output_len,
        num_prompts=prompts,
        burstiness=burstiness,
        max_concurrency=max_concurrency,
        range_ratio=range_ratio if not conversation else 0.0,
        lengths="conversation" if conversation else "random",
    )
    return Workload(name=key, title=title, stages=(stage,), seed=ARENA_SEED, endpoint="chat", notes=notes)


def arena_a() -> Workload:
    return _closed("A", "context scaling", (4096, 8192, 16384, 25000), 256, (1, 5, 10))


def arena_b() -> Workload:
    return _closed("B", "25k context, more users", (25000,), 256, (5, 10, 20))


def arena_c() -> Workload:
    return _closed("C", "chat", (1024,), 1024, (1, 5, 10))


def arena_e() -> Workload:
    return _closed(
        "E",
        "multi-turn office work (5 turns)",
        (2048,),
        512,
        (1, 5, 10),
        depth=4,
        notes="five turns per user, 2048 new prompt tokens and 512 output tokens per turn, growing "
        "context; the published figures describe the first turn (see sparktop.workload.presets)",
    )


def arena_f() -> Workload:
    return _closed("F", "RAG mix", (8192,), 512, (5, 10, 20))


def arena_g() -> Workload:
    return _closed("G", "long output / agents", (256,), 4096, (1, 5, 10))


def arena_h() -> Workload:
    return _open("H", "office baseline", prompts=200, rate=0.3, burstiness=0.7)


def arena_i() -> Workload:
    return _open(
        "I",
        "real conversations",
        prompts=250,
        rate=0.3,
        burstiness=0.7,
        conversation=True,
        notes="ShareGPT cannot be downloaded: conversation-like lengths fitted to the published "
        "averages (about 240 prompt and 205 output tokens)",
    )


def arena_j() -> Workload:
    return _open("J", "Monday-morning peak", prompts=300, rate=1.5, burstiness=1.0, max_concurrency=25)


def smoke() -> Workload:
    """Seconds of everything ``sparktop smoke`` measures: one user alone (decode per user at c=1,
    after an unmeasured warm-up request), four users together, then a burst of 16 requests sent
    in one second (open loop)."""
    return Workload(
        name="smoke",
        title="smoke test",
        stages=(
            ClosedLoop(name="smoke c=1", users=1, input_len=128, output_len=64, runs=3, warmup=True),
            ClosedLoop(name="smoke c=4", users=4, input_len=128, output_len=32, runs=1),
            OpenLoop(
                name="smoke burst 16 req/s",
                rate=16.0,
                input_len=128,
                output_len=16,
                num_prompts=16,
                range_ratio=0.5,
            ),
        ),
        seed=0,
    )


DEMO_STAGES: tuple[OpenLoop, ...] = (
    # calm: a few chat users, TTFT ~0.2 s
    OpenLoop(
        name="demo: calm",
        rate=0.5,
        input_len=1024,
        output_len=256,
        range_ratio=0.5,
        duration_s=30,
        drain=False,
    ),
    # ramp: office documents; ~3k prefill tok/s of the ~5k the Spark has, running climbs to ~20
    OpenLoop(
        name="demo: ramp",
        rate=1.0,
        input_len=3000,
        output_len=400,
        range_ratio=0.5,
        duration_s=30,
        drain=False,
    ),
    # burst: 8k-token prompts at 3/s, six times the prefill wall: the queue builds, TTFT climbs
    # to about a minute, the KV cache fills towards half as the prompts get prefilled
    OpenLoop(
        name="demo: burst",
        rate=3.0,
        burstiness=0.5,
        input_len=8000,
        output_len=600,
        range_ratio=0.3,
        duration_s=15,
        drain=False,
    ),
    # recovery: calm traffic again while the queue drains and TTFT falls back
    OpenLoop(
        name="demo: recovery",
        rate=0.5,
        input_len=1024,
        output_len=256,
        range_ratio=0.5,
        duration_s=120,
        drain=False,
    ),
)
"""The demo's story, tuned against ``gemma4-26b-a4b-nvfp4`` at real time."""


def demo() -> Workload:
    return Workload(
        name="demo",
        title="demo: calm, ramp, burst, recovery (loops)",
        stages=DEMO_STAGES,
        seed=0,
        repeat=True,
    )


PRESETS: dict[str, Callable[[], Workload]] = {
    "A": arena_a,
    "B": arena_b,
    "C": arena_c,
    "E": arena_e,
    "F": arena_f,
    "G": arena_g,
    "H": arena_h,
    "I": arena_i,
    "J": arena_j,
    "smoke": smoke,
    "demo": demo,
}


def names() -> tuple[str, ...]:
    return tuple(PRESETS)


def get_preset(name: str, *, quick: bool = False) -> Workload:
    """The preset called ``name`` (arena letters are case-insensitive); ``KeyError`` if none."""
    key = name.upper() if len(name) == 1 else name.lower()
    if key not in PRESETS:
        raise KeyError(name)
    workload = PRESETS[key]()
    return quick_variant(workload) if quick else workload


def _shrink(length: int) -> int:
    return max(QUICK_MIN_LENGTH, length // QUICK_LENGTH_DIVISOR)


def _shrink_output(length: int) -> int:
    return min(QUICK_MAX_OUTPUT, _shrink(length))


def _quick_stage(stage: Stage) -> Stage:
    if isinstance(stage, ClosedLoop):
        small = replace(
            stage,
            input_len=_shrink(stage.input_len),
            output_len=_shrink_output(stage.output_len),
            runs=1,
            warmup=False,
        )
        return replace(small, name=closed_name(stage.name.split(" ", 1)[0], small))
    if stage.num_prompts is not None:
        prompts = max(QUICK_MIN_PROMPTS, stage.num_prompts // QUICK_PROMPT_DIVISOR)
        rate = stage.rate if math.isinf(stage.rate) else stage.rate * QUICK_PROMPT_DIVISOR
        return replace(
            stage,
            name=f"{stage.name} (quick)",
            rate=rate,
            num_prompts=prompts,
            input_len=_shrink(stage.input_len),
            output_len=_shrink_output(stage.output_len),
            length_scale=stage.length_scale / QUICK_LENGTH_DIVISOR,
        )
    assert stage.duration_s is not None
    return replace(
        stage,
        duration_s=max(2.0, stage.duration_s / QUICK_PROMPT_DIVISOR),
        rate=stage.rate * QUICK_PROMPT_DIVISOR,
        input_len=_shrink(stage.input_len),
        output_len=_shrink_output(stage.output_len),
        length_scale=stage.length_scale / QUICK_LENGTH_DIVISOR,
    )


def quick_variant(workload: Workload) -> Workload:
    """The same shape, seconds long: lengths / 8 (outputs at most 64 tokens), one run, no warm-up,
    a tenth of the prompts at ten times the rate."""
    if workload.name == "smoke":
        return workload
    stages = tuple(_quick_stage(s) for s in workload.stages)
    return replace(workload, name=f"{workload.name} (quick)", stages=stages)
