"""The exposition parser against prometheus-client's parser (the oracle), and on hostile input."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sparktop.sim.vllm_metrics import STYLES, VllmMetrics
from sparktop.vllm.exposition import SeriesParser, parse_samples, parse_types

Flat = Sequence[tuple[str, dict[str, str], float, Any]]


def oracle(text: str) -> Flat:
    return [
        (s.name, dict(s.labels), float(s.value), s.timestamp)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def ours(text: str) -> Flat:
    samples, skipped = parse_samples(text)
    assert skipped == 0
    return [(s.name, dict(s.labels), s.value, s.timestamp) for s in samples]


def fast(parser: SeriesParser, text: str) -> Flat:
    page = parser.parse(text)
    return [(s.name, dict(s.labels), v, None) for s, v in zip(page.series, page.values, strict=True)]


def same(a: Flat, b: Flat) -> bool:
    """Equal sample lists, where NaN equals NaN."""
    if len(a) != len(b):
        return False
    for (n1, l1, v1, t1), (n2, l2, v2, t2) in zip(a, b, strict=True):
        if n1 != n2 or l1 != l2 or t1 != t2:
            return False
        if not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# hypothesis: valid expositions

metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,12}", fullmatch=True)
label_values = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('"\\\n{},= #\t}')),
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r"),
    ),
    max_size=16,
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@st.composite
def numbers(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["float", "int", "exp", "special", "repr"]))
    if kind == "int":
        return str(draw(st.integers(-(10**15), 10**15)))
    if kind == "exp":
        mantissa = draw(st.floats(-1e3, 1e3, allow_nan=False))
        exponent = draw(st.integers(-30, 30))
        e = draw(st.sampled_from(["e", "E"]))
        sign = draw(st.sampled_from(["", "+", "-"])) if exponent >= 0 else ""
        return f"{mantissa:.4f}{e}{sign}{exponent}"
    if kind == "special":
        return draw(st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "nan", "inf", "-inf"]))
    value = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    return repr(value) if kind == "repr" else f"{value:.6g}"


@st.composite
def sample_line(draw: st.DrawFn, name: str) -> str:
    labels = draw(st.dictionaries(label_names, label_values, max_size=4))
    parts = [f'{k}="{escape_label(v)}"' for k, v in labels.items()]
    body = ""
    empty_braces: bool = draw(st.booleans())
    trailing_comma: bool = draw(st.booleans())
    if parts or empty_braces:
        trailing = "," if parts and trailing_comma else ""
        body = "{" + ",".join(parts) + trailing + "}"
    line = name + body + draw(st.sampled_from([" ", "  "])) + draw(numbers())
    if draw(st.integers(0, 4)) == 0:
        line += " " + str(draw(st.integers(0, 2_000_000_000_000)))
    return line


@st.composite
def expositions(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        base = draw(metric_names)
        kind = draw(st.sampled_from(["gauge", "counter", "untyped", "histogram", "summary", None]))
        # prometheus-client renames the samples of a counter family that lacks the _total suffix
        # (its OpenMetrics munging); clients emit counters with _total, and so do these.
        name = base + "_total" if kind == "counter" else base
        if draw(st.booleans()):
            help_text = draw(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20))
            lines.append(f"# HELP {name} " + help_text.replace("\\", "\\\\"))
        if kind is not None:
            lines.append(f"# TYPE {name} {kind}")
        suffixes = {"histogram": ["_bucket", "_count", "_sum"], "summary": ["", "_count", "_sum"]}.get(
            kind or "", [""]
        )
        for _ in range(draw(st.integers(0, 5))):
            lines.append(draw(sample_line(name + draw(st.sampled_from(suffixes)))))
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines) + ("\n" if draw(st.booleans()) else "")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(expositions())
def test_same_samples_as_prometheus_client(text: str) -> None:
    expected = oracle(text)
    assert same(ours(text), expected)
    # The fast path, twice (cold cache, then warm), gives the same series and values.
    parser = SeriesParser()
    no_ts = [(n, lab, v, None) for n, lab, v, _ in expected]
    assert same(fast(parser, text), no_ts)
    assert same(fast(parser, text), no_ts)


def vllm_page(style: str, engines: int, seed: int, spec: int = 0) -> str:
    metrics = VllmMetrics(
        "gemma-4-26b-a4b-nvfp4",
        engines=engines,
        style=style,  # type: ignore[arg-type]
        max_model_len=131072,
        spec_decode_positions=spec,
        cache_config={
            "block_size": "16",
            "num_gpu_blocks": "6144",
            "cache_dtype": "fp8",
            "gpu_memory_utilization": "0.9",
        },
    )
    rnd = random.Random(seed)
    for engine in range(metrics.engines):
        for _ in range(rnd.randint(0, 300)):
            metrics.observe("vllm:time_to_first_token_seconds", rnd.expovariate(2.0), engine)
            metrics.observe_token_gap(rnd.expovariate(25.0), engine)
            metrics.observe("vllm:e2e_request_latency_seconds", rnd.expovariate(0.05), engine)
            metrics.observe("vllm:request_queue_time_seconds", rnd.expovariate(1.0), engine)
            metrics.inc("vllm:request_success", 1, engine, [rnd.choice(["stop", "length"])])
        metrics.inc("vllm:prompt_tokens", rnd.randint(0, 10**7), engine)
        metrics.inc("vllm:generation_tokens", rnd.randint(0, 10**6), engine)
        metrics.set("vllm:num_requests_running", rnd.randint(0, 25), engine)
        metrics.set_kv_cache_usage(rnd.random(), engine)
    return generate_latest(metrics.registry).decode()


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("engines", [1, 2])
def test_simulated_vllm_pages_match_prometheus_client(style: str, engines: int) -> None:
    for seed in range(3):
        text = vllm_page(style, engines, seed, spec=3 if style == "current" else 0)
        expected = oracle(text)
        assert len(expected) > 100
        assert same(ours(text), expected)
        parser = SeriesParser()
        assert same(fast(parser, text), expected)
        assert same(fast(parser, text), expected)


REAL_PAGES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "real-vllm").glob("*.metrics"))


@pytest.mark.parametrize("path", REAL_PAGES, ids=lambda p: p.stem)
def test_captured_real_vllm_pages_match_prometheus_client(path: Path) -> None:
    text = path.read_text()
    expected = oracle(text)
    assert len(expected) > 400  # every family, its _created gauge, process and python series
    assert same(ours(text), expected)
    parser = SeriesParser()
    assert same(fast(parser, text), expected)
    assert same(fast(parser, text), expected)


def test_page_with_changed_values_reuses_series_but_not_values() -> None:
    parser = SeriesParser()
    text1, text2 = vllm_page("current", 2, seed=1), vllm_page("current", 2, seed=2)
    first = parser.parse(text1)
    second = parser.parse(text2)
    assert [s.key for s in first.series] == [s.key for s in second.series]
    assert all(a is b for a, b in zip(first.series, second.series, strict=True))
    assert first.values != second.values
    assert second.values == [v for _, _, v, _ in ours(text2)]


def test_escapes_nan_inf_exponents_timestamps_blank_lines() -> None:
    text = (
        "# HELP a_metric A help with \\\\ and \\n escapes\n"
        "# TYPE a_metric gauge\n"
        '\n\na_metric{path="C:\\\\dir",msg="say \\"hi\\"\\nbye",empty=""} 1.5e-3 1700000000123\n'
        'a_metric{x="1"} NaN\n'
        'a_metric{x="2"} +Inf\n'
        'a_metric{x="3"} -Inf\n'
        '  a_metric{x="4",} 7E+2  \n'
        "b 42\n"
    )
    got = ours(text)
    assert same(got, oracle(text))
    assert got[0][1] == {"path": "C:\\dir", "msg": 'say "hi"\nbye', "empty": ""}
    assert got[0][2] == 0.0015 and got[0][3] == 1700000000.123
    assert math.isnan(got[1][2]) and got[2][2] == math.inf and got[3][2] == -math.inf
    assert got[4] == ("a_metric", {"x": "4"}, 700.0, None)


def test_log_lines_in_a_paste_are_skipped_and_counted() -> None:
    text = vllm_page("current", 1, seed=0)
    lines = text.split("\n")
    noisy = "\n".join(
        [
            "INFO 05-11 10:00:01 [loggers.py:123] Engine 000: Avg prompt throughput: 10.0 tokens/s",
            *lines[:50],
            '(APIServer pid=1) INFO:     127.0.0.1:50000 - "GET /metrics HTTP/1.1" 200 OK',
            *lines[50:],
            "garbage {{{ \x1b[31mred",
            'vllm:num_requests_running{engine="0",model_name="m"',  # truncated line
        ]
    )
    samples, skipped = parse_samples(noisy)
    assert skipped == 4
    assert same([(s.name, dict(s.labels), s.value, s.timestamp) for s in samples], oracle(text))
    page = SeriesParser().parse(noisy)
    assert page.skipped == 4
    assert page.first_skipped is not None and page.first_skipped.startswith("INFO 05-11")
    assert len(page.series) == len(samples)


@pytest.mark.parametrize(
    "line",
    [
        "name",  # no value
        "name abc",  # not a number
        "name 1_000",  # underscores are not allowed
        'name{a="b"',  # unclosed labels
        "name{a=b} 1",  # unquoted label value
        'name{a="1",a="2"} 1',  # duplicate label
        "name 1 2 3",  # too many fields
        "9name 1",  # invalid metric name
        'name{a="b"} 1 notatime',
        'name{="x"} 1',
    ],
)
def test_invalid_lines_are_skipped(line: str) -> None:
    samples, skipped = parse_samples(line + "\nok 1\n")
    assert skipped == 1
    assert [(s.name, s.value) for s in samples] == [("ok", 1.0)]
    page = SeriesParser().parse(line + "\nok 1\n")
    assert page.skipped == 1 and [s.name for s in page.series] == ["ok"]


@settings(max_examples=400)
@given(st.text(max_size=400))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    samples, skipped = parse_samples(text)
    parser = SeriesParser()
    page = parser.parse(text)
    # the bulk path and the line-by-line path agree on any text, cold and warm
    flat = [(s.name, dict(s.labels), s.value, None) for s in samples]
    assert same(fast(SeriesParser(), text), flat)
    assert same(fast(parser, text), flat)
    assert page.skipped == skipped
    parse_types(text)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(expositions(), st.integers(0, 10_000), st.binary(max_size=8))
def test_never_raises_on_damaged_expositions(text: str, cut: int, noise: bytes) -> None:
    damaged = text[: cut % (len(text) + 1)] + noise.decode("latin-1") + text[cut % (len(text) + 1) :]
    parse_samples(damaged)
    SeriesParser().parse(damaged)


def test_types() -> None:
    assert parse_types('# TYPE a counter\n# HELP a x\n# TYPE b histogram\nb_bucket{le="1"} 1\n') == {
        "a": "counter",
        "b": "histogram",
    }
