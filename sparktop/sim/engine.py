"""The scheduler model: vLLM's V1 engine loop in model time, with no I/O.

One ``step(now)`` plans and commits one engine iteration the way vLLM's scheduler does: running
requests first (decodes, or the next chunk of an unfinished prefill), then waiting requests in
arrival order while ``max_num_seqs`` and the ``max_num_batched_tokens`` budget allow (chunked
prefill). KV blocks are allocated as tokens are computed; when the cache is full the newest running
request is preempted (its blocks freed, recomputed later from the start). The step's duration comes
from the profile's cost model; its tokens are due at ``StepResult.end``.

The engine never reads a clock: callers pass ``now``. ``calibration.py`` drives it in virtual time;
``server.py`` drives it in real (scaled) time and delivers each step's tokens when they are due.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from sparktop.sim.costmodel import StepCost

FinishReason = Literal["stop", "length", "abort", "error"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the engine needs from a profile and the serving flags."""

    cost: StepCost
    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int
    num_blocks: int
    request_overhead_s: float = 0.0
    """Model seconds between a request's arrival and the scheduler seeing it (API server work)."""
    spec_tokens: int = 0
    """Draft tokens per decode step (speculative decoding); 0 disables it."""
    spec_acceptance: tuple[float, ...] = ()
    """Chance that draft position i is accepted given every earlier one was."""
    cold_start_s: float = 0.0
    """One-off cost of the first long prefill after startup (kernels compiled on first use)."""
    cold_prefill_tokens: int = 2048
    seed: int = 0


@dataclass(eq=False, slots=True)
class Request:
    """One request inside the engine. ``target`` output tokens end it with ``finish_reason``."""

    request_id: str
    prompt_len: int
    target: int
    finish_reason: FinishReason = "length"
    max_tokens: int = 0
    tag: object = None
    """Owner's handle (the HTTP stream); the engine never looks at it."""
    arrival: float = 0.0
    eligible: float = 0.0
    computed: int = 0
    out: int = 0
    blocks: int = 0
    first_scheduled: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    finished_at: float | None = None
    preemptions: int = 0
    done: bool = False
    aborted: bool = False

    @property
    def total(self) -> int:
        """Tokens the sequence holds so far (prompt plus generated)."""
        return self.prompt_len + self.out


@dataclass(slots=True)
class StepResult:
    """One committed step: its window in model time and what it produced (due at ``end``)."""

    start: float
    end: float
    emissions: list[tuple[Request, int]] = field(default_factory=list)
    """(request, new tokens) for every request that produced tokens in this step."""
    finished: list[Request] = field(default_factory=list)
    scheduled_tokens: int = 0
    prefill_tokens: int = 0
    generated_tokens: int = 0
    first_token_prompt_tokens: int = 0
    """Prompt tokens of the requests that produced their first token in this step."""
    preemptions: int = 0
    running: int = 0
    waiting: int = 0
    kv_usage: float = 0.0
    drafts: int = 0
    draft_tokens: int = 0
    accepted_tokens: int = 0
    accepted_per_pos: list[int] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start


class Engine:
    """The scheduler and its KV cache, advanced one step at a time by the caller."""

    def __init__(self, config: EngineConfig) -> None:
        if config.num_blocks <= 0 or config.block_size <= 0:
            raise ValueError("the KV cache needs at least one block")
        self.config = config
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.free_blocks = config.num_blocks
        self.busy_seconds = 0.0
        """Sum of step durations so far: the GPU's busy time."""
        self.prefill_busy_seconds = 0.0
        """Sum of the durations of steps that held prompt tokens (compute-bound, higher power)."""
        self.cold = config.cold_start_s > 0
        self._rng = random.Random(config.seed)

    # ------------------------------------------------------------------------------------------
    # queue

    @property
    def capacity_tokens(self) -> int:
        return self.config.num_blocks * self.config.block_size

    def add(self, request: Request, now: float) -> None:
        """Queue ``request`` (FCFS); the scheduler sees it after the API server's overhead."""
        if request.target < 1:
            raise ValueError("a request must produce at least one token")
        request.arrival = now
        request.eligible = now + self.config.request_overhead_s
        self.waiting.append(request)

    def abort(self, request: Request, now: float) -> bool:
        """Drop ``request`` wherever it is; False when it had already finished."""
        if request.done:
            return False
        if request in self.running:
            self.running.remove(request)
            self._free(request)
        else:
            try:
                self.waiting.remove(request)
            except ValueError:
                return False
        request.done = True
        request.aborted = True
        request.finish_reason = "abort"
        request.finished_at = now
        return True

    @property
    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    def next_wakeup(self) -> float | None:
        """When a step could next do something, assuming no new arrivals (None: never)."""
        if self.running:
            return -math.inf
        if self.waiting:
            return self.waiting[0].eligible
        return None

    @property
    def kv_usage(self) -> float:
        return 1.0 - self.free_blocks / self.config.num_blocks

    # ------------------------------------------------------------------------------------------
    # one step

    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.config.block_size)

    def _free(self, request: Request) -> None:
        self.free_blocks += request.blocks
        request.blocks = 0

    def _preempt(self, request: Request) -> None:
        self._free(request)
        request.computed = 0
        request.preemptions += 1
        self.waiting.appendleft(request)

    def step(self, now: float) -> StepResult | None:
        """Plan and commit one step starting at ``now``; None when nothing can run yet."""
        cfg = self.config
        budget = cfg.max_num_batched_tokens
        spec = cfg.spec_tokens
        plan: list[tuple[Request, int, bool]] = []  # (request, tokens scheduled, is decode)
        preemptions = 0
        decode_seqs = decode_tokens = context = prefill_tokens = 0
        prefill_attn = 0.0

        # Running requests first, in order; preempt from the back when the cache is full.
        i = 0
        while i < len(self.running) and budget > 0:
            req = self.running[i]
            remaining = req.total - req.computed
            is_decode = remaining <= 1
            n = 1 + (spec if req.out > 0 else 0) if is_decode else min(remaining, budget)
            n = min(n, budget)
            need = self._blocks_for(req.computed + n) - req.blocks
            scheduled = True
            while need > self.free_blocks:
                victim = self.running.pop()
                self._preempt(victim)
                preemptions += 1
                if victim is req:
                    scheduled = False
                    break
            if not scheduled:
                break
            self.free_blocks -= need
            req.blocks += need
            plan.append((req, n, is_decode))
            budget -= n
            i += 1

        # Then waiting requests, oldest first, unless this step had to preempt.
        if not preemptions:
            while self.waiting and budget > 0 and len(self.running) < cfg.max_num_seqs:
                req = self.waiting[0]
                if req.eligible > now:
                    break
                n = min(req.total - req.computed, budget)
                need = self._blocks_for(req.computed + n) - req.blocks
                if need > self.free_blocks:
                    break
                self.waiting.popleft()
                self.free_blocks -= need
                req.blocks += need
                if req.first_scheduled is None:
                    req.first_scheduled = now
                self.running.append(req)
                plan.append((req, n, False))
                budget -= n

        if not plan:
            return None

        for req, n, is_decode in plan:
            if is_decode:
                decode_seqs += 1
                decode_tokens += n
                context += req.computed
            else:
                prefill_tokens += n
                prefill_attn += n * (req.computed + n / 2)
        duration = cfg.cost.seconds(
            decode_seqs=decode_seqs,
            decode_tokens=decode_tokens,
            context_tokens=context,
            prefill_tokens=prefill_tokens,
            prefill_attn=prefill_attn,
        )
        if self.cold and prefill_tokens >= cfg.cold_prefill_tokens:
            duration += cfg.cold_start_s
            self.cold = False
        end = now + duration
        self.busy_seconds += duration
        if prefill_tokens:
            self.prefill_busy_seconds += duration
        result = StepResult(
            start=now,
            end=end,
            scheduled_tokens=decode_tokens + prefill_tokens,
            prefill_tokens=prefill_tokens,
            preemptions=preemptions,
            accepted_per_pos=[0] * spec,
        )
        emissions = result.emissions
        finished = result.finished
        for req, n, is_decode in plan:
            if not is_decode and req.computed + n < req.total:
                req.computed += n  # a prefill chunk that does not reach the end: no token yet
                continue
            new = 1
            if is_decode and n > 1:
                accepted = 0
                for pos, chance in enumerate(cfg.spec_acceptance[: n - 1]):
                    if self._rng.random() >= chance:
                        break
                    accepted += 1
                    result.accepted_per_pos[pos] += 1
                result.drafts += 1
                result.draft_tokens += n - 1
                result.accepted_tokens += accepted
                new += accepted
            new = min(new, req.target - req.out)
            req.computed = req.total + new - 1
            req.out += new
            if req.first_token is None:
                req.first_token = end
                result.first_token_prompt_tokens += req.prompt_len
            req.last_token = end
            emissions.append((req, new))
            result.generated_tokens += new
            if req.out >= req.target:
                req.done = True
                req.finished_at = end
                finished.append(req)
        if finished:
            self.running = [r for r in self.running if not r.done]
            for req in finished:
                self._free(req)
        result.running = len(self.running)
        result.waiting = len(self.waiting)
        result.kv_usage = self.kv_usage
        return result
