"""Peak memory of parsing one page, as a multiple of the page's size, for hostile and normal pages.

A scrape target can serve anything; what one page costs to parse must stay a small multiple of the
page whatever it holds. For each page shape this prints the tracemalloc peak of one
``SeriesParser().parse`` (the page text itself is allocated before tracing starts, so it is not
counted) and how many lines were skipped:

- one 8 MiB label value (skipped: over ``MAX_LABEL_VALUE``), plain and made of escaped quotes;
- one 8 MiB metric name, value token, comment, and garbage line;
- a realistic two-engine vLLM page (the steady-state input).

Then the parse time of realistic pages (steady state and cold), the figures
``bench_metrics_core.py`` also prints, so a change to the parser can be checked for both.

Run: .venv/bin/python benchmarks/bench_parser_memory.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.vllm.exposition import MAX_LABEL_VALUE, SeriesParser
from tests.support.vllm_pages import pages

SIZE = 8 * 1024 * 1024
ROUNDS = 5


def shapes() -> dict[str, str]:
    return {
        "8 MiB label value": 'vllm:x{model_name="' + "a" * SIZE + '"} 1\nvllm:y 2\n',
        "8 MiB of escaped quotes": 'vllm:x{model_name="' + '\\"' * (SIZE // 2) + '"} 1\n',
        "8 MiB metric name": "a" * SIZE + " 1\n",
        "8 MiB value token": "vllm:x " + "1" * SIZE + "\n",
        "8 MiB comment": "# " + "a" * SIZE + "\n",
        "8 MiB garbage line": "{" * SIZE + "\n",
        "realistic vLLM page": list(pages(1, engines=2))[-1],
    }


def peak_multiple(text: str) -> tuple[float, int]:
    """Tracemalloc peak of one cold parse over the page's length, and the skipped-line count."""
    tracemalloc.start()
    try:
        page = SeriesParser().parse(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / len(text), page.skipped


def per_page_ms(parse: object, texts: list[str]) -> float:
    assert callable(parse)
    results = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for text in texts:
            parse(text)
        results.append((time.process_time() - start) / len(texts) * 1000)
    return statistics.median(results)


def main() -> None:
    print(f"label values are limited to {MAX_LABEL_VALUE} characters")
    for name, text in shapes().items():
        multiple, skipped = peak_multiple(text)
        print(f"{name:26s} {len(text):>10,} bytes  peak {multiple:6.1f}x the page  skipped {skipped}")
    texts = list(pages(60, engines=2))
    warm = SeriesParser()
    for text in texts:
        warm.parse(text)
    print(f"realistic page, steady state  {per_page_ms(warm.parse, texts):7.3f} ms/page")
    cold = per_page_ms(lambda text: SeriesParser().parse(text), texts)
    print(f"realistic page, cold parser   {cold:7.3f} ms/page")


if __name__ == "__main__":
    main()
