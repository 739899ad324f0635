"""Serving profiles: a model served by vLLM on one DGX Spark, as the published runs served it.

Each profile holds what vLLM would know (model id, served name, architecture, memory footprint,
KV bytes per token, scheduler defaults), the cost-model coefficients of its engine steps, and the
published figures (``../shared/reference/spark-benchmarks.md``, Django de Vreng's DGX Spark runs,
CC-BY-4.0) that the coefficients were fitted against. ``calibrated`` marks the closed-loop cells the
simulator must reproduce within 20% (runs A at 4k and 25k, C, E and G at 1 and 10 users); the others
are carried for comparison.

Workload shapes (llama-benchy closed loop, N users in lockstep): A = pp x 256 out, C = 1024/1024,
E = 2048/512 (the multi-turn run is modelled as one 2048-token turn per request: its published
TTFT at 1 user, 0.53 s, is a ~2048-token prefill), F = 8192/512, G = 256/4096.
Coefficients were fitted with ``benchmarks/fit_sim_profiles.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from sparktop.sim.costmodel import StepCost

GIB = 1024**3
GB10_MEMORY_BYTES = int(121.7 * GIB)
"""MemTotal of a DGX Spark: what vLLM sees as the device's total memory."""

Metric = Literal["decode_per_user", "ttft_s"]

WORKLOADS: dict[str, tuple[int, int]] = {
    "A-4k": (4096, 256),
    "A-8k": (8192, 256),
    "A-16k": (16384, 256),
    "A-25k": (25000, 256),
    "B-25k": (25000, 256),
    "C": (1024, 1024),
    "E": (2048, 512),
    "F": (8192, 512),
    "G": (256, 4096),
}
"""Closed-loop cell -> (prompt tokens, output tokens)."""

SUITE_FIRST_CELL = ("A-4k", 1)
"""The suite's first cell: its first of three runs meets cold kernels (llama-benchy warms up with a
few tokens only, which does not compile the long-prefill kernels)."""
RUNS_PER_CELL = 3
CALIBRATED_CELLS = ("A-4k", "A-25k", "C", "E", "G")
CALIBRATED_USERS = (1, 10)
TOLERANCE = 0.20


@dataclass(frozen=True, slots=True)
class Figure:
    """One published closed-loop figure."""

    cell: str
    users: int
    metric: Metric
    value: float
    source: str

    @property
    def calibrated(self) -> bool:
        """Whether the simulator must match this figure within ``TOLERANCE``."""
        return self.cell in CALIBRATED_CELLS and self.users in CALIBRATED_USERS

    @property
    def prompt_tokens(self) -> int:
        return WORKLOADS[self.cell][0]

    @property
    def output_tokens(self) -> int:
        return WORKLOADS[self.cell][1]


@dataclass(frozen=True, slots=True)
class SpecDecode:
    """Speculative decoding as configured with ``--speculative-config``."""

    method: str
    num_speculative_tokens: int
    acceptance: tuple[float, ...]
    """Chance each draft position is accepted given the earlier ones were."""


@dataclass(frozen=True, slots=True)
class Serving:
    """The ``vllm serve`` flags that shape the engine (defaults as in the published runs)."""

    max_model_len: int = 131072
    gpu_memory_utilization: float = 0.95
    kv_cache_dtype: str = "fp8"
    max_num_seqs: int = 1024
    max_num_batched_tokens: int = 8192
    block_size: int = 16
    enable_prefix_caching: bool = False


@dataclass(frozen=True, slots=True)
class StartupTimes:
    """Model seconds of each startup phase on a real Spark (warm page cache, cold compile cache)."""

    process_s: float = 9.0
    weights_s: float = 60.0
    shards: int = 10
    dynamo_s: float = 12.0
    compile_s: float = 40.0
    profile_s: float = 4.0
    graphs_s: float = 15.0
    api_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Profile:
    """One simulated serving setup."""

    name: str
    hf_model: str
    served_model_name: str
    architecture: str
    description: str
    vllm_version: str
    image: str
    quantization: str | None
    weights_gib: float
    kv_bytes_per_token: int
    """KV bytes per token with an fp8 KV cache (twice this with ``--kv-cache-dtype auto``)."""
    cost: StepCost
    request_overhead_s: float
    cold_start_s: float = 0.0
    """One-off JIT cost of the first long prefill after startup (no tuned kernels for GB10)."""
    serving: Serving = field(default_factory=Serving)
    activation_gib: float = 2.6
    """Peak activation memory found by vLLM's profiling run."""
    non_torch_gib: float = 0.6
    cuda_graph_gib: float = 0.9
    spec: SpecDecode | None = None
    reasoning: bool = False
    reasoning_parser: str | None = None
    min_vllm_version: str = "0.0"
    """Oldest vLLM that knows the architecture (older images fail at startup)."""
    startup: StartupTimes = field(default_factory=StartupTimes)
    extra_flags: str = ""
    figures: tuple[Figure, ...] = ()

    def kv_bytes(self, kv_cache_dtype: str) -> int:
        """KV bytes per token for a ``--kv-cache-dtype`` value."""
        return self.kv_bytes_per_token * (1 if kv_cache_dtype.startswith("fp8") else 2)

    def docker_command(self) -> str:
        """The ``docker run`` that serves this profile on a real Spark."""
        s = self.serving
        parts = [
            "docker run -d --name vllm-bench --gpus all --ipc=host",
            "-v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000",
            self.image,
            f"--model {self.hf_model} --served-model-name {self.served_model_name}",
            f"--max-model-len {s.max_model_len} --gpu-memory-utilization {s.gpu_memory_utilization}",
        ]
        if s.kv_cache_dtype != "auto":
            parts.append(f"--kv-cache-dtype {s.kv_cache_dtype}")
        if self.extra_flags:
            parts.append(self.extra_flags)
        if self.spec is not None:
            parts.append(
                f'--speculative-config \'{{"method":"{self.spec.method}",'
                f'"num_speculative_tokens":{self.spec.num_speculative_tokens}}}\''
            )
        parts.append("--host 0.0.0.0 --port 8000")
        return " \\\n  ".join(parts)

    def calibrated_figures(self) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if f.calibrated)


def _figures(
    source: str, rows: dict[tuple[str, int], tuple[float | None, float | None]]
) -> tuple[Figure, ...]:
    """(cell, users) -> (decode per user, TTFT seconds); None where not published."""
    out: list[Figure] = []
    for (cell, users), (du, ttft) in rows.items():
        if du is not None:
            out.append(Figure(cell, users, "decode_per_user", du, source))
        if ttft is not None:
            out.append(Figure(cell, users, "ttft_s", ttft, source))
    return tuple(out)


_GEMMA_FLAGS = '--limit-mm-per-prompt \'{"image":0,"audio":0}\' --async-scheduling --no-enable-prefix-caching'
_NEMOTRON_FLAGS = (
    "--max-num-seqs 256 --max-num-batched-tokens 8192 --trust-remote-code --reasoning-parser nemotron_v3"
)
_NEMOTRON_SERVING = Serving(max_num_seqs=256, max_num_batched_tokens=8192)
_GEMMA_STARTUP = StartupTimes(weights_s=62.0, shards=12, dynamo_s=13.0, compile_s=44.0, graphs_s=16.0)
_V023 = "v0.23.0, 10 users"

GEMMA_BF16 = Profile(
    name="gemma4-26b-a4b-bf16",
    hf_model="google/gemma-4-26B-A4B-it",
    served_model_name="gemma-4-26b-a4b-bf16",
    architecture="Gemma4ForConditionalGeneration",
    description="Gemma-4-26B-A4B-it in BF16, fp8 KV cache, vLLM v0.20.1",
    vllm_version="0.20.1",
    image="vllm/vllm-openai:v0.20.1",
    quantization=None,
    weights_gib=48.0,
    kv_bytes_per_token=122880,
    cost=StepCost(
        base_s=0.0319,
        expert_s=0.0759,
        expert_hit=0.125,
        per_seq_s=0.0,
        per_ctx_token_s=1.01e-7,
        per_prefill_token_s=1.17e-4,
        per_prefill_attn_s=9.79e-9,
    ),
    request_overhead_s=0.0973,
    cold_start_s=1.8,
    min_vllm_version="0.20.0",
    startup=_GEMMA_STARTUP,
    extra_flags=_GEMMA_FLAGS,
    figures=_figures(
        "v0.20.1",
        {
            ("A-4k", 1): (24.08, 1.37),
            ("A-4k", 5): (12.55, 2.29),
            ("A-4k", 10): (9.48, 4.46),
            ("A-8k", 1): (23.69, 1.39),
            ("A-8k", 10): (8.52, 7.99),
            ("A-16k", 1): (23.34, 3.42),
            ("A-16k", 10): (6.79, 18.92),
            ("A-25k", 1): (22.75, 6.39),
            ("A-25k", 5): (8.46, 19.63),
            ("A-25k", 10): (5.40, 35.67),
            ("B-25k", 20): (3.16, 67.37),
            ("C", 1): (23.86, 0.31),
            ("C", 5): (13.59, 0.76),
            ("C", 10): (10.92, 1.26),
            ("G", 1): (24.17, 0.24),
            ("G", 10): (11.75, 0.48),
            ("F", 5): (12.11, 4.32),
            ("F", 10): (9.31, 7.99),
            ("F", 20): (6.05, 14.61),
            ("E", 1): (23.97, 0.53),
            ("E", 10): (10.43, 2.13),
        },
    )
    + _figures(
        _V023,
        {
            ("C", 10): (11.47, 1.343),
            ("E", 10): (10.69, 2.155),
            ("G", 10): (12.47, 0.491),
            ("A-25k", 10): (5.28, 39.3),
        },
    ),
)

GEMMA_NVFP4 = replace(
    GEMMA_BF16,
    name="gemma4-26b-a4b-nvfp4",
    hf_model="nvidia/Gemma-4-26B-A4B-NVFP4",
    served_model_name="gemma-4-26b-a4b-nvfp4",
    description="Gemma-4-26B-A4B NVFP4 (weight-only FP4 via Marlin on GB10), fp8 KV cache, vLLM v0.20.1",
    quantization="modelopt_fp4",
    weights_gib=18.0,
    cost=StepCost(
        base_s=0.0325,
        expert_s=0.0,
        expert_hit=0.0,
        per_seq_s=0.00131,
        per_ctx_token_s=6.95e-8,
        per_prefill_token_s=1.15e-4,
        per_prefill_attn_s=1.08e-8,
    ),
    request_overhead_s=0.0459,
    startup=replace(_GEMMA_STARTUP, weights_s=26.0, shards=4, compile_s=52.0),
    figures=_figures(
        "v0.20.1",
        {
            ("A-4k", 1): (29.80, None),
            ("A-4k", 5): (22.01, None),
            ("A-4k", 10): (16.94, 4.20),
            ("A-8k", 1): (29.31, None),
            ("A-8k", 5): (19.28, None),
            ("A-8k", 10): (14.35, 7.84),
            ("A-16k", 1): (28.55, None),
            ("A-16k", 5): (15.67, None),
            ("A-16k", 10): (10.06, 18.69),
            ("A-25k", 1): (27.70, None),
            ("A-25k", 5): (12.46, None),
            ("A-25k", 10): (7.55, 35.65),
            ("C", 1): (29.45, None),
            ("C", 5): (24.69, None),
            ("C", 10): (20.88, None),
            ("E", 1): (29.61, 0.33),
            ("E", 5): (23.98, 1.11),
            ("E", 10): (19.51, 1.94),
            ("G", 1): (29.59, 0.11),
            ("G", 5): (25.79, 0.23),
            ("G", 10): (22.54, 0.37),
            ("F", 5): (20.91, 4.28),
            ("F", 10): (15.96, 8.00),
            ("F", 20): (10.57, 14.45),
            ("B-25k", 5): (12.43, 19.72),
            ("B-25k", 10): (7.56, 35.51),
            ("B-25k", 20): (4.26, 67.40),
        },
    )
    + _figures(
        _V023,
        {
            ("C", 10): (21.59, 1.138),
            ("E", 10): (20.01, 1.966),
            ("G", 10): (23.69, 0.369),
            ("A-25k", 10): (7.40, 38.6),
        },
    ),
)

GEMMA_MTP = replace(
    GEMMA_BF16,
    name="gemma4-26b-a4b-mtp",
    served_model_name="gemma-4-26b-a4b-mtp",
    description="Gemma-4-26B-A4B-it BF16 with MTP speculative decoding (2 draft tokens), vLLM v0.23.0",
    vllm_version="0.23.0",
    image="vllm/vllm-openai:v0.23.0-aarch64-cu129-ubuntu2404",
    weights_gib=49.2,
    spec=SpecDecode(method="mtp", num_speculative_tokens=2, acceptance=(0.72, 0.6)),
    request_overhead_s=0.118,
    cost=StepCost(
        base_s=0.0435,
        expert_s=0.0760,
        expert_hit=0.152,
        per_seq_s=0.0,
        per_ctx_token_s=1.84e-7,
        per_prefill_token_s=1.26e-4,
        per_prefill_attn_s=1.45e-8,
    ),
    figures=_figures(
        _V023,
        {
            ("C", 10): (17.79, 1.400),
            ("E", 10): (16.57, 2.368),
            ("G", 10): (17.67, 0.564),
            ("A-25k", 10): (6.05, 45.6),
        },
    ),
)


def _nemotron(
    *,
    variant: str,
    hf_suffix: str,
    weights_gib: float,
    kv_dtype: str,
    cost: StepCost,
    overhead: float,
    rows: dict[tuple[str, int], tuple[float | None, float | None]],
) -> Profile:
    name = f"nemotron3-nano-30b-a3b-{variant}"
    return Profile(
        name=name,
        hf_model=f"nvidia/NVIDIA-Nemotron-3-Nano-Omni-30B-A3B-Reasoning-{hf_suffix}",
        served_model_name=f"nemotron-3-nano-30b-a3b-{variant}",
        architecture="NemotronHForCausalLM",
        description=f"Nemotron-3-Nano-Omni-30B-A3B-Reasoning {variant.upper()} (hybrid Mamba-MoE), "
        "reasoning parser nemotron_v3, vLLM v0.20.0",
        vllm_version="0.20.0",
        image="vllm/vllm-openai:v0.20.0",
        quantization={"bf16": None, "fp8": "modelopt", "nvfp4": "modelopt_fp4"}[variant],
        weights_gib=weights_gib,
        kv_bytes_per_token=3072,
        cost=cost,
        request_overhead_s=overhead,
        cold_start_s=1.8,
        serving=replace(_NEMOTRON_SERVING, kv_cache_dtype=kv_dtype),
        reasoning=True,
        reasoning_parser="nemotron_v3",
        min_vllm_version="0.16.0",
        startup=StartupTimes(
            weights_s=weights_gib * 1.3, shards=max(2, round(weights_gib / 5)), compile_s=38.0, graphs_s=12.0
        ),
        extra_flags=_NEMOTRON_FLAGS,
        figures=_figures("v0.20.0", rows),
    )


NEMOTRON_BF16 = _nemotron(
    variant="bf16",
    hf_suffix="BF16",
    weights_gib=61.5,
    kv_dtype="auto",
    cost=StepCost(
        base_s=0.0194,
        expert_s=0.155,
        expert_hit=0.0936,
        per_seq_s=0.0,
        per_ctx_token_s=7.89e-8,
        per_prefill_token_s=1.07e-4,
        per_prefill_attn_s=5.5e-10,
    ),
    overhead=0.334,
    rows={
        ("A-4k", 1): (29.23, None),
        ("A-4k", 10): (7.76, 3.90),
        ("A-8k", 1): (28.59, None),
        ("A-8k", 10): (7.13, 6.49),
        ("A-16k", 1): (28.24, None),
        ("A-16k", 10): (6.30, 12.63),
        ("A-25k", 1): (28.24, None),
        ("A-25k", 10): (5.56, 19.82),
        ("C", 1): (28.65, None),
        ("C", 5): (12.19, None),
        ("C", 10): (7.84, None),
        ("G", 10): (9.51, None),
        ("F", 20): (5.51, None),
        ("B-25k", 20): (None, 37.88),
    },
)
NEMOTRON_FP8 = _nemotron(
    variant="fp8",
    hf_suffix="FP8",
    weights_gib=32.8,
    kv_dtype="fp8",
    cost=StepCost(
        base_s=0.0104,
        expert_s=0.0660,
        expert_hit=0.134,
        per_seq_s=0.0,
        per_ctx_token_s=7.74e-8,
        per_prefill_token_s=9.64e-5,
        per_prefill_attn_s=8.21e-10,
    ),
    overhead=0.0362,
    rows={
        ("A-4k", 1): (51.68, None),
        ("A-4k", 10): (13.45, 2.91),
        ("A-8k", 1): (49.82, None),
        ("A-8k", 10): (11.14, 5.93),
        ("A-16k", 1): (47.52, None),
        ("A-16k", 10): (10.73, 10.55),
        ("A-25k", 1): (48.85, None),
        ("A-25k", 10): (8.59, 16.89),
        ("C", 1): (49.85, None),
        ("C", 5): (21.32, None),
        ("C", 10): (15.26, None),
        ("G", 10): (18.40, None),
        ("F", 20): (9.82, None),
        ("B-25k", 20): (None, 29.91),
    },
)
NEMOTRON_NVFP4 = _nemotron(
    variant="nvfp4",
    hf_suffix="NVFP4",
    weights_gib=20.9,
    kv_dtype="auto",
    cost=StepCost(
        base_s=0.0125,
        expert_s=0.0291,
        expert_hit=0.138,
        per_seq_s=0.000727,
        per_ctx_token_s=3.50e-8,
        per_prefill_token_s=7.57e-5,
        per_prefill_attn_s=4.33e-10,
    ),
    overhead=0.193,
    rows={
        ("A-4k", 1): (60.30, None),
        ("A-4k", 10): (19.69, 2.45),
        ("A-8k", 1): (55.72, None),
        ("A-8k", 10): (17.90, 4.03),
        ("A-16k", 1): (55.24, None),
        ("A-16k", 10): (14.99, 8.01),
        ("A-25k", 1): (54.98, None),
        ("A-25k", 10): (12.99, 12.71),
        ("C", 1): (55.55, None),
        ("C", 5): (30.97, None),
        ("C", 10): (22.90, None),
        ("G", 10): (25.18, None),
        ("F", 20): (14.09, None),
        ("B-25k", 20): (None, 24.08),
    },
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (GEMMA_BF16, GEMMA_NVFP4, GEMMA_MTP, NEMOTRON_BF16, NEMOTRON_FP8, NEMOTRON_NVFP4)
}


class UnknownProfileError(KeyError):
    """No profile of that name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (raises ``UnknownProfileError`` with the known names)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None


def profile_for_model(
    model: str, *, speculative: bool = False, kv_cache_dtype: str | None = None
) -> Profile | None:
    """The profile serving HF model id ``model`` (as ``vllm serve MODEL`` would), or None."""
    matches = [p for p in PROFILES.values() if p.hf_model.lower() == model.lower()]
    if not matches:
        return None
    for p in matches:
        if (p.spec is not None) == speculative:
            return p
    return matches[0]
