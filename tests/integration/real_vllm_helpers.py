"""Helpers for the real-vLLM tests: the CLI as a subprocess, and the server's own counters read with
prometheus-client's parser (an oracle independent of sparktop's)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ENV = {**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml", "PYTHONUNBUFFERED": "1"}
SPARKTOP = [sys.executable, "-m", "sparktop"]


def sparktop(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SPARKTOP, *args], check=False, capture_output=True, text=True, env=ENV, timeout=timeout
    )


def spawn(*args: str, stdout: Path) -> subprocess.Popen[bytes]:
    """``sparktop ARGS`` in the background, its output into ``stdout`` (read it as it grows)."""
    with open(stdout, "wb") as out:
        return subprocess.Popen(
            [*SPARKTOP, *args], stdout=out, stderr=subprocess.STDOUT, env=ENV, start_new_session=True
        )


def samples(page: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def total(page: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in page.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


@dataclass(frozen=True)
class Counters:
    """What the server itself counted: finished requests, prompt and generated tokens."""

    finished: float
    prompt_tokens: float
    generation_tokens: float
    preemptions: float

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.finished - other.finished,
            self.prompt_tokens - other.prompt_tokens,
            self.generation_tokens - other.generation_tokens,
            self.preemptions - other.preemptions,
        )


def counters(url: str) -> Counters:
    page = samples(httpx.get(url + "/metrics", timeout=10.0).text)
    return Counters(
        finished=total(page, "vllm:request_success_total"),
        prompt_tokens=total(page, "vllm:prompt_tokens_total"),
        generation_tokens=total(page, "vllm:generation_tokens_total"),
        preemptions=total(page, "vllm:num_preemptions_total"),
    )
