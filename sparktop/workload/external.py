"""Running ``vllm bench serve`` and llama-benchy as subprocesses, and reading what they print.

Both tools are run as operators run them (on the host when installed, or inside the vLLM container
through ``docker exec``); their output is followed line by line for progress (tqdm's carriage
returns included) and their final results are parsed into the same ``Summary`` the built-in
generator produces, so either can sit next to the server's own figures:

- ``vllm bench serve``: the "Serving Benchmark Result" block of its stdout (one per run; a rate
  sweep prints several) and its ``--save-result`` JSON, whose detailed arrays (``--save-detailed``)
  become per-request records.
- llama-benchy: its markdown table (``model | test | t/s ...`` with ``mean ± std`` cells, one pair
  of ``pp``/``tg`` rows per step) and its JSON report (which keeps every run's values).

Figures a tool does not report stay ``Unknown`` with the reason; nothing is made up. Tool output is
untrusted text: it is cleaned of terminal escapes before it is shown, and parsers accept only the
shapes they know. An API key reaches ``vllm bench serve`` through its environment
(``OPENAI_API_KEY``) and is masked wherever a command line is shown.

Both tools load the model's tokenizer from the Hugging Face hub unless told where one is
(``tokenizer``: a local folder or ``tokenizer.json``; needed where the hub cannot be reached).
llama-benchy first asks the model for the capital of France and gives up unless the answer says
Paris; the simulated Spark (``/version`` says ``"sparktop_simulated": true``) answers made-up text,
so against it that check is skipped (``skip_coherence``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sparktop.fmt import clean
from sparktop.model import ItlSummary, RequestRecord, Unknown
from sparktop.recording.redact import redact_argv
from sparktop.vllm.scrape import Scraper
from sparktop.workload.spec import ClosedLoop, OpenLoop, Workload
from sparktop.workload.summary import LatencyFigures, Summary, itl_summary, latency_figures

VLLM_BENCH = "vllm-bench-serve"
LLAMA_BENCHY = "llama-benchy"
TOOLS = (VLLM_BENCH, LLAMA_BENCHY)
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
"""Output kept from a tool (the tail, if it prints more)."""


class ExternalError(Exception):
    """A tool could not be run, or its output could not be understood."""


# --------------------------------------------------------------------------------------------------
# vllm bench serve: the result block

_RESULT_HEADER = re.compile(r"=+ Serving Benchmark Result =+")
_RESULT_LINE = re.compile(r"^(?P<label>[A-Za-z][^:]*?):\s+(?P<value>-?[0-9.]+|nan|inf)\s*$")
_LATENCY_LABEL = re.compile(r"^(?P<stat>Mean|Median|P[0-9.]+) (?P<metric>TTFT|TPOT|ITL|E2EL) \(ms\)$")
_PLAIN_FIELDS = {
    "successful requests": "successful",
    "failed requests": "failed",
    "benchmark duration (s)": "duration_s",
    "total input tokens": "total_input_tokens",
    "total generated tokens": "total_output_tokens",
    "request throughput (req/s)": "request_throughput",
    "output token throughput (tok/s)": "output_throughput",
    "peak output token throughput (tok/s)": "peak_output_throughput",
    "peak concurrent requests": "peak_concurrency",
    "total token throughput (tok/s)": "total_token_throughput",
    "request rate configured (rps)": "rate",
    "maximum request concurrency": "max_concurrency",
}
_COUNT_FIELDS = ("successful", "failed", "total_input_tokens", "total_output_tokens")
_METRIC_KEYS = {"TTFT": "ttft", "TPOT": "tpot", "ITL": "itl", "E2EL": "e2el"}


@dataclass(frozen=True, slots=True)
class VllmBenchResult:
    """One result block: the summary, and the settings the block itself states."""

    summary: Summary
    rate: float | None
    max_concurrency: int | None


def _latency(stats: Mapping[str, float], tool: str) -> LatencyFigures:
    if not stats:
        return LatencyFigures.unknown(f"{tool} did not report it")
    missing = Unknown(f"{tool} did not report this percentile")

    def get(*keys: str) -> float | Unknown:
        for k in keys:
            if k in stats:
                return stats[k]
        return missing

    return LatencyFigures(
        mean=get("mean"),
        median=get("median", "p50"),
        p90=get("p90"),
        p95=get("p95"),
        p99=get("p99"),
        std=get("std"),
        count=int(stats.get("count", 0)),
    )


def _summary_from_fields(
    values: Mapping[str, float], latencies: Mapping[str, Mapping[str, float]], tool: str
) -> Summary:
    def num(key: str) -> float | Unknown:
        v = values.get(key)
        return float(v) if v is not None else Unknown(f"{tool} did not report it")

    def count(key: str) -> int | Unknown:
        v = values.get(key)
        return int(v) if v is not None and math.isfinite(v) else Unknown(f"{tool} did not report it")

    no = Unknown(f"{tool} does not measure it")
    return Summary(
        successful=count("successful"),
        failed=count("failed"),
        duration_s=num("duration_s"),
        request_throughput=num("request_throughput"),
        output_throughput=num("output_throughput"),
        total_token_throughput=num("total_token_throughput"),
        total_input_tokens=count("total_input_tokens"),
        total_output_tokens=count("total_output_tokens"),
        peak_output_throughput=num("peak_output_throughput"),
        peak_concurrency=num("peak_concurrency"),
        ttft_ms=_latency(latencies.get("ttft", {}), tool),
        tpot_ms=_latency(latencies.get("tpot", {}), tool),
        itl_ms=_latency(latencies.get("itl", {}), tool),
        e2el_ms=_latency(latencies.get("e2el", {}), tool),
        decode_tps_per_user=no,
        decode_tps_total=no,
        prefill_tps_total=no,
        source=tool,
    )


def parse_vllm_bench_output(text: str) -> list[VllmBenchResult]:
    """Every "Serving Benchmark Result" block in ``vllm bench serve``'s output, in order."""
    results: list[VllmBenchResult] = []
    lines = text.replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        if not _RESULT_HEADER.search(lines[i]):
            i += 1
            continue
        values: dict[str, float] = {}
        latencies: dict[str, dict[str, float]] = {}
        i += 1
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("=" * 10) and "Serving Benchmark Result" not in line:
                break
            if _RESULT_HEADER.search(line):
                i -= 1
                break
            m = _RESULT_LINE.match(line)
            if m:
                label, value = m.group("label").strip(), float(m.group("value"))
                lat = _LATENCY_LABEL.match(label)
                if lat:
                    stat = lat.group("stat").lower()
                    latencies.setdefault(_METRIC_KEYS[lat.group("metric")], {})[stat] = value
                elif label.lower() in _PLAIN_FIELDS:
                    values[_PLAIN_FIELDS[label.lower()]] = value
            i += 1
        i += 1
        if "successful" not in values:
            continue  # a header without a result (cut short)
        rate = values.get("rate")
        max_c = values.get("max_concurrency")
        results.append(
            VllmBenchResult(
                summary=_summary_from_fields(values, latencies, VLLM_BENCH),
                rate=rate,
                max_concurrency=int(max_c) if max_c is not None else None,
            )
        )
    return results


# --------------------------------------------------------------------------------------------------
# vllm bench serve: the --save-result JSON


def _json_number(data: Mapping[str, Any], key: str) -> float | None:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def parse_vllm_bench_json(
    data: object, *, t0: float = 0.0, phase: str = VLLM_BENCH
) -> tuple[Summary, list[RequestRecord]]:
    """The summary of a ``--save-result`` file, and per-request records when it is detailed.

    Detailed files (``--save-detailed``) carry per-request arrays; their start times are
    ``time.perf_counter()`` values of the tool's process, so records are placed at ``t0`` plus
    each request's offset from the first start."""
    if not isinstance(data, dict):
        raise ExternalError("not a vllm bench serve result (expected a JSON object)")
    if "completed" not in data and "mean_ttft_ms" not in data:
        raise ExternalError("not a vllm bench serve result (no 'completed' or 'mean_ttft_ms')")
    values: dict[str, float] = {}
    for key, name in (
        ("completed", "successful"),
        ("failed", "failed"),
        ("duration", "duration_s"),
        ("total_input_tokens", "total_input_tokens"),
        ("total_output_tokens", "total_output_tokens"),
        ("request_throughput", "request_throughput"),
        ("output_throughput", "output_throughput"),
        ("total_token_throughput", "total_token_throughput"),
        ("max_output_tokens_per_s", "peak_output_throughput"),
        ("max_concurrent_requests", "peak_concurrency"),
    ):
        v = _json_number(data, key)
        if v is not None:
            values[name] = v
    latencies: dict[str, dict[str, float]] = {}
    for metric in _METRIC_KEYS.values():
        stats: dict[str, float] = {}
        for key in data:
            if not isinstance(key, str) or not key.endswith(f"_{metric}_ms"):
                continue
            stat = key[: -len(f"_{metric}_ms")]
            if stat in ("mean", "median", "std") or re.fullmatch(r"p[0-9.]+", stat):
                number = _json_number(data, key)
                if number is not None:
                    stats[stat] = number
        if stats:
            latencies[metric] = stats
    summary = _summary_from_fields(values, latencies, VLLM_BENCH)
    return summary, _vllm_records(data, t0, phase)


def _vllm_records(data: Mapping[str, Any], t0: float, phase: str) -> list[RequestRecord]:
    ttfts, itls, lats = data.get("ttfts"), data.get("itls"), data.get("latencies")
    if not (isinstance(ttfts, list) and isinstance(itls, list) and isinstance(lats, list)):
        return []
    n = len(ttfts)
    if len(itls) != n or len(lats) != n:
        raise ExternalError("inconsistent per-request arrays in the result file")

    def column(name: str) -> list[Any]:
        col = data.get(name)
        return col if isinstance(col, list) and len(col) == n else [None] * n

    inputs, outputs, errors, starts = (
        column("input_lens"),
        column("output_lens"),
        column("errors"),
        column("start_times"),
    )
    numeric_starts = [s for s in starts if isinstance(s, (int, float)) and not isinstance(s, bool)]
    origin = min(numeric_starts) if numeric_starts else 0.0
    records: list[RequestRecord] = []
    clock = t0
    for i in range(n):
        error = errors[i] if isinstance(errors[i], str) and errors[i] else None
        gaps = (
            tuple(float(g) for g in itls[i] if isinstance(g, (int, float)))
            if isinstance(itls[i], list)
            else ()
        )
        start_raw = starts[i]
        start = t0 + (float(start_raw) - origin) if isinstance(start_raw, (int, float)) else clock
        ttft, latency = ttfts[i], lats[i]
        ok = (
            error is None
            and isinstance(ttft, (int, float))
            and isinstance(latency, (int, float))
            and latency > 0
        )
        records.append(
            RequestRecord(
                id=i,
                phase=phase,
                start=start,
                first_token=start + float(ttft) if ok else None,
                end=start + float(latency) if ok else None,
                prompt_tokens=int(inputs[i]) if isinstance(inputs[i], int) else 0,
                output_tokens=int(outputs[i]) if isinstance(outputs[i], int) else 0,
                itl=itl_summary(gaps) if ok else _no_itl(),
                ok=ok,
                status=None,
                error=None if ok else clean(error or "failed")[:300],
                finish_reason=None,
                gaps=gaps if ok else (),
                source=VLLM_BENCH,
            )
        )
    return records


def _no_itl() -> ItlSummary:
    u = Unknown("request failed")
    return ItlSummary(0, u, u, u, u, u)


# --------------------------------------------------------------------------------------------------
# llama-benchy

_CELL = re.compile(r"^\s*(?P<mean>-?[0-9.]+)\s*±\s*(?P<std>[0-9.]+)\s*$")
_TEST = re.compile(
    r"^(?P<kind>ctx_pp|ctx_tg|pp|tg)(?P<n>[0-9]*)(?: @ d(?P<depth>[0-9]+))?(?: \(c(?P<c>[0-9]+)\))?$"
)


@dataclass(frozen=True, slots=True)
class Stat:
    """A llama-benchy cell: mean ± std over runs (``values`` when the JSON report keeps them)."""

    mean: float
    std: float
    values: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class BenchyStep:
    """One llama-benchy step (a prompt size, generation size, depth and concurrency)."""

    model: str
    prompt: int
    output: int
    depth: int
    concurrency: int
    pp_total: Stat | None = None
    pp_req: Stat | None = None
    tg_total: Stat | None = None
    tg_req: Stat | None = None
    peak_total: Stat | None = None
    peak_req: Stat | None = None
    ttfr_ms: Stat | None = None
    est_ppt_ms: Stat | None = None
    e2e_ttft_ms: Stat | None = None

    @property
    def name(self) -> str:
        depth = f" @ d{self.depth}" if self.depth else ""
        return f"pp{self.prompt} tg{self.output}{depth} c={self.concurrency}"

    def summary(self) -> Summary:
        """This step in the summary shape (what llama-benchy does not measure stays unknown)."""
        no = Unknown("llama-benchy does not report it")
        ttft = self.e2e_ttft_ms
        if ttft is None:
            ttft_fig = LatencyFigures.unknown("llama-benchy reported no TTFT for this step")
        elif ttft.values:
            ttft_fig = latency_figures(ttft.values, scale=1.0)
        else:
            pct = Unknown("llama-benchy reports mean ± std only (its JSON report keeps the values)")
            ttft_fig = LatencyFigures(ttft.mean, pct, pct, pct, pct, ttft.std, 0)
        tg_req = self.tg_req or (self.tg_total if self.concurrency == 1 else None)
        return Summary(
            successful=no,
            failed=no,
            duration_s=no,
            request_throughput=no,
            output_throughput=no,
            total_token_throughput=no,
            total_input_tokens=no,
            total_output_tokens=no,
            peak_output_throughput=self.peak_total.mean if self.peak_total else no,
            peak_concurrency=float(self.concurrency),
            ttft_ms=ttft_fig,
            tpot_ms=LatencyFigures.unknown("llama-benchy does not report it"),
            itl_ms=LatencyFigures.unknown("llama-benchy does not report it"),
            e2el_ms=LatencyFigures.unknown("llama-benchy does not report it"),
            decode_tps_per_user=tg_req.mean if tg_req else no,
            decode_tps_total=self.tg_total.mean if self.tg_total else no,
            prefill_tps_total=self.pp_total.mean if self.pp_total else no,
            source=LLAMA_BENCHY,
        )


def _stat(cell: str) -> Stat | None:
    m = _CELL.match(cell)
    if not m:
        return None
    return Stat(float(m.group("mean")), float(m.group("std")))


_COLUMNS = {
    "t/s": "t_s",
    "t/s (total)": "t_s",
    "t/s (req)": "t_s_req",
    "peak t/s": "peak",
    "peak t/s (req)": "peak_req",
    "ttfr (ms)": "ttfr",
    "est_ppt (ms)": "est_ppt",
    "e2e_ttft (ms)": "e2e_ttft",
}


def parse_llama_benchy_markdown(text: str) -> list[BenchyStep]:
    """The steps of llama-benchy's markdown table (any of its column layouts), in order."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not (line.startswith("|") and line.endswith("|")):
            header = None if not line else header
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if header is None:
            if cells and cells[0] == "model" and "test" in cells:
                header = cells
            continue
        if all(set(c) <= set(":-") for c in cells):
            continue  # the alignment row
        if len(cells) != len(header):
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    steps: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}
    order: list[tuple[str, int, int, int, int]] = []
    for row in rows:
        m = _TEST.match(row.get("test", ""))
        if not m or m.group("kind").startswith("ctx_"):
            continue
        kind = m.group("kind")
        n = int(m.group("n") or 0)
        depth = int(m.group("depth") or 0)
        c = int(m.group("c") or 1)
        model = row.get("model", "")
        cols = {_COLUMNS[k]: _stat(v) for k, v in row.items() if k in _COLUMNS}
        # a pp row opens a step; its tg row (same depth and concurrency) follows
        if kind == "pp":
            key = (model, n, -1, depth, c)
            steps[key] = {"model": model, "prompt": n, "depth": depth, "concurrency": c, "pp": cols}
            order.append(key)
        else:
            for key in reversed(order):
                step = steps[key]
                if key[3] == depth and key[4] == c and "tg" not in step:
                    step["tg"] = cols
                    step["output"] = n
                    break
            else:
                key = (model, 0, n, depth, c)
                steps[key] = {
                    "model": model,
                    "prompt": 0,
                    "depth": depth,
                    "concurrency": c,
                    "tg": cols,
                    "output": n,
                }
                order.append(key)
    out: list[BenchyStep] = []
    for key in order:
        s = steps[key]
        pp, tg = s.get("pp", {}), s.get("tg", {})
        out.append(
            BenchyStep(
                model=s["model"],
                prompt=s["prompt"],
                output=s.get("output", 0),
                depth=s["depth"],
                concurrency=s["concurrency"],
                pp_total=pp.get("t_s"),
                pp_req=pp.get("t_s_req") or (pp.get("t_s") if s["concurrency"] == 1 else None),
                tg_total=tg.get("t_s"),
                tg_req=tg.get("t_s_req") or (tg.get("t_s") if s["concurrency"] == 1 else None),
                peak_total=tg.get("peak"),
                peak_req=tg.get("peak_req"),
                ttfr_ms=pp.get("ttfr"),
                est_ppt_ms=pp.get("est_ppt"),
                e2e_ttft_ms=pp.get("e2e_ttft"),
            )
        )
    return out


def _json_stat(value: object) -> Stat | None:
    if not isinstance(value, dict):
        return None
    mean, std = value.get("mean"), value.get("std")
    if not isinstance(mean, (int, float)) or not isinstance(std, (int, float)):
        return None
    raw = value.get("values")
    values = tuple(float(v) for v in raw if isinstance(v, (int, float))) if isinstance(raw, list) else ()
    return Stat(float(mean), float(std), values)


def parse_llama_benchy_json(data: object) -> list[BenchyStep]:
    """The steps of llama-benchy's JSON report (``--format json``)."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ExternalError("not a llama-benchy JSON report (no 'benchmarks' list)")
    model = str(data.get("model", ""))[:200]
    out: list[BenchyStep] = []
    for run in data["benchmarks"]:
        if not isinstance(run, dict) or run.get("is_context_prefill_phase"):
            continue
        try:
            c, depth = int(run["concurrency"]), int(run["context_size"])
            pp, tg = int(run["prompt_size"]), int(run["response_size"])
        except (KeyError, TypeError, ValueError):
            raise ExternalError("a llama-benchy step lacks its sizes") from None
        out.append(
            BenchyStep(
                model=model,
                prompt=pp,
                output=tg,
                depth=depth,
                concurrency=c,
                pp_total=_json_stat(run.get("pp_throughput")),
                pp_req=_json_stat(run.get("pp_req_throughput")),
                tg_total=_json_stat(run.get("tg_throughput")),
                tg_req=_json_stat(run.get("tg_req_throughput")),
                peak_total=_json_stat(run.get("peak_throughput")),
                peak_req=_json_stat(run.get("peak_req_throughput")),
                ttfr_ms=_json_stat(run.get("ttfr")),
                est_ppt_ms=_json_stat(run.get("est_ppt")),
                e2e_ttft_ms=_json_stat(run.get("e2e_ttft")),
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# progress


@dataclass
class ToolProgress:
    """What a tool's output says about where it is."""

    phase: str = "starting"
    done: int = 0
    total: int | None = None
    phases: list[str] = field(default_factory=list)
    """Every phase seen, in order."""


_TQDM = re.compile(r"(?P<done>[0-9]+)/(?P<total>[0-9]+) \[")
_BENCHY_TEST = re.compile(
    r"^Running test: pp=(?P<pp>[0-9]+), tg=(?P<tg>[0-9]+), depth=(?P<d>[0-9]+), concurrency=(?P<c>[0-9]+)"
)
_BENCHY_RUN = re.compile(r"^\s*Run (?P<run>[0-9]+)/(?P<runs>[0-9]+) ")
_BENCHY_WARMUP = re.compile(r"^\s*Warmup \(batch size (?P<c>[0-9]+)\)")


def follow_line(tool: str, line: str, progress: ToolProgress) -> str | None:
    """Update ``progress`` from one output line; the new phase's name when one begins."""
    text = line.strip()
    if tool == VLLM_BENCH:
        bars = _TQDM.findall(text)
        if bars:
            # the last redraw wins (a captured log may hold many on one line)
            done, total = bars[-1]
            progress.done, progress.total = int(done), int(total)
            return None
        for marker, phase in (
            ("Starting initial single prompt test run", "test prompt"),
            ("Warming up with", "warm-up"),
            ("Starting main benchmark run", "benchmark"),
        ):
            if text.startswith(marker):
                return _new_phase(progress, phase)
        if text.startswith("Traffic request rate:"):
            return _new_phase(progress, f"benchmark at {text.split(':', 1)[1].strip()} req/s")
        return None
    m = _BENCHY_TEST.match(text)
    if m:
        name = f"pp{m.group('pp')} tg{m.group('tg')}" + (f" @ d{m.group('d')}" if m.group("d") != "0" else "")
        return _new_phase(progress, f"{name} c={m.group('c')}")
    m = _BENCHY_RUN.match(line)
    if m:
        progress.done, progress.total = int(m.group("run")) - 1, int(m.group("runs"))
        return None
    if _BENCHY_WARMUP.match(line):
        progress.done = 0
        return None
    if text.startswith("Printing results") or text.startswith("Saving results"):
        progress.done = progress.total or progress.done
    return None


def _new_phase(progress: ToolProgress, phase: str) -> str:
    progress.phase = phase
    progress.done = 0
    progress.total = None
    progress.phases.append(phase)
    return phase


# --------------------------------------------------------------------------------------------------
# command lines


def docker_exec(container: str, command: Sequence[str], env_names: Sequence[str] = ()) -> list[str]:
    """``command`` run inside ``container``; ``env_names`` are passed by name (their values come
    from this process's environment and never appear on the command line)."""
    if not container or container.startswith("-"):
        raise ExternalError(f"not a container name: {container!r}")
    out = ["docker", "exec"]
    for name in env_names:
        out += ["-e", name]
    return [*out, container, *command]


def _open_stage(workload: Workload) -> OpenLoop:
    stages = [s for s in workload.stages if isinstance(s, OpenLoop)]
    if len(stages) != 1 or len(workload.stages) != 1:
        raise ExternalError(f"vllm bench serve runs one open-loop stage; {workload.name} is not one")
    stage = stages[0]
    if stage.num_prompts is None:
        raise ExternalError("vllm bench serve needs a number of prompts, not a duration")
    return stage


def vllm_bench_command(
    workload: Workload,
    base_url: str,
    *,
    model: str | None,
    endpoint: str = "chat",
    result_dir: str | None = None,
    result_file: str | None = None,
    executable: Sequence[str] = ("vllm",),
    tokenizer: str | None = None,
) -> list[str]:
    """The ``vllm bench serve`` command for an open-loop workload (H, I, J or an ad-hoc shape)."""
    stage = _open_stage(workload)
    chat = endpoint == "chat"
    cmd = [
        *executable,
        "bench",
        "serve",
        "--base-url",
        base_url.rstrip("/").removesuffix("/v1"),
        "--backend",
        "openai-chat" if chat else "openai",
        "--endpoint",
        "/v1/chat/completions" if chat else "/v1/completions",
        "--num-prompts",
        str(stage.num_prompts),
        "--request-rate",
        "inf" if math.isinf(stage.rate) else f"{stage.rate:g}",
        "--burstiness",
        f"{stage.burstiness:g}",
        "--seed",
        str(workload.seed),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        "50,90,95,99",
    ]
    if model:
        cmd += ["--model", model]
    if tokenizer:
        cmd += ["--tokenizer", tokenizer]
    if stage.lengths == "conversation":
        raise ExternalError(
            "the conversation-like lengths are sparktop's stand-in for ShareGPT; run vllm bench serve "
            "with --dataset-name sharegpt yourself"
        )
    cmd += [
        "--dataset-name",
        "random",
        "--random-input-len",
        str(stage.input_len),
        "--random-output-len",
        str(stage.output_len),
        "--random-range-ratio",
        f"{stage.range_ratio:g}",
    ]
    if stage.force_output:
        cmd.append("--ignore-eos")
    if stage.max_concurrency is not None:
        cmd += ["--max-concurrency", str(stage.max_concurrency)]
    if result_dir is not None and result_file is not None:
        cmd += [
            "--save-result",
            "--save-detailed",
            "--result-dir",
            result_dir,
            "--result-filename",
            result_file,
        ]
    return cmd


def llama_benchy_command(
    workload: Workload,
    base_url: str,
    *,
    model: str,
    api_key: str | None = None,
    result_file: str | None = None,
    executable: Sequence[str] = ("llama-benchy",),
    tokenizer: str | None = None,
    skip_coherence: bool = False,
) -> list[str]:
    """The llama-benchy command for a closed-loop workload (A..G or an ad-hoc shape).

    llama-benchy runs every combination of its lists, so the workload's steps must form a grid;
    its ``--depth`` counts context tokens, so a multi-turn stage is sent as its published form
    (``--depth`` = the number of earlier turns, as the arena's E command did). ``skip_coherence``:
    the target cannot answer "Paris" (the simulated Spark)."""
    stages = [s for s in workload.stages if isinstance(s, ClosedLoop)]
    if not stages or len(stages) != len(workload.stages):
        raise ExternalError(f"llama-benchy runs closed-loop steps; {workload.name} is not only those")
    pp = sorted({s.input_len for s in stages})
    tg = sorted({s.output_len for s in stages})
    depth = sorted({s.depth for s in stages})
    conc = sorted({s.users for s in stages})
    runs = {s.runs for s in stages}
    if len(pp) * len(tg) * len(depth) * len(conc) != len(stages) or len(runs) != 1:
        raise ExternalError(f"the steps of {workload.name} do not form the grid llama-benchy runs")
    cmd = [
        *executable,
        "--base-url",
        base_url.rstrip("/").removesuffix("/v1") + "/v1",
        "--model",
        model,
        "--runs",
        str(runs.pop()),
        "--latency-mode",
        "generation",
        "--pp",
        *map(str, pp),
        "--tg",
        *map(str, tg),
        "--depth",
        *map(str, depth),
        "--concurrency",
        *map(str, conc),
    ]
    if not any(s.warmup for s in stages):
        cmd.append("--no-warmup")
    if tokenizer:
        cmd += ["--tokenizer", tokenizer]
    if skip_coherence:
        cmd.append("--skip-coherence")
    if api_key:
        cmd += ["--api-key", api_key]
    if result_file is not None:
        cmd += ["--format", "json", "--save-result", result_file]
    else:
        cmd += ["--format", "md"]
    return cmd


async def simulated_target(url: str, timeout_s: float = 5.0) -> bool:
    """Is ``url`` the simulated Spark? Its ``/version`` says so (``"sparktop_simulated": true``);
    False when the server cannot be asked."""
    scraper = Scraper(url, connect_timeout=timeout_s, read_timeout=timeout_s)
    async with scraper:
        info = await scraper.info()
    return info.simulated


def shown(cmd: Sequence[str]) -> str:
    """A command line fit to show: secrets masked, quoted for a shell."""
    return shlex.join(redact_argv(cmd, mask="***"))


# --------------------------------------------------------------------------------------------------
# running


@dataclass
class ToolRun:
    """A finished tool run."""

    returncode: int
    output: str
    progress: ToolProgress


LineSink = Callable[[str], None]
PhaseSink = Callable[[str], None]


async def run_tool(
    tool: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    on_line: LineSink | None = None,
    on_phase: PhaseSink | None = None,
    progress: ToolProgress | None = None,
    limit_s: float | None = None,
) -> ToolRun:
    """Run ``cmd``, following its output (stdout and stderr together) line by line.

    Lines are split on newlines and carriage returns (tqdm redraws with ``\\r``), cleaned of
    terminal escapes and handed to ``on_line``; ``progress`` is kept up to date. A missing
    executable raises ``ExternalError``; running past ``limit_s`` kills the tool and returns code -9."""
    progress = progress or ToolProgress()
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise ExternalError(f"{cmd[0]} is not installed here (not found on PATH)") from None
    except PermissionError:
        raise ExternalError(f"{cmd[0]} cannot be executed (permission denied)") from None
    assert proc.stdout is not None
    kept: list[str] = []
    kept_chars = 0
    pending = ""

    def emit(raw: str) -> None:
        nonlocal kept_chars
        line = clean(raw)
        kept.append(raw)
        kept_chars += len(raw) + 1
        while kept_chars > MAX_OUTPUT_CHARS and len(kept) > 1:
            kept_chars -= len(kept.pop(0)) + 1
        phase = follow_line(tool, line, progress)
        if phase is not None and on_phase is not None:
            on_phase(phase)
        if on_line is not None and line.strip():
            on_line(line)

    async def pump() -> None:
        nonlocal pending
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            text = pending + chunk.decode("utf-8", "replace")
            parts = re.split(r"\r\n|\r|\n", text)
            pending = parts.pop()
            for part in parts:
                emit(part)
        if pending:
            emit(pending)
            pending = ""

    try:
        await asyncio.wait_for(pump(), timeout=limit_s)
        code = await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        code = -9
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return ToolRun(returncode=code, output="\n".join(kept), progress=progress)
