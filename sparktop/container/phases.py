"""vLLM's startup read from its log: phases, progress, KV-cache figures and known fatal errors.

``PhaseTracker`` is pure: it is fed log lines with their times and returns the events each line
derives (phase started or finished with its elapsed seconds, progress steps, the KV-cache size, a
fatal error with a hint). Lines are untrusted: ANSI codes and control characters are removed, the
``(APIServer pid=N)`` prefixes and the ``LEVEL MM-DD HH:MM:SS [file.py:N]`` header are stripped
before matching, and any text kept is cut to a sane length.

Phases, in vLLM's order (see ``shared/reference/vllm-server.md``): ``engine`` (process start, engine
config), ``download`` (weights fetched from the Hub, when they were not cached), ``weights`` (loading
shards), ``compile`` (torch.compile), ``kv_cache`` (profiling and KV-cache sizing), ``graphs`` (CUDA
graph capture), ``warmup`` (the rest of the engine's initialisation, up to vLLM's "init engine ...
took" line: warm-up runs, on the CPU most of all), ``api`` (the HTTP server), then ready. The shapes
follow the real logs in ``tests/fixtures/real-vllm/`` (vLLM 0.32: the version in the ASCII banner,
``CPU KV cache size`` and the maximum concurrency on one line, torch.compile as a CPU warm-up) as
well as the older GPU lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sparktop import fmt
from sparktop.model import Event, Level, StartupPhase, StartupProgress

PHASES: tuple[str, ...] = ("engine", "download", "weights", "compile", "kv_cache", "graphs", "warmup", "api")
PHASE_TITLES: dict[str, str] = {
    "engine": "engine start",
    "download": "weights download",
    "weights": "weights load",
    "compile": "torch.compile",
    "kv_cache": "memory profiling and KV cache",
    "graphs": "CUDA graphs",
    "warmup": "engine warm-up",
    "api": "API server",
}
MAX_TEXT = 300
"""Characters of a log line kept in an event (vLLM's config and traceback lines run to kilobytes)."""
DROP_CACHES = "sync; echo 3 | sudo tee /proc/sys/vm/drop_caches"

_PREFIX = re.compile(r"^\s*\([A-Za-z][\w-]* pid=\d+\)\s?")
_HEADER = re.compile(
    r"^(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+\d\d-\d\d\s+\d\d:\d\d:\d\d(?:[.,]\d+)?\s+"
    r"\[[^\]]*\]\s?"
)
_PERCENT = re.compile(r":\s*(\d{1,3})%")


def clean_line(line: str) -> tuple[str | None, str]:
    """``(level, message)`` of one log line: escapes, process prefix and log header removed."""
    text = fmt.clean(line).strip()
    text = _PREFIX.sub("", text, count=1)
    match = _HEADER.match(text)
    if match is None:
        return None, text
    return match.group("level"), text[match.end() :].strip()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


# --------------------------------------------------------------------------------------------------
# known fatal errors


@dataclass(frozen=True, slots=True)
class FatalPattern:
    """A log line that ends vLLM's startup, and what to tell the user about it."""

    name: str
    pattern: re.Pattern[str]
    hint: Callable[[re.Match[str]], str]
    phase: str | None = None
    """The phase this error belongs to when it comes between phases."""
    generic: bool = False
    """A summary line (the root cause came earlier): it never replaces a specific one."""


def _const(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


_ESTIMATE = re.compile(r"estimated maximum model length is (\d+)")


def _max_len_hint(match: re.Match[str]) -> str:
    found = _ESTIMATE.search(match.string)
    estimate = found.group(1) if found else None
    lower = f"lower --max-model-len to {estimate} or less" if estimate else "lower --max-model-len"
    return f"{lower}, or raise --gpu-memory-utilization if memory allows"


FATAL_PATTERNS: tuple[FatalPattern, ...] = (
    FatalPattern(
        "kv-cache-none",
        re.compile(r"No available memory for the cache blocks"),
        _const(
            "nothing was left for the KV cache: raise --gpu-memory-utilization, or free memory "
            "(other processes, page cache)"
        ),
        phase="kv_cache",
    ),
    FatalPattern(
        "kv-cache-too-small",
        re.compile(r"To serve at least one request with the model's max seq len \((?P<len>\d+)\)"),
        _max_len_hint,
        phase="kv_cache",
    ),
    FatalPattern(
        "free-memory",
        re.compile(r"Free memory on device.*less than desired GPU memory utilization"),
        _const(
            "lower --gpu-memory-utilization, or drop the page cache first "
            f"({DROP_CACHES}): on unified memory (DGX Spark) page cache counts as used"
        ),
        phase="engine",
    ),
    FatalPattern(
        "load-oom",
        re.compile(r"Failed to load model - not enough GPU memory"),
        _const("the weights do not fit: use a quantized model (FP8, NVFP4) or free memory first"),
        phase="weights",
    ),
    FatalPattern(
        "cuda-oom",
        re.compile(r"CUDA out of memory|OutOfMemoryError"),
        _const("out of GPU memory: lower --gpu-memory-utilization, --max-model-len or --max-num-seqs"),
    ),
    FatalPattern(
        "architecture",
        re.compile(r"Model architectures? \[?(?P<arch>[^\]]*)\]? (?:are|is) not supported"),
        _const(
            "this vLLM image does not know the model's architecture: use a newer image "
            "(the version the model card asks for)"
        ),
        phase="engine",
    ),
    FatalPattern(
        "shm",
        re.compile(r"Insufficient space in /dev/shm"),
        _const(
            "the container's /dev/shm is too small for vLLM's shared memory: give it more "
            '(shm_size = "8g" in the profile, docker run --shm-size 8g) or share the host\'s (--ipc=host)'
        ),
        phase="engine",
    ),
    FatalPattern(
        "engine-init",
        re.compile(r"Engine core initialization failed"),
        _const("the root cause is in the log lines above it"),
        generic=True,
    ),
)

_ENGINE_DEAD = re.compile(r"EngineCore encountered a fatal error|EngineDeadError")
_SHUTDOWN = re.compile(
    r"\[shutdown\] (?:API server: shutdown triggered|EngineCore: trigger received signal=(?P<signal>[A-Z]+))"
)
"""vLLM 0.3x's orderly stop. What follows it (the API server's ``EngineDeadError`` traceback as it
stops the engine) belongs to the stop and is no engine failure."""


def match_fatal(message: str) -> tuple[FatalPattern, str] | None:
    """The known fatal error in one cleaned message, and its hint."""
    for fatal in FATAL_PATTERNS:
        found = fatal.pattern.search(message)
        if found is not None:
            return fatal, fatal.hint(found)
    return None


# --------------------------------------------------------------------------------------------------
# the tracker

_STARTS_ENGINE = re.compile(
    r"vLLM (?:server|API server) version|Automatically detected platform|"
    r"Initializing a V1 LLM engine|Resolved architecture:|non-default args:|Waiting for init message|"
    r"^[\s█▄▀]+version \d"
)
_BANNER = re.compile(r"vLLM (?:server|API server) version (?P<version>\S+?),?(?:\s|$)")
_BANNER_ART = re.compile(r"^[\s█▄▀]+version (?P<version>\d\S*)\s*$")
"""vLLM 0.2x and later: the version inside the ASCII-art banner."""
_ARCH = re.compile(r"Resolved architecture: (?P<arch>\S+)")
_DOWNLOAD_BAR = re.compile(r"^(?:Fetching \d+ files|Downloading)\b")
_DOWNLOAD_DONE = re.compile(r"Time spent downloading weights for .*?: (?P<s>[\d.]+) seconds")
_LOAD_START = re.compile(r"Starting to load model")
_SHARDS = re.compile(r"^Loading .*checkpoint shards")
_LOAD_TOOK = re.compile(r"Model loading took (?P<gib>[\d.]+) GiB(?: memory)? and (?P<s>[\d.]+) seconds")
_COMPILE = re.compile(
    r"for vLLM's torch\.compile|Dynamo bytecode transform time|Compiling a graph for|"
    r"Warming up model for the compilation"
)
_COMPILE_TOOK = re.compile(r"torch\.compile (?:took|takes) (?P<s>[\d.]+) s in total")
_CPU_WARMUP_DONE = re.compile(r"^Warming up done\.")
_KV_AVAILABLE = re.compile(r"Available KV cache memory: (?P<gib>[\d.]+) GiB")
_KV_SIZE = re.compile(r"(?:^|\b[A-Z]PU )KV cache size: (?P<tokens>[\d,]+) tokens")
_CONCURRENCY = re.compile(r"Maximum concurrency for (?P<tokens>[\d,]+) tokens per request: (?P<x>[\d.,]+)x")
_GRAPHS = re.compile(r"^Capturing CUDA graphs")
_GRAPHS_DONE = re.compile(r"Graph capturing finished in (?P<s>[\d.]+) secs?, took (?P<gib>[\d.]+) GiB")
_ENGINE_INIT = re.compile(r"init engine \(profile, create kv cache, warmup model\) took (?P<s>[\d.]+) s")
_API = re.compile(r"Starting vLLM (?:API )?server")
_READY = re.compile(r"Application startup complete")


@dataclass(slots=True)
class _Phase:
    name: str
    started: float
    ended: float | None = None
    detail: str = ""


class PhaseTracker:
    """Follows one vLLM startup (and the next, if the server restarts) through its log lines."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._phases: list[_Phase] = []
        self._percent: float | None = None
        self._percent_step = 0
        self._ready = False
        self._fatal: str | None = None
        self._fatal_generic = False
        self._hint: str | None = None
        self._kv_tokens: int | None = None
        self._concurrency: float | None = None
        self._concurrency_tokens: int | None = None
        self._runtime_seen: set[str] = set()
        self._stopping = False
        self._progress: StartupProgress | None = StartupProgress()
        self._seen = False

    @property
    def seen_startup(self) -> bool:
        """Whether any startup line has been seen (a server attached mid-run shows none)."""
        return self._seen

    @property
    def progress(self) -> StartupProgress:
        if self._progress is None:
            current = self._current()
            self._progress = StartupProgress(
                phases=tuple(StartupPhase(p.name, p.started, p.ended, p.detail) for p in self._phases),
                current=current.name if current is not None else None,
                percent=self._percent if current is not None else None,
                ready=self._ready,
                fatal=self._fatal,
                hint=self._hint,
                kv_cache_tokens=self._kv_tokens,
                max_concurrency=self._concurrency,
                max_concurrency_tokens=self._concurrency_tokens,
            )
        return self._progress

    def feed(self, t: float, line: str) -> list[Event]:
        """Take one log line seen at ``t``; the events it derives (often none)."""
        events: list[Event] = []
        # tqdm redraws with carriage returns: each segment is one update of the bar
        for segment in line.split("\r"):
            if segment.strip():
                self._line(t, segment, events)
        return events

    # ----------------------------------------------------------------------------------------------

    def _current(self) -> _Phase | None:
        if self._phases and self._phases[-1].ended is None and not self._ready and self._fatal is None:
            return self._phases[-1]
        return None

    def _phase(self, name: str) -> _Phase | None:
        for phase in self._phases:
            if phase.name == name:
                return phase
        return None

    def _changed(self) -> None:
        self._progress = None

    def _start(self, t: float, name: str, events: list[Event], detail: str = "") -> None:
        if self._phase(name) is not None:
            return
        current = self._current()
        if current is not None:
            self._end(t, current, events)
        self._phases.append(_Phase(name, t, None, detail))
        self._percent = None
        self._percent_step = 0
        self._seen = True
        self._changed()
        events.append(_event(t, f"{PHASE_TITLES[name]} started", {"phase": name, "status": "started"}))

    def _end(self, t: float, phase: _Phase, events: list[Event], detail: str = "") -> None:
        if phase.ended is not None:
            return
        phase.ended = t
        if detail:
            phase.detail = detail
        elapsed = max(0.0, t - phase.started)
        self._changed()
        said = f" ({phase.detail})" if phase.detail else ""
        events.append(
            _event(
                t,
                f"{PHASE_TITLES[phase.name]} finished in {elapsed:.1f} s{said}",
                {"phase": phase.name, "status": "finished", "elapsed_s": round(elapsed, 3)},
            )
        )

    def _progress_to(self, t: float, phase: str, percent: float, events: list[Event]) -> None:
        percent = min(100.0, percent)
        if percent != self._percent:
            self._percent = percent
            self._changed()
        step = int(percent // 10)
        if step > self._percent_step:
            self._percent_step = step
            events.append(
                _event(
                    t,
                    f"{PHASE_TITLES[phase]} {percent:.0f}%",
                    {"phase": phase, "status": "progress", "percent": percent},
                )
            )

    def _line(self, t: float, raw: str, events: list[Event]) -> None:
        _level, msg = clean_line(raw)
        if not msg:
            return
        if _STARTS_ENGINE.search(msg):
            if self._ready or self._fatal is not None:
                self._reset()  # the server started again
            if not self._phases:
                self._start(t, "engine", events)
            self._engine_details(msg)
            return
        if self._shutdown_line(t, msg, events):
            return
        if self._fatal_line(t, msg, events) or self._ready or self._fatal is not None:
            return
        self._startup_line(t, msg, events)

    def _shutdown_line(self, t: float, msg: str, events: list[Event]) -> bool:
        """A line of an orderly stop: said once, and the engine's end that follows is no error."""
        found = _SHUTDOWN.search(msg)
        if found is None:
            return self._stopping and _ENGINE_DEAD.search(msg) is not None
        if not self._stopping:
            self._stopping = True
            signal = found.group("signal")
            said = f" ({signal})" if signal else ""
            current = self._current()
            during = f" during {PHASE_TITLES[current.name]}" if current is not None else ""
            events.append(_event(t, f"server stopping{said}{during}", {"status": "stopping"}))
        return True

    def _engine_details(self, msg: str) -> None:
        engine = self._phase("engine")
        if engine is None:
            return
        found = _BANNER.search(msg) or _BANNER_ART.search(msg)
        if found is not None:
            engine.detail = _join(engine.detail, f"vLLM {_cut(found.group('version'))}")
            self._changed()
        found = _ARCH.search(msg)
        if found is not None:
            engine.detail = _join(engine.detail, _cut(found.group("arch")))
            self._changed()

    def _fatal_line(self, t: float, msg: str, events: list[Event]) -> bool:
        matched = match_fatal(msg)
        if matched is not None:
            fatal, hint = matched
            if self._ready:
                # after startup: an error worth showing once, not a failed startup
                if not fatal.generic and fatal.name not in self._runtime_seen:
                    self._runtime_seen.add(fatal.name)
                    events.append(_error(t, f"error: {_cut(msg)}", fatal.name, hint))
                return True
            if self._fatal is not None and (fatal.generic or not self._fatal_generic):
                return True  # already failed: the first specific cause stands
            line = _cut(msg)
            current = self._current()
            phase = current.name if current is not None else fatal.phase or "startup"
            if current is not None:
                current.ended = t
                current.detail = _join(current.detail, "failed")
            self._fatal, self._hint, self._fatal_generic = line, hint, fatal.generic
            self._changed()
            events.append(
                _error(t, f"{PHASE_TITLES.get(phase, phase)} failed: {line}", fatal.name, hint, phase)
            )
            return True
        if _ENGINE_DEAD.search(msg):
            if "engine-dead" not in self._runtime_seen:
                self._runtime_seen.add("engine-dead")
                hint = "the root cause is in the traceback around this line"
                events.append(_error(t, f"engine died: {_cut(msg)}", "engine-dead", hint))
            return True
        return False

    def _startup_line(self, t: float, msg: str, events: list[Event]) -> None:
        if _DOWNLOAD_BAR.search(msg):
            current = self._current()
            if current is not None and current.name == "weights" and self._percent is None:
                # vLLM says it starts loading, then finds it must download first: that is the download
                self._phases.pop()
                self._phases.append(_Phase("download", current.started))
                self._percent, self._percent_step = None, 0
                self._changed()
                events.append(
                    _event(
                        t, f"{PHASE_TITLES['download']} started", {"phase": "download", "status": "started"}
                    )
                )
            else:
                self._start(t, "download", events)
            self._bar(t, "download", msg, events)
            return
        found = _DOWNLOAD_DONE.search(msg)
        if found is not None:
            seconds = float(found.group("s"))
            download = self._phase("download")
            if download is None:
                self._start(t - seconds, "download", events)
                download = self._phase("download")
            assert download is not None
            self._end(t, download, events, f"{seconds:.1f} s")
            self._start(t, "weights", events)
            return
        if _LOAD_START.search(msg):
            self._start(t, "weights", events)
            return
        if _SHARDS.search(msg):
            self._start(t, "weights", events)
            self._bar(t, "weights", msg, events)
            return
        found = _LOAD_TOOK.search(msg)
        if found is not None:
            weights = self._phase("weights")
            if weights is None:
                self._start(t - float(found.group("s")), "weights", events)
                weights = self._phase("weights")
            assert weights is not None
            self._end(t, weights, events, f"{float(found.group('gib')):.2f} GiB")
            return
        if _COMPILE.search(msg):
            self._start(t, "compile", events)
            return
        if _CPU_WARMUP_DONE.search(msg):
            compile_phase = self._phase("compile")
            if compile_phase is not None:
                self._end(t, compile_phase, events, "warm-up")
            return
        found = _COMPILE_TOOK.search(msg)
        if found is not None:
            self._start(t, "compile", events)
            compile_phase = self._phase("compile")
            assert compile_phase is not None
            self._end(t, compile_phase, events)
            # the memory profiling run that sizes the KV cache starts now
            self._start(t, "kv_cache", events)
            return
        found = _KV_AVAILABLE.search(msg)
        if found is not None:
            self._start(t, "kv_cache", events)
            kv = self._phase("kv_cache")
            assert kv is not None
            kv.detail = _join(kv.detail, f"{float(found.group('gib')):.2f} GiB")
            self._changed()
            return
        found = _KV_SIZE.search(msg)
        if found is not None:
            self._start(t, "kv_cache", events)
            self._kv_tokens = int(_number(found.group("tokens")))
            self._changed()
            events.append(
                _event(
                    t,
                    f"KV cache: {self._kv_tokens:,} tokens",
                    {"phase": "kv_cache", "status": "figure", "kv_cache_tokens": self._kv_tokens},
                )
            )
            if _CONCURRENCY.search(msg) is None:  # vLLM 0.2x+ prints both on one line
                return
        found = _CONCURRENCY.search(msg)
        if found is not None:
            self._start(t, "kv_cache", events)
            self._concurrency = _number(found.group("x"))
            self._concurrency_tokens = int(_number(found.group("tokens")))
            kv = self._phase("kv_cache")
            assert kv is not None
            text = f"max concurrency {self._concurrency:.2f}x at {self._concurrency_tokens:,} tokens"
            events.append(
                _event(
                    t,
                    text,
                    {
                        "phase": "kv_cache",
                        "status": "figure",
                        "max_concurrency": self._concurrency,
                        "tokens": self._concurrency_tokens,
                    },
                )
            )
            tokens = f"{self._kv_tokens:,} tokens, " if self._kv_tokens is not None else ""
            self._end(t, kv, events, _join(kv.detail, f"{tokens}{self._concurrency:.2f}x"))
            return
        if _GRAPHS.search(msg):
            self._start(t, "graphs", events)
            self._bar(t, "graphs", msg, events)
            return
        found = _GRAPHS_DONE.search(msg)
        if found is not None:
            self._start(t, "graphs", events)
            graphs = self._phase("graphs")
            assert graphs is not None
            self._end(t, graphs, events, f"{float(found.group('gib')):.2f} GiB")
            return
        found = _ENGINE_INIT.search(msg)
        if found is not None:
            self._engine_ready(t, float(found.group("s")), events)
            return
        if _API.search(msg):
            self._start(t, "api", events)
            return
        if _READY.search(msg):
            self._start(t, "api", events)
            current = self._current()
            if current is not None:
                self._end(t, current, events)
            self._ready = True
            self._changed()
            first = self._phases[0].started if self._phases else t
            events.append(
                _event(
                    t,
                    f"ready after {t - first:.1f} s",
                    {"phase": "ready", "status": "ready", "elapsed_s": round(t - first, 3)},
                )
            )

    def _engine_ready(self, t: float, took_s: float, events: list[Event]) -> None:
        """vLLM's "init engine ... took X s": the engine is initialised. The time since the last
        phase ended (warm-up runs, sampler and kernel warm-up) is the ``warmup`` phase."""
        current = self._current()
        if current is not None:
            self._end(t, current, events)
        ended = [p.ended for p in self._phases if p.ended is not None]
        since = max(ended) if ended else t
        if self._phase("warmup") is None and self._phase("api") is None:
            self._phases.append(_Phase("warmup", since))
            self._seen = True
            events.append(
                _event(since, f"{PHASE_TITLES['warmup']} started", {"phase": "warmup", "status": "started"})
            )
            warmup = self._phase("warmup")
            assert warmup is not None
            self._end(t, warmup, events, f"engine init {took_s:.1f} s")

    def _bar(self, t: float, phase: str, msg: str, events: list[Event]) -> None:
        found = _PERCENT.search(msg)
        if found is not None:
            self._progress_to(t, phase, float(found.group(1)), events)


def _join(detail: str, more: str) -> str:
    return f"{detail}, {more}" if detail else more


def _event(
    t: float, text: str, data: dict[str, str | float | int | bool | None], level: Level = "info"
) -> Event:
    return Event(t, "startup", text, "container", level, data)


def _error(t: float, text: str, fatal: str, hint: str, phase: str | None = None) -> Event:
    data: dict[str, str | float | int | bool | None] = {"fatal": fatal, "hint": hint}
    if phase is not None:
        data["phase"] = phase
    return Event(t, "error", text, "container", "error", data)
