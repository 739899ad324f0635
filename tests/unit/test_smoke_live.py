"""The live SLO verdict on a dashboard frame, and the objectives a recording carries."""

from __future__ import annotations

import math

from sparktop.smoke.figures import from_frame
from sparktop.smoke.live import live_verdict, summary
from sparktop.smoke.slo import SLOS, Range, as_meta, from_meta, resolve
from tests.support.frames import frame_at_end


def test_server_percentiles_are_buckets_and_judged_as_such() -> None:
    frame = frame_at_end(60)
    figures = from_frame(frame)
    itl = figures["itl_p99_ms"]
    assert isinstance(itl, Range) and itl.lower < itl.value <= itl.upper
    limit = (itl.lower + itl.upper) / 2  # inside the bucket: the server's histogram cannot tell
    verdict = {
        j.objective.spec.name: j for j in live_verdict(frame, resolve(options=[("itl_p99_ms", limit)]))
    }
    assert verdict["itl_p99_ms"].judgement == "uncertain" and "?" in verdict["itl_p99_ms"].text
    above = {
        j.objective.spec.name: j for j in live_verdict(frame, resolve(options=[("itl_p99_ms", itl.upper)]))
    }
    assert above["itl_p99_ms"].judgement == "pass"
    below = {
        j.objective.spec.name: j
        for j in live_verdict(frame, resolve(options=[("itl_p99_ms", itl.lower / 2)]))
    }
    assert below["itl_p99_ms"].judgement == "fail" and "ITL p99" in below["itl_p99_ms"].text


def test_broken_first_unknown_last_and_what_a_moment_cannot_tell() -> None:
    frame = frame_at_end(60)
    judged = live_verdict(frame, resolve(options=[("kv_cache_max_pct", 1.0)]))
    order = [j.judgement for j in judged]
    assert order == sorted(order, key=["fail", "uncertain", "pass", "skip"].index)
    kv = next(j for j in judged if j.objective.spec.name == "kv_cache_max_pct")
    assert kv.judgement == "fail" and kv.text.startswith("KV ") and "> 1%" in kv.text
    decode = next(j for j in judged if j.objective.spec.name == "decode_per_user_min")
    assert decode.judgement == "skip" and "one user alone" in decode.reason  # 8 users running
    # time to healthy is judged once, at launch, never live
    assert all(j.objective.spec.name != "startup_max_s" for j in judged)
    assert summary(judged).endswith("1 unknown") and "broken" in summary(judged)


def test_preemptions_count_the_window_not_the_servers_lifetime() -> None:
    frame = frame_at_end(60)
    figures = from_frame(frame)
    assert frame.figures is not None
    lifetime = frame.figures.preemptions_total
    window = figures["preemptions_max"]
    assert isinstance(window, float) and isinstance(lifetime, float) and window < lifetime


def test_a_recording_carries_its_objectives_and_bad_ones_are_left_out() -> None:
    chosen = resolve({"ttft_p99_ms": 2000}, [("itl_p99_ms", 120.0)])
    back = from_meta({"workload": {"name": "smoke", "slos": as_meta(chosen)}})
    assert [(o.spec.name, o.limit) for o in back] == [(o.spec.name, o.limit) for o in chosen]
    profile = from_meta({"profile": {"smoke": {"ttft_p99_ms": 1500}}})
    assert [(o.spec.name, o.limit) for o in profile] == [("ttft_p99_ms", 1500.0)]
    hostile = {
        "workload": {
            "slos": {
                "ttft_p99_ms": "fast",
                "itl_p99_ms": math.nan,
                "kv_cache_max_pct": -5,
                "nope": 1,
                "tpot_p99_ms": True,
            }
        }
    }
    assert from_meta(hostile) == []
    assert from_meta({}) == [] and from_meta({"workload": "x", "profile": 3}) == []
    assert set(as_meta(resolve())) <= set(SLOS)
