"""What the simulated server counts: vLLM's metrics, the HTTP server's, and its own lag.

``ServerMetrics`` turns engine steps and request lifecycles into observations on vLLM's families
(``vllm_metrics.py``) with the children looked up once, so a streamed token costs one histogram
observation. ``LagStats`` records how late each step's tokens left the server relative to the model
time they were due (wall seconds): the figure that says whether the simulator keeps up.
"""

from __future__ import annotations

from array import array
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from sparktop.sim.engine import Request, StepResult
from sparktop.sim.vllm_metrics import Style, VllmMetrics

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


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
        self.kv_usage = v.gauge_child("vllm:kv_cache_usage_perc")
        self.gpu_cache_usage = v.gauge_child("vllm:gpu_cache_usage_perc")
        self.prompt_tokens = v.counter_child("vllm:prompt_tokens")
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
        self.window_prompt = 0
        self.window_generation = 0

    # observations -------------------------------------------------------------------------------

    def step(self, r: StepResult, lag_s: float) -> None:
        """After a step's tokens went out."""
        self.lag.record(lag_s, r.generated_tokens)
        self._lag.observe(max(lag_s, 0.0))
        for gauge, value in ((self.running, r.running), (self.waiting, r.waiting)):
            if gauge is not None:
                gauge.set(value)
        for gauge in (self.kv_usage, self.gpu_cache_usage):
            if gauge is not None:
                gauge.set(r.kv_usage)
        if self.iteration_tokens is not None:
            self.iteration_tokens.observe(r.scheduled_tokens)
        if r.generated_tokens and self.generation_tokens is not None:
            self.generation_tokens.inc(r.generated_tokens)
        if r.first_token_prompt_tokens and self.prompt_tokens is not None:
            self.prompt_tokens.inc(r.first_token_prompt_tokens)
        if r.preemptions and self.preemptions is not None:
            self.preemptions.inc(r.preemptions)
        self.window_prompt += r.first_token_prompt_tokens
        self.window_generation += r.generated_tokens
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
        """Gauges between steps (a request queued or aborted)."""
        if self.running is not None:
            self.running.set(running)
        if self.waiting is not None:
            self.waiting.set(waiting)
        for gauge in (self.kv_usage, self.gpu_cache_usage):
            if gauge is not None:
                gauge.set(kv_usage)

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
        """
        child = self._success.get(reason)
        if child is not None:
            child.inc()
        arrival = req.arrival
        end = req.finished_at if req.finished_at is not None else now
        scheduled = req.first_scheduled
        first = req.first_token
        pairs: list[tuple[Histogram | None, float]] = [(self.e2e, end - arrival)]
        if scheduled is not None:
            pairs += [(self.queue, scheduled - arrival), (self.inference, end - scheduled)]
            if first is not None:
                pairs += [(self.prefill, first - scheduled), (self.decode, end - first)]
        if first is not None and req.out > 1:
            pairs.append((self.request_tpot, (end - first) / (req.out - 1)))
        pairs += [
            (self.req_prompt, req.prompt_len),
            (self.req_generation, req.out),
            (self.req_max_tokens, req.max_tokens),
        ]
        if group_n is not None:
            pairs += [(self.req_max_gen, req.max_tokens), (self.req_n, group_n)]
        for hist, value in pairs:
            if hist is not None:
                hist.observe(max(value, 0.0))

    def http(self, handler: str, method: str, status: int, seconds: float) -> None:
        self._http_requests.labels(handler, method, f"{status // 100}xx").inc()
        self._http_latency.labels(handler, method).observe(seconds)

    def take_window(self) -> tuple[int, int]:
        """Prompt and generation tokens since the last call (for the periodic log line)."""
        out = (self.window_prompt, self.window_generation)
        self.window_prompt = self.window_generation = 0
        return out

    def page(self) -> bytes:
        return generate_latest(self.vllm.registry)


def cache_config_labels(
    *, block_size: int, num_gpu_blocks: int, utilization: float, dtype: str, kv_bytes: int, style: Style
) -> dict[str, str]:
    """Labels of ``vllm:cache_config_info`` (CacheConfig's fields as strings)."""
    labels: dict[str, Any] = {
        "block_size": block_size,
        "cache_dtype": dtype,
        "calculate_kv_scales": False,
        "cpu_offload_gb": 0,
        "enable_prefix_caching": False,
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
    if style == "current":
        labels["kv_cache_memory_bytes"] = kv_bytes
        labels["kv_cache_size_tokens"] = num_gpu_blocks * block_size
    return {k: str(v) for k, v in labels.items()}
