"""Realistic vLLM /metrics pages: a server under load, scraped once per step; and the real ones.

The pages carry what a real vLLM page carries: every ``vllm:`` family of the chosen style for each
engine, prometheus-client's process/platform/GC series, and the API server's ``http_*`` series.
Each step observes a plausible mix of requests, so counters grow and buckets move as they do live.

``families`` and ``family_differences`` compare a page with the pages captured from a real vLLM
0.32 (``REAL_PAGES``, ``tests/fixtures/real-vllm/``) family by family.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from sparktop.sim.stats import cache_config_labels
from sparktop.sim.vllm_metrics import Style, VllmMetrics, build_1_2_5_buckets

REAL_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm"
REAL_PAGES = {name: REAL_DIR / f"{name}.metrics" for name in ("idle", "loaded", "constrained")}
"""Pages of a real vLLM 0.32 (CPU build, ``--max-model-len 1024``): idle, decoding, constrained."""
REAL_MAX_MODEL_LEN = 1024

CACHE_CONFIG = cache_config_labels(
    block_size=16,
    num_gpu_blocks=69632,
    utilization=0.95,
    dtype="fp8",
    max_model_len=131072,
    prefix_caching=False,
    style="current",
)


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
            waiting = rnd.randint(0, 8)
            m.set("vllm:num_requests_running", running, engine)
            m.set("vllm:num_requests_waiting", waiting, engine)
            m.set("vllm:num_requests_waiting_by_reason", waiting, engine, ["capacity"])
            m.set_kv_cache_usage(rnd.uniform(0.1, 0.9), engine)
            m.inc("vllm:generation_tokens", running * rnd.randint(8, 30), engine)
            for _ in range(running * rnd.randint(8, 30) // 10):
                m.observe_token_gap(rnd.lognormvariate(-3.2, 0.3), engine)
            for _ in range(rnd.randint(0, 2)):
                prompt = rnd.randint(200, 8000)
                cached = rnd.randint(0, prompt // 16) * 16 * rnd.randint(0, 1)
                preempted = rnd.choice((0, 0, 0, 1, 2))
                m.inc("vllm:prompt_tokens", prompt, engine)
                m.inc("vllm:prompt_tokens_by_source", prompt - cached, engine, ["local_compute"])
                m.inc("vllm:prompt_tokens_by_source", cached, engine, ["local_cache_hit"])
                m.inc("vllm:prompt_tokens_cached", cached, engine)
                m.inc("vllm:prompt_tokens_cached_by_source", cached, engine, ["device"])
                m.inc("vllm:prefix_cache_queries", prompt, engine)
                m.inc("vllm:prefix_cache_hits", cached, engine)
                m.inc("vllm:num_preemptions", preempted, engine)
                m.observe("vllm:request_num_preemptions", preempted, engine)
                m.observe("vllm:request_prefill_kv_computed_tokens", prompt - cached, engine)
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


@dataclass(frozen=True, slots=True)
class PageFamily:
    """One metric family of a page, as prometheus-client's parser reads it."""

    type: str
    labels: frozenset[str]
    """Label names over all samples (``le`` aside)."""
    bounds: tuple[float, ...] | None
    """A histogram's bucket bounds (of its first series), else None."""
    samples: tuple[dict[str, str], ...]


def families(text: str, prefix: str = "vllm:") -> dict[str, PageFamily]:
    """The families of ``text`` whose names start with ``prefix`` (``_created`` ones included)."""
    out: dict[str, PageFamily] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(prefix):
            continue
        labels: set[str] = set()
        bounds: list[float] = []
        first: dict[str, str] | None = None
        for sample in family.samples:
            labels.update(sample.labels)
            if sample.name.endswith("_bucket"):
                rest = {k: v for k, v in sample.labels.items() if k != "le"}
                first = rest if first is None else first
                if rest == first:
                    bounds.append(float(sample.labels["le"]))
        labels.discard("le")
        out[family.name] = PageFamily(
            family.type,
            frozenset(labels),
            tuple(bounds) if family.type == "histogram" else None,
            tuple(dict(sample.labels) for sample in family.samples),
        )
    return out


def _token_bounds(max_model_len: int) -> tuple[float, ...]:
    return (*map(float, build_1_2_5_buckets(max_model_len)), math.inf)


def family_differences(
    real: dict[str, PageFamily], ours: dict[str, PageFamily], max_model_len: int
) -> list[str]:
    """Every way ``ours`` differs from the real page ``real``: families missing or extra, types,
    label names, and bucket bounds. A histogram whose real bounds are vLLM's 1-2-5 token series up
    to the real server's max_model_len must have that series up to ``max_model_len``; any other
    histogram must have the real bounds exactly."""
    out = [f"missing {name} ({real[name].type})" for name in real if name not in ours]
    out += [f"not on the real page: {name}" for name in ours if name not in real]
    for name in real.keys() & ours.keys():
        want, got = real[name], ours[name]
        if want.type != got.type:
            out.append(f"{name}: type {got.type}, real {want.type}")
        if want.labels != got.labels:
            out.append(f"{name}: labels {sorted(got.labels)}, real {sorted(want.labels)}")
        if want.bounds is not None and want.bounds == _token_bounds(REAL_MAX_MODEL_LEN):
            if got.bounds != _token_bounds(max_model_len):
                out.append(f"{name}: bounds {got.bounds}, not the 1-2-5 series up to {max_model_len}")
        elif want.bounds != got.bounds:
            out.append(f"{name}: bounds {got.bounds}, real {want.bounds}")
    return sorted(out)
