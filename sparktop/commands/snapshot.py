"""`sparktop snapshot`: one /metrics page (from a server or a file) as canonical figures.

The JSON shape is a contract scripts rely on: every scalar as a number or null, ``engines`` and
``models`` as the label values seen, ``histograms`` keyed ttft/itl/e2e/queue/prefill/decode (plus
inference and tpot), each null or ``{"count", "sum", "buckets": [[le, cumulative], ...]}`` summed
over engines with ``"+Inf"`` for the last bound, and ``unknown`` mapping every null field to why.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import Any

import orjson

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.clock import SystemClock
from sparktop.model import HISTOGRAM_KEYS, SCALAR_KEYS, Histogram, MetricSnapshot, Num, Unknown, or_none
from sparktop.secrets import redact_url
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import NO_SAMPLES_REASON, Schema, declares_vllm, empty_snapshot
from sparktop.vllm.scrape import BadTarget, Scraper

MAX_FILE_BYTES = 64 * 1024 * 1024


def run(args: argparse.Namespace) -> int:
    if args.file is not None:
        snapshot = read_file(args.file)
        source = "stdin" if args.file == "-" else args.file
        state = None
    else:
        snapshot, state = asyncio.run(_scrape(args.url, args.timeout))
        source = redact_url(args.url)
    if args.json:
        doc = to_json(snapshot)
        doc["source"] = fmt.clean(source)
        if state is not None:
            doc["state"] = state
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_table(snapshot, source, state))
    return EXIT_OK


def read_file(path: str) -> MetricSnapshot:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(path).open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not an exposition file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise CliError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a /metrics page")
    text = data.decode("utf-8", errors="replace")
    page = SeriesParser().parse(text)
    if not page.series and declares_vllm(text):
        return empty_snapshot(SystemClock().now(), NO_SAMPLES_REASON)  # valid: nothing counted yet
    if not page.series:
        cause = "it is empty" if not text.strip() else "no line in it is a metric sample"
        raise CliError(
            f"{path}: not a Prometheus exposition ({cause})",
            hint="save a page with: curl -s http://HOST:8000/metrics > page.txt",
        )
    return Schema().read(page, SystemClock().now()).snapshot


async def _scrape(url: str, timeout_s: float) -> tuple[MetricSnapshot, str]:
    try:
        scraper = Scraper(url, connect_timeout=min(timeout_s, 3.0), read_timeout=timeout_s)
    except BadTarget as exc:
        raise CliError(str(exc), hint="give the server's base URL, e.g. http://127.0.0.1:8000") from None
    async with scraper:
        result = await scraper.scrape()
    if result.snapshot is None and result.state == "healthy" and NO_SAMPLES_REASON in result.detail:
        return empty_snapshot(result.t, NO_SAMPLES_REASON), result.state
    if result.snapshot is None:
        hints = {
            "unreachable": "is vLLM running and listening on that port?",
            "starting": "vLLM is probably still loading; try again when it is healthy",
            "unresponsive": "the server accepts connections but does not answer in time (--timeout)",
        }
        raise CliError(
            f"cannot read metrics from {scraper.base}: {result.state}: {fmt.clean(result.detail)}",
            hint=hints.get(result.state, "check the URL"),
        )
    return result.snapshot, result.state


def _histogram_json(h: Histogram | Unknown) -> dict[str, Any] | None:
    if isinstance(h, Unknown):
        return None
    return {
        "count": h.count,
        "sum": h.sum,
        "buckets": [
            ["+Inf" if math.isinf(le) else le, c] for le, c in zip(h.bounds, h.cumulative, strict=True)
        ],
    }


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def ratios(snapshot: MetricSnapshot) -> dict[str, Num]:
    """Since the server started: the prefix-cache hit rate (hit per queried token) and, with
    speculative decoding, the acceptance rate (accepted per draft token) and the mean acceptance
    length (tokens per decode step: 1 + accepted per draft), as vLLM defines them."""
    s = snapshot.scalars

    def ratio(top: Num, bottom: Num, none: str) -> Num:
        if isinstance(top, Unknown):
            return top
        if isinstance(bottom, Unknown):
            return bottom
        return top / bottom if bottom > 0 else Unknown(none)

    accepted, drafts = s["spec_decode_accepted_tokens_total"], s["spec_decode_drafts_total"]
    per_draft = ratio(accepted, drafts, "no drafts yet")
    return {
        "prefix_cache_hit_rate": ratio(
            s["prefix_cache_hits_total"], s["prefix_cache_queries_total"], "no prefix-cache queries yet"
        ),
        "spec_decode_acceptance": ratio(accepted, s["spec_decode_draft_tokens_total"], "no drafts yet"),
        "spec_decode_mean_length": per_draft if isinstance(per_draft, Unknown) else 1.0 + per_draft,
    }


def to_json(snapshot: MetricSnapshot) -> dict[str, Any]:
    doc: dict[str, Any] = {key: _json_number(or_none(snapshot.scalars[key])) for key in SCALAR_KEYS}
    doc["engines"] = list(snapshot.engines)
    doc["models"] = list(snapshot.models)
    doc["histograms"] = {key: _histogram_json(snapshot.histograms[key]) for key in HISTOGRAM_KEYS}
    doc["finished"] = None if isinstance(snapshot.finished, Unknown) else dict(snapshot.finished)
    doc["cache_config"] = dict(snapshot.cache_config)
    doc["skipped_lines"] = snapshot.skipped_lines
    doc["unknown"] = snapshot.unknown()
    for key, value in ratios(snapshot).items():
        doc[key] = _json_number(or_none(value))
        if isinstance(value, Unknown):
            doc["unknown"][key] = value.reason
    return doc


def render_table(snapshot: MetricSnapshot, source: str, state: str | None) -> str:
    s = snapshot.scalars
    rows = [
        ("source", fmt.clean(source) + (f"  ({state})" if state else "")),
        ("models", ", ".join(fmt.clean(m) for m in snapshot.models) or fmt.DASH),
        ("engines", ", ".join(fmt.clean(e) for e in snapshot.engines) or fmt.DASH),
        ("requests running", fmt.num(s["requests_running"], 0)),
        ("requests waiting", fmt.num(s["requests_waiting"], 0)),
        ("KV-cache usage", fmt.pct(s["kv_cache_usage"])),
        ("prompt tokens", fmt.num(s["prompt_tokens_total"], 0)),
        ("generation tokens", fmt.num(s["generation_tokens_total"], 0)),
        ("preemptions", fmt.num(s["preemptions_total"], 0)),
    ]
    derived = ratios(snapshot)
    if not isinstance(s["prefix_cache_queries_total"], Unknown):
        rows.append(("prefix-cache hits", fmt.pct(derived["prefix_cache_hit_rate"])))
    if not isinstance(s["spec_decode_drafts_total"], Unknown):
        length = fmt.num(derived["spec_decode_mean_length"], 2)
        rows.append(
            ("spec-decode accepted", f"{fmt.pct(derived['spec_decode_acceptance'])}, {length} tok/step")
        )
    if not isinstance(snapshot.finished, Unknown):
        done = ", ".join(f"{fmt.clean(k)} {v:,.0f}" for k, v in sorted(snapshot.finished.items()) if v)
        rows.append(("finished", done or "0"))
    for key in HISTOGRAM_KEYS:
        h = snapshot.histograms[key]
        if isinstance(h, Histogram):
            mean = h.sum / h.count if h.count > 0 else None
            rows.append((f"{key} (all time)", f"{h.count:,.0f} obs, mean {fmt.seconds(mean)}"))
    if snapshot.skipped_lines:
        rows.append(("skipped lines", f"{snapshot.skipped_lines} (not exposition)"))
    width = max(len(k) for k, _ in rows)
    out = [f"{k:<{width}}  {v}" for k, v in rows]
    unknown = snapshot.unknown()
    if unknown:
        out.append("")
        out.append("unknown:")
        out.extend(f"  {k}: {fmt.clean(reason)}" for k, reason in unknown.items())
    return "\n".join(out) + "\n"
