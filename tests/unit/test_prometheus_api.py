"""Prometheus' answers read strictly: selectors, durations, targets, errors, history steps."""

from __future__ import annotations

import httpx
import pytest

from sparktop.prometheus.api import PromError, _data, base_url, cleaned, number, prometheus_url
from sparktop.prometheus.history import _scrape_times
from sparktop.prometheus.targets import PromTarget, active_targets, go_duration, vllm_selector


def test_match_selectors_are_narrowed_to_vllm_series() -> None:
    assert vllm_selector(None) == vllm_selector("  ") == vllm_selector("{}") == '{__name__=~"vllm:.+"}'
    assert vllm_selector('{job="vllm"}') == '{__name__=~"vllm:.+",job="vllm"}'
    assert vllm_selector('vllm:num_requests_running{job="a"}') == 'vllm:num_requests_running{job="a"}'
    for bad, says in (
        ('up{job="a"}', "selects up, not a vllm: series"),
        ('{job="a"', "not a series selector"),
    ):
        with pytest.raises(PromError) as error:
            vllm_selector(bad)
        assert error.value.kind == "bad-match" and says in str(error.value) and "(hint: " in str(error.value)


def test_durations_as_prometheus_writes_them() -> None:
    assert go_duration("15s") == 15.0 and go_duration("1m30s") == 90.0 and go_duration("500ms") == 0.5
    assert go_duration("1h") == 3600.0
    for bad in ("", "15", "s", "1x", None, 15, "0s"):
        assert go_duration(bad) is None


def test_urls_and_values() -> None:
    assert prometheus_url("prometheus:http://h:9090") == "http://h:9090"
    assert prometheus_url("http://h:8000") is None
    assert base_url("h:9090") == "http://h:9090"
    assert base_url("http://h:9090/graph") == base_url("http://h:9090/") == "http://h:9090"
    assert base_url("https://h/prom/") == "https://h/prom"
    with pytest.raises(PromError) as bad:
        base_url("ftp://user:pw@h")
    assert "pw" not in str(bad.value)
    assert number("+Inf") == float("inf") and number("1e-05") == 1e-05
    with pytest.raises(PromError):
        number(1.5)


def test_targets_api_entries_are_checked_and_cleaned() -> None:
    active = active_targets(
        [
            {
                "labels": {"job": "vllm", "instance": "a:1"},
                "scrapeUrl": "http://a:1/metrics",
                "scrapeInterval": "1s",
                "health": "down",
                "lastError": 'Get "http://u:secret@a:1/metrics": \x1b[31mrefused\x1b[0m\nnext line',
            },
            {"labels": "not labels"},
            {"labels": {"job": "x"}},
        ]
    )
    assert list(active) == [("vllm", "a:1")]
    seen = active[("vllm", "a:1")]
    assert seen.interval_s == 1.0 and seen.health == "down"
    assert seen.last_error == 'Get "http://[redacted]@a:1/metrics": refused next line'
    target = PromTarget("vllm", "a:1", "a:1", 1.0, "http://a:1/metrics")
    assert target.server_url == "http://a:1" and target == PromTarget("vllm", "a:1", "other")


def _response(status: int, body: bytes, kind: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": kind})


def test_answers_that_are_not_prometheus_or_are_its_errors() -> None:
    assert _data(
        _response(200, b'{"status":"success","data":[1]}'), b'{"status":"success","data":[1]}', "P", "/q"
    ) == [1]
    with pytest.raises(PromError) as html:
        _data(
            _response(404, b"<html>", "text/html; charset=utf-8"),
            b"<html>",
            "Prometheus at http://h",
            "/api/v1/query",
        )
    assert html.value.kind == "not-prometheus"
    assert str(html.value) == (
        "Prometheus at http://h is not a Prometheus: /api/v1/query answered HTTP 404 (text/html) "
        "(hint: give Prometheus' base URL, e.g. prometheus:http://HOST:9090)"
    )
    body = (
        b'{"status":"error","errorType":"bad_data",'
        b'"error":"parse error:\\u001b[2J unexpected \\"}\\"\\nat 1"}'
    )
    with pytest.raises(PromError) as refused:
        _data(_response(400, body), body, "P", "/api/v1/series")
    assert refused.value.kind == "refused" and refused.value.error_type == "bad_data"
    assert str(refused.value).startswith(
        'Prometheus refused /api/v1/series: parse error: unexpected "}" at 1 (hint:'
    )
    assert cleaned("x" * 500).endswith("…") and len(cleaned("x" * 500)) == 240


def test_each_step_gets_its_scrape_time_and_gaps_are_said_once() -> None:
    steps = [[1000.0, "999.9"], [1000.5, "999.9"], [1001.0, "1000.9"], [1003.0, "1002.9"]]
    assert _scrape_times([{"metric": {}, "values": steps}], 500) == [
        (1000000, 999.9),
        (1000500, 999.9),
        (1001000, 1000.9),
        (1001500, None),
        (1003000, 1002.9),
    ]
    assert _scrape_times([], 500) == []
