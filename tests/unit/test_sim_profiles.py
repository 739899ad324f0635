"""Serving profiles and the memory plan vLLM would arrive at for them."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import (
    CLOSED_METRICS,
    GIB,
    OPEN_METRICS,
    OPEN_RUNS,
    PROFILES,
    WORKLOADS,
    UnknownProfileError,
    get_profile,
    profile_for_model,
)

REQUIRED = (
    "gemma4-26b-a4b-bf16",
    "gemma4-26b-a4b-nvfp4",
    "gemma4-26b-a4b-mtp",
    "nemotron3-nano-30b-a3b-bf16",
    "nemotron3-nano-30b-a3b-fp8",
    "nemotron3-nano-30b-a3b-nvfp4",
)


def test_the_required_profiles_exist_with_kebab_case_names() -> None:
    assert set(REQUIRED) <= set(PROFILES)
    for name, p in PROFILES.items():
        assert name == p.name and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert "/" in p.hf_model and p.served_model_name


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError, match="gemma4-26b-a4b-bf16"):
        get_profile("llama")


def test_model_ids_map_to_profiles_like_vllm_serve_would() -> None:
    assert profile_for_model("google/gemma-4-26B-A4B-it") is PROFILES["gemma4-26b-a4b-bf16"]
    assert profile_for_model("google/gemma-4-26b-a4b-it", speculative=True) is PROFILES["gemma4-26b-a4b-mtp"]
    assert profile_for_model("nvidia/Gemma-4-26B-A4B-NVFP4") is PROFILES["gemma4-26b-a4b-nvfp4"]
    assert profile_for_model("meta-llama/Llama-3.1-8B") is None


def test_reasoning_and_speculative_profiles_are_marked() -> None:
    assert all(PROFILES[n].reasoning for n in REQUIRED if n.startswith("nemotron"))
    assert not PROFILES["gemma4-26b-a4b-bf16"].reasoning
    mtp = PROFILES["gemma4-26b-a4b-mtp"].spec
    assert mtp is not None and mtp.num_speculative_tokens == len(mtp.acceptance)


def test_every_profile_carries_closed_and_open_loop_figures() -> None:
    for p in PROFILES.values():
        assert p.calibrated_figures(), p.name
        for f in p.figures:
            if f.open_loop:
                assert f.users == 0 and f.metric in OPEN_METRICS and f.cell in OPEN_RUNS
            else:
                assert f.users > 0 and f.metric in CLOSED_METRICS and f.cell in WORKLOADS
        assert {f.cell for f in p.figures if f.open_loop} == set(OPEN_RUNS)
    bf16 = {(f.cell, f.users, f.metric) for f in PROFILES["gemma4-26b-a4b-bf16"].figures}
    for cell, users in (("A-4k", 1), ("A-25k", 10), ("C", 10), ("E", 1), ("G", 10), ("B-25k", 20)):
        assert {(cell, users, m) for m in CLOSED_METRICS} <= bf16
    assert {("H", 0, m) for m in OPEN_METRICS if m != "tpot_p95_ms"} <= bf16


def test_the_v023_runs_are_carried_apart_from_the_v020_ones() -> None:
    bf16 = [f for f in PROFILES["gemma4-26b-a4b-bf16"].figures if f.cell == "C" and f.users == 10]
    assert {f.source for f in bf16} == {"v0.20.1", "v0.23.0"}
    mtp = PROFILES["gemma4-26b-a4b-mtp"]
    assert {f.source for f in mtp.figures} == {"v0.23.0"}
    assert (
        mtp.serving.async_scheduling and not PROFILES["nemotron3-nano-30b-a3b-fp8"].serving.async_scheduling
    )


@pytest.mark.parametrize("name", REQUIRED)
def test_default_serving_fits_and_uses_the_budget(name: str) -> None:
    p = PROFILES[name]
    plan = plan_memory(p)
    assert plan.free_memory_error() is None and plan.kv_error() is None
    assert plan.kv_tokens >= p.serving.max_model_len
    # Once loaded the engine holds about gpu_memory_utilization x total.
    assert plan.process_bytes == pytest.approx(plan.budget_bytes, rel=0.03)


def test_kv_capacity_follows_the_weights_and_the_kv_dtype() -> None:
    bf16, nvfp4 = plan_memory(PROFILES["gemma4-26b-a4b-bf16"]), plan_memory(PROFILES["gemma4-26b-a4b-nvfp4"])
    # The reference: ~65 GB of KV headroom for BF16 with an fp8 cache, ~4 requests of 128k in parallel.
    assert 60 * GIB < bf16.kv_available_bytes < 70 * GIB
    assert 3.5 < bf16.max_concurrency < 5.0
    assert nvfp4.kv_tokens > 1.4 * bf16.kv_tokens
    auto = plan_memory(
        PROFILES["gemma4-26b-a4b-bf16"],
        replace(PROFILES["gemma4-26b-a4b-bf16"].serving, kv_cache_dtype="auto"),
    )
    assert auto.kv_tokens == pytest.approx(bf16.kv_tokens / 2, rel=0.001)


def test_memory_checks_fail_with_vllms_messages() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    greedy = plan_memory(p, replace(p.serving, gpu_memory_utilization=0.99))
    assert (greedy.free_memory_error() or "").startswith("ValueError: Free memory on device (")
    starved = plan_memory(p, replace(p.serving, gpu_memory_utilization=0.4))
    assert starved.kv_error() == (
        "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the engine."
    )
    too_long = plan_memory(p, replace(p.serving, max_model_len=1_000_000))
    message = too_long.kv_error() or ""
    assert message.startswith(
        "ValueError: To serve at least one request with the model's max seq len (1000000)"
    )
    estimated = int(re.search(r"estimated maximum model length is (\d+)", message).group(1))  # type: ignore[union-attr]
    assert estimated == too_long.kv_tokens
    assert plan_memory(p, replace(p.serving, max_model_len=estimated)).kv_error() is None


def test_docker_command_matches_the_published_serving_profile() -> None:
    cmd = PROFILES["gemma4-26b-a4b-bf16"].docker_command()
    for part in (
        "vllm/vllm-openai:v0.20.1",
        "--model google/gemma-4-26B-A4B-it --served-model-name gemma-4-26b-a4b-bf16",
        "--max-model-len 131072 --gpu-memory-utilization 0.95",
        "--kv-cache-dtype fp8",
        "--no-enable-prefix-caching",
    ):
        assert part in cmd
    assert "--speculative-config" in PROFILES["gemma4-26b-a4b-mtp"].docker_command()
    assert "--reasoning-parser nemotron_v3" in PROFILES["nemotron3-nano-30b-a3b-fp8"].docker_command()
