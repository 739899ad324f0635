"""Open-loop arrival processes and request-length distributions, deterministic under a seed.

Arrivals follow ``vllm bench serve``: gaps drawn from a gamma distribution with shape
``burstiness`` and mean ``1 / rate`` (burstiness 1 is a Poisson process; below 1 is burstier,
above 1 more regular), and, for a fixed number of prompts, the arrival times rescaled so the last
one falls at ``n / rate`` exactly (the sum of random gaps would otherwise miss it by a few percent).

Lengths follow its ``random`` dataset: integers drawn uniformly from
``[floor(L * (1 - r)), ceil(L * (1 + r))]`` for a mean ``L`` and range ratio ``r``. The
conversation-like distribution stands in for ShareGPT (which cannot be downloaded here): log-normal
prompt and answer lengths filtered as ``vllm bench serve`` filters ShareGPT (both at least 4
tokens, prompt at most 1024, prompt + answer at most 2048), fitted to the published replay's
averages (about 240 prompt and 205 output tokens per request).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

CONVERSATION_PROMPT = (5.21, 1.1)
"""(mu, sigma) of the log-normal prompt length."""
CONVERSATION_OUTPUT = (4.95, 0.9)
"""(mu, sigma) of the log-normal answer length."""
CONVERSATION_MIN = 4
CONVERSATION_MAX_PROMPT = 1024
CONVERSATION_MAX_TOTAL = 2048


def check_rate(rate: float, burstiness: float) -> None:
    if not rate > 0:
        raise ValueError(f"request rate must be > 0 (or inf), got {rate}")
    if not burstiness > 0:
        raise ValueError(f"burstiness must be > 0, got {burstiness}")


def gap(rng: random.Random, rate: float, burstiness: float) -> float:
    """One gap (seconds) between arrivals."""
    if math.isinf(rate):
        return 0.0
    if math.isinf(burstiness):
        return 1.0 / rate
    return rng.gammavariate(burstiness, 1.0 / (rate * burstiness))


def arrival_offsets(n: int, rate: float, burstiness: float, rng: random.Random) -> list[float]:
    """Seconds from the start of the stage at which each of ``n`` requests is sent."""
    check_rate(rate, burstiness)
    if n <= 0:
        return []
    times: list[float] = []
    t = 0.0
    for _ in range(n):
        t += gap(rng, rate, burstiness)
        times.append(t)
    if times[-1] > 0:
        scale = (n / rate) / times[-1]
        times = [x * scale for x in times]
    return times


def arrival_stream(rate: float, burstiness: float, rng: random.Random) -> Iterator[float]:
    """Open-ended arrival offsets (for a stage bounded by duration instead of a count)."""
    check_rate(rate, burstiness)
    t = 0.0
    while True:
        t += gap(rng, rate, burstiness)
        yield t


def length_range(mean: int, range_ratio: float) -> tuple[int, int]:
    """The inclusive bounds ``vllm bench serve --dataset-name random`` samples between."""
    if mean < 1:
        raise ValueError(f"length must be >= 1, got {mean}")
    if not 0 <= range_ratio < 1:
        raise ValueError(f"range ratio must be in [0, 1), got {range_ratio}")
    low = max(1, math.floor(mean * (1 - range_ratio)))
    high = max(low, math.ceil(mean * (1 + range_ratio)))
    return low, high


def random_length(mean: int, range_ratio: float, rng: random.Random) -> int:
    low, high = length_range(mean, range_ratio)
    return rng.randint(low, high)


def conversation_lengths(rng: random.Random) -> tuple[int, int]:
    """(prompt, output) tokens of one conversation-like request."""
    mu_p, sigma_p = CONVERSATION_PROMPT
    mu_o, sigma_o = CONVERSATION_OUTPUT
    while True:
        prompt = int(rng.lognormvariate(mu_p, sigma_p))
        output = int(rng.lognormvariate(mu_o, sigma_o))
        if (
            prompt >= CONVERSATION_MIN
            and output >= CONVERSATION_MIN
            and prompt <= CONVERSATION_MAX_PROMPT
            and prompt + output <= CONVERSATION_MAX_TOTAL
        ):
            return prompt, output
