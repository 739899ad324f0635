"""How long one engine step takes on a GB10, from what the step holds.

A decode step on the Spark is memory-bandwidth bound: it streams the active weights once (for a
mixture-of-experts model, more experts are touched the more tokens share the step), then reads the
KV cache of every decoding sequence. A prefill chunk is compute bound: a cost per token plus an
attention cost that grows with how deep into the prompt the chunk sits. With speculative decoding
every decoding sequence also has its draft tokens verified in the step (more tokens through the
experts), and the drafter runs once per draft position before the step, each pass a small decode
step of its own over the whole batch: at one user the drafts are nearly free, at twenty-five they
cost more than the tokens they save. The coefficients are fitted per serving profile against
published figures (see ``profiles.py`` and ``benchmarks/fit_sim_profiles.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepCost:
    """Step time = base + experts x coverage(tokens) + per-sequence + context + prefill + draft terms."""

    base_s: float
    """Fixed cost of every step: launch, sampling, scheduling, shared weights."""
    expert_s: float
    """Weight traffic when every expert is touched; scaled by the expected coverage."""
    expert_hit: float
    """Chance that one token touches a given slice of the experts (0..1); sets how fast coverage saturates."""
    per_seq_s: float
    """Linear cost per decoding sequence (dequantisation, small-batch GEMM inefficiency)."""
    per_ctx_token_s: float
    """Cost per token of KV cache read by the decoding sequences."""
    per_prefill_token_s: float
    """Compute cost per prompt token in the step."""
    per_prefill_attn_s: float
    """Attention cost per prompt token per token of context before it."""
    draft_s: float = 0.0
    """Speculative decoding: fixed cost of one drafter pass (one per draft position per step)."""
    draft_per_seq_s: float = 0.0
    """Speculative decoding: cost of one drafter pass per decoding sequence."""

    def seconds(
        self,
        *,
        decode_seqs: int,
        decode_tokens: int,
        context_tokens: int,
        prefill_tokens: int,
        prefill_attn: float,
        draft_passes: int = 0,
    ) -> float:
        """Duration of one step.

        ``decode_tokens`` counts every token verified for the decoding sequences (one each, or one
        plus the drafts with speculative decoding); ``prefill_attn`` is the sum over prefill chunks
        of ``chunk_len x (context before the chunk + chunk_len / 2)``; ``draft_passes`` is the number
        of drafter passes run for the step's decoding sequences (the draft positions; 0 without
        speculative decoding).
        """
        tokens = decode_tokens + prefill_tokens
        coverage = 1.0 - (1.0 - self.expert_hit) ** tokens if tokens else 0.0
        seconds = (
            self.base_s
            + self.expert_s * coverage
            + self.per_seq_s * decode_seqs
            + self.per_ctx_token_s * context_tokens
            + self.per_prefill_token_s * prefill_tokens
            + self.per_prefill_attn_s * prefill_attn
        )
        if draft_passes:
            seconds += draft_passes * (self.draft_s + self.draft_per_seq_s * decode_seqs)
        return seconds
