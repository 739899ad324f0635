"""vLLM's Prometheus metric families, built with prometheus-client (the library vLLM itself uses).

The simulated server observes into these; tests and benchmarks use them to produce realistic pages.
Names, labels and bucket bounds follow vLLM's v1 engine (``../shared/reference/vllm-server.md``);
``style`` selects an older release's names so version tolerance can be exercised end to end:

- ``current``: v0.12+ names, ``model_name`` and ``engine`` labels, ITL + per-request TPOT.
- ``v0.10``: as ``current`` plus the deprecated ``gpu_cache_usage_perc``,
  ``gpu_prefix_cache_*`` and ``time_per_output_token_seconds`` (observing the same samples as ITL).
- ``v0.7``: the V0 engine: no ``engine`` label, ``gpu_cache_usage_perc``,
  ``time_per_output_token_seconds`` only, ``num_requests_swapped``, shorter buckets.
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
V0_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
V0_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
V0_LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)

FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")


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
        token_buckets = build_1_2_5_buckets(max_model_len)

        def gauge(name: str, doc: str, extra: Sequence[str] = ()) -> None:
            self._families[name] = Gauge(name, doc, [*labelnames, *extra], registry=self.registry)

        def counter(name: str, doc: str, extra: Sequence[str] = ()) -> None:
            self._families[name] = Counter(name, doc, [*labelnames, *extra], registry=self.registry)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> None:
            self._families[name] = Histogram(name, doc, labelnames, buckets=buckets, registry=self.registry)

        gauge("vllm:num_requests_running", "Number of requests in model execution batches.")
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
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
        counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        counter("vllm:generation_tokens", "Number of generation tokens processed.")
        counter("vllm:request_success", "Count of successfully processed requests.", ["finished_reason"])
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
        if spec_decode_positions and not v0:
            counter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.")
            counter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.")
            counter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.")
            counter(
                "vllm:spec_decode_num_accepted_tokens_per_pos",
                "Accepted tokens per draft position.",
                ["position"],
            )
        if cache_config is not None:
            names = sorted(cache_config)
            info = Gauge(
                "vllm:cache_config_info",
                "Information of the LLMEngine CacheConfig",
                names,
                registry=self.registry,
            )
            info.labels(**cache_config).set(1)
        # Materialise every child so the page shows all series from the start, as vLLM does.
        for engine in range(self.engines):
            for name, family in self._families.items():
                if name == "vllm:request_success":
                    for reason in FINISH_REASONS:
                        family.labels(*self._labels(engine), reason)
                elif name == "vllm:spec_decode_num_accepted_tokens_per_pos":
                    for pos in range(spec_decode_positions):
                        family.labels(*self._labels(engine), str(pos))
                else:
                    family.labels(*self._labels(engine))

    def _labels(self, engine: int) -> tuple[str, ...]:
        return (self._model,) if self.style == "v0.7" else (self._model, str(engine))

    def has(self, name: str) -> bool:
        """Whether this style exposes the family ``name``."""
        return name in self._families

    def set(self, name: str, value: float, engine: int = 0) -> None:
        """Set a gauge (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Gauge):
            family.labels(*self._labels(engine)).set(value)

    def inc(self, name: str, amount: float = 1.0, engine: int = 0, extra: Sequence[str] = ()) -> None:
        """Increase a counter (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Counter) and amount > 0:
            family.labels(*self._labels(engine), *extra).inc(amount)

    def observe(self, name: str, value: float, engine: int = 0) -> None:
        """Observe into a histogram (ignored when this style lacks it)."""
        family = self._families.get(name)
        if isinstance(family, Histogram):
            family.labels(*self._labels(engine)).observe(value)

    def counter_child(self, name: str, engine: int = 0, extra: Sequence[str] = ()) -> Counter | None:
        """The labelled counter ``name`` for updates on a hot path (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine), *extra) if isinstance(family, Counter) else None

    def gauge_child(self, name: str, engine: int = 0) -> Gauge | None:
        """The labelled gauge ``name`` (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine)) if isinstance(family, Gauge) else None

    def histogram_child(self, name: str, engine: int = 0) -> Histogram | None:
        """The labelled histogram ``name`` (None when this style lacks it)."""
        family = self._families.get(name)
        return family.labels(*self._labels(engine)) if isinstance(family, Histogram) else None

    def set_kv_cache_usage(self, fraction: float, engine: int = 0) -> None:
        """KV-cache usage under whichever names this style exposes."""
        self.set("vllm:kv_cache_usage_perc", fraction, engine)
        self.set("vllm:gpu_cache_usage_perc", fraction, engine)

    def observe_token_gap(self, seconds: float, engine: int = 0) -> None:
        """One inter-token gap, under the ITL name and (older styles) the TPOT name."""
        self.observe("vllm:inter_token_latency_seconds", seconds, engine)
        self.observe("vllm:time_per_output_token_seconds", seconds, engine)
