"""What a workload is: a named sequence of closed-loop and open-loop stages (plain frozen data).

A closed-loop stage is llama-benchy's shape: ``users`` send at once and wait for each other
(lockstep rounds), each request ``input_len`` new prompt tokens and ``output_len`` output tokens;
with ``depth`` > 0 each user holds a conversation of ``depth`` + 1 turns whose context grows (every
turn resends the earlier turns, the replies included, then ``input_len`` new tokens); ``runs``
repeats the whole thing. An open-loop stage is ``vllm bench serve``'s shape: requests arrive at
``rate`` per second with gamma-distributed gaps, at most ``max_concurrency`` in flight, lengths
drawn around the means with ``range_ratio`` (or from the conversation-like distribution), until
``num_prompts`` were sent or ``duration_s`` passed; then, unless ``drain`` is off, until every one
of them has finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Endpoint = Literal["completions", "chat"]
ENDPOINTS: tuple[Endpoint, ...] = ("completions", "chat")
LengthModel = Literal["random", "conversation"]


@dataclass(frozen=True, slots=True)
class ClosedLoop:
    """Lockstep users (llama-benchy)."""

    name: str
    users: int
    input_len: int
    output_len: int
    depth: int = 0
    """Earlier turns of each conversation: ``depth`` + 1 requests per conversation."""
    runs: int = 1
    """Conversations per user, one after another."""
    warmup: bool = False
    """One unmeasured lockstep round before the runs (llama-benchy warms up each step)."""
    force_output: bool = True
    """Ask for exactly ``output_len`` tokens (``min_tokens`` and ``ignore_eos``)."""

    def __post_init__(self) -> None:
        for label, value in (
            ("users", self.users),
            ("input length", self.input_len),
            ("output length", self.output_len),
            ("runs", self.runs),
        ):
            if value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        if self.depth < 0:
            raise ValueError(f"depth must be >= 0, got {self.depth}")

    @property
    def requests(self) -> int:
        """Measured requests (warm-up excluded)."""
        return self.users * self.runs * (self.depth + 1)

    @property
    def max_context(self) -> int:
        """Prompt tokens of the last turn."""
        return (self.depth + 1) * self.input_len + self.depth * self.output_len


@dataclass(frozen=True, slots=True)
class OpenLoop:
    """Requests at a rate (``vllm bench serve``)."""

    name: str
    rate: float
    """Requests per second; ``math.inf`` sends them all at once."""
    input_len: int = 1024
    output_len: int = 128
    num_prompts: int | None = None
    duration_s: float | None = None
    burstiness: float = 1.0
    max_concurrency: int | None = None
    range_ratio: float = 0.0
    lengths: LengthModel = "random"
    length_scale: float = 1.0
    """Conversation-like lengths are multiplied by this (quick variants shrink them)."""
    force_output: bool = True
    drain: bool = True
    """Wait for this stage's requests to finish before the next stage starts (as a benchmark
    does); False lets them run on into the next stage (a continuous story, like the demo)."""

    def __post_init__(self) -> None:
        if (self.num_prompts is None) == (self.duration_s is None):
            raise ValueError("an open-loop stage needs either a number of prompts or a duration")
        if self.num_prompts is not None and self.num_prompts < 1:
            raise ValueError(f"number of prompts must be >= 1, got {self.num_prompts}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration must be > 0, got {self.duration_s}")
        if self.duration_s is not None and math.isinf(self.rate):
            raise ValueError("a duration-bounded stage needs a finite rate")
        if not self.rate > 0:
            raise ValueError(f"request rate must be > 0, got {self.rate}")
        if not self.burstiness > 0:
            raise ValueError(f"burstiness must be > 0, got {self.burstiness}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max concurrency must be >= 1, got {self.max_concurrency}")
        if not 0 <= self.range_ratio < 1:
            raise ValueError(f"range ratio must be in [0, 1), got {self.range_ratio}")
        if not 0 < self.length_scale <= 1:
            raise ValueError(f"length scale must be in (0, 1], got {self.length_scale}")
        if self.input_len < 1 or self.output_len < 1:
            raise ValueError("input and output lengths must be >= 1")

    @property
    def requests(self) -> int | None:
        return self.num_prompts


Stage = ClosedLoop | OpenLoop


@dataclass(frozen=True, slots=True)
class Workload:
    """A named sequence of stages."""

    name: str
    title: str
    stages: tuple[Stage, ...]
    seed: int = 0
    repeat: bool = False
    """Run the stages again and again until cancelled (the demo)."""
    endpoint: Endpoint | None = None
    """The endpoint the published runs used; the caller's choice wins."""
    notes: str = ""
    """How the preset reads the published workload."""

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a workload needs at least one stage")

    @property
    def requests(self) -> int | None:
        """Measured requests of one pass, or None when a stage is bounded by time."""
        total = 0
        for stage in self.stages:
            n = stage.requests
            if n is None:
                return None
            total += n
        return total
