"""The exposition parser's bounds: an over-long label value skips its line, and memory stays a small
multiple of the page whatever the page holds."""

from __future__ import annotations

import re
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from sparktop.vllm.exposition import (
    MAX_LABEL_VALUE,
    SeriesParser,
    Skip,
    parse_line,
    parse_samples,
)

# What a label value is, as the exposition format's grammar says it (escape pairs or any other
# character up to an unescaped quote): the reference for the parser's scan.
_REFERENCE_VALUE = re.compile(r'((?:[^"\\]|\\.)*)"')
_REFERENCE_ESCAPES = {"\\": "\\", "n": "\n", '"': '"'}


def reference_unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _REFERENCE_ESCAPES.get(m.group(1), m.group(0)), value)


def labelled(value: str) -> str:
    return f'vllm:num_requests_running{{engine="0",model_name="{value}"}} 3'


def test_a_label_value_at_the_limit_is_parsed() -> None:
    page = SeriesParser().parse(labelled("m" * MAX_LABEL_VALUE) + "\n")
    assert page.skipped == 0
    assert page.series[0].labels["model_name"] == "m" * MAX_LABEL_VALUE
    assert page.values == [3.0]


def test_an_over_long_label_value_skips_its_line_and_is_counted() -> None:
    long_line = labelled("m" * (MAX_LABEL_VALUE + 1))
    text = f"vllm:a 1\n{long_line}\nvllm:b 2\n"
    page = SeriesParser().parse(text)
    assert [s.name for s in page.series] == ["vllm:a", "vllm:b"]
    assert page.values == [1.0, 2.0]
    assert page.skipped == 1
    assert page.first_skipped is not None and page.first_skipped == long_line[:200]
    samples, skipped = parse_samples(text)
    assert [s.name for s in samples] == ["vllm:a", "vllm:b"]
    assert skipped == 1


def test_the_limit_counts_escapes_and_an_escaped_quote_does_not_end_the_value() -> None:
    escaped = '\\"' * (MAX_LABEL_VALUE // 2)  # exactly the limit as exposed
    parsed = parse_line(labelled(escaped))
    assert not isinstance(parsed, Skip)
    series, _, _ = parsed
    assert series.labels["model_name"] == '"' * (MAX_LABEL_VALUE // 2)
    assert SeriesParser().parse(labelled(escaped + "x") + "\n").skipped == 1


@given(
    st.text(alphabet=st.sampled_from(list('ab\\"')), max_size=24),
)
def test_the_label_value_ends_where_the_grammar_says(body: str) -> None:
    line = f'x{{l="{body}}} 1'
    reference = _REFERENCE_VALUE.match(line, len('x{l="'))
    samples, skipped = parse_samples(line)
    if reference is not None and line[reference.end() :] == "} 1":
        assert skipped == 0
        assert samples[0].labels["l"] == reference_unescape(reference.group(1))
    else:
        assert (samples, skipped) == ([], 1)


def peak_over_page(text: str) -> float:
    tracemalloc.start()
    try:
        SeriesParser().parse(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / len(text)


def test_a_huge_label_value_costs_a_small_multiple_of_the_page() -> None:
    size = 4 * 1024 * 1024
    plain = 'vllm:x{model_name="' + "a" * size + '"} 1\nvllm:y 2\n'
    escaped = 'vllm:x{model_name="' + '\\"' * (size // 2) + '"} 1\nvllm:y 2\n'
    for text in (plain, escaped):
        page = SeriesParser().parse(text)
        assert page.skipped == 1 and page.values == [2.0]
        assert peak_over_page(text) < 5


def test_unterminated_and_garbage_lines_cost_a_small_multiple_of_the_page() -> None:
    size = 4 * 1024 * 1024
    for text in (
        'vllm:x{model_name="' + "a" * size + "\n",  # no closing quote
        "vllm:x{" + "a" * size + "\n",
        "{" * size + "\n",
    ):
        assert peak_over_page(text) < 5
