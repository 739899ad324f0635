"""Log-probabilities for the simulated tokens, in the shapes vLLM answers them.

The simulator samples no distribution, so the figures are made up, but plausibly and reproducibly:
each position of the generated stream (``tokens.STREAM``) has a fixed log-probability for its token,
always the most likely one (rank 1), and its alternatives are other pieces of the stream, each less
likely than the one before. A prompt token gets a rank below its top alternatives.

Shapes (vLLM 0.32):

- chat (``logprobs: true, top_logprobs: k``): ``{"content": [{"token", "logprob", "bytes",
  "top_logprobs": [k x {"token", "logprob", "bytes"}]}]}``, the sampled token first in its list;
- completions (``logprobs: k``): ``{"text_offset", "token_logprobs", "tokens", "top_logprobs"}``,
  each top entry a ``{token text: logprob}`` object (the sampled token plus the k most likely);
- ``prompt_logprobs: k``: ``[null, {"<id>": {"logprob", "rank", "decoded_token"}, ...}, ...]``,
  one entry per prompt token after the first: the token itself, then the k most likely.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sparktop.sim import tokens

MAX_LOGPROBS = 20
"""vLLM's default ``--max-logprobs``."""
_ALT_STEP = 977
"""Stream positions between a token and its first alternative (any stride coprime to the length)."""


def _build_logprobs() -> tuple[float, ...]:
    rng = random.Random(0x109)
    return tuple(-min(6.0, max(1e-4, rng.expovariate(1.6))) for _ in tokens.STREAM)


_SAMPLED: tuple[float, ...] = _build_logprobs()
"""The log-probability of each token of the generated stream."""


def _alternatives(position: int, k: int) -> list[tuple[int, str, float]]:
    """(id, text, logprob) of the ``k`` next most likely tokens after the one at ``position``."""
    n = len(tokens.STREAM)
    p = position % n
    seen = {tokens.STREAM[p]}
    out: list[tuple[int, str, float]] = []
    lp = _SAMPLED[p]
    step = 0
    while len(out) < k:
        step += 1
        q = (p + _ALT_STEP * step) % n
        text = tokens.STREAM[q]
        if text in seen:
            continue
        seen.add(text)
        lp -= 0.4 + 0.6 * ((q * 2654435761) % 1000) / 1000
        out.append((tokens.STREAM_IDS[q], text, lp))
    return out


def _bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def chat_entries(position: int, count: int, top: int) -> list[dict[str, Any]]:
    """Chat's ``logprobs.content`` entries of ``count`` generated tokens from stream ``position``."""
    out: list[dict[str, Any]] = []
    n = len(tokens.STREAM)
    for i in range(position, position + count):
        text, lp = tokens.STREAM[i % n], _SAMPLED[i % n]
        first = {"token": text, "logprob": lp, "bytes": _bytes(text)}
        alts = [{"token": t, "logprob": a, "bytes": _bytes(t)} for _, t, a in _alternatives(i, top - 1)]
        out.append({**first, "top_logprobs": [first, *alts] if top > 0 else []})
    return out


class CompletionLogprobs:
    """The completions ``logprobs`` object of one choice, grown as tokens arrive."""

    __slots__ = ("offset", "text_offset", "token_logprobs", "tokens", "top", "top_logprobs")

    def __init__(self, top: int, offset: int = 0) -> None:
        self.top = top
        self.offset = offset
        self.text_offset: list[int] = []
        self.token_logprobs: list[float | None] = []
        self.tokens: list[str] = []
        self.top_logprobs: list[dict[str, float] | None] = []

    def _append(self, text: str, lp: float | None, top: dict[str, float] | None) -> None:
        self.text_offset.append(self.offset)
        self.offset += len(text)
        self.tokens.append(text)
        self.token_logprobs.append(lp)
        self.top_logprobs.append(top)

    def add_generated(self, position: int, count: int) -> None:
        n = len(tokens.STREAM)
        for i in range(position, position + count):
            text, lp = tokens.STREAM[i % n], _SAMPLED[i % n]
            top = {text: lp}
            for _, t, a in _alternatives(i, self.top - 1):
                top[t] = a
            self._append(text, lp, top)

    def add_prompt(self, pieces: Sequence[str], prompt: list[dict[str, dict[str, Any]] | None]) -> None:
        """The echoed prompt's tokens: its first has no log-probability."""
        for text, entry in zip(pieces, prompt, strict=True):
            if entry is None:
                self._append(text, None, None)
                continue
            values = list(entry.values())
            self._append(text, values[0]["logprob"], {v["decoded_token"]: v["logprob"] for v in values})

    def payload(self) -> dict[str, Any]:
        return {
            "text_offset": self.text_offset,
            "token_logprobs": self.token_logprobs,
            "tokens": self.tokens,
            "top_logprobs": self.top_logprobs,
        }

    def take(self) -> dict[str, Any]:
        """What was added since the last ``take`` (one streamed chunk's logprobs)."""
        out = self.payload()
        self.text_offset, self.token_logprobs, self.tokens, self.top_logprobs = [], [], [], []
        return out


def prompt_entries(ids: Sequence[int], pieces: Sequence[str], top: int) -> list[dict[str, Any] | None]:
    """``prompt_logprobs``: nothing for the first token, then each token and the ``top`` most likely."""
    out: list[dict[str, Any] | None] = [None]
    n = len(tokens.STREAM)
    for i in range(1, len(ids)):
        token = ids[i]
        mix = (token * 2654435761 + i) & 0xFFFFFFFF
        rank = top + 1 + mix % 37
        lp = -(1.5 + (mix % 9000) / 1000)
        entry: dict[str, Any] = {str(token): {"logprob": lp, "rank": rank, "decoded_token": pieces[i]}}
        for r, (alt_id, text, _) in enumerate(_alternatives(mix % n, top), start=1):
            # more likely than the prompt's own token, the first most of all
            entry.setdefault(
                str(alt_id), {"logprob": lp + 0.3 * (top + 1 - r), "rank": r, "decoded_token": text}
            )
        out.append(entry)
    return out
