"""vLLM's metric names across versions, mapped to sparktop's canonical fields.

vLLM renamed series over time (``gpu_cache_usage_perc`` -> ``kv_cache_usage_perc``,
``time_per_output_token_seconds`` -> ``inter_token_latency_seconds``...), added the ``engine`` label
(data-parallel rank) around v0.8.3, and dropped V0-only series. ``Schema.read`` turns a parsed page
into a ``MetricSnapshot`` whatever the version: engines are summed (the KV-cache fraction is
averaged), ``_created`` samples are ignored, and a field whose series is absent becomes ``Unknown``
with the reason, never 0.

A value the server cannot mean is not passed on as a fact either: a negative or NaN count, a KV-cache
fraction outside 0..1, buckets that decrease, a ``_count`` that is not the ``+Inf`` bucket, a
histogram without ``_count``, or a series listed twice with the same labels make the field
``Unknown``, with a reason that names the series and the value.

Reading a page is on the hot path (once per scrape), so each series' role is worked out once and
cached by its text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import add, itemgetter

from sparktop.model import HISTOGRAM_KEYS, SCALAR_KEYS, Histogram, MetricSnapshot, Num, Unknown
from sparktop.vllm.exposition import Page, Series

# canonical scalar -> vLLM counter/gauge names, preferred first (counters as exposed, with _total)
SCALAR_SOURCES: dict[str, tuple[str, ...]] = {
    "requests_running": ("vllm:num_requests_running",),
    "requests_waiting": ("vllm:num_requests_waiting",),
    "requests_swapped": ("vllm:num_requests_swapped",),
    "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "prompt_tokens_total": ("vllm:prompt_tokens_total",),
    "generation_tokens_total": ("vllm:generation_tokens_total",),
    "preemptions_total": ("vllm:num_preemptions_total",),
    "prefix_cache_queries_total": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "prefix_cache_hits_total": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "spec_decode_drafts_total": ("vllm:spec_decode_num_drafts_total",),
    "spec_decode_draft_tokens_total": ("vllm:spec_decode_num_draft_tokens_total",),
    "spec_decode_accepted_tokens_total": ("vllm:spec_decode_num_accepted_tokens_total",),
}

# canonical histogram -> vLLM histogram family names, preferred first
HISTOGRAM_SOURCES: dict[str, tuple[str, ...]] = {
    "ttft": ("vllm:time_to_first_token_seconds",),
    "itl": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "e2e": ("vllm:e2e_request_latency_seconds",),
    "queue": ("vllm:request_queue_time_seconds",),
    "prefill": ("vllm:request_prefill_time_seconds",),
    "decode": ("vllm:request_decode_time_seconds",),
    "inference": ("vllm:request_inference_time_seconds",),
    "tpot": ("vllm:request_time_per_output_token_seconds",),
}

FINISHED_SOURCE = "vllm:request_success_total"
CACHE_CONFIG_SOURCE = "vllm:cache_config_info"

# Fields whose series only some builds or configurations expose, and why they may be missing.
ABSENT_REASONS: dict[str, str] = {
    "requests_swapped": "V0-engine series (vLLM <= 0.8); the V1 engine does not swap",
    "kv_cache_usage": "no kv_cache_usage_perc or gpu_cache_usage_perc series on the page",
    "prefix_cache_queries_total": "no prefix-cache series (older vLLM)",
    "prefix_cache_hits_total": "no prefix-cache series (older vLLM)",
    "spec_decode_drafts_total": "speculative decoding is not configured on this server",
    "spec_decode_draft_tokens_total": "speculative decoding is not configured on this server",
    "spec_decode_accepted_tokens_total": "speculative decoding is not configured on this server",
    "itl": "no inter-token latency series (neither new nor old name) on the page",
    "tpot": "per-request TPOT histogram not exposed by this vLLM version (added ~0.10)",
    "queue": "queue-time histogram not exposed by this vLLM version",
    "prefill": "prefill-time histogram not exposed by this vLLM version",
    "decode": "decode-time histogram not exposed by this vLLM version",
    "inference": "inference-time histogram not exposed by this vLLM version",
}
NO_VLLM_REASON = "no vllm: series on the page (metrics disabled with --disable-log-stats, or not vLLM)"
NO_SAMPLES_REASON = "the page lists vLLM's metrics but holds no samples yet (nothing counted so far)"
_DECLARES_VLLM = ("# TYPE vllm:", "# HELP vllm:")


def declares_vllm(text: str) -> bool:
    """Whether a page declares ``vllm:`` families (``# TYPE``/``# HELP`` lines), samples or not."""
    return any(marker in text for marker in _DECLARES_VLLM)


def empty_snapshot(t: float, reason: str) -> MetricSnapshot:
    """A snapshot of a valid page with nothing known on it: every field ``Unknown(reason)``."""
    unknown = Unknown(reason)
    return MetricSnapshot(
        t=t,
        scalars=dict.fromkeys(SCALAR_KEYS, unknown),
        histograms=dict.fromkeys(HISTOGRAM_KEYS, unknown),
        finished=unknown,
        engines=(),
        models=(),
        cache_config={},
    )


DEFAULT_ABSENT = "not exposed by this server"

# roles
_IGNORE, _SCALAR, _BUCKET, _COUNT, _SUM, _FINISHED, _INFO, _OTHER_VLLM = range(8)

_SCALAR_ROLE = {name: field for field, names in SCALAR_SOURCES.items() for name in names}
_FRACTIONS = frozenset({"kv_cache_usage"})
"""Fields that are fractions of 0..1 (the others are counts: never negative)."""
_HIST_ROLE: dict[str, tuple[int, str]] = {}
for _names in HISTOGRAM_SOURCES.values():
    for _name in _names:
        _HIST_ROLE[_name + "_bucket"] = (_BUCKET, _name)
        _HIST_ROLE[_name + "_count"] = (_COUNT, _name)
        _HIST_ROLE[_name + "_sum"] = (_SUM, _name)


@dataclass(frozen=True, slots=True)
class _Role:
    kind: int
    source: str = ""
    engine: str = ""
    model: str = ""
    le: float = 0.0
    reason: str = ""


_IGNORED = _Role(_IGNORE)


def _role(series: Series) -> _Role:
    name = series.name
    if not name.startswith("vllm:") or name.endswith("_created"):
        return _IGNORED
    labels = series.labels
    engine = labels.get("engine", "")
    model = labels.get("model_name", "")
    if name in _SCALAR_ROLE:
        return _Role(_SCALAR, name, engine, model)
    hist = _HIST_ROLE.get(name)
    if hist is not None:
        kind, source = hist
        if kind == _BUCKET:
            try:
                le = float(labels["le"])
            except (KeyError, ValueError):
                return _Role(_OTHER_VLLM, name, engine, model)
            return _Role(_BUCKET, source, engine, model, le=le)
        return _Role(kind, source, engine, model)
    if name == FINISHED_SOURCE:
        return _Role(_FINISHED, name, engine, model, reason=labels.get("finished_reason", "unknown"))
    if name == CACHE_CONFIG_SOURCE:
        return _Role(_INFO, name, engine, model)
    return _Role(_OTHER_VLLM, name, engine, model)


@dataclass(frozen=True, slots=True)
class Reading:
    """A snapshot plus the raw ``vllm:`` series it came from (what a recording stores).

    ``keys`` is the same tuple object for every page of one layout.
    """

    snapshot: MetricSnapshot
    keys: tuple[str, ...]
    values: tuple[float, ...]

    @property
    def series(self) -> list[tuple[str, float]]:
        return list(zip(self.keys, self.values, strict=True))


def _getter(positions: list[int]) -> Callable[[list[float]], tuple[float, ...]]:
    """A fast ``values -> tuple of values at positions`` (itemgetter returns a bare item for one)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda values: (values[only],)
    if not positions:
        return lambda values: ()
    return itemgetter(*positions)


@dataclass(slots=True)
class _HistPlan:
    source: str
    bounds: tuple[float, ...]
    buckets: list[Callable[[list[float]], tuple[float, ...]]]  # one getter per engine, in bound order
    count: Callable[[list[float]], tuple[float, ...]]
    sum: Callable[[list[float]], tuple[float, ...]]


@dataclass(slots=True)
class _Plan:
    """How to read every page with one layout (the same series in the same order)."""

    scalars: dict[str, tuple[str, list[Callable[[list[float]], tuple[float, ...]]]] | Unknown]
    histograms: dict[str, _HistPlan | Unknown]
    finished: dict[str, Callable[[list[float]], tuple[float, ...]]] | Unknown
    vllm_seen: bool
    engines: tuple[str, ...]
    models: tuple[str, ...]
    cache_config: Mapping[str, str]
    raw_keys: tuple[str, ...]
    raw_values: Callable[[list[float]], tuple[float, ...]]


class Schema:
    """Reads pages into canonical snapshots. One per target.

    Work that depends only on which series a page has (their roles, how engines add up, bucket
    order) is compiled into a plan and reused while the page layout stays the same, which it does
    from one scrape to the next.
    """

    def __init__(self) -> None:
        self._layout: list[Series] | None = None
        self._plan: _Plan | None = None

    def read(self, page: Page, t: float) -> Reading:
        if self._plan is None or page.series != self._layout:
            self._plan = _compile(page.series)
            self._layout = page.series
        plan = self._plan
        values = page.values
        scalars: dict[str, Num] = {}
        for field in SCALAR_KEYS:
            entry = plan.scalars.get(field)
            if entry is None:
                scalars[field] = _absent(field, plan.vllm_seen)
                continue
            if isinstance(entry, Unknown):
                scalars[field] = entry
                continue
            source, getters = entry
            per_engine = [get(values) for get in getters]
            wrong = _implausible(field, source, per_engine)
            if wrong is not None:
                scalars[field] = wrong
                continue
            totals = [math.fsum(v) for v in per_engine]
            # a fraction per engine (each engine has its own KV cache): average, do not add
            scalars[field] = math.fsum(totals) / len(totals) if field in _FRACTIONS else math.fsum(totals)
        histograms: dict[str, Histogram | Unknown] = {}
        for field in HISTOGRAM_KEYS:
            hp = plan.histograms.get(field)
            if hp is None:
                histograms[field] = _absent(field, plan.vllm_seen)
            elif isinstance(hp, Unknown):
                histograms[field] = hp
            else:
                histograms[field] = _histogram(hp, values)
        finished: dict[str, float] | Unknown
        if isinstance(plan.finished, Unknown):
            finished = plan.finished
        elif plan.finished:
            by_reason = {reason: get(values) for reason, get in plan.finished.items()}
            wrong = _implausible("finished", FINISHED_SOURCE, list(by_reason.values()))
            finished = wrong or {reason: math.fsum(v) for reason, v in by_reason.items()}
        else:
            finished = _absent("finished", plan.vllm_seen)
        snapshot = MetricSnapshot(
            t=t,
            scalars=scalars,
            histograms=histograms,
            finished=finished,
            engines=plan.engines,
            models=plan.models,
            cache_config=plan.cache_config,
            skipped_lines=page.skipped,
        )
        return Reading(snapshot, plan.raw_keys, plan.raw_values(values))


def _add(*values: float) -> float:
    return math.fsum(values)


def _implausible(field: str, source: str, per_engine: list[tuple[float, ...]]) -> Unknown | None:
    """Why values read for ``field`` cannot be what the server means (None when they can)."""
    for engine_values in per_engine:
        for v in engine_values:
            if v >= 0 and (v <= 1 or field not in _FRACTIONS) and v != math.inf:
                continue
            if v != v:
                return Unknown(f"{source} is NaN on the page: not a value")
            if field in _FRACTIONS:
                return Unknown(f"{source} = {v:g} on the page: a fraction of the KV cache must be 0..1")
            return Unknown(f"{source} = {v:g} on the page: a count cannot be negative or infinite")
    return None


def _histogram(hp: _HistPlan, values: list[float]) -> Histogram | Unknown:
    """One histogram summed over engines, or why its page values are not a histogram."""
    per_engine = [get(values) for get in hp.buckets]
    name = hp.source
    for buckets in per_engine:
        previous = 0.0
        for le, v in zip(hp.bounds, buckets, strict=True):
            if not v >= previous:  # NaN fails too
                return Unknown(
                    f"{name} buckets are not cumulative: le={le:g} holds {v:g} after {previous:g} below it"
                )
            previous = v
    counts = hp.count(values)
    if not counts:
        return Unknown(f"{name} has buckets but no _count: how many observations is unknown")
    if len(per_engine) == 1:
        cumulative = per_engine[0]
    elif len(per_engine) == 2:
        cumulative = tuple(map(add, *per_engine))
    else:
        cumulative = tuple(map(_add, *per_engine))
    count, total = math.fsum(counts), math.fsum(hp.sum(values))
    if count != cumulative[-1]:
        return Unknown(f"{name}_count = {count:g} but its +Inf bucket holds {cumulative[-1]:g}")
    if not (total >= 0 and total != math.inf):
        return Unknown(f"{name}_sum = {total:g}: not a sum of durations or sizes")
    return Histogram(hp.bounds, tuple(cumulative), count, total)


def _compile(layout: list[Series]) -> _Plan:
    scalar_pos: dict[str, dict[str, list[int]]] = {}
    bucket_pos: dict[str, dict[str, dict[float, list[int]]]] = {}
    count_pos: dict[str, list[int]] = {}
    sum_pos: dict[str, list[int]] = {}
    finished_pos: dict[str, list[int]] = {}
    cache_config: Mapping[str, str] = {}
    engines: set[str] = set()
    models: set[str] = set()
    raw_pos: list[int] = []
    seen: set[str] = set()
    duplicated: dict[str, str] = {}  # source -> the first series key seen twice
    for i, series in enumerate(layout):
        role = _role(series)
        if role.kind == _IGNORE:
            continue
        raw_pos.append(i)  # recorded as exposed, so a replay reads the same page (duplicates too)
        if series.key in seen:
            duplicated.setdefault(role.source, series.key)
            continue
        seen.add(series.key)
        if role.engine:
            engines.add(role.engine)
        if role.model:
            models.add(role.model)
        if role.kind == _SCALAR:
            scalar_pos.setdefault(role.source, {}).setdefault(role.engine, []).append(i)
        elif role.kind == _BUCKET:
            bucket_pos.setdefault(role.source, {}).setdefault(role.engine, {}).setdefault(role.le, []).append(
                i
            )
        elif role.kind == _COUNT:
            count_pos.setdefault(role.source, []).append(i)
        elif role.kind == _SUM:
            sum_pos.setdefault(role.source, []).append(i)
        elif role.kind == _FINISHED:
            finished_pos.setdefault(role.reason, []).append(i)
        elif role.kind == _INFO and not cache_config:
            cache_config = {k: v for k, v in series.labels.items() if k not in ("model_name", "engine")}
    scalars: dict[str, tuple[str, list[Callable[[list[float]], tuple[float, ...]]]] | Unknown] = {}
    for field, sources in SCALAR_SOURCES.items():
        for source in sources:
            per_engine = scalar_pos.get(source)
            if per_engine:
                scalars[field] = (
                    _listed_twice(duplicated[source])
                    if source in duplicated
                    else (source, [_getter(p) for p in per_engine.values()])
                )
                break
    histograms: dict[str, _HistPlan | Unknown] = {}
    for field, sources in HISTOGRAM_SOURCES.items():
        for source in sources:
            if source in bucket_pos:
                histograms[field] = (
                    _listed_twice(duplicated[source])
                    if source in duplicated
                    else _hist_plan(
                        source, bucket_pos[source], count_pos.get(source, []), sum_pos.get(source, [])
                    )
                )
                break
    raw_keys = tuple(layout[i].key for i in raw_pos)
    return _Plan(
        scalars=scalars,
        histograms=histograms,
        finished=(
            _listed_twice(duplicated[FINISHED_SOURCE])
            if FINISHED_SOURCE in duplicated
            else {reason: _getter(p) for reason, p in finished_pos.items()}
        ),
        vllm_seen=bool(raw_pos),
        engines=tuple(sorted(engines, key=_engine_order)),
        models=tuple(sorted(models)),
        cache_config=cache_config,
        raw_keys=raw_keys,
        raw_values=_getter(raw_pos),
    )


def _listed_twice(key: str) -> Unknown:
    return Unknown(f"{key[:120]} is listed twice on the page: which value holds is unknown")


def _hist_plan(
    source: str, per_engine: dict[str, dict[float, list[int]]], count: list[int], total: list[int]
) -> _HistPlan | Unknown:
    # Engines of one server share bucket bounds; if they ever differ, keep the common ones.
    engine_buckets = list(per_engine.values())
    common = set(engine_buckets[0])
    for buckets in engine_buckets[1:]:
        common &= set(buckets)
    if math.inf not in common:
        return Unknown(f"{source} has no +Inf bucket")
    bounds = tuple(sorted(common))
    getters = []
    for buckets in engine_buckets:
        positions = []
        for le in bounds:
            positions.extend(buckets[le][:1])
        getters.append(_getter(positions))
    return _HistPlan(source, bounds, getters, _getter(count), _getter(total))


def _engine_order(engine: str) -> tuple[int, str]:
    return (int(engine), engine) if engine.isdigit() else (1 << 30, engine)


def _absent(field: str, vllm_seen: bool) -> Unknown:
    if not vllm_seen:
        return Unknown(NO_VLLM_REASON)
    return Unknown(ABSENT_REASONS.get(field, DEFAULT_ABSENT))
