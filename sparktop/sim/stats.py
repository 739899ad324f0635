"""What the simulated server counts: vLLM's metrics, the HTTP server's, and its own lag.

``ServerMetrics`` turns engine steps and request lifecycles into observations on vLLM's families
(``vllm_metrics.py``) with the children looked up once, so a streamed token costs one histogram
observation. Each family means what vLLM's does (``vllm/v1/metrics/loggers.py`` and ``stats.py``):
prompt tokens are counted when a request's first token comes out, split into computed and
prefix-cache hits; prefix-cache queries and hits when a request is first admitted; per-request
histograms when it finishes. Times come from the engine on the server's one time base (wall
seconds, ``timebase.py``), so at ``--speed X`` they are the modelled Spark's divided by X.
``LagStats`` records how late each step's tokens left the server relative to when they were due
(wall seconds): the figure that says whether the simulator keeps up.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from sparktop.sim.engine import Request, StepResult
from sparktop.sim.vllm_metrics import Style, VllmMetrics

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
HIT_RATE_REQUESTS = 1000
"""The log line's prefix-cache hit rate covers about this many of the latest requests (as vLLM's)."""


class LagStats:
    """Per-step delivery lag (wall seconds), the most recent ``capacity`` steps kept for percentiles."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._samples = array("d")
        self._capacity = capacity
        self._next = 0
        self.count = 0
        self.max = 0.0
        self.tokens = 0

    def record(self, lag: float, tokens: int) -> None:
        lag = max(lag, 0.0)
        if len(self._samples) < self._capacity:
            self._samples.append(lag)
        else:
            self._samples[self._next] = lag
            self._next = (self._next + 1) % self._capacity
        self.count += 1
        self.tokens += tokens
        self.max = max(self.max, lag)

    def percentile(self, q: float) -> float:
        if not self._samples:
            return 0.0
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float | int]:
        return {
            "steps": self.count,
            "tokens": self.tokens,
            "lag_p50_s": self.percentile(0.50),
            "lag_p99_s": self.percentile(0.99),
            "lag_max_s": self.max,
        }


@dataclass(frozen=True, slots=True)
class LogWindow:
    """Tokens and preemptions between two periodic log lines."""

    prompt: int
    """Prompt tokens computed (prefix-cache hits excluded), as vLLM's throughput counts them."""
    generation: int
    preemptions: int

    @property
    def active(self) -> bool:
        return bool(self.prompt or self.generation)


class PrefixHitRate:
    """The hit rate over the most recent requests, as vLLM's ``CachingMetrics`` keeps it."""

    def __init__(self, max_requests: int = HIT_RATE_REQUESTS) -> None:
        self._max = max_requests
        self._recent: deque[tuple[int, int, int]] = deque()
        self._requests = self._queries = self._hits = 0

    def observe(self, requests: int, queries: int, hits: int) -> None:
        if not requests:
            return
        self._recent.append((requests, queries, hits))
        self._requests += requests
        self._queries += queries
        self._hits += hits
        while len(self._recent) > 1 and self._requests > self._max:
            old_requests, old_queries, old_hits = self._recent.popleft()
            self._requests -= old_requests
            self._queries -= old_queries
            self._hits -= old_hits

    @property
    def empty(self) -> bool:
        return not self._requests

    @property
    def rate(self) -> float:
        return self._hits / self._queries if self._queries else 0.0


class ServerMetrics:
    """vLLM's ``/metrics`` page for one simulated server, plus HTTP and simulator series."""

    def __init__(
        self,
        model_name: str,
        *,
        style: Style,
        max_model_len: int,
        spec_positions: int,
        cache_config: dict[str, str],
        sim_info: dict[str, str] | None = None,
    ) -> None:
        self.vllm = VllmMetrics(
            model_name,
            style=style,
            max_model_len=max_model_len,
            spec_decode_positions=spec_positions,
            cache_config=cache_config,
        )
        reg = self.vllm.registry
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)
        self._http_requests = Counter(
            "http_requests_total", "Total number of requests by method, status and handler.",
            ["handler", "method", "status"], registry=reg,
        )  # fmt: skip
        self._http_latency = Histogram(
            "http_request_duration_seconds", "Latency with only few buckets by handler.",
            ["handler", "method"], buckets=(0.1, 0.5, 1.0), registry=reg,
        )  # fmt: skip
        if sim_info is not None:
            info = Gauge(
                "sparktop_sim_info",
                "SIMULATED server: this vLLM is sparktop's simulator (labels: profile, speed).",
                sorted(sim_info),
                registry=reg,
            )
            info.labels(**sim_info).set(1)
        self._lag = Histogram(
            "sparktop_sim_step_lag_seconds",
            "SIMULATED server only: how late each engine step's tokens left the server (wall seconds).",
            buckets=LAG_BUCKETS,
            registry=reg,
        )
        v = self.vllm
        self.running = v.gauge_child("vllm:num_requests_running")
        self.waiting = v.gauge_child("vllm:num_requests_waiting")
        self.waiting_capacity = v.gauge_child("vllm:num_requests_waiting_by_reason", extra=("capacity",))
        self.kv_usage = v.gauge_child("vllm:kv_cache_usage_perc")
        self.gpu_cache_usage = v.gauge_child("vllm:gpu_cache_usage_perc")
        self.prompt_tokens = v.counter_child("vllm:prompt_tokens")
        self.prompt_computed = v.counter_child("vllm:prompt_tokens_by_source", extra=("local_compute",))
        self.prompt_cache_hit = v.counter_child("vllm:prompt_tokens_by_source", extra=("local_cache_hit",))
        self.prompt_cached = v.counter_child("vllm:prompt_tokens_cached")
        self.cached_on_device = v.counter_child("vllm:prompt_tokens_cached_by_source", extra=("device",))
        self.cache_queries = [
            v.counter_child(name) for name in ("vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries")
        ]
        self.cache_hits = [
            v.counter_child(name) for name in ("vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits")
        ]
        self.generation_tokens = v.counter_child("vllm:generation_tokens")
        self.preemptions = v.counter_child("vllm:num_preemptions")
        self.iteration_tokens = v.histogram_child("vllm:iteration_tokens_total")
        self.ttft = v.histogram_child("vllm:time_to_first_token_seconds")
        self.itl = v.histogram_child("vllm:inter_token_latency_seconds")
        self.tpot_old = v.histogram_child("vllm:time_per_output_token_seconds")
        self.request_tpot = v.histogram_child("vllm:request_time_per_output_token_seconds")
        self.e2e = v.histogram_child("vllm:e2e_request_latency_seconds")
        self.queue = v.histogram_child("vllm:request_queue_time_seconds")
        self.inference = v.histogram_child("vllm:request_inference_time_seconds")
        self.prefill = v.histogram_child("vllm:request_prefill_time_seconds")
        self.decode = v.histogram_child("vllm:request_decode_time_seconds")
        self.req_prompt = v.histogram_child("vllm:request_prompt_tokens")
        self.req_generation = v.histogram_child("vllm:request_generation_tokens")
        self.req_max_gen = v.histogram_child("vllm:request_max_num_generation_tokens")
        self.req_max_tokens = v.histogram_child("vllm:request_params_max_tokens")
        self.req_n = v.histogram_child("vllm:request_params_n")
        self.req_preemptions = v.histogram_child("vllm:request_num_preemptions")
        self.req_prefill_computed = v.histogram_child("vllm:request_prefill_kv_computed_tokens")
        self.spec_drafts = v.counter_child("vllm:spec_decode_num_drafts")
        self.spec_draft_tokens = v.counter_child("vllm:spec_decode_num_draft_tokens")
        self.spec_accepted = v.counter_child("vllm:spec_decode_num_accepted_tokens")
        self.spec_per_pos = [
            v.counter_child("vllm:spec_decode_num_accepted_tokens_per_pos", extra=(str(i),))
            for i in range(spec_positions)
        ]
        self._success = {
            reason: v.counter_child("vllm:request_success", extra=(reason,))
            for reason in ("stop", "length", "abort", "error", "repetition")
        }
        self.lag = LagStats()
        self.hit_rate = PrefixHitRate()
        self.window_prompt = 0
        """Prompt tokens computed (cache hits excluded) since the last log line, as vLLM's counts them."""
        self.window_generation = 0
        self.window_preemptions = 0

    # observations -------------------------------------------------------------------------------

    def step(self, r: StepResult, lag_s: float) -> None:
        """After a step's tokens went out."""
        self.lag.record(lag_s, r.generated_tokens)
        self._lag.observe(max(lag_s, 0.0))
        self.queue_update(r.running, r.waiting, r.kv_usage)
        prompt = r.first_token_prompt_tokens
        cached = r.first_token_cached_tokens
        computed = prompt - cached
        # vLLM counts an iteration's tokens when it has outputs: the prompts that produced their first
        # token (computed part) plus the tokens generated.
        if r.emissions and self.iteration_tokens is not None:
            self.iteration_tokens.observe(computed + r.generated_tokens)
        if r.generated_tokens and self.generation_tokens is not None:
            self.generation_tokens.inc(r.generated_tokens)
        if prompt:
            for child, value in (
                (self.prompt_tokens, prompt),
                (self.prompt_computed, computed),
                (self.prompt_cache_hit, cached),
                (self.prompt_cached, cached),
            ):
                if child is not None and value:
                    child.inc(value)
        if r.cache_lookups:
            for child in self.cache_queries:
                if child is not None and r.cache_queries:
                    child.inc(r.cache_queries)
            for child in [*self.cache_hits, self.cached_on_device]:
                if child is not None and r.cache_hits:
                    child.inc(r.cache_hits)
            self.hit_rate.observe(r.cache_lookups, r.cache_queries, r.cache_hits)
        if r.preemptions and self.preemptions is not None:
            self.preemptions.inc(r.preemptions)
        self.window_prompt += computed
        self.window_generation += r.generated_tokens
        self.window_preemptions += r.preemptions
        if r.drafts:
            for child, value in (
                (self.spec_drafts, r.drafts),
                (self.spec_draft_tokens, r.draft_tokens),
                (self.spec_accepted, r.accepted_tokens),
            ):
                if child is not None and value:
                    child.inc(value)
            for child, value in zip(self.spec_per_pos, r.accepted_per_pos, strict=False):
                if child is not None and value:
                    child.inc(value)

    def queue_update(self, running: int, waiting: int, kv_usage: float) -> None:
        """The scheduler's gauges (after a step, or between steps when a request queued or left).

        Every waiting request of the simulated engine waits for capacity: it has none of the
        transient constraints vLLM calls ``deferred`` (LoRA budget, KV transfer, a blocked status).
        """
        for gauge, value in (
            (self.running, running),
            (self.waiting, waiting),
            (self.waiting_capacity, waiting),
            (self.kv_usage, kv_usage),
            (self.gpu_cache_usage, kv_usage),
        ):
            if gauge is not None:
                gauge.set(value)

    def first_token(self, seconds: float) -> None:
        if self.ttft is not None:
            self.ttft.observe(seconds)

    def token_gap(self, seconds: float) -> None:
        if self.itl is not None:
            self.itl.observe(seconds)
        if self.tpot_old is not None:
            self.tpot_old.observe(seconds)

    def finished(self, req: Request, reason: str, now: float, *, group_n: int | None = 1) -> None:
        """One request left the engine (finished, aborted or failed).

        ``group_n``: the ``n`` of its API request when it is the last of that request's choices to
        finish (vLLM observes ``request_params_n`` and ``request_max_num_generation_tokens`` once per
        API request), None for the other choices.

        As in vLLM, the decode and inference phases end at the last token (not at an abort) and
        the mean time per output token is 0 for a request with fewer than two tokens.
        """
        child = self._success.get(reason)
        if child is not None:
            child.inc()
        arrival = req.arrival
        end = req.finished_at if req.finished_at is not None else now
        scheduled = req.first_scheduled
        first = req.first_token
        last = req.last_token if req.last_token is not None else end
        pairs: list[tuple[Histogram | None, float]] = [(self.e2e, end - arrival)]
        if scheduled is not None:
            pairs += [(self.queue, scheduled - arrival), (self.inference, last - scheduled)]
            if first is not None:
                pairs += [(self.prefill, first - scheduled), (self.decode, last - first)]
        tpot = (last - first) / (req.out - 1) if first is not None and req.out > 1 else 0.0
        pairs += [
            (self.request_tpot, tpot),
            (self.req_prompt, req.prompt_len),
            (self.req_generation, req.out),
            (self.req_max_tokens, req.max_tokens),
            (self.req_preemptions, req.preemptions),
            (self.req_prefill_computed, req.prompt_len - req.cached_tokens),
        ]
        if group_n is not None:
            pairs += [(self.req_max_gen, req.max_tokens), (self.req_n, group_n)]
        for hist, value in pairs:
            if hist is not None:
                hist.observe(max(value, 0.0))

    def http(self, handler: str, method: str, status: int, seconds: float) -> None:
        self._http_requests.labels(handler, method, f"{status // 100}xx").inc()
        self._http_latency.labels(handler, method).observe(seconds)

    def take_window(self) -> LogWindow:
        """What happened since the last call (for the periodic log line)."""
        out = LogWindow(self.window_prompt, self.window_generation, self.window_preemptions)
        self.window_prompt = self.window_generation = self.window_preemptions = 0
        return out

    def stats_line(
        self, window: LogWindow, elapsed_s: float, running: int, waiting: int, kv_usage: float
    ) -> str:
        """vLLM's periodic stats line for ``window``, which lasted ``elapsed_s`` seconds.

        Throughputs are per second of the server's clock (wall seconds) and, as vLLM's, count the
        prompt tokens computed (not those found in the prefix cache). Like vLLM's, the line names
        preemptions only when some happened in the window and the prefix-cache hit rate only once
        the cache has been queried (never with prefix caching off).
        """
        rate = 1.0 / elapsed_s if elapsed_s > 0 else 0.0
        parts = [
            f"Avg prompt throughput: {window.prompt * rate:.1f} tokens/s",
            f"Avg generation throughput: {window.generation * rate:.1f} tokens/s",
            f"Running: {running} reqs",
            f"Waiting: {waiting} reqs",
        ]
        if window.preemptions:
            parts.append(f"Preemptions: {window.preemptions}")
        parts.append(f"GPU KV cache usage: {100.0 * kv_usage:.1f}%")
        if not self.hit_rate.empty:
            parts.append(f"Prefix cache hit rate: {100.0 * self.hit_rate.rate:.1f}%")
        return "Engine 000: " + ", ".join(parts)

    def page(self) -> bytes:
        return generate_latest(self.vllm.registry)


def cache_config_labels(
    *,
    block_size: int,
    num_gpu_blocks: int,
    utilization: float,
    dtype: str,
    max_model_len: int,
    prefix_caching: bool,
    style: Style,
) -> dict[str, str]:
    """Labels of ``vllm:cache_config_info`` (``CacheConfig``'s fields as strings, as vLLM writes them).

    ``current`` has vLLM 0.32's fields, valued as a GPU deployment of the profile shows them:
    ``kv_cache_memory_bytes`` is ``None`` (vLLM sets it only from ``--kv-cache-memory``), the KV
    capacity and concurrency come from the block count as vLLM computes them, and the fields only a
    hybrid, sliding-window, offloading or KV-sharing setup fills keep their defaults.
    Older styles have the fields of their release.
    """
    if style == "current":
        concurrency = num_gpu_blocks / -(-max_model_len // block_size)
        current: dict[str, Any] = {
            "_block_size_resolved": True,
            "block_size": block_size,
            "cache_dtype": dtype,
            "cache_hit_alignment_tokens": None,
            "effective_attention_block_size": block_size,
            "enable_mamba_shared_prefix_checkpoint": False,
            "enable_prefix_caching": prefix_caching,
            "gpu_memory_utilization": utilization,
            "hash_block_size": None,
            "is_attention_free": False,
            "kv_cache_dtype_skip_layers": [],
            "kv_cache_layout": None,
            "kv_cache_max_concurrency": concurrency,
            "kv_cache_memory_bytes": None,
            "kv_cache_size_tokens": int(concurrency * max_model_len),
            "kv_offloading_backend": "native",
            "kv_offloading_size": None,
            "kv_sharing_fast_prefill": False,
            "mamba_block_size": None,
            "mamba_cache_dtype": "auto",
            "mamba_cache_mode": "none",
            "mamba_page_size_padded": None,
            "mamba_ssm_cache_dtype": "auto",
            "num_cpu_blocks": None,
            "num_gpu_blocks": num_gpu_blocks,
            "num_gpu_blocks_override": None,
            "prefix_cache_retention_interval": 0,
            "prefix_caching_hash_algo": "sha256",
            "prefix_match_unit": None,
            "replayssm_buffer_len": 16,
            "skip_page_size_padded": None,
            "sliding_window": None,
            "swa_bounded_replay": True,
            "use_kda_recoverssm": False,
            "use_replayssm": False,
            "user_specified_block_size": False,
        }
        return {k: str(v) for k, v in current.items()}
    labels: dict[str, Any] = {
        "block_size": block_size,
        "cache_dtype": dtype,
        "calculate_kv_scales": False,
        "cpu_offload_gb": 0,
        "enable_prefix_caching": prefix_caching,
        "gpu_memory_utilization": utilization,
        "is_attention_free": False,
        "num_cpu_blocks": None,
        "num_gpu_blocks": num_gpu_blocks,
        "num_gpu_blocks_override": None,
        "prefix_caching_hash_algo": "sha256",
        "sliding_window": None,
        "swap_space": 4,
        "swap_space_bytes": 4 * 1024**3,
    }
    return {k: str(v) for k, v in labels.items()}
