"""How `vllm serve` arguments and SPARKTOP_SIM_* variables become a simulated server."""

from __future__ import annotations

import pytest

from sparktop.sim.faults import FaultConfig
from sparktop.sim.vllm_entry import EntryError, build_config, guess_architecture

GEMMA = "google/gemma-4-26B-A4B-it"


def test_vllm_defaults_apply_when_flags_are_absent() -> None:
    config, model = build_config(["serve", GEMMA], {})
    assert config is not None and model == GEMMA
    assert config.profile == "gemma4-26b-a4b-bf16"
    assert (config.gpu_memory_utilization, config.kv_cache_dtype) == (0.9, "auto")
    assert (config.host, config.port, config.served_model_name) == ("0.0.0.0", 8000, GEMMA)
    assert (config.speed, config.startup, config.faults) == (1.0, "realistic", FaultConfig())
    assert config.enable_prefix_caching is True  # vLLM's default


def test_the_published_command_line_maps_onto_the_profile() -> None:
    argv = [
        "--model", "google/gemma-4-26B-A4B-it", "--served-model-name", "gemma-4-26b-a4b-bf16",
        "--max-model-len", "131072", "--gpu-memory-utilization", "0.95", "--kv-cache-dtype", "fp8",
        "--limit-mm-per-prompt", "{}", "--async-scheduling", "--no-enable-prefix-caching",
        "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip
    config, _ = build_config(argv, {})
    assert config is not None
    assert (config.served_model_name, config.max_model_len, config.gpu_memory_utilization) == (
        "gemma-4-26b-a4b-bf16",
        131072,
        0.95,
    )
    assert config.kv_cache_dtype == "fp8"
    assert config.enable_prefix_caching is False  # --no-enable-prefix-caching, as the published runs


def test_speculative_config_picks_the_mtp_profile() -> None:
    config, _ = build_config(
        ["serve", GEMMA, "--speculative-config", '{"method":"mtp","num_speculative_tokens":2}'], {}
    )
    assert config is not None and config.profile == "gemma4-26b-a4b-mtp"
    with pytest.raises(EntryError, match="--speculative-config"):
        build_config(["serve", GEMMA, "--speculative-config", "{nope"], {})


def test_simulator_knobs_come_from_the_environment() -> None:
    env = {
        "SPARKTOP_SIM_SPEED": "25",
        "SPARKTOP_SIM_SEED": "4",
        "SPARKTOP_SIM_STARTUP": "fast",
        "SPARKTOP_SIM_METRICS_STYLE": "v0.7",
        "SPARKTOP_SIM_CRASH_AFTER": "60",
        "SPARKTOP_SIM_VLLM_VERSION": "0.15.1",
    }
    config, _ = build_config(["serve", GEMMA], env)
    assert config is not None
    assert (config.speed, config.seed, config.startup, config.metrics_style) == (25.0, 4, "fast", "v0.7")
    assert config.faults.crash_after_s == 60 and config.vllm_version == "0.15.1"
    with pytest.raises(EntryError, match="startup"):
        build_config(["serve", GEMMA], {"SPARKTOP_SIM_STARTUP": "slow"})


def test_unknown_models_have_no_profile_and_a_plausible_architecture() -> None:
    assert build_config(["serve", "Qwen/Qwen3-8B"], {}) == (None, "Qwen/Qwen3-8B")
    assert guess_architecture("Qwen/Qwen3-8B") == "Qwen3ForCausalLM"
    assert guess_architecture("meta-llama/Llama-3.1-8B-Instruct") == "LlamaForCausalLM"
    with pytest.raises(EntryError, match="model_tag"):
        build_config(["serve", "--port", "8000"], {})
