"""The figure each SLO is judged on, read from a recording's report or from a live frame.

Both give each figure in its SLO's unit (the limit's unit). A recording's figures are the client's
own timings of the measured requests (exact, warm-ups excluded) and the server's counters over the
run; a live frame's figures are the window's, and the server's percentiles come with their
histogram bucket (a ``Range``), since that is all the server's histogram says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sparktop.model import Frame, GpuSample, LatencyStats, Num, Unknown
from sparktop.smoke.slo import Observed, Range

if TYPE_CHECKING:
    from sparktop.report import RecordingReport, StepReport
    from sparktop.workload.summary import Summary

NO_WORKLOAD = Unknown("no request of sparktop's own workload was measured")


def _client(report: RecordingReport | StepReport) -> Summary | None:
    return report.client


def _latency(key: str) -> Callable[[RecordingReport], Num]:
    def get(report: RecordingReport) -> Num:
        client = _client(report)
        if client is None:
            return NO_WORKLOAD
        value: Num = getattr(client, key).p99
        return value

    return get


def _decode_alone(report: RecordingReport) -> Num:
    alone = [s for s in report.steps if s.users == 1]
    if not alone:
        return Unknown("the workload has no single-user step")
    client = alone[0].client
    if client is None:
        return Unknown(f"no measured request in step {alone[0].name!r}")
    return client.decode_tps_per_user


def _error_rate(report: RecordingReport) -> Num:
    client = _client(report)
    if client is None:
        return NO_WORKLOAD
    ok, failed = client.successful, client.failed
    if isinstance(ok, Unknown):
        return ok
    if isinstance(failed, Unknown):
        return failed
    sent = ok + failed
    return failed / sent if sent else Unknown("no request was sent")


def _server(key: str, scale: float = 1.0) -> Callable[[RecordingReport], Num]:
    def get(report: RecordingReport) -> Num:
        value: Any = report.server.get(key, Unknown(f"{key} not in the recording"))
        if isinstance(value, Unknown):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) * scale
        return Unknown(f"{key} is not a number in the recording")

    return get


REPORT_FIGURES: Mapping[str, Callable[[RecordingReport], Num]] = {
    "ttft_p99_ms": _latency("ttft_ms"),
    "tpot_p99_ms": _latency("tpot_ms"),
    "itl_p99_ms": _latency("itl_ms"),
    "e2e_p99_ms": _latency("e2el_ms"),
    "decode_per_user_min": _decode_alone,
    "error_rate_max": _error_rate,
    "preemptions_max": _server("preemptions"),
    "kv_cache_max_pct": _server("kv_cache_peak", 100.0),
    "gpu_temp_max_c": _server("gpu_temp_max_c"),
}


def from_report(report: RecordingReport, extra: Mapping[str, Num] | None = None) -> dict[str, Num]:
    """Every SLO figure a recording holds (``extra`` adds what the smoke measured itself, e.g. the
    launch's time to healthy)."""
    out = {name: get(report) for name, get in REPORT_FIGURES.items()}
    out["startup_max_s"] = Unknown("not launched by sparktop")
    out.update(extra or {})
    return out


# --------------------------------------------------------------------------------------------------
# live


def _ranged(stats: LatencyStats | Unknown | None, quantile: str, scale: float) -> Observed:
    if stats is None:
        return Unknown("the server exposes no such histogram")
    if isinstance(stats, Unknown):
        return stats
    value: Num = getattr(stats, quantile)
    if isinstance(value, Unknown):
        return value
    bucket = stats.buckets.get(quantile)
    if bucket is None:
        return value * scale
    return Range(value * scale, bucket[0] * scale, bucket[1] * scale)


def gpu_temperature(sample: GpuSample | None) -> Num:
    if sample is None:
        return Unknown("no GPU readings")
    if sample.status != "ok":
        return Unknown(f"no GPU readings ({sample.status}: {sample.detail})")
    temps = [d.temperature_c for d in sample.devices if not isinstance(d.temperature_c, Unknown)]
    return max(temps) if temps else Unknown("no GPU reports its temperature")


def from_frame(frame: Frame) -> dict[str, Observed]:
    """The SLO figures right now: the window's, from the server (and the client when sparktop's own
    workload runs); what a moment cannot tell is unknown with the reason. Counts (errors,
    preemptions) are over the rate window: the counters' totals include what came before."""
    f = frame.figures
    if f is None:
        why: Observed = Unknown("no metrics yet")
        return dict.fromkeys([*REPORT_FIGURES, "startup_max_s"], why)
    client = frame.client
    ttft: Observed = _ranged(f.latency.get("ttft"), "p99", 1000.0)
    if client is not None and not isinstance(client.ttft_p99, Unknown):
        ttft = client.ttft_p99 * 1000.0  # exact, the client's own timing
    running = f.requests_running
    decode: Num
    if isinstance(running, Unknown):
        decode = running
    elif running == 1:
        decode = f.decode_tps_per_request
    else:
        decode = Unknown(f"needs one user alone ({running:.0f} running now)")
    errors: Num
    if isinstance(f.requests_per_s, Unknown) or isinstance(f.failed_per_s, Unknown):
        errors = Unknown("no finished requests in the window")
    elif f.requests_per_s > 0:
        errors = f.failed_per_s / f.requests_per_s
    else:
        errors = Unknown("no finished requests in the window")
    kv = f.kv_cache_usage * 100.0 if not isinstance(f.kv_cache_usage, Unknown) else f.kv_cache_usage
    return {
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": _ranged(f.latency.get("tpot"), "p99", 1000.0),
        "itl_p99_ms": _ranged(f.latency.get("itl"), "p99", 1000.0),
        "e2e_p99_ms": _ranged(f.latency.get("e2e"), "p99", 1000.0),
        "decode_per_user_min": decode,
        "error_rate_max": errors,
        "preemptions_max": (
            f.preemptions_per_s * frame.rate_window_s
            if not isinstance(f.preemptions_per_s, Unknown)
            else f.preemptions_per_s
        ),
        "kv_cache_max_pct": kv,
        "gpu_temp_max_c": gpu_temperature(frame.gpu),
        "startup_max_s": Unknown("judged by sparktop smoke at launch"),
    }
