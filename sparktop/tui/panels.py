"""What each dashboard panel shows: a frame turned into titles, values and series to plot.

Pure and testable without a terminal. Every figure comes from the frame; an unknown figure shows as
a dash and the panel's note says why (the reason travels with the value from where it arose).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from sparktop import fmt
from sparktop.model import Figures, Frame, GpuDevice, LatencyStats, Num, Unknown, is_known

Level = Literal["ok", "warn", "bad", "muted"]


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    series: str
    """History series plotted on this row."""
    value: str
    color: str = "a"
    """Series colour: a, b or c (theme variables spark-a/b/c)."""
    top: float | None = None
    """Value of a full column (None: the largest value shown)."""
    how: str = "mean"
    level: Level = "ok"
    compact: bool = False
    """One line high however tall the panel: a secondary figure, which then costs one line to
    redraw when it changes (over SSH) and leaves the height to the main rows."""


@dataclass(frozen=True, slots=True)
class PanelView:
    key: str
    title: str
    headline: str
    rows: tuple[Row, ...]
    note: str = ""
    note_level: Level = "muted"
    badge: str = ""
    """Shown after the title, e.g. SIMULATED."""
    lines: tuple[tuple[str, Level], ...] = ()
    """Text lines shown instead of sparklines (newest last)."""


def _level(value: Num, *, warn: float, bad: float, normal: Level) -> Level:
    if not is_known(value):
        return normal
    return "bad" if value >= bad else "warn" if value >= warn else normal


def _reason(*values: object) -> str:
    for value in values:
        if isinstance(value, Unknown):
            return value.reason
    return ""


def _stats(value: LatencyStats | Unknown | None) -> tuple[Num, Num, str]:
    if isinstance(value, LatencyStats):
        return value.p50, value.p99, _reason(value.p50)
    if isinstance(value, Unknown):
        return value, value, value.reason
    return Unknown("no data"), Unknown("no data"), "no data"


STALE_INTERVALS = 2.0
"""Figures older than this many scrape intervals are marked stale."""


def stale(frame: Frame) -> str:
    """Why the server's figures are old ("stale: last scrape 14s ago, unreachable"), or ""."""
    f = frame.figures
    if f is None or frame.t - f.t <= STALE_INTERVALS * frame.interval_s:
        return ""
    state = frame.server.state
    why = "" if state == "healthy" else f", {state}"
    return f"stale: last scrape {fmt.duration(frame.t - f.t)} ago{why}"


def _marked(frame: Frame, view: PanelView) -> PanelView:
    """``view`` with the staleness said in its note, when its figures are stale."""
    text = stale(frame)
    return replace(view, note=text, note_level="warn") if text else view


def _estimates(value: LatencyStats | Unknown | None) -> tuple[str, str, str]:
    """p50 and p99 of a server histogram as the data supports them (a range where the bucket is
    wide), and why they are unknown if they are."""
    p50, p99, reason = _stats(value)
    buckets = value.buckets if isinstance(value, LatencyStats) else {}
    return fmt.estimate(p50, buckets.get("p50")), fmt.estimate(p99, buckets.get("p99")), reason


def queue(frame: Frame) -> PanelView:
    f = frame.figures
    running: Num = f.requests_running if f else Unknown("no figures yet")
    waiting: Num = f.requests_waiting if f else Unknown("no figures yet")
    wait_level: Level = "warn" if is_known(waiting) and waiting > 0 else "ok"
    return PanelView(
        "queue",
        "Queue",
        f"{fmt.num(running, 0)} run · {fmt.num(waiting, 0)} wait",
        (
            Row("running", "running", fmt.num(running, 0), "a", how="max"),
            Row("waiting", "waiting", fmt.num(waiting, 0), "b", how="max", level=wait_level),
        ),
        note=_reason(running, waiting),
    )


def kv_cache(frame: Frame) -> PanelView:
    f = frame.figures
    usage: Num = f.kv_cache_usage if f else Unknown("no figures yet")
    used: Num = f.kv_cache_used_tokens if f else Unknown("no figures yet")
    capacity: Num = f.kv_cache_capacity_tokens if f else Unknown("no figures yet")
    preempt: Num = f.preemptions_per_s if f else Unknown("no figures yet")
    total: Num = f.preemptions_total if f else Unknown("no figures yet")
    level: Level = (
        "bad" if is_known(usage) and usage >= 0.95 else "warn" if is_known(usage) and usage >= 0.8 else "ok"
    )
    tokens = f"{fmt.si(used)}/{fmt.si(capacity)} tok" if is_known(capacity) else ""
    preempted = f"{fmt.num(total, 0)} preempted in all" if is_known(total) else _reason(usage, capacity)
    preempt_level: Level = "bad" if is_known(preempt) and preempt > 0 else "ok"
    rows: tuple[Row, ...] = (
        Row("used", "kv_usage", fmt.pct(usage), "a", top=1.0, level=level),
        Row(
            "preempt",
            "preemptions_per_s",
            fmt.num(preempt, 2) + "/s" if is_known(preempt) else fmt.DASH,
            "b",
            how="max",
            level=preempt_level,
        ),
    )
    hits: Num = f.prefix_cache_hit_rate if f else Unknown("no figures yet")
    prefix = f"prefix hits {fmt.pct(hits, 0)}" if is_known(hits) else ""
    if _served(frame, hits, "prefix_hit_rate"):
        rows += (Row("hit rate", "prefix_hit_rate", fmt.pct(hits, 0), "c", top=1.0, compact=True),)
        if isinstance(hits, Unknown):
            prefix = f"prefix hits: {hits.reason}"
    headline = " · ".join(x for x in (fmt.pct(usage), tokens) if x)
    return PanelView("kv", "KV cache", headline, rows, note=" · ".join(x for x in (preempted, prefix) if x))


def ttft(frame: Frame) -> PanelView:
    """Server TTFT from vLLM's histogram, shown as precisely as its buckets allow; when sparktop
    drives the load, its own measured percentiles are the headline and the server's sit beside."""
    f = frame.figures
    p50, p99, reason = _estimates(f.latency.get("ttft") if f else None)
    window = fmt.duration(frame.window_s)
    client = frame.client
    if client is None:
        return PanelView(
            "ttft",
            "TTFT",
            f"p50 {p50} · p99 {p99}",
            (Row("p50", "ttft_p50", p50, "a", how="max"), Row("p99", "ttft_p99", p99, "b", how="max")),
            note=f"server histogram over {window}" + (f"; {reason}" if reason else ""),
        )
    rows = (
        Row("client99", "client_ttft_p99", fmt.seconds(client.ttft_p99), "c", how="max"),
        Row("srv p50", "ttft_p50", p50, "a", how="max"),
        Row("srv p99", "ttft_p99", p99, "b", how="max"),
    )
    headline = f"p50 {fmt.seconds(client.ttft_p50)} · p99 {fmt.seconds(client.ttft_p99)}"
    note = f"measured by sparktop over {window}; srv: the server's histogram buckets"
    waiting = client.oldest_unanswered_s
    if is_known(waiting) and not (is_known(client.ttft_p99) and waiting <= client.ttft_p99):
        # finished requests lag when the queue grows: the oldest unanswered one says how far
        headline += f" · waiting {fmt.seconds(waiting)}"
        note = f"a request sent {fmt.seconds(waiting)} ago has no first token yet; " + note
    return PanelView("ttft", "TTFT", headline, rows, note=note)


def decode(frame: Frame) -> PanelView:
    """Aggregate decode speed while requests ran and per user (per request-second of running): the
    one definition the report and ``load`` use too, so per user never exceeds the total."""
    f = frame.figures
    agg: Num = f.decode_tps if f else Unknown("no figures yet")
    per: Num = f.decode_tps_per_request if f else Unknown("no figures yet")
    rows: tuple[Row, ...] = (
        Row("total", "decode_tps", fmt.si(agg), "a"),
        Row("per user", "decode_per_user", fmt.num(per, 1), "b"),
    )
    accepted: Num = f.spec_decode_acceptance if f else Unknown("no figures yet")
    speculative = _served(frame, accepted, "spec_acceptance")
    if speculative:
        rows += (Row("spec acc", "spec_acceptance", fmt.pct(accepted, 0), "c", top=1.0, compact=True),)
    return PanelView(
        "decode",
        "Decode",
        f"{fmt.si(agg)} tok/s · {fmt.num(per, 1)}/user",
        rows,
        note=_reason(agg, per)
        or (_speculation(f, accepted) if speculative else "")
        or f"tokens/s while requests ran, over {fmt.duration(frame.rate_window_s)}",
    )


def _served(frame: Frame, value: Num, series: str) -> bool:
    """Whether the server has a figure it may lack (speculative decoding, a prefix cache): known
    now, or known at some point of the plotted span (so an idle moment shows a dash and the
    reason rather than making the row disappear)."""
    if is_known(value):
        return True
    return not all(map(math.isnan, frame.history.series.get(series, ())))


def _speculation(f: Figures | None, accepted: Num) -> str:
    """``spec: 57% accepted · 2.15 tok/step`` when the server drafts tokens (MTP, EAGLE...), or why the
    acceptance is unknown right now."""
    if isinstance(accepted, Unknown):
        return f"spec acc: {accepted.reason}"
    length = fmt.num(f.spec_decode_mean_length, 2) if f else fmt.DASH
    return f"spec: {fmt.pct(accepted, 0)} accepted · {length} tok/step"


def prefill(frame: Frame) -> PanelView:
    f = frame.figures
    tps: Num = f.prompt_tps if f else Unknown("no figures yet")
    queue_stats = f.latency.get("queue") if f else None
    q50, _, _ = _stats(queue_stats)
    q50_text, _, _ = _estimates(queue_stats)
    return PanelView(
        "prefill",
        "Prefill",
        f"{fmt.si(tps)} tok/s",
        (Row("prompt", "prompt_tps", fmt.si(tps), "a"),),
        note=f"queue time p50 {q50_text}" if is_known(q50) else _reason(tps),
    )


def requests(frame: Frame) -> PanelView:
    f = frame.figures
    rate: Num = f.requests_per_s if f else Unknown("no figures yet")
    finished = f.finished_in_window if f else Unknown("no figures yet")
    failed_server = 0.0
    parts = []
    if not isinstance(finished, Unknown):
        for reason in ("stop", "length", "abort", "error"):
            count = finished.get(reason, 0.0)
            parts.append(f"{reason} {count:,.0f}")
            if reason in ("abort", "error"):
                failed_server += count
    client = frame.client
    failed_text = f"{failed_server:,.0f}"
    level: Level = "bad" if failed_server > 0 else "ok"
    if client is not None:
        failed_text = f"{failed_server + client.failed:,.0f}"
        if client.failed:
            level = "bad"
            parts.insert(0, f"client failed {client.failed}")
    return PanelView(
        "requests",
        "Requests",
        f"{fmt.num(rate, 2)}/s · {failed_text} failed",
        (
            Row("done/s", "requests_per_s", fmt.num(rate, 2), "a"),
            Row("failed/s", "failed_per_s", failed_text, "b", how="max", level=level),
        ),
        note=" · ".join(parts) if parts else _reason(rate, finished),
        note_level="muted",
    )


def _device(frame: Frame) -> GpuDevice | None:
    gpu = frame.gpu
    return gpu.devices[0] if gpu is not None and gpu.devices else None


def gpu(frame: Frame) -> PanelView:
    sample = frame.gpu
    device = _device(frame)
    badge = "SIMULATED" if (sample is not None and sample.simulated) or frame.target.simulated else ""
    if device is None:
        why = "no GPU sample yet" if sample is None else f"{sample.status}: {sample.detail}"
        return PanelView(
            "gpu",
            "GPU",
            fmt.DASH,
            (Row("util", "gpu_util", fmt.DASH, "a", top=100.0), Row("power", "gpu_power", fmt.DASH, "b")),
            note=why,
            note_level="warn",
            badge=badge,
        )
    util, power, temp = device.utilization_pct, device.power_w, device.temperature_c
    limit = device.power_limit_w
    energy = frame.gpu_figures.energy_per_token_j
    notes = [fmt.clean(str(device.name)) if not isinstance(device.name, Unknown) else "GPU"]
    if is_known(energy):
        notes.append(f"{energy:.2f} J/token")
    unknown = [
        name for name, v in (("util", util), ("power", power), ("temp", temp)) if isinstance(v, Unknown)
    ]
    if unknown:
        notes.append(f"{', '.join(unknown)}: {_reason(util, power, temp)}")
    return PanelView(
        "gpu",
        "GPU",
        f"{fmt.num(util, 0, '%').replace(' %', '%')} · {fmt.num(power, 0, 'W')} · {fmt.num(temp, 0, '°C')}",
        (
            Row("util", "gpu_util", fmt.num(util, 0) + "%" if is_known(util) else fmt.DASH, "a", top=100.0),
            Row("power", "gpu_power", fmt.num(power, 0, "W"), "b", top=limit if is_known(limit) else None),
            Row("temp", "gpu_temp", fmt.num(temp, 0, "°C"), "c", top=100.0),
        ),
        note=" · ".join(notes),
        badge=badge,
    )


def memory(frame: Frame) -> PanelView:
    sample = frame.gpu
    badge = "SIMULATED" if sample is not None and sample.simulated else ""
    if sample is None:
        return PanelView("memory", "Memory", fmt.DASH, (), note="no sample yet")
    mem = sample.memory
    device = _device(frame)
    unified = device is None or device.unified_memory
    total = mem.total_bytes
    pressure = mem.psi_some_avg10
    level: Level = (
        "bad"
        if is_known(pressure) and pressure >= 10
        else "warn"
        if is_known(pressure) and pressure > 1
        else "muted"
    )
    rows: tuple[Row, ...]
    if unified:
        rows = (
            Row(
                "GPU proc",
                "mem_gpu_bytes",
                fmt.gib(mem.gpu_processes_bytes),
                "a",
                top=total if is_known(total) else None,
            ),
            Row(
                "avail",
                "mem_available_bytes",
                fmt.gib(mem.available_bytes),
                "b",
                top=total if is_known(total) else None,
            ),
        )
        used, free = fmt.gib(mem.gpu_processes_bytes), fmt.gib(mem.available_bytes)
        headline = f"GPU {used} · free {free} of {fmt.gib(total)}"
        note = f"cache {fmt.gib(mem.page_cache_bytes)} · PSI {fmt.num(pressure, 1)}%"
        if is_known(mem.container_bytes):
            note = f"container {fmt.gib(mem.container_bytes)} · " + note
    else:
        assert device is not None
        rows = (
            Row(
                "used",
                "mem_gpu_bytes",
                fmt.gib(device.memory_used_bytes),
                "a",
                top=device.memory_total_bytes if is_known(device.memory_total_bytes) else None,
            ),
        )
        headline = f"{fmt.gib(device.memory_used_bytes)} of {fmt.gib(device.memory_total_bytes)}"
        note = f"host free {fmt.gib(mem.available_bytes)} · PSI {fmt.num(pressure, 1)}%"
    return PanelView(
        "memory",
        "Unified memory" if unified else "GPU memory",
        headline,
        rows,
        note=note,
        note_level=level,
        badge=badge,
    )


EVENT_LEVEL: dict[str, Level] = {"info": "ok", "warning": "warn", "error": "bad"}


def events(frame: Frame) -> PanelView:
    """The latest events, one line each (raw log lines stay on the events screen)."""
    recent = [e for e in frame.events[-200:] if e.kind != "log"][-20:]
    lines = []
    for event in recent:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
        level: Level = "warn" if event.kind == "marker" else EVENT_LEVEL.get(event.level, "ok")
        lines.append((f"{stamp} {fmt.clean(event.text)}", level))
    return PanelView("events", "Events", f"{len(frame.events)} in log · e for all", (), lines=tuple(lines))


SERVER_PANELS = (queue, kv_cache, ttft, decode, prefill, requests)
"""Panels drawn from the server's scrapes: they say so when their figures are stale."""


def _from_scrapes(build: Callable[[Frame], PanelView]) -> Callable[[Frame], PanelView]:
    def marked(frame: Frame) -> PanelView:
        return _marked(frame, build(frame))

    marked.__name__ = build.__name__
    return marked


BUILDERS = (*(_from_scrapes(build) for build in SERVER_PANELS), gpu, memory, events)
