"""The scheduler model: vLLM's V1 engine loop in model time, with no I/O.

One ``step(now)`` plans and commits one engine iteration the way vLLM's scheduler does: running
requests first (decodes, or the next chunk of an unfinished prefill), then waiting requests in
arrival order while ``max_num_seqs`` and the ``max_num_batched_tokens`` budget allow (chunked
prefill). KV blocks are allocated as tokens are computed; when the cache is full the newest running
request is preempted (its blocks freed, recomputed later from the start). The step's duration comes
from the profile's cost model (times ``EngineConfig.time_scale``); its tokens are due at
``StepResult.end``.

With ``enable_prefix_caching`` the cache keeps the full blocks of prompts it has computed, as vLLM's
automatic prefix caching does: a request's ``block_hashes`` (one per full prompt block, each naming
the whole prefix up to that block) are looked up when it is admitted, and the leading blocks found
are shared instead of computed (at most ``prompt_len - 1`` tokens: the last one is always computed).
Blocks nobody holds stay cached and count as free; once the never-cached free blocks are used up,
allocation reuses them, least recently freed first (vLLM keeps both kinds in one LRU queue).
Generated tokens' blocks are not cached here (the HTTP layer knows only the prompt's ids).

With ``async_scheduling`` a step is planned while the one before it runs, so a request that reaches
the scheduler while the GPU is busy joins the step after next. With speculative decoding every
decoding request verifies its drafts in the step and the drafter runs once per draft position
(costed in ``costmodel.py``); each request's acceptance is the typical one scaled by how predictable
its reply is. A request reaches the scheduler ``request_overhead_s`` after it arrives, and a few
(``stall_chance``) wait longer, for an API-server pause that grows with the requests it serves.

The engine never reads a clock: callers pass ``now``. ``calibration.py`` drives it in virtual time;
``server.py`` drives it in real (scaled) time and delivers each step's tokens when they are due.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from sparktop.sim.costmodel import StepCost

FinishReason = Literal["stop", "length", "abort", "error"]
SPEC_MAX_ACCEPTANCE = 0.98
"""No draft position is ever certain to be accepted."""
GOLDEN = (5**0.5 - 1) / 2
_NORMAL = NormalDist()


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
    stall_chance: float = 0.0
    """Chance that the API server stalls before passing a request on (a pause of its own)."""
    stall_s: float = 0.0
    """Model seconds such a stall lasts, plus ``stall_per_request_s`` per request in flight (like a
    collector pass over the state of every stream the API server serves)."""
    stall_per_request_s: float = 0.0
    enable_prefix_caching: bool = False
    """Automatic prefix caching (``--enable-prefix-caching``, see the module docstring)."""
    time_scale: float = 1.0
    """Seconds of the caller's clock per modelled second: every duration the engine produces (steps,
    the request overhead, the cold start) is multiplied by it. The simulated server passes
    ``1 / speed`` so that its one time base stays the wall clock (``timebase.py``)."""
    spec_tokens: int = 0
    """Draft tokens per decode step (speculative decoding); 0 disables it."""
    spec_acceptance: tuple[float, ...] = ()
    """Chance that draft position i is accepted given every earlier one was (for a typical request)."""
    spec_spread: float = 0.0
    """How much acceptance differs between requests: each request's chances are the typical ones
    times a log-normal factor of this sigma (mean 1), drawn when it is added."""
    async_scheduling: bool = False
    """``--async-scheduling``: the scheduler plans each step while the one before it runs, so a
    request that arrives while the GPU is busy joins the step after next."""
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
    acceptance: tuple[float, ...] = ()
    """This request's chance per draft position (speculative decoding), set when it is added."""
    block_hashes: tuple[int, ...] = ()
    """Prefix identity: one hash per full block of the prompt, each naming the prefix up to it."""
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
    shared_blocks: int = 0
    """Leading blocks held through the prefix cache (hit, or computed here and cached)."""
    cached_tokens: int = 0
    """Prompt tokens found in the prefix cache when the request was first scheduled."""
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
    first_token_cached_tokens: int = 0
    """Of those, the ones found in the prefix cache (not computed)."""
    cache_lookups: int = 0
    """Requests first admitted in this step with prefix caching on (each looked its prompt up)."""
    cache_queries: int = 0
    """Prompt tokens those requests looked up in the prefix cache."""
    cache_hits: int = 0
    """Of those, the tokens found."""
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
        self._cached: dict[int, int] = {}
        """Prefix cache: block hash -> requests holding the block (0: free, kept until reused)."""
        self._evictable: OrderedDict[int, None] = OrderedDict()
        """Cached blocks nobody holds, least recently freed first (part of ``free_blocks``)."""
        self._last_start = -math.inf
        self._last_end = -math.inf
        self._added = 0

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
        cfg = self.config
        request.eligible = now + cfg.request_overhead_s * cfg.time_scale
        # Which requests stall and how predictable each one is follow a golden-ratio sequence
        # through the distributions: every run and every batch gets its share, not a lucky draw.
        self._added += 1
        share = (self._added * GOLDEN) % 1.0
        if share < cfg.stall_chance:
            in_flight = len(self.running) + len(self.waiting) + 1
            request.eligible += (cfg.stall_s + cfg.stall_per_request_s * in_flight) * cfg.time_scale
        if cfg.spec_tokens:
            factor = 1.0
            if cfg.spec_spread > 0:
                sigma = cfg.spec_spread
                factor = math.exp(sigma * _NORMAL.inv_cdf((share + 0.5) % 1.0) - sigma * sigma / 2)
            request.acceptance = tuple(min(SPEC_MAX_ACCEPTANCE, c * factor) for c in cfg.spec_acceptance)
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

    @property
    def cached_blocks(self) -> int:
        """Blocks in the prefix cache (held by requests or free)."""
        return len(self._cached)

    def _free(self, request: Request) -> None:
        freed = request.blocks
        shared = request.shared_blocks
        if shared:
            cached = self._cached
            hashes = request.block_hashes
            freed -= shared
            for j in range(shared - 1, -1, -1):  # the last block first: it is the first reused, as in vLLM
                h = hashes[j]
                holders = cached[h] - 1
                cached[h] = holders
                if holders == 0:
                    self._evictable[h] = None
                    freed += 1
            request.shared_blocks = 0
        self.free_blocks += freed
        request.blocks = 0

    def _evict(self) -> None:
        """Reuse free cached blocks once the uncached free ones ran out: their prefixes leave the cache."""
        evictable = self._evictable
        cached = self._cached
        while len(evictable) > self.free_blocks:
            h, _ = evictable.popitem(last=False)
            del cached[h]

    def _lookup(self, request: Request) -> tuple[int, int]:
        """Leading prompt blocks of ``request`` in the cache, and how many of them are free."""
        hashes = request.block_hashes
        limit = min(len(hashes), (request.total - 1) // self.config.block_size)
        cached = self._cached
        hits = free = 0
        while hits < limit:
            holders = cached.get(hashes[hits])
            if holders is None:
                break
            hits += 1
            if not holders:
                free += 1
        return hits, free

    def _hold(self, request: Request, hits: int, free: int) -> None:
        """``request`` takes the first ``hits`` cached blocks of its prefix (``free`` of them were free)."""
        cached = self._cached
        evictable = self._evictable
        for h in request.block_hashes[:hits]:
            holders = cached[h]
            if not holders:
                del evictable[h]
            cached[h] = holders + 1
        self.free_blocks -= free
        request.shared_blocks = request.blocks = hits
        request.computed = hits * self.config.block_size

    def _cache_prompt_blocks(self, request: Request, computed: int) -> None:
        """Cache the full prompt blocks up to ``computed`` tokens (until one is cached already)."""
        hashes = request.block_hashes
        end = min(computed // self.config.block_size, len(hashes))
        j = request.shared_blocks
        cached = self._cached
        while j < end:
            h = hashes[j]
            if h in cached:  # another request computed the same block: this one keeps its own copy
                break
            cached[h] = 1
            j += 1
        request.shared_blocks = j

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
            if self._evictable:
                self._evict()
            req.blocks += need
            plan.append((req, n, is_decode))
            budget -= n
            i += 1

        # Then waiting requests, oldest first, unless this step had to preempt. With async
        # scheduling this step was planned when the previous one started, if the GPU was busy.
        # An idle engine takes the requests the API server hands over together: those that arrived
        # within one preparation time of each other (vLLM's engine core drains its input queue
        # when a request wakes it; ten users sent at once are prefilled in one step).
        admit_until = now
        if not self.running:
            if self.waiting and self.waiting[0].eligible <= now:
                admit_until = now + cfg.request_overhead_s * cfg.time_scale
                # handed over together: those this step has no room for are the scheduler's too
                # (a burst's last requests join the next step, not the one after it)
                for waiting in self.waiting:
                    if now < waiting.eligible <= admit_until:
                        waiting.eligible = now
        elif cfg.async_scheduling and self._last_end == now:
            admit_until = self._last_start
        caching = cfg.enable_prefix_caching
        cache_lookups = cache_queries = cache_hits = 0
        if not preemptions:
            while self.waiting and budget > 0 and len(self.running) < cfg.max_num_seqs:
                req = self.waiting[0]
                if req.eligible > admit_until:
                    break
                if caching:
                    hits, free_hits = self._lookup(req)
                    computed = hits * cfg.block_size
                    n = min(req.total - computed, budget)
                    need = self._blocks_for(computed + n) - hits
                    if need + free_hits > self.free_blocks:
                        break
                    self._hold(req, hits, free_hits)
                    if not req.preemptions:  # vLLM counts a request's first admission only
                        req.cached_tokens = computed
                        cache_lookups += 1
                        cache_queries += req.prompt_len
                        cache_hits += computed
                else:
                    n = min(req.total - req.computed, budget)
                    need = self._blocks_for(req.computed + n) - req.blocks
                    if need > self.free_blocks:
                        break
                self.waiting.popleft()
                self.free_blocks -= need
                if self._evictable:
                    self._evict()
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
                if caching and req.block_hashes:
                    self._cache_prompt_blocks(req, req.computed + n)
        duration = cfg.cost.seconds(
            decode_seqs=decode_seqs,
            decode_tokens=decode_tokens,
            context_tokens=context,
            prefill_tokens=prefill_tokens,
            prefill_attn=prefill_attn,
            draft_passes=spec if decode_tokens > decode_seqs else 0,
        )
        if self.cold and prefill_tokens >= cfg.cold_prefill_tokens:
            duration += cfg.cold_start_s
            self.cold = False
        duration *= cfg.time_scale
        end = now + duration
        self._last_start = now
        self._last_end = end
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
            cache_lookups=cache_lookups,
            cache_queries=cache_queries,
            cache_hits=cache_hits,
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
                for pos, chance in enumerate(req.acceptance[: n - 1]):
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
                result.first_token_cached_tokens += req.cached_tokens
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
