"""vLLM's Prometheus metric families, built with prometheus-client (the library vLLM itself uses).

The simulated server observes into these; tests and benchmarks use them to produce realistic pages.
Names, types, labels, help texts and bucket bounds follow vLLM's own stat logger
(``vllm/v1/metrics/loggers.py``; the captured pages in ``tests/fixtures/real-vllm/`` are the
reference). ``style`` selects which release's page is produced, so version tolerance can be
exercised end to end. Every family carries ``model_name`` and (except in ``v0.7``) ``engine``
labels unless said otherwise.

``current`` (vLLM 0.32's page):

- gauges: ``num_requests_running``, ``num_requests_waiting``,
  ``num_requests_waiting_by_reason{reason=capacity|deferred}``,
  ``engine_sleep_state{sleep_state=awake|weights_offloaded|discard_all}``, ``kv_cache_usage_perc``,
  ``cache_config_info`` (every ``CacheConfig`` field as a label, plus ``engine``);
- counters: ``estimated_flops_per_gpu``, ``estimated_read_bytes_per_gpu``,
  ``estimated_write_bytes_per_gpu``, ``prefix_cache_queries``, ``prefix_cache_hits``,
  ``external_prefix_cache_queries``, ``external_prefix_cache_hits``, ``mm_cache_queries``,
  ``mm_cache_hits``, ``num_preemptions``, ``prompt_tokens``,
  ``prompt_tokens_by_source{source=local_compute|local_cache_hit|external_kv_transfer}``,
  ``prompt_tokens_cached``, ``prompt_tokens_cached_by_source{source=device|host|p2p|disk|
  external_unspecified}``, ``generation_tokens``, ``request_success{finished_reason}``,
  ``admission_rejections{reason}`` (``model_name`` only, no ``engine``);
- histograms: ``request_prompt_tokens``, ``request_generation_tokens``, ``iteration_tokens_total``,
  ``request_max_num_generation_tokens``, ``request_params_n``, ``request_params_max_tokens``,
  ``time_to_first_token_seconds``, ``inter_token_latency_seconds``,
  ``request_time_per_output_token_seconds``, ``e2e_request_latency_seconds``,
  ``request_queue_time_seconds``, ``request_inference_time_seconds``,
  ``request_prefill_time_seconds``, ``request_decode_time_seconds``, ``request_num_preemptions``,
  ``request_prefill_kv_computed_tokens``;
- with speculative decoding: ``spec_decode_num_drafts``, ``spec_decode_num_draft_tokens``,
  ``spec_decode_num_accepted_tokens``, ``spec_decode_num_accepted_tokens_per_pos{position}``.

``v0.10`` (vLLM 0.10's page): the gauges ``num_requests_running``, ``num_requests_waiting``,
``kv_cache_usage_perc``, ``gpu_cache_usage_perc`` (deprecated), ``cache_config_info``; the counters
``gpu_prefix_cache_queries``, ``gpu_prefix_cache_hits`` (deprecated), ``prefix_cache_queries``,
``prefix_cache_hits``, ``num_preemptions``, ``prompt_tokens``, ``generation_tokens``,
``request_success``; the histograms of ``current`` up to ``request_decode_time_seconds`` plus the
deprecated ``time_per_output_token_seconds`` (observing the same samples as ITL); the spec-decode
counters. None of the families vLLM added later (waiting by reason, sleep state, prompt tokens by
source or cached, external/multi-modal cache, MFU estimates, admission rejections, per-request
preemptions and prefill KV tokens).

``v0.7`` (the V0 engine): no ``engine`` label; the gauges ``num_requests_running``,
``num_requests_waiting``, ``num_requests_swapped``, ``cpu_cache_usage_perc``,
``gpu_cache_usage_perc``, ``gpu_prefix_cache_hit_rate``, ``cache_config_info``; the counters
``num_preemptions``, ``prompt_tokens``, ``generation_tokens``, ``request_success``; the histograms
``request_prompt_tokens``, ``request_generation_tokens``, ``iteration_tokens_total``,
``request_max_num_generation_tokens``, ``request_params_n``, ``request_params_max_tokens``,
``time_to_first_token_seconds``, ``time_per_output_token_seconds``,
``e2e_request_latency_seconds`` and the four request phase histograms, with V0's shorter buckets.

Token-count histograms use vLLM's 1-2-5 series up to ``max_model_len``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

Style = Literal["current", "v0.10", "v0.7"]
STYLES: tuple[Style, ...] = ("current", "v0.10", "v0.7")

TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
ITL_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
ITERATION_TOKEN_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
N_BUCKETS = (1, 2, 5, 10, 20)
REQUEST_NUM_PREEMPTIONS_BUCKETS = (1, 2, 3, 4, 5, 10, 20)
V0_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
V0_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
V0_LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)

FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")
WAITING_REASONS = ("capacity", "deferred")
"""``capacity``: waiting for scheduling capacity; ``deferred``: held back by a transient constraint
(LoRA budget, KV transfer, a blocked status). They sum to ``num_requests_waiting``."""
SLEEP_STATES = ("awake", "weights_offloaded", "discard_all")
PROMPT_SOURCES = ("local_compute", "local_cache_hit", "external_kv_transfer")
CACHE_HIT_SOURCES = ("device", "host", "p2p", "disk", "external_unspecified")
ADMISSION_REASONS = ("max_num_queued_reqs", "max_num_queued_tokens")

_LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "vllm:request_success": FINISH_REASONS,
    "vllm:num_requests_waiting_by_reason": WAITING_REASONS,
    "vllm:engine_sleep_state": SLEEP_STATES,
    "vllm:prompt_tokens_by_source": PROMPT_SOURCES,
    "vllm:prompt_tokens_cached_by_source": CACHE_HIT_SOURCES,
    "vllm:admission_rejections": ADMISSION_REASONS,
}
"""The extra label's values of the families that have one (vLLM creates every child up front)."""
_MODEL_ONLY = frozenset({"vllm:admission_rejections"})
"""Families labelled by ``model_name`` alone: the API server counts them, not an engine."""


def build_1_2_5_buckets(max_value: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to ``max_value`` (vLLM's token-count buckets)."""
    out: list[int] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return out
            out.append(value)
        exponent += 1


class VllmMetrics:
    """The ``vllm:`` families of one server, one child per engine.

    Engines are addressed by index; with ``style="v0.7"`` there is a single engine and no label.
    """

    def __init__(
        self,
        model_name: str,
        *,
        engines: int = 1,
        style: Style = "current",
        max_model_len: int = 131072,
        spec_decode_positions: int = 0,
        cache_config: dict[str, str] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.style = style
        self.registry = registry if registry is not None else CollectorRegistry()
        self.engines = 1 if style == "v0.7" else engines
        self._model = model_name
        labelnames = ["model_name"] if style == "v0.7" else ["model_name", "engine"]
        self._labelnames = labelnames
        self._families: dict[str, MetricWrapperBase] = {}
        v0 = style == "v0.7"
        current = style == "current"
        token_buckets = build_1_2_5_buckets(max_model_len)

        def gauge(name: str, doc: str, extra: Sequence[str] = ()) -> None:
            self._families[name] = Gauge(name, doc, [*labelnames, *extra], registry=self.registry)

        def counter(name: str, doc: str, extra: Sequence[str] = ()) -> None:
            base = ["model_name"] if name in _MODEL_ONLY else labelnames
            self._families[name] = Counter(name, doc, [*base, *extra], registry=self.registry)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> None:
            self._families[name] = Histogram(name, doc, labelnames, buckets=buckets, registry=self.registry)

        # The order is vLLM's registration order: spec decoding, the MFU estimates, then the rest.
        if spec_decode_positions and not v0:
            counter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.")
            counter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.")
            counter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.")
            counter(
                "vllm:spec_decode_num_accepted_tokens_per_pos",
                "Accepted tokens per draft position.",
                ["position"],
            )
        if current:
            mfu = "per GPU (for Model Flops Utilization calculations)."
            counter("vllm:estimated_flops_per_gpu", f"Estimated number of floating point operations {mfu}")
            counter("vllm:estimated_read_bytes_per_gpu", f"Estimated number of bytes read from memory {mfu}")
            counter(
                "vllm:estimated_write_bytes_per_gpu", f"Estimated number of bytes written to memory {mfu}"
            )
        gauge("vllm:num_requests_running", "Number of requests in model execution batches.")
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
        if current:
            gauge(
                "vllm:num_requests_waiting_by_reason",
                "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for scheduling "
                "capacity; 'deferred' = deferred by transient constraints (LoRA budget, KV transfer, blocked "
                "status). Sum of all reasons equals vllm:num_requests_waiting.",
                ["reason"],
            )
            gauge(
                "vllm:engine_sleep_state",
                "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; "
                "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.",
                ["sleep_state"],
            )
        if v0:
            gauge("vllm:num_requests_swapped", "Number of requests swapped to CPU.")
            gauge("vllm:cpu_cache_usage_perc", "CPU KV-cache usage. 1 means 100 percent usage.")
            gauge("vllm:gpu_prefix_cache_hit_rate", "GPU prefix cache block hit rate.")
        if style in ("v0.7", "v0.10"):
            gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.")
        if not v0:
            gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
            if style == "v0.10":
                counter("vllm:gpu_prefix_cache_queries", "GPU prefix cache queries (DEPRECATED).")
                counter("vllm:gpu_prefix_cache_hits", "GPU prefix cache hits (DEPRECATED).")
            counter(
                "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens."
            )
            counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.")
        if current:
            cross = "from KV connector cross-instance cache sharing"
            counter(
                "vllm:external_prefix_cache_queries",
                f"External prefix cache queries {cross}, in terms of number of queried tokens.",
            )
            counter(
                "vllm:external_prefix_cache_hits",
                f"External prefix cache hits {cross}, in terms of number of cached tokens.",
            )
            counter(
                "vllm:mm_cache_queries", "Multi-modal cache queries, in terms of number of queried items."
            )
            counter("vllm:mm_cache_hits", "Multi-modal cache hits, in terms of number of cached items.")
        counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        if current:
            counter("vllm:prompt_tokens_by_source", "Number of prompt tokens by source.", ["source"])
            counter("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).")
            counter(
                "vllm:prompt_tokens_cached_by_source",
                "Prefix-cache hit tokens by the cache tier that supplied them: device (local HBM), host "
                "(offloaded to DRAM), disk, p2p (transferred from another vLLM instance) or "
                "external_unspecified. Counted at admission; sums to vllm:prefix_cache_hits + "
                "vllm:external_prefix_cache_hits.",
                ["source"],
            )
        counter("vllm:generation_tokens", "Number of generation tokens processed.")
        counter("vllm:request_success", "Count of successfully processed requests.", ["finished_reason"])
        if current:
            counter(
                "vllm:admission_rejections",
                "Number of admission attempts rejected by a queue limit, by reason.",
                ["reason"],
            )
        histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", token_buckets)
        histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", token_buckets)
        histogram(
            "vllm:iteration_tokens_total",
            "Histogram of number of tokens per engine_step.",
            ITERATION_TOKEN_BUCKETS,
        )
        histogram(
            "vllm:request_max_num_generation_tokens",
            "Histogram of maximum number of requested generation tokens.",
            token_buckets,
        )
        histogram("vllm:request_params_n", "Histogram of the n request parameter.", N_BUCKETS)
        histogram(
            "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", token_buckets
        )
        histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            V0_TTFT_BUCKETS if v0 else TTFT_BUCKETS,
        )
        if v0 or style == "v0.10":
            histogram(
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.",
                V0_TPOT_BUCKETS if v0 else ITL_BUCKETS,
            )
        if not v0:
            histogram(
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                ITL_BUCKETS,
            )
            histogram(
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                ITL_BUCKETS,
            )
        latency = V0_LATENCY_BUCKETS if v0 else REQUEST_LATENCY_BUCKETS
        histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", latency)
        histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            latency,
        )
        histogram(
            "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.",
            latency,
        )
        histogram(
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            latency,
        )
        histogram(
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            latency,
        )
        if current:
            histogram(
                "vllm:request_num_preemptions",
                "Histogram of the number of times a request was preempted.",
                REQUEST_NUM_PREEMPTIONS_BUCKETS,
            )
            histogram(
                "vllm:request_prefill_kv_computed_tokens",
                "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
                token_buckets,
            )
        # Materialise every child so the page shows all series from the start, as vLLM does.
        for engine in range(self.engines):
            for name, family in self._families.items():
                labels = self._labels(engine, name)
                if name == "vllm:spec_decode_num_accepted_tokens_per_pos":
                    values: Sequence[str] = [str(pos) for pos in range(spec_decode_positions)]
                else:
                    values = _LABEL_VALUES.get(name, ())
                if values:
                    for value in values:
                        family.labels(*labels, value)
                else:
                    family.labels(*labels)
        for engine in range(self.engines):
            self.set("vllm:engine_sleep_state", 1.0, engine, ("awake",))
        if cache_config is not None:
            # vLLM registers the info gauge once the engine is up, so it comes last on the page.
            per_engine = not v0
            names = sorted({*cache_config, "engine"} if per_engine else cache_config)
            info = Gauge(
                "vllm:cache_config_info",
                "Information of the LLMEngine CacheConfig",
                names,
                registry=self.registry,
            )
            for engine in range(self.engines):
                info_labels = {**cache_config, "engine": str(engine)} if per_engine else cache_config
                info.labels(**info_labels).set(1)

    def _labels(self, engine: int, name: str = "") -> tuple[str, ...]:
        if self.style == "v0.7" or name in _MODEL_ONLY:
            return (self._model,)
        return (self._model, str(engine))

    def has(self, name: str) -> bool:
        """Whether this style exposes the family ``name``."""
        return name in self._families

    def family_names(self) -> tuple[str, ...]:
        """The ``vllm:`` families this style exposes (``cache_config_info`` aside), in page order."""
        return tuple(self._families)

    def set(self, name: str, value: float, engine: int = 0, extra: Sequence[str] = ()) -> None:
        """Set a gauge (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Gauge):
            family.labels(*self._labels(engine, name), *extra).set(value)

    def inc(self, name: str, amount: float = 1.0, engine: int = 0, extra: Sequence[str] = ()) -> None:
        """Increase a counter (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Counter) and amount > 0:
            family.labels(*self._labels(engine, name), *extra).inc(amount)

    def observe(self, name: str, value: float, engine: int = 0) -> None:
        """Observe into a histogram (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Histogram):
            family.labels(*self._labels(engine, name)).observe(value)

    def counter_child(self, name: str, engine: int = 0, extra: Sequence[str] = ()) -> Counter | None:
        """The labelled counter ``name`` for updates on a hot path (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine, name), *extra) if isinstance(family, Counter) else None

    def gauge_child(self, name: str, engine: int = 0, extra: Sequence[str] = ()) -> Gauge | None:
        """The labelled gauge ``name`` (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine, name), *extra) if isinstance(family, Gauge) else None

    def histogram_child(self, name: str, engine: int = 0) -> Histogram | None:
        """The labelled histogram ``name`` (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine, name)) if isinstance(family, Histogram) else None

    def set_kv_cache_usage(self, fraction: float, engine: int = 0) -> None:
        """KV-cache usage under whichever names this style exposes."""
        self.set("vllm:kv_cache_usage_perc", fraction, engine)
        self.set("vllm:gpu_cache_usage_perc", fraction, engine)

    def observe_token_gap(self, seconds: float, engine: int = 0) -> None:
        """One inter-token gap, under the ITL name and (older styles) the TPOT name."""
        self.observe("vllm:inter_token_latency_seconds", seconds, engine)
        self.observe("vllm:time_per_output_token_seconds", seconds, engine)
