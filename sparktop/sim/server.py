"""The simulated vLLM server: a profile's engine behind vLLM's HTTP API, in scaled real time.

``SimServer`` binds its port at once, runs vLLM's startup (log lines, phases, memory checks) and
only then serves HTTP, so early clients connect and wait as they do on vLLM. The engine loop plans a
step, sleeps until its tokens are due, writes every stream's chunk for that step directly to the
sockets, and records how late it was. There is one time base, the wall clock (``timebase.py``): at
``speed`` X every modelled duration (steps, startup phases, faults, the stats interval) is divided
by X, so the server behaves as a Spark X times faster and all it shows is in wall seconds.

    async with SimServer(SimConfig(profile="gemma4-26b-a4b-nvfp4", startup="fast")) as sim:
        await sim.wait_ready()
        ... sim.url ...

``start_in_thread`` runs one on its own event loop in a daemon thread (``threaded.SimHandle``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast
from urllib.parse import parse_qsl

import orjson

from sparktop import codec
from sparktop.model import SIMULATED_KEY, GpuSample
from sparktop.sim import startup as st
from sparktop.sim.calibration import engine_config
from sparktop.sim.engine import Engine, Request, StepResult
from sparktop.sim.faults import FaultConfig
from sparktop.sim.gpu import SimGpu
from sparktop.sim.httpserver import HttpConnection, HttpRequest, HttpServer, bind_socket
from sparktop.sim.memory import DEFAULT_HOST_USED_BYTES, plan_memory
from sparktop.sim.openai_api import (
    METHOD_NOT_ALLOWED_BODY,
    NOT_FOUND_BODY,
    ApiError,
    Kind,
    ServedModel,
    engine_dead,
    fingerprint,
    models_payload,
    parse_generation,
    parse_tokenize,
    validation_error,
)
from sparktop.sim.profiles import GIB, Profile, Serving, get_profile
from sparktop.sim.responses_api import parse_responses
from sparktop.sim.stats import ServerMetrics, cache_config_labels
from sparktop.sim.streams import Generation, GenerationStream, plan_output
from sparktop.sim.timebase import SimClock
from sparktop.sim.vllm_metrics import STYLES, Style

if TYPE_CHECKING:
    from sparktop.sim.threaded import SimHandle

State = Literal["created", "starting", "ready", "failed", "dead", "stopped"]
LEGACY_VERSIONS: dict[Style, str] = {"v0.10": "0.10.2", "v0.7": "0.7.3"}
"""What ``/version`` answers when the server poses as an older vLLM."""
METRICS_CONTENT_TYPE = b"text/plain; version=1.0.0; charset=utf-8"
"""What vLLM 0.32's ``/metrics`` answers with, whatever the Accept header (prometheus-client 0.26)."""
LEGACY_METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
"""The older releases' (``--metrics-style v0.10`` or ``v0.7``)."""
JSON = b"application/json"
TRACE_KEEP = 20000
_STATUS_TYPES = {400: "BadRequestError", 404: "NotFoundError", 503: "ServiceUnavailableError"}
_FAULT_MESSAGE = "EngineCore encountered an issue. See stack trace (above) for the root cause."
"""Requests ``/sim/trace`` remembers (the oldest are forgotten first)."""
DEAD_LINGER_S = 2.0
"""Model seconds a dead engine's API server keeps answering (503) before it exits."""
LOG_KEEP = 5000
"""Log lines the server remembers (``logs``, ``/sim/log``); the oldest are forgotten first."""
LOG_PAGE = 500
"""The most lines one ``/sim/log`` answer carries (a reader behind asks again at once)."""
LOG_TAIL = 200
"""The lines a first ``/sim/log`` read (no ``after``) gets: the latest ones, startup included."""


class SimStartupError(RuntimeError):
    """The simulated vLLM failed to start; the message is vLLM's root-cause line."""


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulated server needs; ``None`` overrides keep the profile's value."""

    profile: str = "gemma4-26b-a4b-nvfp4"
    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    seed: int = 0
    startup: st.StartupMode = "realistic"
    metrics_style: Style = "current"
    faults: FaultConfig = field(default_factory=FaultConfig)
    served_model_name: str | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: str | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    enable_prefix_caching: bool | None = None
    """``--enable-prefix-caching`` / ``--no-enable-prefix-caching`` (the profile's choice when None)."""
    host_used_gib: float | None = None
    """Memory the rest of the host holds before vLLM starts (default 3.8 GiB)."""
    vllm_version: str | None = None
    """The vLLM the server poses as (default: the profile's; older ones may not know the model)."""
    log_file: TextIO | None = None
    """Also print every log line here (``sys.stdout`` for ``sparktop sim``)."""
    stats_interval_s: float = 10.0
    stats_when_idle: bool = False
    """Print the periodic stats line even when idle (vLLM prints it only around activity)."""
    access_log: bool = True

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        if self.startup not in st.STARTUP_MODES:
            raise ValueError(f"startup must be one of {', '.join(st.STARTUP_MODES)}, got {self.startup!r}")
        if self.metrics_style not in STYLES:
            raise ValueError(f"metrics_style must be one of {', '.join(STYLES)}, got {self.metrics_style!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.host_used_gib is not None and self.host_used_gib < 0:
            raise ValueError(f"host_used_gib must not be negative, got {self.host_used_gib}")

    def serving(self, profile: Profile) -> Serving:
        """The profile's serving flags with this config's overrides."""
        overrides: dict[str, Any] = {
            k: v
            for k, v in (
                ("max_model_len", self.max_model_len),
                ("gpu_memory_utilization", self.gpu_memory_utilization),
                ("kv_cache_dtype", self.kv_cache_dtype),
                ("max_num_seqs", self.max_num_seqs),
                ("max_num_batched_tokens", self.max_num_batched_tokens),
                ("enable_prefix_caching", self.enable_prefix_caching),
            )
            if v is not None
        }
        return replace(profile.serving, **overrides)


class SimServer:
    """One simulated vLLM server (see the module docstring)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.profile = get_profile(config.profile)
        self.serving = config.serving(self.profile)
        self.clock = SimClock(config.speed)
        host_used = (
            int(config.host_used_gib * GIB) if config.host_used_gib is not None else DEFAULT_HOST_USED_BYTES
        )
        self.plan = plan_memory(self.profile, self.serving, host_used_bytes=host_used)
        self.vllm_version = config.vllm_version or self.profile.vllm_version
        """The vLLM the server runs as (startup log, which architectures it knows)."""
        self.reported_version = config.vllm_version or LEGACY_VERSIONS.get(
            config.metrics_style, self.vllm_version
        )
        """What ``/version`` answers: an older release's number when posing with its metric names."""
        name = config.served_model_name or self.profile.served_model_name
        self.system_fingerprint = fingerprint(self.reported_version, self.profile.name, name, self.serving)
        """``system_fingerprint`` of every answer (the version and a hash of the configuration)."""
        self.served = ServedModel(
            name=name,
            root=self.profile.hf_model,
            max_model_len=self.serving.max_model_len,
            reasoning=self.profile.reasoning,
            prefix_block_size=self.serving.block_size if self.serving.enable_prefix_caching else 0,
        )
        self.engine = Engine(
            replace(
                engine_config(self.profile, self.serving, seed=config.seed),
                enable_prefix_caching=self.serving.enable_prefix_caching,
                time_scale=self.clock.time_scale,
            )
        )
        spec = self.profile.spec
        self.metrics = ServerMetrics(
            name,
            style=config.metrics_style,
            max_model_len=self.serving.max_model_len,
            spec_positions=spec.num_speculative_tokens if spec else 0,
            cache_config=cache_config_labels(
                block_size=self.serving.block_size,
                num_gpu_blocks=self.plan.num_blocks,
                utilization=self.serving.gpu_memory_utilization,
                dtype=self.serving.kv_cache_dtype,
                max_model_len=self.serving.max_model_len,
                prefix_caching=self.serving.enable_prefix_caching,
                style=config.metrics_style,
            ),
            sim_info={"profile": self.profile.name, "speed": f"{config.speed:g}", "simulated": "true"},
        )
        self.gpu = SimGpu(self.plan, start=self.clock.now(), host_used_bytes=host_used, seed=config.seed)
        self._gpu_lock = threading.Lock()
        self.state: State = "created"
        self._served = False
        self.phase = "process"
        self.error: str | None = None
        self.exit_code = 0
        self.logs: deque[str] = deque(maxlen=LOG_KEEP)
        self._log_times: deque[float] = deque(maxlen=LOG_KEEP)
        self._log_count = 0
        """Lines logged so far: line ``n`` (from 1) is the ``n``-th, for ``/sim/log?after=N``."""
        self._listeners: list[Callable[[str], None]] = []
        self._http: HttpServer | None = None
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._shutdown_task: asyncio.Future[None] | None = None
        self._active: set[Generation] = set()
        """API requests being answered."""
        self._count = 0
        self._trace: OrderedDict[str, list[float | None]] = OrderedDict()
        """Response id -> [request parsed, first token written] in ``time.monotonic()`` seconds."""
        self.created = int(self.clock.now())
        self.url = ""
        self._ballast: list[bytes] = []

    # lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the port and begin vLLM's startup; returns once clients can connect."""
        if self.state != "created":
            raise RuntimeError("a SimServer starts once")
        sock = bind_socket(self.config.host, self.config.port)
        self._http = HttpServer(sock, self._handle, self._on_response)
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self._http.port}"
        self.state = "starting"
        self._spawn(self._run_startup())

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            self.error = f"simulator fault: {task.exception()!r}"
            self._log(st.api(self.error, "sparktop_sim.py:1", "ERROR"))
            self._shutdown_task = asyncio.ensure_future(self._shut(1))

    async def wait_ready(self) -> None:
        """Wait until the server answers HTTP; raises ``SimStartupError`` if startup failed."""
        await self._ready.wait()
        if not self._served:
            raise SimStartupError(self.error or "the simulated server stopped before it was ready")

    async def wait_closed(self) -> int:
        """Wait until the server has exited; its exit code (0 stopped, 1 crashed or failed)."""
        await self._closed.wait()
        return self.exit_code

    async def stop(self) -> None:
        """Shut down (idempotent)."""
        await self._shut(self.exit_code)

    async def _shut(self, code: int) -> None:
        if self.state == "stopped":
            return
        was_serving = self.state in ("ready", "dead")
        self.state = "stopped"
        self.exit_code = code
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for group in list(self._active):
            group.fail(engine_dead())
        self._active.clear()
        if self._http is not None:
            await self._http.close()
        if was_serving:
            for line in st.shutdown_lines():
                self._log(line)
        with self._gpu_lock:
            self.gpu.set_phase("stopped", self.clock.now(), 0.0)
        self._ready.set()
        self._closed.set()

    # logs ---------------------------------------------------------------------------------------

    def add_log_listener(self, callback: Callable[[str], None]) -> None:
        """``callback(line)`` for every vLLM-format log line from now on."""
        self._listeners.append(callback)

    def _log(self, line: st.LogLine) -> None:
        now = self.clock.now()
        text = st.LogFormat.render(line, now)
        self.logs.append(text)
        self._log_times.append(now)
        self._log_count += 1
        for callback in list(self._listeners):
            try:
                callback(text)
            except Exception:  # a listener's failure is the listener's problem
                self._listeners.remove(callback)
        out = self.config.log_file
        if out is not None:
            with contextlib.suppress(OSError, ValueError):
                print(text, file=out, flush=True)

    # startup ------------------------------------------------------------------------------------

    async def _run_startup(self) -> None:
        assert self._http is not None
        steps = st.startup_script(
            self.profile,
            self.serving,
            self.plan,
            mode=self.config.startup,
            served_model_name=self.served.name,
            host=self.config.host,
            port=self._http.port,
            vllm_version=self.vllm_version,
            force_kv_error=self.config.faults.fail_startup_kv,
        )
        for i, step in enumerate(steps):
            await self.clock.sleep(step.after_s)
            if step.phase is not None:
                self.phase = step.phase
                if step.phase == "weights" and self.config.faults.alloc_mib:
                    self._ballast = _touched_memory(self.config.faults.alloc_mib)
                until_next = 0.0
                for later in steps[i + 1 :]:
                    until_next += later.after_s
                    if later.phase is not None:
                        break
                with self._gpu_lock:
                    self.gpu.set_phase(step.phase, self.clock.now(), self.clock.scaled(until_next))
            for line in step.lines:
                self._log(line)
            if step.error is not None:
                self.error = step.error
                self.state = "failed"
                self._ready.set()
                await self._shut(1)
                return
        await self._http.start_serving()
        self._served = True
        self.state = "ready"
        self._ready.set()
        self._spawn(self._engine_loop())
        self._spawn(self._stats_loop())
        if self.config.faults.crash_after_s is not None:
            self._spawn(self._crash_after(self.config.faults.crash_after_s))

    # the engine loop ----------------------------------------------------------------------------

    async def _engine_loop(self) -> None:
        engine = self.engine
        clock = self.clock
        cursor: float | None = None
        while True:
            if not engine.has_work:
                cursor = None
                self._wake.clear()
                await self._wake.wait()
                continue
            t = clock.now() if cursor is None else cursor
            result = engine.step(t)
            if result is None:
                wake = engine.next_wakeup()
                if wake is None:
                    continue
                cursor = max(wake, t)
                await clock.sleep_until(cursor)
                continue
            await clock.sleep_until(result.end)
            self._deliver(result)
            cursor = result.end

    def _deliver(self, result: StepResult) -> None:
        metrics = self.metrics
        end = result.end
        abort_after = self.config.faults.abort_after_tokens
        for req, count in result.emissions:
            stream = cast(GenerationStream, req.tag)
            if req.aborted or stream.done:
                continue
            if stream.sent == 0:
                entry = self._trace.get(stream.rid)
                if entry is not None:
                    entry[1] = time.monotonic()
                metrics.first_token(end - req.arrival)
            else:
                metrics.token_gap(end - stream.last_emit)
            stream.last_emit = end
            stream.emit(count, req.done)
            if abort_after is not None and not req.done and stream.sent >= abort_after:
                self.engine.abort(req, end)
                stream.finish("abort")
                self._request_finished(req, "abort", end)
        for req in result.finished:
            self._request_finished(req, req.finish_reason, end)
        lag = time.monotonic() - self.clock.mono_at(end)
        metrics.step(result, lag)
        # the step was planned at its start: requests added or aborted since then count now
        engine = self.engine
        metrics.queue_update(len(engine.running), len(engine.waiting), engine.kv_usage)

    def _request_finished(self, req: Request, reason: str, now: float) -> None:
        """Metrics for a request that left the engine; its API request ends with its last choice."""
        group = cast(GenerationStream, req.tag).group
        group.reported += 1
        last = group.reported == len(group.choices)
        self.metrics.finished(req, reason, now, group_n=len(group.choices) if last else None)
        if group.done:
            self._active.discard(group)

    async def _stats_loop(self) -> None:
        interval = self.config.stats_interval_s
        was_active = False
        last = self.clock.now()
        while True:
            await self.clock.sleep(interval)
            now = self.clock.now()
            elapsed, last = now - last, now
            window = self.metrics.take_window()
            active = window.active or bool(self._active)
            if not (active or was_active or self.config.stats_when_idle):
                continue
            was_active = active
            engine = self.engine
            line = self.metrics.stats_line(
                window, elapsed, len(engine.running), len(engine.waiting), engine.kv_usage
            )
            self._log(st.api(line, "loggers.py:335"))

    async def _crash_after(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        await self.crash()

    async def crash(self, error: str | None = None) -> None:
        """The engine dies now: vLLM's fatal-error log, failed requests, then the server exits (code 1)."""
        if self.state != "ready":
            return
        self.state = "dead"
        self.error = error or self.config.faults.crash_error
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        for line in st.crash_lines(self.error):
            self._log(line)
        now = self.clock.now()
        for group in list(self._active):
            group.fail(engine_dead())
            for choice in group.choices:
                if not choice.engine_request.done:
                    self.metrics.finished(choice.engine_request, "error", now)
        self._active.clear()
        with self._gpu_lock:
            self.gpu.set_phase("dead", now, 0.0)
        await self.clock.sleep(DEAD_LINGER_S)
        await self._shut(1)

    # HTTP ---------------------------------------------------------------------------------------

    def _access(self, req: HttpRequest, status: int) -> None:
        if self.config.access_log:
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(
                status, ""
            )
            request_line = f"{_printable(req.method)} {_printable(req.path)} HTTP/1.1"
            self._log(st.bare(st.UVICORN, f'INFO:     {req.peer} - "{request_line}" {status} {reason}'))

    def _on_response(self, req: HttpRequest, status: int) -> None:
        # reading the log must not write to it: each read would find the line its last one wrote
        if not req.streamed and req.path != "/sim/log":
            self._access(req, status)
        self.metrics.http(
            req.path if req.path in _ROUTES else "none", req.method, status, time.monotonic() - req.started
        )

    @staticmethod
    def _reply(conn: HttpConnection, req: HttpRequest, status: int, body: bytes, ctype: bytes = JSON) -> None:
        conn.respond(status, body, ctype)

    def _handle(self, req: HttpRequest, conn: HttpConnection) -> Any:
        route = _ROUTES.get(req.path)
        if route is None:
            self._reply(conn, req, 404, NOT_FOUND_BODY)
            return None
        methods, name = route
        if req.method not in methods and not (req.method == "HEAD" and "GET" in methods):
            self._reply(conn, req, 405, METHOD_NOT_ALLOWED_BODY)
            return None
        handler: Callable[[SimServer, HttpRequest, HttpConnection], Any] = getattr(SimServer, name)
        return handler(self, req, conn)

    def _health(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 503 if self.state == "dead" else 200, b"", b"")

    def _version(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 200, orjson.dumps({"version": self.reported_version, SIMULATED_KEY: True}))

    def _models(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 200, orjson.dumps(models_payload(self.served, self.created)))

    def _load(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 200, orjson.dumps({"server_load": len(self._active)}))

    async def _metrics_page(self, req: HttpRequest, conn: HttpConnection) -> None:
        faults = self.config.faults
        if faults.metrics_delay_s > 0:
            await self.clock.sleep(faults.metrics_delay_s)
        if faults.metrics_status is not None:
            self._reply(
                conn, req, faults.metrics_status, b"Internal Server Error", b"text/plain; charset=utf-8"
            )
            return
        ctype = (
            METRICS_CONTENT_TYPE if self.config.metrics_style == "current" else LEGACY_METRICS_CONTENT_TYPE
        )
        self._reply(conn, req, 200, self.metrics.page(), ctype)

    def _sim_gpu(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 200, orjson.dumps(codec.encode(self.gpu_sample())))

    def _sim_trace(self, req: HttpRequest, conn: HttpConnection) -> None:
        """The true times of recent requests, for checking a client's TTFT: response id ->
        [parsed, first token written], ``time.monotonic()`` seconds (CLOCK_MONOTONIC on Linux)."""
        self._reply(conn, req, 200, orjson.dumps({"clock": "monotonic", "requests": dict(self._trace)}))

    def _sim_stats(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._reply(conn, req, 200, orjson.dumps(self.stats()))

    def _sim_log(self, req: HttpRequest, conn: HttpConnection) -> None:
        """vLLM's log lines for a reader in another process (``sparktop watch URL``), see ``log_page``."""
        after: int | None = None
        for key, value in parse_qsl(req.query):
            if key == "after":
                try:
                    after = int(value)
                except ValueError:
                    after = -1
                if after < 0:
                    body = {"error": f"after must be a line number >= 0, got {_printable(value)[:40]!r}"}
                    self._reply(conn, req, 400, orjson.dumps(body))
                    return
        self._reply(conn, req, 200, orjson.dumps(self.log_page(after)))

    def log_page(self, after: int | None) -> dict[str, Any]:
        """The lines after line number ``after`` (``GET /sim/log?after=N``), at most ``LOG_PAGE``.

        Without ``after``, or with one beyond the last line (the reader knew an earlier run of the
        server), the latest ``LOG_TAIL`` lines. ``last`` is the number of the last line returned
        (the next read's ``after``), ``missed`` how many lines after ``after`` were already
        forgotten, ``times`` when each line was logged (epoch seconds).
        """
        total = self._log_count
        first = total - len(self.logs) + 1  # the oldest line still kept
        if after is None or after > total:
            start = max(first, total - LOG_TAIL + 1)
            missed = 0
        else:
            start = max(first, after + 1)
            missed = start - (after + 1)
        end = min(total, start + LOG_PAGE - 1)
        skip, count = start - first, max(0, end - start + 1)
        return {
            "simulated": True,
            "last": end,
            "missed": missed,
            "lines": list(islice(self.logs, skip, skip + count)),
            "times": list(islice(self._log_times, skip, skip + count)),
        }

    def _json_body_error(self, req: HttpRequest) -> ApiError | None:
        media = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "application/json":
            return None
        return validation_error(
            [
                {
                    "loc": ("header", "content-type"),
                    "msg": "Unsupported Media Type: Only 'application/json' is allowed",
                    "type": "value_error",
                }
            ]
        )

    def _tokenize(self, req: HttpRequest, conn: HttpConnection) -> None:
        try:
            err = self._json_body_error(req)
            if err is not None:
                raise err
            payload = parse_tokenize(req.body, self.served)
        except ApiError as exc:
            self._reply(conn, req, exc.status, exc.body())
            return
        self._reply(conn, req, 200, orjson.dumps(payload))

    def _chat(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._generate(req, conn, "chat")

    def _completion(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._generate(req, conn, "completion")

    def _responses(self, req: HttpRequest, conn: HttpConnection) -> None:
        self._generate(req, conn, "responses")

    def _generate(self, req: HttpRequest, conn: HttpConnection, kind: Kind) -> None:
        try:
            if self.state != "ready":
                raise engine_dead()
            status = self.config.faults.generate_status
            if status is not None:
                raise ApiError(status, _STATUS_TYPES.get(status, "InternalServerError"), _FAULT_MESSAGE)
            err = self._json_body_error(req)
            if err is not None:
                raise err
            if kind == "responses":
                request = parse_responses(req.body, self.served)
            else:
                request = parse_generation(kind, req.body, self.served)
        except ApiError as exc:
            self._reply(conn, req, exc.status, exc.body())
            return
        n = self._count
        self._count += 1
        seed = self.config.seed
        # A request's own seed makes its answers reproducible on any server, as vLLM's sampling seed does.
        base = f"req:{request.seed}:{request.prompt_digest}" if request.seed is not None else f"{seed}:{n}"
        plans = [
            plan_output(request, random.Random(base if i == 0 else f"{base}:{i}")) for i in range(request.n)
        ]
        unique = random.Random(f"id:{seed}:{n}").getrandbits(64)
        rid = _ID_PREFIX[kind] + f"{unique:016x}"
        self._trace[rid] = [req.started, None]
        if len(self._trace) > TRACE_KEEP:
            self._trace.popitem(last=False)
        now = self.clock.now()
        group = Generation(request, plans, conn, rid, int(now), self.system_fingerprint)
        conn.on_close = lambda: self._client_gone(group)
        self._active.add(group)
        if request.stream:
            self._access(req, 200)
            group.open()
        for choice in group.choices:
            choice.engine_request.block_hashes = request.prefix_hashes
            self.engine.add(choice.engine_request, now)
        self.metrics.queue_update(len(self.engine.running), len(self.engine.waiting), self.engine.kv_usage)
        self._wake.set()

    def _client_gone(self, group: Generation) -> None:
        """The client went away before its answer ended: its requests leave the engine at once.

        As in vLLM 0.32, a request aborted by its client is not a finished request: no
        ``request_success_total`` (not even ``abort``), no latency histograms; the gauges drop now."""
        if group.done:
            return
        group.cancel()
        self._active.discard(group)
        now = self.clock.now()
        aborted = [self.engine.abort(c.engine_request, now) for c in group.choices]
        if any(aborted):
            self.metrics.queue_update(
                len(self.engine.running), len(self.engine.waiting), self.engine.kv_usage
            )

    # readings -----------------------------------------------------------------------------------

    def gpu_sample(self) -> GpuSample:
        """The modelled GB10 now (``simulated=True``)."""
        with self._gpu_lock:
            return self.gpu.sample(
                self.clock.now(), self.engine.busy_seconds, self.engine.prefill_busy_seconds
            )

    def stats(self) -> dict[str, Any]:
        """The simulator's own figures (``GET /sim/stats``)."""
        return {
            "simulated": True,
            "state": self.state,
            "phase": self.phase,
            "profile": self.profile.name,
            "model": self.served.name,
            "speed": self.config.speed,
            "time": self.clock.now(),
            "active_requests": len(self._active),
            "running": len(self.engine.running),
            "waiting": len(self.engine.waiting),
            "kv_cache_usage": self.engine.kv_usage,
            "kv_cache_tokens": self.engine.capacity_tokens,
            "busy_seconds": self.engine.busy_seconds,
            **self.metrics.lag.summary(),
        }

    # threads ------------------------------------------------------------------------------------

    def start_in_thread(self, timeout: float = 10.0) -> SimHandle:
        """Run this server on its own event loop in a daemon thread; returns once the port is bound."""
        from sparktop.sim.threaded import SimHandle

        return SimHandle(self, timeout)


_ID_PREFIX: dict[Kind, str] = {"chat": "chatcmpl-", "completion": "cmpl-", "responses": "resp_"}
"""Response ids: the prefix, then 16 hex digits (vLLM's random request id, shortened as it does)."""


def _printable(text: str) -> str:
    """Client-supplied text made safe for a terminal: control characters escaped."""
    return text if text.isprintable() else "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


_ROUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "/health": (("GET",), "_health"),
    "/ping": (("GET", "POST"), "_health"),
    "/version": (("GET",), "_version"),
    "/v1/models": (("GET",), "_models"),
    "/load": (("GET",), "_load"),
    "/metrics": (("GET",), "_metrics_page"),
    "/tokenize": (("POST",), "_tokenize"),
    "/v1/completions": (("POST",), "_completion"),
    "/v1/chat/completions": (("POST",), "_chat"),
    "/v1/responses": (("POST",), "_responses"),
    "/sim/gpu": (("GET",), "_sim_gpu"),
    "/sim/stats": (("GET",), "_sim_stats"),
    "/sim/trace": (("GET",), "_sim_trace"),
    "/sim/log": (("GET",), "_sim_log"),
}


def _touched_memory(mib: float) -> list[bytes]:
    """``mib`` MiB of memory the process really holds (every page written, not just reserved)."""
    return [b"\x01" * (1 << 20) for _ in range(max(1, round(mib)))]
