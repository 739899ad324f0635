"""Reports from recordings: the figures people publish when they compare serving profiles.

For each recording, server-side figures come from its scrapes (histograms and counters over the
whole run, reset-corrected) and its GPU samples; client-side figures come from the request records
of sparktop's own workload, with the same definitions and key names as ``sparktop load --json``.
With several recordings the first is the baseline and every other gets its difference in percent,
as the published BF16 vs NVFP4 tables show them.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from sparktop import fmt
from sparktop.codec import encode
from sparktop.derive.summary import NOT_EXPOSED, RunSummary
from sparktop.model import Event, GpuSample, Num, RequestRecord, ScrapeResult, Unknown
from sparktop.recording.format import RecordingError
from sparktop.recording.markers import read_markers
from sparktop.recording.reader import Recording
from sparktop.workload.summary import Summary, summarize, summary_dict

FEW_SAMPLES = 20
"""A percentile resting on fewer samples than this carries a note."""


@dataclass
class StepReport:
    """One workload step (a closed-loop concurrency, an open-loop phase): its own figures."""

    name: str
    users: int | None
    start: float
    end: float | None
    server: dict[str, Any]
    client: Summary | None


@dataclass
class RecordingReport:
    path: Path
    meta: dict[str, Any]
    server: dict[str, Any]
    client: Summary | None
    requests: int
    complete: bool
    notes: list[str] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    markers: list[MarkerNote] = field(default_factory=list)
    stopped: str | None = None
    """Where and why reading stopped short of the end (a damaged row, a file cut short); the figures
    are those of what came before. None when the whole recording was read."""
    target: str | None = None
    """The server this column is about, in a fleet recording (one column per server)."""

    @property
    def label(self) -> str:
        return self.path.name if self.target is None else f"{self.path.name} {self.target}"

    @property
    def source(self) -> str:
        """The file, and the server in a fleet recording: ``FILE (target URL)``."""
        return str(self.path) if self.target is None else f"{self.path} (target {self.target})"


@dataclass(frozen=True)
class MarkerNote:
    """A user's marker: added live (an event in the recording) or in a replay (kept beside it)."""

    t: float
    note: str
    added: str
    """``live`` or ``replay``."""


@dataclass
class _Step:
    """A step being read: its scrapes go to its own summary, from the last scrape before it began
    to the first after it ended (so the step's edges are within one scrape interval)."""

    name: str
    users: int | None
    start: float
    run: RunSummary = field(default_factory=RunSummary)
    end: float | None = None
    closed: bool = False


def _boundary(obs: Event) -> tuple[str, str, int | None] | None:
    """(phase, "start" or "end", users) of a workload phase event, or None."""
    if obs.kind != "workload":
        return None
    phase, boundary = obs.data.get("phase"), obs.data.get("boundary")
    if not isinstance(phase, str) or boundary not in ("start", "end"):
        return None
    users = obs.data.get("users")
    return phase, str(boundary), int(users) if isinstance(users, (int, float)) and users > 0 else None


def read_reports(path: Path) -> list[RecordingReport]:
    """The reports of a recording: one, or one per server of a fleet recording."""
    with Recording.open(path) as rec:
        targets = len(rec.targets) if rec.fleet else 0
    if not targets:
        return [read_report(path)]
    return [read_report(path, target=i) for i in range(targets)]


def read_report(path: Path, target: int | None = None) -> RecordingReport:
    """One pass over a recording (over one of its servers' rows, ``target``, in a fleet recording).

    Reading stops at the first damaged row (or where a file cut short ends); the report then holds
    what came before, with ``stopped`` saying where. ``RecordingError`` when nothing can be read:
    the file does not open, or its very first row is damaged.
    """
    run = RunSummary()
    records: list[RequestRecord] = []
    notes: list[str] = []
    steps: list[_Step] = []
    markers: list[MarkerNote] = []
    last_scrape: ScrapeResult | None = None
    stopped: str | None = None
    with Recording.open(path) as whole:
        rec = whole.for_target(target) if target is not None else whole
        read, last_t = 0, None
        arrivals = rec.arrivals()
        while True:
            try:
                arrival = next(arrivals, None)
            except RecordingError as exc:
                if read == 0:
                    raise
                stopped = _stopped_note(path, exc, read, last_t)
                break
            if arrival is None:
                break
            last_t, obs = arrival
            read += 1
            if isinstance(obs, ScrapeResult):
                run.add_scrape(obs)
                last_scrape = obs
                for step in steps:
                    if not step.closed:
                        step.run.add_scrape(obs)
                        step.closed = step.end is not None
            elif isinstance(obs, GpuSample):
                run.add_gpu(obs)
            elif isinstance(obs, RequestRecord):
                records.append(obs)
            elif isinstance(obs, Event) and obs.kind == "marker":
                markers.append(MarkerNote(obs.t, obs.text, "live"))
            elif isinstance(obs, Event) and (bound := _boundary(obs)) is not None:
                name, boundary, users = bound
                if boundary == "start":
                    step = _Step(name, users, obs.t)
                    if last_scrape is not None:
                        step.run.add_scrape(last_scrape)
                    steps.append(step)
                else:
                    for step in steps:
                        if step.name == name and step.end is None:
                            step.end = obs.t
        meta = dict(rec.meta)
        meta.pop("host", None)
        for key in [k for k in meta if k.startswith("zdict_")]:
            meta.pop(key)
        complete = rec.complete
        server = rec.target
        if target is not None:
            meta.pop("targets", None)
            meta["target"] = encode(server)
    if stopped is not None:
        notes.append(stopped)
    elif not complete:
        notes.append(
            "the session ended without closing the file (killed or crashed): figures up to the last write"
        )
    replayed, problem = read_markers(path) if target in (None, 0) else ([], None)
    markers.extend(MarkerNote(m.t, m.note, "replay") for m in replayed)
    markers.sort(key=lambda m: m.t)
    if problem is not None:
        notes.append(problem)
    client = summarize(records) if records else None
    meta["model"] = server.model if isinstance(server.model, str) else None
    by_phase: dict[str, list[RequestRecord]] = {}
    for record in records:
        by_phase.setdefault(record.phase, []).append(record)
    step_reports = []
    for step in steps:
        mine = [r for r in by_phase.get(step.name, []) if not r.warmup]
        if not mine and all(r.warmup for r in by_phase.get(step.name, [])) and by_phase.get(step.name):
            continue  # a warm-up step: not a figure of the benchmark
        step_reports.append(
            StepReport(
                step.name,
                step.users,
                step.start,
                step.end,
                step.run.figures(),
                summarize(mine) if mine else None,
            )
        )
    return RecordingReport(
        path,
        meta,
        run.figures(),
        client,
        len(records),
        complete,
        notes,
        step_reports,
        markers,
        stopped,
        fmt.clean(server.label) if target is not None else None,
    )


def _stopped_note(path: Path, exc: RecordingError, read: int, last_t: float | None) -> str:
    """``damaged after row 57 (...): figures up to 14:05:03 (57 observations)``: the reader's cause
    (without the file name, which the report shows beside it) and how far the figures go."""
    cause = str(exc).removeprefix(f"{path}: ")
    upto = time.strftime("%H:%M:%S", time.localtime(last_t)) if last_t is not None else "the start"
    return f"{cause}: figures up to {upto} ({read} observations)"


# --------------------------------------------------------------------------------------------------
# the rows of a report: (section, label, how to get the value, unit, digits)


@dataclass(frozen=True, slots=True)
class Ranged:
    """A server-side quantile: the value interpolated in its histogram bucket, and that bucket
    (``lower`` < the quantile <= ``upper``), in the row's unit."""

    value: float
    lower: float
    upper: float

    @property
    def narrow(self) -> bool:
        return math.isfinite(self.upper) and self.upper - self.lower <= fmt.NARROW_BUCKET * abs(self.upper)


Value = Num | Ranged
Getter = Callable[[RecordingReport], Value | None]


def _server(*keys: str) -> Getter:
    def get(report: RecordingReport) -> Num | None:
        value: Any = report.server
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, (float, int, Unknown)) and not isinstance(value, bool) else None

    return get


def _ms(*keys: str) -> Getter:
    inner = _server(*keys)

    def get(report: RecordingReport) -> Value | None:
        value = inner(report)
        return value * 1000 if isinstance(value, (int, float)) else value

    return get


def _ms_q(latency: str, quantile: str) -> Getter:
    """A server quantile in ms with the bucket it lies in (just the value if no bucket is known)."""
    inner = _ms(latency, quantile)

    def get(report: RecordingReport) -> Value | None:
        value = inner(report)
        stats = report.server.get(latency)
        bucket = stats.get(f"{quantile}_bucket") if isinstance(stats, dict) else None
        if isinstance(value, (int, float)) and isinstance(bucket, list) and len(bucket) == 2:
            return Ranged(float(value), bucket[0] * 1000, bucket[1] * 1000)
        return value

    return get


class _Measured(Protocol):
    """A whole recording or one of its steps: what the client measured."""

    @property
    def client(self) -> Summary | None: ...


def _client(key: str, stat: str | None = None) -> Callable[[_Measured], Num | None]:
    """A client figure (``stat`` of it for latencies) of a recording or of one step."""

    def get(report: _Measured) -> Num | None:
        if report.client is None:
            return None
        value = getattr(report.client, key)
        if stat is not None:
            value = getattr(value, stat)
        return value if isinstance(value, (float, int, Unknown)) else None

    return get


ROWS: tuple[tuple[str, str, Getter, str, int], ...] = (
    ("server", "TTFT mean", _ms("ttft_s", "mean"), "ms", 0),
    ("server", "TTFT p50", _ms_q("ttft_s", "p50"), "ms", 0),
    ("server", "TTFT p90", _ms_q("ttft_s", "p90"), "ms", 0),
    ("server", "TTFT p95", _ms_q("ttft_s", "p95"), "ms", 0),
    ("server", "TTFT p99", _ms_q("ttft_s", "p99"), "ms", 0),
    ("server", "TPOT p50", _ms_q("tpot_s", "p50"), "ms", 1),
    ("server", "TPOT p99", _ms_q("tpot_s", "p99"), "ms", 1),
    ("server", "ITL p50", _ms_q("itl_s", "p50"), "ms", 1),
    ("server", "ITL p99", _ms_q("itl_s", "p99"), "ms", 1),
    ("server", "E2E p50", _ms_q("e2e_s", "p50"), "ms", 0),
    ("server", "E2E p99", _ms_q("e2e_s", "p99"), "ms", 0),
    ("server", "decode per user", _server("decode_tps_per_user"), "tok/s", 2),
    ("server", "decode aggregate", _server("decode_tps"), "tok/s", 1),
    ("server", "prompt", _server("prefill_tps"), "tok/s", 0),
    ("server", "request rate", _server("request_throughput"), "req/s", 3),
    ("server", "peak running", _server("peak_running"), "", 0),
    ("server", "requests finished", _server("requests_finished"), "", 0),
    ("server", "requests failed", _server("requests_failed"), "", 0),
    ("server", "KV-cache peak", _server("kv_cache_peak"), "%", 1),
    ("server", "preemptions", _server("preemptions"), "", 0),
    ("server", "prefix-cache hit rate", _server("prefix_cache_hit_rate"), "%", 1),
    ("server", "spec-decode acceptance", _server("spec_decode_acceptance"), "%", 1),
    ("server", "spec-decode mean length", _server("spec_decode_mean_length"), "tok/step", 2),
    ("gpu", "power average", _server("gpu_power_avg_w"), "W", 1),
    ("gpu", "energy per token", _server("energy_per_token_j"), "J", 3),
    ("client", "successful", _client("successful"), "", 0),
    ("client", "failed", _client("failed"), "", 0),
    ("client", "request throughput", _client("request_throughput"), "req/s", 3),
    ("client", "output throughput", _client("output_throughput"), "tok/s", 1),
    ("client", "peak concurrency", _client("peak_concurrency"), "", 0),
    ("client", "TTFT mean", _client("ttft_ms", "mean"), "ms", 0),
    ("client", "TTFT p50", _client("ttft_ms", "median"), "ms", 0),
    ("client", "TTFT p90", _client("ttft_ms", "p90"), "ms", 0),
    ("client", "TTFT p95", _client("ttft_ms", "p95"), "ms", 0),
    ("client", "TTFT p99", _client("ttft_ms", "p99"), "ms", 0),
    ("client", "TPOT p50", _client("tpot_ms", "median"), "ms", 1),
    ("client", "TPOT p99", _client("tpot_ms", "p99"), "ms", 1),
    ("client", "ITL p50", _client("itl_ms", "median"), "ms", 1),
    ("client", "ITL p99", _client("itl_ms", "p99"), "ms", 1),
    ("client", "E2E p50", _client("e2el_ms", "median"), "ms", 0),
    ("client", "E2E p99", _client("e2el_ms", "p99"), "ms", 0),
    ("client", "decode per user", _client("decode_tps_per_user"), "tok/s", 2),
)


StepGetter = Callable[[StepReport], Value | None]


def _step_server(latency_or_key: str, quantile: str | None = None, scale: float = 1.0) -> StepGetter:
    def get(step: StepReport) -> Value | None:
        value: Any = step.server.get(latency_or_key)
        if quantile is None:
            return value * scale if isinstance(value, (int, float)) else value
        if not isinstance(value, dict):
            return None
        number, bucket = value.get(quantile), value.get(f"{quantile}_bucket")
        if isinstance(number, (int, float)) and isinstance(bucket, list) and len(bucket) == 2:
            return Ranged(number * scale, bucket[0] * scale, bucket[1] * scale)
        return number * scale if isinstance(number, (int, float)) else number

    return get


def _client_samples(step: StepReport) -> int | None:
    return step.client.ttft_ms.count if step.client is not None else None


def _server_samples(step: StepReport) -> int | None:
    ttft = step.server.get("ttft_s")
    count = ttft.get("count") if isinstance(ttft, dict) else None
    return int(count) if isinstance(count, (int, float)) else None


STEP_ROWS: tuple[tuple[str, str, StepGetter, str, int, Callable[[StepReport], int | None] | None], ...] = (
    ("client", "requests", _client("successful"), "", 0, None),
    ("client", "TTFT mean", _client("ttft_ms", "mean"), "ms", 0, None),
    ("client", "TTFT p50", _client("ttft_ms", "median"), "ms", 0, _client_samples),
    ("client", "TTFT p99", _client("ttft_ms", "p99"), "ms", 0, _client_samples),
    ("client", "decode per user", _client("decode_tps_per_user"), "tok/s", 2, None),
    ("client", "decode total", _client("decode_tps_total"), "tok/s", 1, None),
    ("client", "prefill", _client("prefill_tps_total"), "tok/s", 0, None),
    ("server", "TTFT mean", _step_server("ttft_s", "mean", 1000.0), "ms", 0, None),
    ("server", "TTFT p50", _step_server("ttft_s", "p50", 1000.0), "ms", 0, _server_samples),
    ("server", "TTFT p99", _step_server("ttft_s", "p99", 1000.0), "ms", 0, _server_samples),
    ("server", "decode per user", _step_server("decode_tps_per_user"), "tok/s", 2, None),
    ("server", "decode total", _step_server("decode_tps"), "tok/s", 1, None),
    ("server", "prompt", _step_server("prefill_tps"), "tok/s", 0, None),
    ("server", "TTFT samples", _server_samples, "", 0, None),
)
"""The published tables' shape, one column per workload step; a percentile from fewer than
``FEW_SAMPLES`` samples is marked."""


def render_steps(report: RecordingReport, markdown: bool = False) -> list[str]:
    """The per-step table of one recording (no lines when it has no steps)."""
    steps = report.steps
    if not steps:
        return []
    name = _md if markdown else fmt.clean
    headers = [
        "",
        "figure",
        *[f"c={st.users}" if st.users else name(fmt.clean(st.name)[:24]) for st in steps],
    ]
    body: list[list[str]] = []
    marked = False
    for section, label, getter, unit, digits, samples in STEP_ROWS:
        values = [getter(st) for st in steps]
        if all(v is None for v in values):
            continue
        cells = [section, f"{label} ({unit})" if unit else label]
        for st, value in zip(steps, values, strict=True):
            cell = _cell(value, digits)
            n = samples(st) if samples is not None else None
            if cell and cell != fmt.DASH and n is not None and n < FEW_SAMPLES:
                cell += " *"
                marked = True
            cells.append(cell)
        body.append(cells)
    lines = _grid(headers, body, markdown)
    if marked:
        lines.append(f"* a percentile of fewer than {FEW_SAMPLES} samples: read it as a rough figure")
    lines.append(
        "server figures per step come from the scrapes around it: its edges are within one scrape interval"
    )
    return lines


def _value(report: RecordingReport, getter: Getter, unit: str) -> Value | None:
    value = getter(report)
    if unit == "%" and isinstance(value, (int, float)):
        return value * 100
    return value


def _cell(value: Value | None, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, Unknown):
        return fmt.DASH
    if isinstance(value, Ranged):
        if value.narrow:
            return f"{value.value:,.{digits}f}"
        if math.isinf(value.upper):
            return f"> {value.lower:,g}"
        if value.lower <= 0:
            return f"≤ {value.upper:,g}"
        return f"{value.lower:,g}–{value.upper:,g}"
    return f"{value:,.{digits}f}"


def _change(base: Value | None, value: Value | None) -> tuple[float, float] | None:
    """The change from ``base`` to ``value`` in percent, as (least, most) the data allows: one
    number twice for measured figures, a span for server quantiles known only by their buckets
    (None when nothing can be said)."""
    if isinstance(base, Ranged) and isinstance(value, Ranged):
        if base.narrow and value.narrow:
            base, value = base.value, value.value
        elif (base.lower, base.upper) == (value.lower, value.upper):
            return None  # the same bucket: the histogram cannot tell a change
        else:
            if base.lower <= 0 or math.isinf(base.upper):
                return None
            least = (value.lower - base.upper) / base.upper * 100
            most = (value.upper - base.lower) / base.lower * 100
            return (least, most)
    if isinstance(base, Ranged):
        base = base.value
    if isinstance(value, Ranged):
        value = value.value
    if not isinstance(base, (int, float)) or not isinstance(value, (int, float)) or base == 0:
        return None
    change = (value - base) / abs(base) * 100
    return (change, change)


def _delta(base: Value | None, value: Value | None) -> str:
    if isinstance(base, Ranged) and isinstance(value, Ranged) and not (base.narrow and value.narrow):
        if (base.lower, base.upper) == (value.lower, value.upper):
            return "same bucket"
        span = _change(base, value)
        if span is None:
            return "other bucket"
        least, most = span
        return f"{least:+.0f}%…" + ("" if math.isinf(most) else f"{most:+.0f}%")
    if isinstance(base, (int, float)) and isinstance(value, (int, float)) and base == 0 and value == 0:
        return "="
    span = _change(base, value)
    return "" if span is None else f"{span[0]:+.1f}%"


def _rows(reports: Sequence[RecordingReport]) -> list[tuple[str, str, str, list[Value | None]]]:
    """(section, label, unit, values) for every row some recording has a value for."""
    out = []
    for section, label, getter, unit, _ in ROWS:
        values = [_value(r, getter, unit) for r in reports]
        if all(v is None or (isinstance(v, Unknown) and v.reason.startswith(NOT_EXPOSED)) for v in values):
            continue  # no recording has it (no speculative decoding, say)
        out.append((section, label, unit, values))
    return out


def _digits(label: str, section: str) -> int:
    return next(d for s, lab, _, _, d in ROWS if s == section and lab == label)


def _headers(reports: Sequence[RecordingReport]) -> list[str]:
    """``[1]``, ``[2]``, ``Δ vs [1]``...: the files are named in the legend above the table."""
    headers: list[str] = []
    for i in range(len(reports)):
        headers.append(f"[{i + 1}]")
        if i:
            headers.append("Δ vs [1]")
    return headers


def _describe(report: RecordingReport) -> str:
    meta = report.meta
    created = meta.get("created")
    when = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else "?"
    )
    workload = meta.get("workload")
    name = workload.get("name") if isinstance(workload, dict) else None
    profile = meta.get("profile")
    profile_name = profile.get("name") if isinstance(profile, dict) else None
    target = meta.get("target")
    target_profile = (
        target.get("profile") if isinstance(target, dict) and isinstance(target.get("profile"), str) else None
    )
    parts = [when, str(meta.get("model") or "model unknown")]
    if profile_name or target_profile:
        parts.append(f"profile {profile_name or target_profile}")
    parts.append(f"workload {name or 'none'}")
    parts.append(f"{report.server.get('duration_s', 0.0):.0f} s")
    if meta.get("simulated"):
        parts.append("SIMULATED")
    return fmt.clean(" · ".join(parts))


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _md(text: str) -> str:
    """Untrusted text (names, notes, markers from a recording) for a Markdown document: cleaned
    like any (``fmt.clean``), then HTML's ``& < >`` as entities, so no tag or entity of theirs is
    rendered, and Markdown's inline punctuation backslash-escaped, so none of it becomes emphasis,
    code, a link or image, or a table cell. The text never starts a line, where more would need it."""
    return fmt.clean(text).translate(_MARKDOWN)


def render_table(reports: Sequence[RecordingReport], markdown: bool = False) -> str:
    """The side-by-side table, as text or (``markdown``) as a Markdown document with every
    text from the recordings escaped (``_md``)."""
    rows = _rows(reports)
    headers = ["", "figure", *_headers(reports)]
    body: list[list[str]] = []
    for section, label, unit, values in rows:
        digits = _digits(label, section)
        cells = [section, f"{label} ({unit})" if unit else label]
        for i, value in enumerate(values):
            cells.append(_cell(value, digits))
            if i:
                cells.append(_delta(values[0], value))
        body.append(cells)
    lines: list[str] = []
    text = _md if markdown else fmt.clean
    for i, report in enumerate(reports, 1):
        lines.append(f"[{i}] {text(report.source)}: {text(_describe(report))}")
        lines.extend(f"    note: {text(n)}" for n in report.notes)
        lines.extend(f"    {text(marker_line(report, m))}" for m in report.markers)
    lines.append("")
    lines.extend(_grid(headers, body, markdown))
    for i, report in enumerate(reports, 1):
        steps = render_steps(report, markdown)
        if steps:
            lines += ["", f"[{i}] by workload step:", "", *steps]
    return "\n".join(lines) + "\n"


def _offset(report: RecordingReport, marker: MarkerNote) -> float | None:
    """Seconds from the start of the recording (its ``created`` time)."""
    created = report.meta.get("created")
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        return None
    return round(marker.t - float(created), 3)


def marker_line(report: RecordingReport, marker: MarkerNote) -> str:
    """``marker 12:34:56 (+1m05s): note`` with ``(added in a replay)`` for those."""
    stamp = time.strftime("%H:%M:%S", time.localtime(marker.t))
    offset = _offset(report, marker)
    at = f" (+{fmt.duration(offset)})" if offset is not None and offset >= 0 else ""
    added = " (added in a replay)" if marker.added == "replay" else ""
    return f"marker {stamp}{at}: {fmt.clean(marker.note)}{added}"


def _grid(headers: list[str], body: list[list[str]], markdown: bool) -> list[str]:
    lines: list[str] = []
    if markdown:
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---:" if i > 1 else "---" for i in range(len(headers))) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in body)
        return lines
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines.append(
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in body:
        section = row[0] if row[0] != previous else ""
        previous = row[0]
        cells = [section, *row[1:]]
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    return lines


def _jsonable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return None
    if isinstance(value, Ranged):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _unknowns(data: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, Unknown):
        out[prefix] = data.reason
    elif isinstance(data, dict):
        for k, v in data.items():
            out.update(_unknowns(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def render_json(reports: Sequence[RecordingReport]) -> str:
    docs = []
    for report in reports:
        docs.append(
            {
                "file": str(report.path),
                "fleet_target": report.target,
                "complete": report.complete,
                "simulated": bool(report.meta.get("simulated", False)),
                "model": report.meta.get("model"),
                "target": report.meta.get("target"),
                "profile": report.meta.get("profile"),
                "workload": report.meta.get("workload"),
                "created": report.meta.get("created"),
                "server": _jsonable(report.server),
                "server_unknown": _unknowns(report.server),
                # the same keys as `sparktop load --json`
                "client": summary_dict(report.client) if report.client is not None else None,
                "steps": [
                    {
                        "name": step.name,
                        "users": step.users,
                        "start": step.start,
                        "end": step.end,
                        "client": summary_dict(step.client) if step.client is not None else None,
                        "server": _jsonable(step.server),
                        "server_unknown": _unknowns(step.server),
                    }
                    for step in report.steps
                ],
                "notes": report.notes,
                "markers": [
                    {"t": m.t, "offset_s": _offset(report, m), "note": m.note, "added": m.added}
                    for m in report.markers
                ],
            }
        )
    compare = []
    if len(reports) > 1:
        for section, label, unit, values in _rows(reports):
            spans = [None] + [_change(values[0], v) for v in values[1:]]
            entry: dict[str, Any] = {
                "section": section,
                "figure": label,
                "unit": unit,
                "values": [_jsonable(v) for v in values],
                # a measured change; null where the data cannot say (e.g. two quantiles in one bucket)
                "change_pct": [
                    span[0] if span is not None and span[0] == span[1] else None for span in spans
                ],
            }
            if any(isinstance(v, Ranged) for v in values):
                entry["buckets"] = [[v.lower, v.upper] if isinstance(v, Ranged) else None for v in values]
                entry["change_pct_range"] = [list(span) if span is not None else None for span in spans]
            compare.append(entry)
    doc = {"recordings": docs, "compare": compare}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_csv(reports: Sequence[RecordingReport]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["section", "figure", "unit"]
    for i, report in enumerate(reports):
        header.append(report.label)
        if i:
            header.append(f"change vs {reports[0].label} (%)")
    writer.writerow(header)
    for section, label, unit, values in _rows(reports):
        row: list[str] = [section, label, unit]
        for i, value in enumerate(values):
            shown = value.value if isinstance(value, Ranged) else value
            row.append("" if not isinstance(shown, (int, float)) else repr(float(shown)))
            if i:
                span = _change(values[0], value)
                row.append("" if span is None or span[0] != span[1] else repr(round(span[0], 6)))
        writer.writerow(row)
    return out.getvalue()


RENDERERS: dict[str, Callable[[Sequence[RecordingReport]], str]] = {
    "table": render_table,
    "md": lambda reports: render_table(reports, markdown=True),
    "json": render_json,
    "csv": render_csv,
}
