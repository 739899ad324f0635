"""Parsing and deriving a realistic vLLM page: sparktop's parser vs prometheus-client's, same run.

Prints, for a page of two engines with every current histogram plus the process/GC/HTTP series a
real vLLM page carries:
- parse time per page, ours (steady state: a parser that has seen the target's series before,
  pages whose values change each scrape) and cold (a fresh parser every page), against
  prometheus-client's ``text_string_to_metric_families`` on the same texts: the ratio is the figure
  (target >= 25x);
- one full parse-and-derive step (page text in, every derived figure out), CPU ms (target < 1 ms).

Run: .venv/bin/python benchmarks/bench_metrics_core.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.parser import text_string_to_metric_families

from sparktop.derive.timeline import Timeline
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from tests.support.vllm_pages import pages

PAGES = 60
ROUNDS = 5


def per_page_ms(fn: Callable[[str], object], texts: list[str]) -> float:
    """Median over rounds of the CPU time per page."""
    results = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for text in texts:
            fn(text)
        results.append((time.process_time() - start) / len(texts) * 1000)
    return statistics.median(results)


def main() -> None:
    texts = list(pages(PAGES, engines=2))
    samples = sum(1 for line in texts[-1].split("\n") if line and not line.startswith("#"))
    vllm = sum(1 for line in texts[-1].split("\n") if line.startswith("vllm:"))
    print(f"page: {len(texts[-1]):,} bytes, {samples} samples ({vllm} vllm:), 2 engines; {PAGES} pages")

    def oracle(text: str) -> None:
        for family in text_string_to_metric_families(text):
            for _ in family.samples:
                pass

    warm_parser = SeriesParser()
    for text in texts:
        warm_parser.parse(text)

    prom_ms = per_page_ms(oracle, texts)
    warm_ms = per_page_ms(warm_parser.parse, texts)
    cold_ms = per_page_ms(lambda text: SeriesParser().parse(text), texts)
    print(f"prometheus-client parser   {prom_ms:8.3f} ms/page")
    ratio = prom_ms / warm_ms
    print(f"sparktop, steady state     {warm_ms:8.3f} ms/page   {ratio:6.1f}x faster  (target >= 25x)")
    print(f"sparktop, cold (new parser){cold_ms:8.3f} ms/page   {prom_ms / cold_ms:6.1f}x faster")

    # one full step: text -> parse -> canonical snapshot -> timeline -> every figure over 60 s
    parser, schema, timeline = SeriesParser(), Schema(), Timeline(retention_s=1800)
    t = 1_750_000_000.0
    for text in texts:  # warm: a minute of history
        t += 1.0
        timeline.add(schema.read(parser.parse(text), t).snapshot)
        timeline.figures(60.0)
    steps = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for text in texts:
            t += 1.0
            timeline.add(schema.read(parser.parse(text), t).snapshot)
            figures = timeline.figures(60.0)
        steps.append((time.process_time() - start) / len(texts) * 1000)
    assert figures is not None
    step_ms = statistics.median(steps)
    print(f"full parse-and-derive step {step_ms:8.3f} ms CPU   ({step_ms / 1.0:.2f} of the 1 ms target)")


if __name__ == "__main__":
    main()
