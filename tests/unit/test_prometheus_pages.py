"""Rebuilding a target's page from what Prometheus stored: labels, keys, selectors, and the figures."""

from __future__ import annotations

import pytest

from sparktop.prometheus.pages import PageBuilder, page_labels, quote, selector, series_key
from sparktop.vllm.exposition import SeriesParser, Skip, parse_line
from sparktop.vllm.schema import Schema
from tests.support.vllm_pages import REAL_PAGES, pages

TARGET = {"job": "vllm", "instance": "spark:8000"}


def test_the_target_labels_go_and_clashing_page_labels_get_their_names_back() -> None:
    stored = {"__name__": "vllm:x", "job": "vllm", "instance": "spark:8000", "engine": "0", "model_name": "m"}
    assert page_labels(stored, TARGET) == {"engine": "0", "model_name": "m"}
    # a target label that clashed with the page's (honor_labels: false): the page's is exported_<name>
    target = {**TARGET, "model_name": "clash"}
    clashed = {"job": "vllm", "instance": "spark:8000", "model_name": "clash", "exported_model_name": "m"}
    assert page_labels(clashed, target) == {"model_name": "m"}
    # a page label that differs from the target's (honor_labels: true) stays
    assert page_labels({"job": "other", "instance": "spark:8000"}, TARGET) == {"job": "other"}
    # exported_ of a name that is not a target label is the page's own
    assert page_labels({"exported_x": "1", "job": "vllm"}, TARGET) == {"exported_x": "1"}


def test_keys_are_exposition_text_that_parses_back_to_the_same_labels() -> None:
    labels = {"b": 'say "hi"\\ \n', "a": "1", "le": "+Inf"}
    key = series_key("vllm:x_bucket", labels)
    assert key == 'vllm:x_bucket{a="1",b="say \\"hi\\"\\\\ \\n",le="+Inf"}'
    parsed = parse_line(key + " 0")
    assert not isinstance(parsed, Skip) and dict(parsed[0].labels) == labels
    assert series_key("vllm:y", {}) == "vllm:y"
    assert selector(TARGET, "vllm:.+") == '{__name__=~"vllm:.+",instance="spark:8000",job="vllm"}'
    assert quote('a"b') == '"a\\"b"'


PAGES = {**{name: path.read_text() for name, path in REAL_PAGES.items()}, "two-engines": list(pages(3))[-1]}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_page_stored_by_prometheus_reads_as_the_page_itself(name: str) -> None:
    """Every sample of a page (real vLLM's, and a two-engine one), given the labels Prometheus adds
    (a clashing one too) and in another order, rebuilds into the snapshot the page reads into."""
    reading = Schema().read(SeriesParser().parse(PAGES[name]), 1.0)
    snapshot, keys, values = reading.snapshot, reading.keys, reading.values
    target = {**TARGET, "engine": "clash"}
    stored = []
    for key, value in zip(keys, values, strict=True):
        parsed = parse_line(key + " 0")
        assert not isinstance(parsed, Skip)
        labels = dict(parsed[0].labels)
        if "engine" in labels:
            labels["exported_engine"] = labels.pop("engine")
        stored.append((parsed[0].name, {**labels, **target}, value))
    builder = PageBuilder()
    result = builder.result(1.0, reversed(stored), target, latency_s=0.01)
    assert result.state == "healthy" and result.latency_s == 0.01
    assert result.snapshot == snapshot
    again = builder.result(2.0, stored, target)
    assert again.series_keys is result.series_keys  # one layout, one tuple, as direct scrapes


def test_a_page_without_vllm_series_is_metrics_disabled() -> None:
    result = PageBuilder().result(1.0, [], TARGET)
    assert result.state == "metrics-disabled" and result.snapshot is None
