"""Each metrics style keeps its own release's set of families; ``current`` is vLLM 0.32's page.

The ``current`` comparison against a captured real page lives in
``tests/integration/test_sim_metrics_real_vllm.py`` (the simulator's own page); here the families
``VllmMetrics`` builds are compared with the same captured pages, and the older styles with the sets
their docstring lists, so that a family added for newer vLLMs cannot leak into them.
"""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from sparktop.sim.vllm_metrics import STYLES, Style, VllmMetrics
from tests.support.vllm_pages import REAL_PAGES, families, family_differences

NEW_IN_CURRENT = {
    "vllm:num_requests_waiting_by_reason",
    "vllm:engine_sleep_state",
    "vllm:estimated_flops_per_gpu",
    "vllm:estimated_read_bytes_per_gpu",
    "vllm:estimated_write_bytes_per_gpu",
    "vllm:external_prefix_cache_queries",
    "vllm:external_prefix_cache_hits",
    "vllm:mm_cache_queries",
    "vllm:mm_cache_hits",
    "vllm:prompt_tokens_by_source",
    "vllm:prompt_tokens_cached",
    "vllm:prompt_tokens_cached_by_source",
    "vllm:admission_rejections",
    "vllm:request_num_preemptions",
    "vllm:request_prefill_kv_computed_tokens",
}
COMMON = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:num_preemptions",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:request_success",
    "vllm:request_prompt_tokens",
    "vllm:request_generation_tokens",
    "vllm:iteration_tokens_total",
    "vllm:request_max_num_generation_tokens",
    "vllm:request_params_n",
    "vllm:request_params_max_tokens",
    "vllm:time_to_first_token_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
    "vllm:request_inference_time_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
}
STYLE_SETS: dict[Style, set[str]] = {
    "v0.10": COMMON
    | {
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:gpu_prefix_cache_queries",
        "vllm:gpu_prefix_cache_hits",
        "vllm:prefix_cache_queries",
        "vllm:prefix_cache_hits",
        "vllm:inter_token_latency_seconds",
        "vllm:request_time_per_output_token_seconds",
        "vllm:time_per_output_token_seconds",
    },
    "v0.7": COMMON
    | {
        "vllm:num_requests_swapped",
        "vllm:cpu_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:gpu_prefix_cache_hit_rate",
        "vllm:time_per_output_token_seconds",
    },
}


def page(style: Style, max_model_len: int = 1024, spec: int = 0) -> str:
    m = VllmMetrics(
        "tiny",
        style=style,
        max_model_len=max_model_len,
        spec_decode_positions=spec,
        cache_config={"block_size": "16", "num_gpu_blocks": "100"},
    )
    return generate_latest(m.registry).decode()


@pytest.mark.parametrize("fixture", REAL_PAGES)
@pytest.mark.parametrize("max_model_len", [1024, 131072])
def test_current_has_every_family_of_the_real_page(fixture: str, max_model_len: int) -> None:
    real = families(REAL_PAGES[fixture].read_text())
    ours = families(page("current", max_model_len))
    real.pop(
        "vllm:cache_config_info"
    )  # its labels are the profile's fields: compared in the integration test
    ours.pop("vllm:cache_config_info")
    assert family_differences(real, ours, max_model_len) == []


@pytest.mark.parametrize("style", ["v0.10", "v0.7"])
def test_older_styles_keep_their_own_families(style: Style) -> None:
    names = set(VllmMetrics("m", style=style).family_names())
    assert names == STYLE_SETS[style]
    assert not names & NEW_IN_CURRENT
    shown = {name.removesuffix("_created") for name in families(page(style))} - {"vllm:cache_config_info"}
    assert shown == names


def test_current_adds_exactly_the_new_families_to_v010s_vllm_ones() -> None:
    current = set(VllmMetrics("m").family_names())
    deprecated = {
        "vllm:gpu_cache_usage_perc",
        "vllm:gpu_prefix_cache_queries",
        "vllm:gpu_prefix_cache_hits",
        "vllm:time_per_output_token_seconds",
    }
    assert current == (STYLE_SETS["v0.10"] - deprecated) | NEW_IN_CURRENT


@pytest.mark.parametrize("style", STYLES)
def test_spec_decode_families_come_with_a_speculative_config(style: Style) -> None:
    with_spec = families(page(style, spec=3))
    if style == "v0.7":
        assert "vllm:spec_decode_num_drafts" not in with_spec
        return
    positions = {lab["position"] for lab in with_spec["vllm:spec_decode_num_accepted_tokens_per_pos"].samples}
    assert positions == {"0", "1", "2"}
    assert "vllm:spec_decode_num_drafts" not in families(page(style))
