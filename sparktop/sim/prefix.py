"""A prompt's prefix identity: one hash per full KV-cache block, as vLLM's prefix cache keys them.

Each block's hash covers its tokens and the hash of the block before it, so it names the whole
prefix up to the end of that block: two prompts share their first ``k`` hashes exactly when they
share their first ``k`` blocks of token ids (a conversation's growing context, a common system
prompt). The engine needs only these hashes, not the ids (``engine.Request.block_hashes``).
"""

from __future__ import annotations

from collections.abc import Sequence


def block_hashes(ids: Sequence[int], block_size: int) -> tuple[int, ...]:
    """The chained hash of each full ``block_size``-token block of ``ids`` (a partial last one has none)."""
    out: list[int] = []
    h = 0
    for start in range(0, len(ids) - block_size + 1, block_size):
        h = hash((h, *ids[start : start + block_size]))
        out.append(h)
    return tuple(out)
