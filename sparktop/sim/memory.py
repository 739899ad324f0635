"""Where a profile's memory goes on the Spark, and the startup checks vLLM makes against it.

vLLM budgets ``gpu_memory_utilization x total``; weights, the profiling run's peak activations and
non-torch allocations come off it and the rest becomes the KV cache, in blocks of ``block_size``
tokens. It refuses to start when free memory is below the budget, when nothing is left for the KV
cache, or when one request of ``max_model_len`` tokens would not fit (messages as vLLM prints them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparktop.sim.profiles import GB10_MEMORY_BYTES, GIB, Profile, Serving

DEFAULT_HOST_USED_BYTES = int(3.8 * GIB)
"""Memory the host OS and desktop hold before vLLM starts (not available to it)."""


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """The memory split vLLM arrives at for one profile and set of flags."""

    total_bytes: int
    free_bytes: int
    utilization: float
    weights_bytes: int
    activation_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    kv_bytes_per_token: int
    block_size: int
    max_model_len: int

    @property
    def budget_bytes(self) -> int:
        return int(self.total_bytes * self.utilization)

    @property
    def kv_available_bytes(self) -> int:
        return self.budget_bytes - self.weights_bytes - self.activation_bytes - self.non_torch_bytes

    @property
    def block_bytes(self) -> int:
        return self.block_size * self.kv_bytes_per_token

    @property
    def num_blocks(self) -> int:
        return max(0, self.kv_available_bytes // self.block_bytes)

    @property
    def kv_tokens(self) -> int:
        return self.num_blocks * self.block_size

    @property
    def max_concurrency(self) -> float:
        return self.kv_tokens / self.max_model_len

    @property
    def needed_bytes(self) -> int:
        """KV bytes one request of ``max_model_len`` tokens needs."""
        return -(-self.max_model_len // self.block_size) * self.block_bytes

    @property
    def estimated_max_model_len(self) -> int:
        return self.kv_tokens

    @property
    def process_bytes(self) -> int:
        """What the engine process holds once ready (weights, activations, KV cache, CUDA graphs)."""
        return (
            self.weights_bytes
            + self.activation_bytes
            + self.non_torch_bytes
            + self.num_blocks * self.block_bytes
            + self.cuda_graph_bytes
        )

    def free_memory_error(self) -> str | None:
        """vLLM's startup check of free memory against the requested budget."""
        if self.free_bytes >= self.budget_bytes:
            return None
        return (
            "ValueError: Free memory on device "
            f"({self.free_bytes / GIB:.2f}/{self.total_bytes / GIB:.2f} GiB) "
            f"on startup is less than desired GPU memory utilization ({self.utilization}, "
            f"{self.budget_bytes / GIB:.2f} GiB). Decrease GPU memory utilization or reduce GPU memory "
            "used by other processes."
        )

    def kv_error(self) -> str | None:
        """vLLM's check that the KV cache holds one request of ``max_model_len`` tokens."""
        if self.kv_available_bytes <= 0:
            return (
                "ValueError: No available memory for the cache blocks. Try increasing "
                "`gpu_memory_utilization` when initializing the engine."
            )
        if self.needed_bytes <= self.num_blocks * self.block_bytes:
            return None
        return (
            f"ValueError: To serve at least one request with the model's max seq len ({self.max_model_len}), "
            f"({self.needed_bytes / GIB:.2f} GiB KV cache is needed, which is larger than the available KV "
            f"cache memory ({self.kv_available_bytes / GIB:.2f} GiB). Based on the available memory, the "
            f"estimated maximum model length is {self.estimated_max_model_len}. Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."
        )


def plan_memory(
    profile: Profile,
    serving: Serving | None = None,
    *,
    total_bytes: int = GB10_MEMORY_BYTES,
    host_used_bytes: int = DEFAULT_HOST_USED_BYTES,
) -> MemoryPlan:
    """The memory split for ``profile`` served with ``serving`` (default: the profile's flags)."""
    s = serving if serving is not None else profile.serving
    return MemoryPlan(
        total_bytes=total_bytes,
        free_bytes=max(0, total_bytes - host_used_bytes),
        utilization=s.gpu_memory_utilization,
        weights_bytes=int(profile.weights_gib * GIB),
        activation_bytes=int(profile.activation_gib * GIB),
        non_torch_bytes=int(profile.non_torch_gib * GIB),
        cuda_graph_bytes=int(profile.cuda_graph_gib * GIB),
        kv_bytes_per_token=profile.kv_bytes(s.kv_cache_dtype),
        block_size=s.block_size,
        max_model_len=s.max_model_len,
    )
