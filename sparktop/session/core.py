"""A session: raw observations in, frames out.

Sources (the scraper, the GPU collector, the workload, a container, a replay) hand their raw
observations to ``Session.observe``. The session passes each one, untouched, to its sinks (the
recorder) and then derives from it: the timeline's figures, the plotted history, the server's state
and the events that state changes produce. ``frame()`` assembles a frozen ``Frame`` from what has
been derived; it does no I/O and computes no statistics of its own.

Because everything derived is a function of the observations and their order, feeding a recorded
session's observations back through a new ``Session`` gives the same frames (that is what replay
does).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from sparktop.container.phases import PhaseTracker
from sparktop.derive.client import ClientWindow
from sparktop.derive.energy import energy_per_token, total_energy_mj
from sparktop.derive.history import HistoryStore
from sparktop.derive.timeline import Timeline
from sparktop.model import (
    ClientFigures,
    ContainerStats,
    Event,
    Figures,
    Frame,
    GpuFigures,
    GpuSample,
    LatencyStats,
    Level,
    Num,
    RecordingStatus,
    ReplayStatus,
    RequestRecord,
    ScrapeResult,
    ServerInfo,
    ServerStatus,
    StartupProgress,
    TargetInfo,
    Unknown,
    WorkloadProgress,
    is_known,
)
from sparktop.recording.kinds import time_of
from sparktop.scrape_state import figures_unread, scrape_state

Observation = (
    ScrapeResult | GpuSample | Event | ServerInfo | WorkloadProgress | RequestRecord | ContainerStats
)
HISTORY_LATENCY = ("ttft",)
"""Latency histograms whose figures go into the plotted history at every scrape."""
Sink = Callable[[Observation], None]

_STATE_LEVEL = {
    "healthy": "info",
    "starting": "info",
    "metrics-disabled": "warning",
    "unresponsive": "warning",
    "unreachable": "error",
    "dead": "error",
    "unknown": "info",
}


class Session:
    """Derives frames from observations. Single-threaded: call it from one event loop."""

    def __init__(
        self,
        target: TargetInfo,
        *,
        window_s: float = 60.0,
        rate_window_s: float = 10.0,
        history_s: float = 1800.0,
        max_events: int = 2000,
        start: float = 0.0,
        interval_s: float = 1.0,
    ) -> None:
        self.target = target
        self.interval_s = interval_s
        self.window_s = window_s
        self.rate_window_s = rate_window_s
        self.timeline = Timeline(retention_s=max(window_s, rate_window_s) + 30.0)
        self.history = HistoryStore(capacity_s=history_s)
        self.events: deque[Event] = deque(maxlen=max_events)
        self.sinks: list[Sink] = []
        self._figures: Figures | None = None
        self._history_figures: Figures | None = None
        self._figures_stale = False
        self.gpu: GpuSample | None = None
        self.workload: WorkloadProgress | None = None
        self.recording: RecordingStatus | None = None
        self.recording_status: Callable[[], RecordingStatus] | None = None
        """Asked at every frame for the recorder's state (path, size, stopped and why)."""
        self.replay: ReplayStatus | None = None
        self.container: ContainerStats | None = None
        self.logs: deque[Event] = deque(maxlen=200)
        """The latest container log lines (raw events; the startup they tell is in ``startup``)."""
        self._phases: PhaseTracker | None = None
        self.server = ServerStatus("unknown", start, "no scrape yet", False, None, 0, None)
        self.client_window = ClientWindow(retention_s=max(window_s, rate_window_s) + 60.0)
        self._last_t = start
        self._power: deque[tuple[float, float]] = deque(maxlen=4096)
        self._energy: deque[tuple[float, Num]] = deque(maxlen=4096)
        self._tokens: deque[tuple[float, Num]] = deque(maxlen=4096)

    # ----------------------------------------------------------------------------------------------
    # in

    def observe(self, obs: Observation) -> None:
        """Take in one raw observation: sinks first, then derivation."""
        for sink in self.sinks:
            sink(obs)
        self._last_t = max(self._last_t, time_of(obs))
        if isinstance(obs, ScrapeResult):
            self._scrape(obs)
        elif isinstance(obs, GpuSample):
            self._gpu(obs)
        elif isinstance(obs, Event):
            if obs.kind == "log":
                self._log(obs)
            else:
                self.events.append(obs)
        elif isinstance(obs, ServerInfo):
            self._info(obs)
        elif isinstance(obs, WorkloadProgress):
            self.workload = obs
        elif isinstance(obs, RequestRecord):
            self.client_window.add(obs)
        elif isinstance(obs, ContainerStats):
            self.container = obs

    def _log(self, line: Event) -> None:
        """A log line is kept apart from the events; the startup phases it tells become events."""
        self.logs.append(line)
        if self._phases is None:
            self._phases = PhaseTracker()
        self.events.extend(self._phases.feed(line.t, line.text))

    @property
    def startup(self) -> StartupProgress | None:
        """vLLM's startup as the log told it; None until a startup line was seen."""
        tracker = self._phases
        return tracker.progress if tracker is not None and tracker.seen_startup else None

    def _scrape(self, result: ScrapeResult) -> None:
        previous = self.server
        ok = result.snapshot is not None
        since = previous.since if previous.state == result.state else result.t
        self.server = ServerStatus(
            state=result.state,
            since=since,
            detail=result.detail,
            scrape_ok=ok,
            scrape_latency_s=result.latency_s,
            failed_scrapes=0 if ok else previous.failed_scrapes + 1,
            last_ok=result.t if ok else previous.last_ok,
        )
        self._state_events(previous, result)
        if result.snapshot is not None:
            resets = self.timeline.resets
            self.timeline.add(result.snapshot)
            if self.timeline.resets > resets:
                self.events.append(
                    Event(
                        result.t, "state", "counters went down: the server restarted", "sparktop", "warning"
                    )
                )
            # the history needs only some latencies; the rest wait until a frame asks for them
            self._history_figures = self.timeline.figures(self.window_s, self.rate_window_s, HISTORY_LATENCY)
            self._figures_stale = True
            tokens = result.snapshot.scalars.get("generation_tokens_total")
            if tokens is not None:
                self._tokens.append((result.t, tokens))
        self._append_history(result.t, ok)

    def _state_events(self, previous: ServerStatus, result: ScrapeResult) -> None:
        """Events for a change of the server's health, and of whether its figures are read: two
        facts (a server answers /health with 200 while its /metrics fails or stalls), told apart."""
        server = self.server
        unread = figures_unread(server)
        if previous.state != result.state:
            level: Level = _STATE_LEVEL.get(result.state, "info")  # type: ignore[assignment]
            if unread and result.state == "healthy":
                text = (
                    f"server healthy (/health answers), but its figures are not read: {result.detail} "
                    f"(scrape {scrape_state(server)})"
                )
                level = "warning"
            else:
                text = f"server {result.state}: {result.detail}"
            self.events.append(Event(result.t, "state", text, "sparktop", level))
        elif unread and not figures_unread(previous) and previous.state != "unknown":
            self.events.append(
                Event(
                    result.t,
                    "state",
                    f"figures not read: {result.detail} (scrape {scrape_state(server)}; "
                    f"the server is still {result.state})",
                    "sparktop",
                    "warning",
                )
            )
        elif server.scrape_ok and figures_unread(previous) and previous.state == result.state:
            self.events.append(Event(result.t, "state", "figures read again (scrape ok)", "sparktop", "info"))

    def _gpu(self, sample: GpuSample) -> None:
        self.gpu = sample
        power = [d.power_w for d in sample.devices if is_known(d.power_w)]
        if power:
            self._power.append((sample.t, math.fsum(power)))
        self._energy.append((sample.t, total_energy_mj(sample)))

    def _info(self, info: ServerInfo) -> None:
        target = self.target
        model: str | Unknown = info.models[0] if info.models else target.model
        self.target = replace(
            target,
            model=model,
            version=info.version if not isinstance(info.version, Unknown) else target.version,
            max_model_len=info.max_model_len or target.max_model_len,
            simulated=target.simulated or info.simulated,
        )

    def _append_history(self, t: float, ok: bool) -> None:
        values: dict[str, float] = {}
        f = self._history_figures if ok else None
        if f is not None:
            _put(values, "running", f.requests_running)
            _put(values, "waiting", f.requests_waiting)
            _put(values, "kv_usage", f.kv_cache_usage)
            _put(values, "preemptions_per_s", f.preemptions_per_s)
            _put(values, "gen_tps", f.generation_tps)
            _put(values, "decode_tps", f.decode_tps)
            _put(values, "decode_per_user", f.decode_tps_per_request)
            _put(values, "prompt_tps", f.prompt_tps)
            _put(values, "requests_per_s", f.requests_per_s)
            _put(values, "failed_per_s", f.failed_per_s)
            ttft = f.latency.get("ttft")
            if isinstance(ttft, LatencyStats):
                _put(values, "ttft_p50", ttft.p50)
                _put(values, "ttft_p99", ttft.p99)
        client = self.client_window.figures(t, self.window_s)
        if client is not None:
            _put(values, "client_ttft_p50", client.ttft_p50)
            _put(values, "client_ttft_p99", client.ttft_p99)
        gpu = self.gpu
        if gpu is not None and gpu.devices:
            device = gpu.devices[0]
            _put(values, "gpu_util", device.utilization_pct)
            _put(values, "gpu_power", device.power_w)
            _put(values, "gpu_temp", device.temperature_c)
            _put(values, "mem_gpu_bytes", gpu.memory.gpu_processes_bytes)
            _put(values, "mem_available_bytes", gpu.memory.available_bytes)
        elif gpu is not None:
            _put(values, "mem_available_bytes", gpu.memory.available_bytes)
        self.history.append(t, values)

    # ----------------------------------------------------------------------------------------------
    # out

    @property
    def figures(self) -> Figures | None:
        """Every figure at the latest scrape (computed on first use after each scrape)."""
        if self._figures_stale:
            self._figures = self.timeline.figures(self.window_s, self.rate_window_s)
            self._figures_stale = False
        return self._figures

    def gpu_figures(self, now: float) -> GpuFigures:
        start = now - self.rate_window_s
        recent = [p for t, p in self._power if t >= start]
        power: Num = math.fsum(recent) / len(recent) if recent else Unknown("no power readings in the window")
        energy: Num
        if not self._energy:
            energy = Unknown("no GPU readings")
        else:
            energy = energy_per_token(list(self._energy), list(self._tokens), self.rate_window_s, now)
        return GpuFigures(power, energy)

    def _client_figures(self, t: float) -> ClientFigures | None:
        """The client's figures over the window, with the age of the oldest request still waiting
        for its first token: finished requests alone lag exactly when the queue grows."""
        client = self.client_window.figures(t, self.window_s)
        w = self.workload
        if w is None or w.unanswered_since is None:
            return client
        age = max(0.0, t - w.unanswered_since)
        if client is None:
            nothing = Unknown("no request of sparktop's finished yet")
            return ClientFigures(nothing, nothing, nothing, nothing, 0, 0, {}, age)
        return replace(client, oldest_unanswered_s=age)

    def frame(self, span_s: float, now: float | None = None) -> Frame:
        """The frame at ``now`` (default: the newest observation) with ``span_s`` seconds of history."""
        t = self._last_t if now is None else now
        return Frame(
            t=t,
            target=self.target,
            server=self.server,
            figures=self.figures,
            client=self._client_figures(t),
            gpu=self.gpu,
            gpu_figures=self.gpu_figures(t),
            workload=self.workload,
            events=tuple(self.events),
            history=self.history.view(span_s, now=t if now is not None else None),
            window_s=self.window_s,
            rate_window_s=self.rate_window_s,
            recording=self.recording_status() if self.recording_status is not None else self.recording,
            replay=self.replay,
            startup=self.startup,
            container=self.container,
            interval_s=self.interval_s,
        )


def _put(values: dict[str, float], name: str, value: Num | None) -> None:
    if value is not None and not isinstance(value, Unknown):
        values[name] = value
