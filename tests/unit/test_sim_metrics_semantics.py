"""The simulator's vLLM families mean what vLLM's do: driven by the engine, checked against each other.

Definitions are vLLM 0.32's (``vllm/v1/metrics/loggers.py``, ``stats.py``): prompt tokens are counted
when a request's first token comes out and split by source; prefix-cache queries and hits when a
request is first admitted; per-request histograms when it finishes.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sparktop.sim.costmodel import StepCost
from sparktop.sim.engine import Engine, EngineConfig, Request, StepResult
from sparktop.sim.prefix import block_hashes
from sparktop.sim.stats import LogWindow, ServerMetrics, cache_config_labels

BLOCK = 16
COST = StepCost(
    base_s=0.02,
    expert_s=0.03,
    expert_hit=0.1,
    per_seq_s=0.001,
    per_ctx_token_s=1e-7,
    per_prefill_token_s=1e-4,
    per_prefill_attn_s=1e-8,
)
Page = dict[str, list[tuple[dict[str, str], float]]]


def engine(caching: bool, num_blocks: int = 10_000) -> Engine:
    return Engine(
        EngineConfig(
            cost=COST,
            max_num_seqs=6,
            max_num_batched_tokens=1024,
            block_size=BLOCK,
            num_blocks=num_blocks,
            enable_prefix_caching=caching,
        )
    )


def metrics(caching: bool = True) -> ServerMetrics:
    labels = cache_config_labels(
        block_size=BLOCK,
        num_gpu_blocks=10_000,
        utilization=0.9,
        dtype="fp8",
        max_model_len=4096,
        prefix_caching=caching,
        style="current",
    )
    return ServerMetrics("m", style="current", max_model_len=4096, spec_positions=0, cache_config=labels)


def drive(eng: Engine, m: ServerMetrics, requests: list[Request]) -> list[StepResult]:
    """What the server does with each step, in virtual time (arrivals spread over the first steps)."""
    steps: list[StepResult] = []
    last_emit: dict[str, float] = {}
    pending = list(requests)
    now = 0.0
    while pending or eng.has_work:
        if pending:
            eng.add(pending.pop(0), now)
        result = eng.step(now)
        if result is None:
            wake = eng.next_wakeup()
            assert wake is not None
            now = max(wake, now + 0.01)
            continue
        for req, _count in result.emissions:
            if req.request_id in last_emit:
                m.token_gap(result.end - last_emit[req.request_id])
            else:
                assert req.first_token is not None
                m.first_token(req.first_token - req.arrival)
            last_emit[req.request_id] = result.end
        for req in result.finished:
            m.finished(req, req.finish_reason, result.end)
        m.step(result, 0.0)
        steps.append(result)
        now = result.end
    return steps


def page(m: ServerMetrics) -> Page:
    out: Page = {}
    for family in text_string_to_metric_families(m.page().decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(p: Page, name: str, **labels: str) -> float:
    return sum(v for lab, v in p[name] if all(lab.get(k) == x for k, x in labels.items()))


def conversation(n: int) -> list[Request]:
    """``n`` requests: a shared system prompt, then each a different question; one repeated context."""
    system = list(range(1000, 1000 + 10 * BLOCK + 3))
    out = []
    for i in range(n):
        ids = system + list(range(50_000 + 1000 * i, 50_000 + 1000 * i + 40 + 13 * i))
        out.append(
            Request(
                request_id=f"r{i}",
                prompt_len=len(ids),
                target=30 + 7 * i,
                max_tokens=200,
                block_hashes=block_hashes(ids, BLOCK),
            )
        )
    return out


@pytest.mark.parametrize("caching", [True, False])
def test_prompt_token_sources_add_up_and_cache_counters_agree(caching: bool) -> None:
    m = metrics(caching)
    requests = conversation(8)
    drive(engine(caching), m, requests)
    p = page(m)
    prompt = sum(r.prompt_len for r in requests)
    cached = sum(r.cached_tokens for r in requests)
    assert value(p, "vllm:prompt_tokens_total") == prompt
    assert value(p, "vllm:prompt_tokens_by_source_total", source="local_compute") == prompt - cached
    assert value(p, "vllm:prompt_tokens_by_source_total", source="local_cache_hit") == cached
    assert value(p, "vllm:prompt_tokens_by_source_total", source="external_kv_transfer") == 0
    assert value(p, "vllm:prompt_tokens_cached_total") == cached
    assert value(p, "vllm:prefix_cache_hits_total") == cached
    assert value(p, "vllm:prompt_tokens_cached_by_source_total", source="device") == cached
    assert value(p, "vllm:prompt_tokens_cached_by_source_total") == cached
    assert value(p, "vllm:prefix_cache_queries_total") == (prompt if caching else 0)
    assert value(p, "vllm:request_prefill_kv_computed_tokens_sum") == prompt - cached
    assert value(p, "vllm:request_prefill_kv_computed_tokens_count") == len(requests)
    if caching:
        # every request after the first found the system prompt's 10 full blocks
        assert cached >= (len(requests) - 1) * 10 * BLOCK
    else:
        assert cached == 0


def test_preemptions_per_request_and_waiting_by_reason() -> None:
    m = metrics(caching=False)
    eng = engine(caching=False, num_blocks=60)
    requests = [
        Request(request_id=f"r{i}", prompt_len=200 + 10 * i, target=300, max_tokens=300) for i in range(6)
    ]
    seen: set[int] = set()
    steps: list[StepResult] = []
    for r in requests:
        eng.add(r, 0.0)
    now = 0.0
    while eng.has_work:
        result = eng.step(now)
        assert result is not None
        for req in result.finished:
            m.finished(req, req.finish_reason, result.end)
        m.step(result, 0.0)
        steps.append(result)
        now = result.end
        if result.waiting not in seen:  # read the page once per waiting count seen
            seen.add(result.waiting)
            p = page(m)
            assert value(p, "vllm:num_requests_waiting") == result.waiting
            assert value(p, "vllm:num_requests_waiting_by_reason", reason="capacity") == result.waiting
            assert value(p, "vllm:num_requests_waiting_by_reason", reason="deferred") == 0
    saw_waiting = max(seen) > 0
    p = page(m)
    preempted = sum(s.preemptions for s in steps)
    assert saw_waiting and preempted > 0
    assert value(p, "vllm:num_preemptions_total") == preempted
    assert value(p, "vllm:request_num_preemptions_sum") == sum(r.preemptions for r in requests) == preempted
    assert value(p, "vllm:request_num_preemptions_count") == len(requests)
    at_most_once = sum(1 for r in requests if r.preemptions <= 1)
    buckets = {lab["le"]: v for lab, v in p["vllm:request_num_preemptions_bucket"]}
    assert buckets["1.0"] == at_most_once  # vLLM's first bucket holds never- and once-preempted requests
    assert buckets["+Inf"] == len(requests)


def test_iteration_tokens_are_computed_prompt_plus_generated_per_step_with_output() -> None:
    m = metrics()
    requests = conversation(5)
    steps = drive(engine(True), m, requests)
    p = page(m)
    with_output = [s for s in steps if s.emissions]
    expected = sum(
        s.first_token_prompt_tokens - s.first_token_cached_tokens + s.generated_tokens for s in with_output
    )
    assert value(p, "vllm:iteration_tokens_total_count") == len(with_output)
    assert value(p, "vllm:iteration_tokens_total_sum") == expected
    assert value(p, "vllm:generation_tokens_total") == sum(r.out for r in requests)


def test_request_histograms_are_observed_once_per_finished_request() -> None:
    m = metrics()
    requests = conversation(4)
    drive(engine(True), m, requests)
    p = page(m)
    for name in (
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:request_prefill_time_seconds",
        "vllm:request_decode_time_seconds",
        "vllm:request_inference_time_seconds",
        "vllm:request_time_per_output_token_seconds",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
        "vllm:request_params_max_tokens",
        "vllm:request_params_n",
        "vllm:request_num_preemptions",
        "vllm:request_prefill_kv_computed_tokens",
    ):
        assert value(p, f"{name}_count") == len(requests), name
    ttft = sum((r.first_token or 0.0) - r.arrival for r in requests)
    assert value(p, "vllm:time_to_first_token_seconds_sum") == pytest.approx(ttft)
    decode = sum((r.last_token or 0.0) - (r.first_token or 0.0) for r in requests)
    assert value(p, "vllm:request_decode_time_seconds_sum") == pytest.approx(decode)
    assert value(p, "vllm:engine_sleep_state", sleep_state="awake") == 1
    assert value(p, "vllm:engine_sleep_state", sleep_state="weights_offloaded") == 0


def test_a_one_token_request_has_a_zero_time_per_output_token() -> None:
    m = metrics()
    drive(engine(True), m, [Request(request_id="one", prompt_len=50, target=1, max_tokens=1)])
    p = page(m)
    assert value(p, "vllm:request_time_per_output_token_seconds_count") == 1
    assert value(p, "vllm:request_time_per_output_token_seconds_sum") == 0


def test_the_stats_line_is_per_second_of_the_window_and_names_what_vllm_names() -> None:
    on = metrics(caching=True)
    drive(engine(True), on, conversation(6))
    window = on.take_window()
    assert window.prompt > 0 and window.generation > 0
    line = on.stats_line(LogWindow(window.prompt, window.generation, 0), 2.0, 3, 1, 0.25)
    assert line.startswith(f"Engine 000: Avg prompt throughput: {window.prompt / 2:.1f} tokens/s, ")
    assert f"Avg generation throughput: {window.generation / 2:.1f} tokens/s" in line
    assert "Running: 3 reqs, Waiting: 1 reqs, GPU KV cache usage: 25.0%, Prefix cache hit rate: " in line
    assert "Preemptions" not in line
    assert "Preemptions: 4, GPU" in on.stats_line(LogWindow(0, 0, 4), 10.0, 0, 0, 0.0)
    off = metrics(caching=False)
    drive(engine(False), off, conversation(6))
    assert "Prefix cache hit rate" not in off.stats_line(off.take_window(), 10.0, 0, 0, 0.0)


def test_the_stats_lines_prompt_throughput_leaves_out_cache_hits() -> None:
    m = metrics()
    requests = conversation(6)
    drive(engine(True), m, requests)
    window = m.take_window()
    cached = sum(r.cached_tokens for r in requests)
    assert cached > 0
    assert window.prompt == sum(r.prompt_len for r in requests) - cached
    assert window.generation == sum(r.out for r in requests)
    assert m.take_window() == LogWindow(0, 0, 0)
    rate = 100 * cached / sum(r.prompt_len for r in requests)
    assert f"Prefix cache hit rate: {rate:.1f}%" in m.stats_line(window, 10.0, 0, 0, 0.0)


def test_cache_config_info_values_follow_the_profile() -> None:
    labels = cache_config_labels(
        block_size=16,
        num_gpu_blocks=10_000,
        utilization=0.9,
        dtype="fp8",
        max_model_len=4000,
        prefix_caching=True,
        style="current",
    )
    assert labels["block_size"] == "16" and labels["num_gpu_blocks"] == "10000"
    assert labels["enable_prefix_caching"] == "True" and labels["cache_dtype"] == "fp8"
    assert labels["gpu_memory_utilization"] == "0.9" and labels["kv_cache_memory_bytes"] == "None"
    # vLLM: concurrency = blocks / blocks per max_model_len request; capacity = concurrency x length
    assert float(labels["kv_cache_max_concurrency"]) == pytest.approx(10_000 / 250)
    assert labels["kv_cache_size_tokens"] == str(int(10_000 / 250 * 4000))
    off = cache_config_labels(
        block_size=16,
        num_gpu_blocks=10_000,
        utilization=0.9,
        dtype="fp8",
        max_model_len=4000,
        prefix_caching=False,
        style="current",
    )
    assert off["enable_prefix_caching"] == "False"
