"""Frozen values shared by every layer: sources produce them, sinks and views consume them.

Nothing here does I/O or imports a UI toolkit. "Unknown" is a value with a reason, never 0: a series
that vLLM does not expose, or an NVML field the device does not support, is carried as ``Unknown``
all the way to the screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeGuard


@dataclass(frozen=True, slots=True)
class Unknown:
    """A figure that cannot be known, and why (shown to the user as-is)."""

    reason: str

    def __str__(self) -> str:
        return f"unknown: {self.reason}"


Num: TypeAlias = float | Unknown
"""A number or the reason it is unknown."""


def is_known(value: float | Unknown | None) -> TypeGuard[float]:
    """True when ``value`` is a real number (not Unknown, not None)."""
    return value is not None and not isinstance(value, Unknown)


def or_none(value: float | Unknown | None) -> float | None:
    """The number, or None when unknown (for JSON output)."""
    return None if value is None or isinstance(value, Unknown) else value


# --------------------------------------------------------------------------------------------------
# vLLM metrics


@dataclass(frozen=True, slots=True)
class Histogram:
    """A cumulative Prometheus histogram, summed over engines.

    ``bounds`` are the ascending ``le`` upper bounds as exposed (the last is +Inf); ``cumulative``
    holds the cumulative count for each bound.
    """

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    count: float
    sum: float


HISTOGRAM_KEYS: tuple[str, ...] = ("ttft", "itl", "e2e", "queue", "prefill", "decode", "inference", "tpot")
"""Canonical histogram names (see ``sparktop.vllm.schema`` for the vLLM names behind them)."""

SCALAR_KEYS: tuple[str, ...] = (
    "requests_running",
    "requests_waiting",
    "requests_swapped",
    "kv_cache_usage",
    "prompt_tokens_total",
    "generation_tokens_total",
    "preemptions_total",
    "prefix_cache_queries_total",
    "prefix_cache_hits_total",
    "spec_decode_drafts_total",
    "spec_decode_draft_tokens_total",
    "spec_decode_accepted_tokens_total",
)
"""Canonical gauge and counter names; counters end in ``_total``."""


@dataclass(frozen=True, slots=True)
class MetricSnapshot:
    """Canonical figures read from one ``/metrics`` page: raw gauge and counter values, never rates.

    Every key of ``SCALAR_KEYS`` and ``HISTOGRAM_KEYS`` is present, either as a value or as
    ``Unknown`` with the reason.
    """

    t: float
    scalars: Mapping[str, Num]
    histograms: Mapping[str, Histogram | Unknown]
    finished: Mapping[str, float] | Unknown
    """Finished requests by ``finished_reason`` (stop, length, abort, error, repetition)."""
    engines: tuple[str, ...]
    models: tuple[str, ...]
    cache_config: Mapping[str, str]
    """Labels of ``vllm:cache_config_info`` (block_size, num_gpu_blocks, cache_dtype...)."""
    skipped_lines: int = 0
    """Lines of the page that were not Prometheus exposition (log lines in a paste, garbage)."""

    def unknown(self) -> dict[str, str]:
        """Field -> reason for every unknown field."""
        out = {k: v.reason for k, v in self.scalars.items() if isinstance(v, Unknown)}
        out.update({k: v.reason for k, v in self.histograms.items() if isinstance(v, Unknown)})
        if isinstance(self.finished, Unknown):
            out["finished"] = self.finished.reason
        return out


ServerState = Literal[
    "unknown", "unreachable", "starting", "unresponsive", "healthy", "dead", "metrics-disabled"
]
"""What a scrape found: see ``sparktop.vllm.scrape`` for how each is told apart."""


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """One poll of a vLLM server.

    ``series_keys``/``series_values`` hold the raw ``vllm:`` samples (what a recording stores): the
    key is the exposition text before the value (``name{labels}``). While the server's page keeps
    its layout, successive results share the very same ``series_keys`` tuple.
    """

    t: float
    state: ServerState
    detail: str
    latency_s: float | None = None
    snapshot: MetricSnapshot | None = None
    series_keys: tuple[str, ...] = ()
    series_values: tuple[float, ...] = ()


# --------------------------------------------------------------------------------------------------
# Events


EventKind = Literal["startup", "workload", "log", "error", "marker", "container", "state"]
Level = Literal["info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at a moment: a startup phase, a workload phase, a user marker...

    ``text`` may come from a container or a server and is untrusted: views escape it.
    """

    t: float
    kind: EventKind
    text: str
    source: str = "sparktop"
    level: Level = "info"
    data: Mapping[str, str | float | int | bool | None] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# GPU and host memory


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A compute process on a GPU; ``pid`` is a host PID (it will not match PIDs inside a container)."""

    pid: int
    name: str | Unknown
    used_memory_bytes: Num


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One device's readings in one tick; every field NVML cannot give is ``Unknown``."""

    index: int
    name: str | Unknown
    uuid: str | Unknown
    utilization_pct: Num
    power_w: Num
    power_limit_w: Num
    temperature_c: Num
    sm_clock_mhz: Num
    energy_mj: Num
    """Total energy counter since the driver loaded (millijoules)."""
    throttle_reasons: tuple[str, ...] | Unknown
    unified_memory: bool
    """True on GB10 and alike: memory is shared with the host and shown as a breakdown instead."""
    memory_used_bytes: Num
    memory_total_bytes: Num
    processes: tuple[GpuProcess, ...] | Unknown


@dataclass(frozen=True, slots=True)
class HostMemory:
    """The unified-memory breakdown (from /proc/meminfo, PSI, cgroups and NVML process memory).

    On a unified-memory device (GB10) this is the GPU's memory too; beside a discrete GPU it is the
    host's RAM. The parts overlap on purpose (GPU processes and the container both sit inside
    total - available); they are shown side by side, never summed.
    """

    total_bytes: Num
    """MemTotal."""
    available_bytes: Num
    """MemAvailable: what the kernel can hand out without swapping, page cache reclaim included."""
    free_bytes: Num
    """MemFree: unused right now (what CUDA reports as free on unified memory)."""
    page_cache_bytes: Num
    """Buffers + Cached: file pages, including shared memory and tmpfs."""
    reclaimable_bytes: Num
    """MemAvailable - MemFree: the kernel's estimate of what reclaiming caches would free."""
    gpu_processes_bytes: Num
    """Sum of NVML's per-process memory on unified-memory devices."""
    container_bytes: Num
    """The vLLM container's cgroup working set (usage minus inactive file cache, as docker stats)."""
    psi_some_avg10: Num
    """Memory pressure: % of the last 10 s some task stalled on memory."""
    psi_full_avg10: Num
    """Memory pressure: % of the last 10 s all non-idle tasks stalled on memory."""
    description: str = ""
    """What this memory is: unified with a GPU (which), host RAM beside a discrete GPU, or plain host."""
    gpu_processes_unreported: int = 0
    """GPU processes whose memory NVML did not report: ``gpu_processes_bytes`` is then a lower bound."""


GpuStatus = Literal["ok", "no-library", "no-driver", "no-permission", "gpu-lost", "no-device", "error"]


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU collection tick. ``status`` says why ``devices`` is empty when it is."""

    t: float
    status: GpuStatus
    detail: str
    devices: tuple[GpuDevice, ...]
    memory: HostMemory
    simulated: bool = False
    driver_version: str | Unknown = Unknown("no GPU readings")
    retry_in_s: float | None = None
    """When NVML is not usable: seconds until the collector tries again."""


# --------------------------------------------------------------------------------------------------
# Containers: vLLM's startup as its log tells it, and the container's own readings


@dataclass(frozen=True, slots=True)
class StartupPhase:
    """One startup phase seen in vLLM's log (weights, compile, kv_cache, graphs...).

    ``ended`` is None while the phase runs; ``detail`` is what the log said about it (sizes, times).
    """

    name: str
    started: float
    ended: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StartupProgress:
    """Where vLLM's startup stands, derived from its log lines (see ``sparktop.container.phases``)."""

    phases: tuple[StartupPhase, ...] = ()
    current: str | None = None
    """The phase running now; None before the first line and once ready or failed."""
    percent: float | None = None
    """Progress of the current phase (weights shards, CUDA graphs) when the log shows one."""
    ready: bool = False
    fatal: str | None = None
    """The log line that ended the startup (a known fatal error), cleaned of escapes."""
    hint: str | None = None
    """What to do about ``fatal``."""
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    """vLLM's "Maximum concurrency for N tokens per request" figure."""
    max_concurrency_tokens: int | None = None
    """The N of that figure (the max model length)."""


ContainerState = Literal[
    "created", "running", "paused", "restarting", "removing", "exited", "dead", "missing"
]
"""Docker's container states, and ``missing`` for a container that no longer exists."""


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """One reading of the serving container: Docker's state and its CPU and memory use.

    ``cpu_pct`` is % of one core (200 = two cores busy), from the stats API's counters between two
    readings; ``mem_bytes`` is usage minus inactive file cache, as ``docker stats`` shows it.
    """

    t: float
    name: str
    state: ContainerState
    cpu_pct: Num
    mem_bytes: Num
    mem_limit_bytes: Num
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    """Why the container is not running (exit reason, Docker's own error), empty while it runs."""


# --------------------------------------------------------------------------------------------------
# Derived figures (what views show; computed only in sparktop.derive)


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """One latency histogram over a window: quantiles and mean in seconds, observations counted.

    Server-side quantiles are interpolated inside a histogram bucket: ``buckets`` holds, for each of
    p50, p90, p95 and p99, the bounds of the bucket it lies in (absent when none is known), which
    is all the data says about it."""

    p50: Num
    p90: Num
    p95: Num
    p99: Num
    mean: Num
    count: Num
    buckets: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything derived from the vLLM series at one moment, over one window.

    Rates are per second over the window; gauges are the latest reading.
    """

    t: float
    window_s: float
    """The span the percentiles cover (shorter than asked until enough history exists)."""
    requests_running: Num
    requests_waiting: Num
    kv_cache_usage: Num
    kv_cache_capacity_tokens: Num
    kv_cache_used_tokens: Num
    prompt_tps: Num
    generation_tps: Num
    """Generation tokens per second of the window (the counter's rate)."""
    decode_tps: Num
    """Aggregate decode speed: generation tokens per second while requests ran (see
    ``derive.timeline.decode_share``); 0 when none ran."""
    decode_tps_per_request: Num
    """Decode per user: generation tokens per request-second of running; never above ``decode_tps``."""
    """Generation tokens/s divided by the mean number of running requests over the window."""
    preemptions_per_s: Num
    preemptions_total: Num
    requests_per_s: Num
    """Finished requests per second (every finished_reason)."""
    failed_per_s: Num
    """Requests per second that finished with ``abort`` or ``error``."""
    finished_in_window: Mapping[str, float] | Unknown
    finished_total: Mapping[str, float] | Unknown
    spec_decode_acceptance: Num
    """Accepted per draft token over the rate window (speculative decoding)."""
    prefix_cache_hit_rate: Num
    """Hit per queried prompt token over the rate window."""
    latency: Mapping[str, LatencyStats | Unknown]
    """Keyed like ``HISTOGRAM_KEYS``: ttft, itl, e2e, queue, prefill, decode, inference, tpot."""
    counter_resets: int = 0
    """How many times the server's counters were seen to reset (restarts) so far."""
    spec_decode_mean_length: Num = Unknown("not computed")
    """Tokens per decode step with speculative decoding: 1 + accepted per draft (vLLM's mean
    acceptance length)."""


# --------------------------------------------------------------------------------------------------
# What a session knows about its target, and the frame views render


TargetKind = Literal["url", "container", "simulator", "replay", "prometheus"]


SIMULATED_KEY = "sparktop_simulated"
"""The key the simulated Spark adds to its ``/version`` answer, so it is labelled SIMULATED wherever it
is watched from (vLLM's own answer holds only ``version``)."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server says about itself (``/version``, ``/v1/models``), asked at ``t``."""

    t: float
    version: str | Unknown
    models: tuple[str, ...]
    max_model_len: int | None = None
    root: str | None = None
    simulated: bool = False
    """The server is the simulated Spark (its ``/version`` says so, whatever it poses as)."""


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What is being watched. ``profile`` is the serving profile's name (BF16, NVFP4, MTP...)."""

    label: str
    kind: TargetKind
    model: str | Unknown = Unknown("not known yet")
    profile: str | Unknown = Unknown("not given")
    version: str | Unknown = Unknown("not known yet")
    simulated: bool = False
    max_model_len: int | None = None


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """The server's state, since when, and how scraping goes."""

    state: ServerState
    since: float
    detail: str
    scrape_ok: bool
    scrape_latency_s: float | None
    failed_scrapes: int
    """Consecutive scrapes that brought no figures."""
    last_ok: float | None


@dataclass(frozen=True, slots=True)
class ClientFigures:
    """sparktop's own workload, measured on the client, over the window."""

    ttft_p50: Num
    ttft_p99: Num
    tpot_p50: Num
    e2e_p50: Num
    completed: int
    failed: int
    failures: Mapping[str, int]
    """Failed requests in the window by reason."""
    oldest_unanswered_s: Num = Unknown("no request waiting for its first token")
    """Age of the oldest request in flight without a first token (see ``WorkloadProgress``)."""


@dataclass(frozen=True, slots=True)
class GpuFigures:
    """Figures derived from GPU samples over the rate window."""

    power_avg_w: Num
    energy_per_token_j: Num


@dataclass(frozen=True, slots=True)
class History:
    """Recent values of the plotted series, one point per scrape; NaN where unknown."""

    t: tuple[float, ...]
    series: Mapping[str, tuple[float, ...]]
    span_s: float


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    path: str
    bytes: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    position: float
    start: float
    end: float
    speed: float
    playing: bool


# --------------------------------------------------------------------------------------------------
# Workload (the load generator's client-side observations)


@dataclass(frozen=True, slots=True)
class ItlSummary:
    """The gaps between successive token-bearing chunks of one response, in seconds.

    A chunk may carry several tokens (speculative decoding), so ``count`` is chunks minus one, as
    in ``vllm bench serve``. Every figure is ``Unknown`` when the response had fewer than two chunks.
    """

    count: int
    mean: Num
    p50: Num
    p90: Num
    p99: Num
    max: Num


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the load generator saw it: raw client-side timings, never derived figures.

    Times are epoch seconds from the injected clock. ``first_token`` is the arrival of the first
    chunk that carries content or reasoning text (an empty or role-only chunk does not count);
    ``end`` is the arrival of the last token-bearing chunk for a complete response (the end of
    ``vllm bench serve``'s latency), or the moment the request failed. A failed request keeps what
    it got before it failed and says why in ``error``.
    """

    id: int
    phase: str
    start: float
    first_token: float | None
    end: float | None
    prompt_tokens: int
    output_tokens: int
    itl: ItlSummary
    ok: bool
    status: int | None
    error: str | None
    finish_reason: str | None
    gaps: tuple[float, ...] = ()
    """Every gap (s) between successive token-bearing chunks: the raw series ``itl`` summarises."""
    sent: float | None = None
    """When the request's last byte left for the server (``start`` plus the time to send it)."""
    first_response: float | None = None
    """Arrival of the first byte of the response body (llama-benchy's time to first response)."""
    scheduled: float | None = None
    """When the arrival process wanted the request sent (open loop: waiting for a concurrency slot
    delays ``start``)."""
    user: int = 0
    """Closed loop: which of the lockstep users sent it."""
    turn: int = 0
    """Turn of a multi-turn conversation (0 for the first)."""
    batch: int = 0
    """Closed loop: the lockstep round (within its phase) the request belonged to."""
    warmup: bool = False
    """A warm-up request: shown, but left out of the summary figures."""
    source: str = "sparktop"
    """What measured it: ``sparktop``, ``vllm-bench-serve`` or ``llama-benchy``."""
    response_id: str | None = None
    """The server's id for the response (the ``id`` of its chunks; vLLM logs it)."""
    usage_problem: str | None = None
    """Why the token counts the server reported cannot be right, when the client can tell from
    what it sent (a prompt count unlike the tokens sent, more tokens than asked for, a count that
    is not a whole number), starting with the ``usage`` field's name. The counts are kept as
    reported; the figures they feed are unknown."""


@dataclass(frozen=True, slots=True)
class WorkloadProgress:
    """Where sparktop's own workload stands at ``t``."""

    phase: str
    done: int
    total: int | None
    in_flight: int
    failed: int
    elapsed_s: float
    t: float = 0.0
    unanswered_since: float | None = None
    """When the oldest request in flight that has no first token yet was sent (None: there is
    none): while the queue grows, its age is the TTFT that finished requests cannot show yet."""


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything every view needs at one moment. Views render frames; they compute nothing."""

    t: float
    target: TargetInfo
    server: ServerStatus
    figures: Figures | None
    client: ClientFigures | None
    gpu: GpuSample | None
    gpu_figures: GpuFigures
    workload: WorkloadProgress | None
    events: tuple[Event, ...]
    history: History
    window_s: float
    rate_window_s: float
    recording: RecordingStatus | None = None
    replay: ReplayStatus | None = None
    startup: StartupProgress | None = None
    """vLLM's startup from the container's log, when there is a log to read."""
    container: ContainerStats | None = None
    """The serving container's latest reading, when watching a container."""
    interval_s: float = 1.0
    """Seconds between scrapes: figures older than two intervals are stale."""
    fleet: FleetView | None = None
    """Every target's frame at this moment, when the view watches several servers (this frame is
    then the one of the target the view follows, or the first)."""


@dataclass(frozen=True, slots=True)
class FleetView:
    """Several servers watched at once: one frame per target, in the order they were given."""

    frames: tuple[Frame, ...]
    selected: int | None = None
    """The target whose full dashboard is open (None: the fleet screen)."""
