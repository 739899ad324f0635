"""vLLM's startup phases and log lines; faults from the environment."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sparktop.sim import startup as st
from sparktop.sim.faults import FaultConfig, FaultConfigError, from_env
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import PROFILES

VLLM_LINE = re.compile(
    r"^\((APIServer|EngineCore|Worker) pid=\d+\) (INFO|WARNING|ERROR) "
    r"\d\d-\d\d \d\d:\d\d:\d\d \[\w+\.py:\d+\] "
)


def script(
    name: str = "gemma4-26b-a4b-nvfp4", mode: st.StartupMode = "realistic", **kw: object
) -> list[st.StartupStep]:
    p = PROFILES[name]
    serving = replace(p.serving, **kw)  # type: ignore[arg-type]
    return st.startup_script(
        p,
        serving,
        plan_memory(p, serving),
        mode=mode,
        served_model_name=p.served_model_name,
        host="0.0.0.0",
        port=8000,
        vllm_version=p.vllm_version,
    )


def rendered(steps: list[st.StartupStep]) -> list[str]:
    return [st.LogFormat.render(line, 1_750_000_000.0) for s in steps for line in s.lines]


def test_phases_come_in_vllms_order_and_end_ready() -> None:
    phases = [s.phase for s in script() if s.phase]
    assert phases == ["process", "engine", "weights", "compile", "kv_cache", "graphs", "api", "ready"]


def test_the_log_has_the_real_startup_messages_in_vllms_format() -> None:
    lines = rendered(script())
    text = "\n".join(lines)
    for needle in (
        "█  version 0.20.1",
        "█  model   nvidia/Gemma-4-26B-A4B-NVFP4",
        "Resolved architecture: Gemma4ForConditionalGeneration",
        "Chunked prefill is enabled with max_num_batched_tokens=8192.",
        "Loading safetensors checkpoint shards: 100% Completed | 4/4",
        "Loading weights took",
        "Model loading took 18.00 GiB memory",
        "torch.compile took",
        "GPU KV cache size: ",
        " tokens, Maximum concurrency for 131,072 tokens per request:",
        "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%",
        "init engine (profile, create kv cache, warmup model) took",
        "Starting vLLM server on http://0.0.0.0:8000",
        "Application startup complete.",
        "Weight-only FP4 compression will be used leveraging the Marlin kernel.",
    ):
        assert needle in text, needle
    leveled = [line for line in lines if " INFO " in line or " WARNING " in line]
    assert leveled and all(VLLM_LINE.match(line) or line.startswith("INFO ") for line in leveled)


def test_realistic_startup_takes_minutes_and_fast_takes_seconds() -> None:
    realistic = sum(s.after_s for s in script())
    fast = sum(s.after_s for s in script(mode="fast"))
    assert 90 < realistic < 400
    assert fast == pytest.approx(st.FAST_TOTAL_S, rel=0.1)
    assert sum(s.after_s for s in script(mode="instant")) == 0


def test_kv_too_small_fails_after_compile_with_the_root_cause() -> None:
    steps = script(max_model_len=2_000_000)
    phases = [s.phase for s in steps if s.phase]
    assert phases[-2:] == ["compile", "failed"]
    assert steps[-1].error is not None and "KV cache is needed" in steps[-1].error
    text = "\n".join(rendered(steps))
    assert "EngineCore failed to start." in text
    assert "RuntimeError: Engine core initialization failed. See root cause above." in text
    assert "GPU KV cache size" not in text


def test_free_memory_check_fails_before_weights_load() -> None:
    steps = script(gpu_memory_utilization=0.99)
    assert [s.phase for s in steps if s.phase][-1] == "failed"
    assert "weights" not in [s.phase for s in steps]
    assert steps[-1].error and steps[-1].error.startswith("ValueError: Free memory on device")


def test_an_old_vllm_does_not_know_the_architecture() -> None:
    p = PROFILES["nemotron3-nano-30b-a3b-bf16"]
    steps = st.startup_script(
        p,
        p.serving,
        plan_memory(p),
        mode="instant",
        served_model_name="x",
        host="h",
        port=1,
        vllm_version="0.15.1",
    )
    assert steps[-1].error == "Model architectures ['NemotronHForCausalLM'] are not supported for now."
    assert st.version_tuple("0.15.1") < st.version_tuple("0.16.0") < st.version_tuple("0.20.1rc1")


def test_faults_come_from_the_environment() -> None:
    assert from_env({}) == FaultConfig()
    faults = from_env(
        {
            "SPARKTOP_SIM_CRASH_AFTER": "30",
            "SPARKTOP_SIM_FAIL_STARTUP": "kv",
            "SPARKTOP_SIM_METRICS_STATUS": "500",
            "SPARKTOP_SIM_METRICS_DELAY": "2.5",
            "SPARKTOP_SIM_ABORT_AFTER_TOKENS": "10",
        }
    )
    assert faults == FaultConfig(
        crash_after_s=30.0,
        fail_startup_kv=True,
        metrics_status=500,
        metrics_delay_s=2.5,
        abort_after_tokens=10,
    )
    with pytest.raises(FaultConfigError, match="SPARKTOP_SIM_CRASH_AFTER"):
        from_env({"SPARKTOP_SIM_CRASH_AFTER": "soon"})
    with pytest.raises(FaultConfigError, match="kv"):
        from_env({"SPARKTOP_SIM_FAIL_STARTUP": "oom"})
