"""Prompts of an exact token length, built locally and deterministic under a seed.

Completions take token-id prompts: the length is exact by construction. Ids are drawn from
[1000, 30000), inside every current model's vocabulary and clear of the low special-token range,
fresh for every request so prefix caching cannot shortcut a prefill (as ``vllm bench serve``'s
random dataset does).

Chat takes text: pseudo-random common words, fitted with the server's ``/tokenize`` (which applies
the chat template) until the whole conversation counts exactly the wanted tokens. The
tokens-per-word ratio and the template's overhead are learnt once per server and cached, so a
prompt usually fits in one or two calls. Without ``/tokenize`` the length is estimated and the
caller is told so.

Multi-turn conversations grow: each turn resends the history and adds ``input_len`` new tokens; a
reply is represented by filler of the same token count (the generated text itself is not kept).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sparktop.workload.client import OpenAIClient

ID_LOW = 1000
ID_HIGH = 30000

_WORD_TEXT = (
    "the of and to in is that for it as with was on be by this are from at or an have not which but "
    "all can has more one will their so if also other about than into there when some time these may "
    "only new would two first any like most over such where after should many well then through "
    "model memory token cache batch request server answer result value system device report office "
    "document summary plan step check number measure estimate because however while each every both "
    "between under during before within without again further once here how what why who same own "
    "very just now simple clear short long large small fast slow high low good better early late "
    "table chair water light green house river city paper music story color field market garden "
    "letter window morning evening winter summer travel friend family school money health energy"
)
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())

MAX_FIT_ROUNDS = 6


def token_ids(count: int, rng: random.Random) -> list[int]:
    """``count`` random token ids."""
    r = rng.randrange
    return [r(ID_LOW, ID_HIGH) for _ in range(count)]


def words(count: int, rng: random.Random) -> str:
    """``count`` random words, space-separated."""
    if count <= 0:
        return ""
    choice = rng.choice
    return " ".join(choice(WORDS) for _ in range(count))


class TokenizeUnavailable(Exception):
    """The server has no usable ``/tokenize``."""


@dataclass
class Calibration:
    """What one server's tokenizer does to text (learnt once)."""

    tokens_per_word: float
    overhead: int
    """Tokens of a conversation holding one empty user message (template and special tokens)."""
    exact: bool = True
    """False when estimated without ``/tokenize``."""


_CALIBRATIONS: dict[tuple[str, str | None], Calibration] = {}
"""Per (server, model): learnt once per process."""


@dataclass
class ChatPrompts:
    """Builds chat conversations of exact lengths against one server."""

    client: OpenAIClient
    model: str | None
    calibration: Calibration | None = None
    tokenize_calls: int = 0
    misses: int = field(default=0)
    """Conversations whose length could not be hit exactly."""

    async def calibrate(self) -> Calibration:
        key = (self.client.base_url, self.model)
        cached = _CALIBRATIONS.get(key)
        if cached is not None:
            self.calibration = cached
            return cached
        try:
            overhead = await self.count([{"role": "user", "content": ""}])
            sample = words(400, random.Random(0))
            with_text = await self.count([{"role": "user", "content": sample}])
            cal = Calibration(tokens_per_word=max(0.2, (with_text - overhead) / 400), overhead=overhead)
        except TokenizeUnavailable:
            cal = Calibration(tokens_per_word=1.3, overhead=8, exact=False)
        _CALIBRATIONS[key] = cal
        self.calibration = cal
        return cal

    async def count(self, messages: list[dict[str, str]]) -> int:
        """Tokens of a conversation (chat template and generation prompt included)."""
        payload: dict[str, Any] = {"messages": messages}
        if self.model is not None:
            payload["model"] = self.model
        self.tokenize_calls += 1
        ex, data = await self.client.post_json("/tokenize", payload)
        if isinstance(data, dict) and isinstance(data.get("count"), int):
            return int(data["count"])
        if isinstance(data, dict) and isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        raise TokenizeUnavailable(ex.error or f"/tokenize answered HTTP {ex.status}")

    def filler(self, tokens: int, rng: random.Random) -> str:
        """Text of about ``tokens`` tokens (a reply in the history)."""
        cal = self.calibration or Calibration(1.3, 8, exact=False)
        return words(max(1, round(tokens / cal.tokens_per_word)), rng)

    async def fit(
        self, history: list[dict[str, str]], total: int, rng: random.Random
    ) -> tuple[list[dict[str, str]], int]:
        """``history`` plus one user message, fitted so the conversation is ``total`` tokens.

        Returns the messages and their token count (``total`` unless it could not be hit, or the
        estimate when the server cannot tokenize)."""
        cal = self.calibration or await self.calibrate()
        pool = [rng.choice(WORDS) for _ in range(max(8, int(total / cal.tokens_per_word * 1.3) + 16))]
        history_words = sum(len(m["content"].split()) for m in history)
        estimate = cal.overhead + round(history_words * cal.tokens_per_word) + 4 * len(history)
        n = max(1, round((total - estimate) / cal.tokens_per_word))
        if not cal.exact:
            return [*history, {"role": "user", "content": " ".join(_take(pool, n, rng))}], total
        best: tuple[int, list[dict[str, str]], int] | None = None
        tried: set[int] = set()
        for _ in range(MAX_FIT_ROUNDS):
            n = max(1, n)
            if n in tried:
                break
            tried.add(n)
            messages = [*history, {"role": "user", "content": " ".join(_take(pool, n, rng))}]
            try:
                got = await self.count(messages)
            except TokenizeUnavailable:
                cal.exact = False
                return messages, total
            diff = total - got
            if best is None or abs(diff) < abs(best[0]):
                best = (diff, messages, got)
            if diff == 0:
                return messages, got
            step = round(diff / cal.tokens_per_word)
            n += step if step else (1 if diff > 0 else -1)
        assert best is not None
        self.misses += 1
        return best[1], best[2]


def _take(pool: list[str], n: int, rng: random.Random) -> list[str]:
    while len(pool) < n:
        pool.append(rng.choice(WORDS))
    return pool[:n]
