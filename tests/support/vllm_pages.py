"""Realistic vLLM /metrics pages: a server under load, scraped once per step.

The pages carry what a real vLLM page carries: every ``vllm:`` family of the chosen style for each
engine, prometheus-client's process/platform/GC series, and the API server's ``http_*`` series.
Each step observes a plausible mix of requests, so counters grow and buckets move as they do live.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from sparktop.sim.vllm_metrics import Style, VllmMetrics

CACHE_CONFIG = {
    "block_size": "16",
    "cache_dtype": "fp8",
    "enable_prefix_caching": "False",
    "gpu_memory_utilization": "0.95",
    "num_gpu_blocks": "69632",
    "kv_cache_memory_bytes": "70000000000",
}


class LoadedServer:
    """A vLLM-like metrics registry that ``step()`` moves forward by one second of load."""

    def __init__(self, engines: int = 2, style: Style = "current", seed: int = 0, spec: int = 0) -> None:
        self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.metrics = VllmMetrics(
            "gemma-4-26b-a4b-nvfp4",
            engines=engines,
            style=style,
            max_model_len=131072,
            spec_decode_positions=spec,
            cache_config=CACHE_CONFIG,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "http_requests", "Total HTTP requests", ["handler", "method", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP latency", ["handler", "method"], registry=self.registry
        )
        self.rnd = random.Random(seed)
        for handler in ("/v1/completions", "/v1/chat/completions", "/metrics", "/health"):
            self.http_requests.labels(handler, "POST" if handler.startswith("/v1") else "GET", "2xx")
            self.http_latency.labels(handler, "POST" if handler.startswith("/v1") else "GET")

    def step(self) -> None:
        rnd, m = self.rnd, self.metrics
        for engine in range(m.engines):
            running = rnd.randint(5, 25)
            m.set("vllm:num_requests_running", running, engine)
            m.set("vllm:num_requests_waiting", rnd.randint(0, 8), engine)
            m.set_kv_cache_usage(rnd.uniform(0.1, 0.9), engine)
            m.inc("vllm:generation_tokens", running * rnd.randint(8, 30), engine)
            for _ in range(running * rnd.randint(8, 30) // 10):
                m.observe_token_gap(rnd.lognormvariate(-3.2, 0.3), engine)
            for _ in range(rnd.randint(0, 2)):
                prompt = rnd.randint(200, 8000)
                m.inc("vllm:prompt_tokens", prompt, engine)
                m.observe("vllm:request_prompt_tokens", prompt, engine)
                m.observe("vllm:time_to_first_token_seconds", rnd.lognormvariate(0, 0.7), engine)
                m.observe("vllm:e2e_request_latency_seconds", rnd.lognormvariate(3, 0.5), engine)
                m.observe("vllm:request_queue_time_seconds", rnd.expovariate(2.0), engine)
                m.observe("vllm:request_prefill_time_seconds", rnd.lognormvariate(-0.5, 0.5), engine)
                m.observe("vllm:request_decode_time_seconds", rnd.lognormvariate(3, 0.5), engine)
                m.observe("vllm:request_inference_time_seconds", rnd.lognormvariate(3, 0.5), engine)
                m.observe("vllm:request_time_per_output_token_seconds", rnd.lognormvariate(-3.2, 0.2), engine)
                m.observe("vllm:request_generation_tokens", rnd.randint(50, 1000), engine)
                m.observe("vllm:request_max_num_generation_tokens", 1024, engine)
                m.observe("vllm:request_params_max_tokens", 1024, engine)
                m.observe("vllm:request_params_n", 1, engine)
                m.observe("vllm:iteration_tokens_total", rnd.randint(1, 8192), engine)
                m.inc("vllm:request_success", 1, engine, [rnd.choice(["stop", "length"])])
        self.http_requests.labels("/v1/completions", "POST", "2xx").inc(rnd.randint(0, 3))
        self.http_requests.labels("/metrics", "GET", "2xx").inc()
        self.http_latency.labels("/metrics", "GET").observe(rnd.uniform(0.001, 0.01))

    def page(self) -> str:
        return generate_latest(self.registry).decode()


def pages(n: int, engines: int = 2, style: Style = "current", seed: int = 0) -> Iterator[str]:
    """``n`` consecutive pages, one second of load apart."""
    server = LoadedServer(engines=engines, style=style, seed=seed)
    for _ in range(n):
        server.step()
        yield server.page()
