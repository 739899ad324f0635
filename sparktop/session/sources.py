"""Sources: loops that produce raw observations and hand them to a session.

Each runs as an asyncio task on the session's loop. Blocking work (NVML) runs in a thread; HTTP is
async. A source never raises out of its loop: whatever goes wrong becomes an observation (a scrape
result with a state, a GPU sample with a status) or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import httpx
import orjson

from sparktop.clock import Clock, SystemClock
from sparktop.codec import DecodeError, decode
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import Event, GpuSample, HostMemory, Unknown
from sparktop.session.core import Observation
from sparktop.session.feeds import ScrapeSource

if TYPE_CHECKING:
    from sparktop.container.lifecycle import ContainerHandle, LogLine
    from sparktop.logfile import LogFollower

Observe = Callable[[Observation], None]
T = TypeVar("T")
INFO_EVERY_S = 300.0


async def _pace(started: float, interval: float) -> None:
    """Sleep what is left of this interval (at least a tick, so a loop never spins)."""
    await asyncio.sleep(max(0.01, interval - (time.monotonic() - started)))


async def scrape_loop(scraper: ScrapeSource, observe: Observe, interval: float) -> None:
    """Scrape every ``interval`` seconds; ask the server who it is when it first turns healthy and
    every few minutes after (a restarted server may serve another model or version)."""
    info_due = 0.0
    while True:
        started = time.monotonic()
        result = await scraper.scrape()
        observe(result)
        if result.state == "healthy" and started >= info_due:
            observe(await scraper.info())
            info_due = started + INFO_EVERY_S
        elif result.state in ("unreachable", "dead"):
            info_due = 0.0
        await _pace(started, interval)


async def gpu_loop(collector: NvmlCollector, observe: Observe, interval: float) -> None:
    """Collect in a thread (NVML calls block) every ``interval`` seconds."""
    try:
        while True:
            started = time.monotonic()
            observe(await asyncio.to_thread(collector.collect))
            await _pace(started, interval)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(collector.close)


_NOT_ANSWERING = Unknown("simulator not answering")
_NO_SIM = HostMemory(*([_NOT_ANSWERING] * 9))  # type: ignore[arg-type]


async def sim_gpu_loop(base_url: str, observe: Observe, interval: float, clock: Clock) -> None:
    """The simulated GB10 from a simulator's ``/sim/gpu`` (it may run in another process)."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            started = time.monotonic()
            sample: GpuSample
            try:
                response = await client.get(base_url + "/sim/gpu")
                response.raise_for_status()
                sample = decode(GpuSample, orjson.loads(response.content))
                sample = GpuSample(
                    clock.now(),
                    sample.status,
                    sample.detail,
                    sample.devices,
                    sample.memory,
                    simulated=True,
                    driver_version=sample.driver_version,
                )
            except (httpx.HTTPError, orjson.JSONDecodeError, DecodeError) as exc:
                detail = " ".join(str(exc).split())[:160] or type(exc).__name__
                sample = GpuSample(
                    clock.now(), "error", f"simulated GPU: {detail}", (), _NO_SIM, simulated=True
                )
            observe(sample)
            await _pace(started, interval)


SIM_LOG_MAX_BYTES = 8 * 1024 * 1024
"""A ``/sim/log`` answer larger than this is not a simulator's (it sends 500 lines at most)."""
SIM_LOG_MAX_LINE = 16 * 1024
"""Characters of one log line kept (the rest is cut: a line is read, never parsed further)."""


async def sim_log_loop(
    base_url: str,
    observe: Observe,
    *,
    clock: Clock | None = None,
    every: float = 2.0,
    primed: asyncio.Event | None = None,
) -> None:
    """Follow a simulated Spark's vLLM log over HTTP (``GET /sim/log?after=N``), as raw ``log``
    events, every ``every`` seconds: a person reads them, and each read costs the dashboard about
    as much as a scrape (the lines keep the simulator's times). The first read brings the latest
    lines (its startup among them) and sets ``primed``; lines the simulator forgot before they were
    read are said as one line.

    A line is stamped with the time the simulator logged it, kept between the previous line's time
    and now (another host's clock may be off; the session's clock is this one). An answer that is
    not the simulator's (an error, the wrong shape) is retried after a pause: the scrapes tell when
    the server is away. Never raises.
    """
    clock = clock or SystemClock()
    after: int | None = None
    last_t = -math.inf
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            page: tuple[list[str], list[float], int, int] | None = None
            try:
                response = await client.get(
                    base_url + "/sim/log", params=None if after is None else {"after": str(after)}
                )
                response.raise_for_status()
                if len(response.content) <= SIM_LOG_MAX_BYTES:
                    page = _sim_log_page(orjson.loads(response.content))
            except (httpx.HTTPError, orjson.JSONDecodeError):
                page = None
            if page is None:
                if primed is not None:
                    primed.set()
                    primed = None
                await asyncio.sleep(max(every, 2.0))
                continue
            lines, times, last, missed = page
            now = clock.now()
            if missed:
                gone = f"[{missed} log lines were gone before they were read]"
                observe(Event(now, "log", gone, "sparktop"))
            for i, text in enumerate(lines):
                logged = times[i] if i < len(times) else now
                last_t = min(now, max(last_t, logged))
                observe(Event(last_t, "log", text[:SIM_LOG_MAX_LINE], "vllm"))
            after = last
            if primed is not None:
                primed.set()
                primed = None
            # a full page: more is waiting, read on at once (still yielding to the loop)
            await asyncio.sleep(every if len(lines) < SIM_LOG_PAGE else 0)


SIM_LOG_PAGE = 500
"""The simulator's page size (``sparktop.sim.server.LOG_PAGE``): a full page means more to read."""


def _sim_log_page(page: object) -> tuple[list[str], list[float], int, int] | None:
    """(lines, times, last, missed) of a ``/sim/log`` answer, or None when it is not one."""
    if not isinstance(page, dict):
        return None
    lines, times = page.get("lines"), page.get("times", [])
    last, missed = page.get("last"), page.get("missed", 0)
    if (
        not isinstance(lines, list)
        or not all(isinstance(line, str) for line in lines)
        or not isinstance(times, list)
        or not all(_finite(t) for t in times)
        or not isinstance(last, int)
        or isinstance(last, bool)
        or last < 0
        or not isinstance(missed, int)
        or isinstance(missed, bool)
        or missed < 0
    ):
        return None
    return lines, [float(t) for t in times], last, missed


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


DRAIN_EVERY_S = 0.5
"""How often a container's log and readings are handed to the session (at most; ``interval`` if less)."""
STATE_EVERY_S = 10.0
"""How often a followed container's state is asked for besides the end of its log stream."""
LAST_LINES = 20
"""Log lines kept with the event that reports a container's death."""
_ACCESS_LOG = re.compile(r'INFO:\s+\S+ - "(?:GET|HEAD) /(?:metrics|health|ping|v1/models|version|load)\b')
"""uvicorn's access lines for polling (sparktop's own among them): noise next to a cause of death."""
OOM_HINT = (
    "the container ran out of memory: raise its memory limit (memory in the profile), or lower "
    "--gpu-memory-utilization, --max-model-len or --max-num-seqs"
)


async def container_loop(
    handle: ContainerHandle,
    observe: Observe,
    interval: float,
    *,
    clock: Clock | None = None,
    since: float | None = None,
    tail: int | None = None,
    primed: asyncio.Event | None = None,
) -> None:
    """Follow a container: its log lines as raw ``log`` events, ``ContainerStats`` every ``interval``.

    With ``tail``, the last lines already in the log are read back first, in one go, and
    ``primed`` is set once they are observed: a session attached to a running server then knows its
    startup (the phases, when it became ready) before its first scrape lands.

    Two threads read the log (from ``since``, default the beginning; ``tail`` keeps the last lines)
    and Docker's stats stream (a reading about every second, handed over every ``interval``). They
    leave what they read in an inbox that this loop empties a few times a second, so a busy log
    costs no wake-up per line. When the container stops, one more ``ContainerStats`` says why and
    an error event carries its last log lines; the loop then waits for the container to start again
    (a restart policy, ``docker start``) and follows it from there. Never raises.
    """
    from sparktop.container.lifecycle import ContainerError

    clock = clock or SystemClock()
    every = min(interval, DRAIN_EVERY_S)
    line_inbox: deque[list[LogLine]] = deque()
    other_inbox: deque[Observation] = deque()
    recent: deque[str] = deque(maxlen=LAST_LINES)
    last_t = since
    warned = False
    stop = threading.Event()

    def drain() -> None:
        nonlocal last_t
        while line_inbox:
            for line in line_inbox.popleft():
                if not _ACCESS_LOG.search(line.text):
                    recent.append(line.text)
                last_t = line.t
                observe(Event(line.t, "log", line.text, "container"))
        while other_inbox:
            observe(other_inbox.popleft())

    def warning(text: str) -> Event:
        return Event(clock.now(), "container", text, "sparktop", "warning")

    def follow(start: float | None, limit: int | None, done: threading.Event) -> None:
        """The log thread."""
        try:
            for lines in handle.log_chunks(since=start, tail=limit):
                line_inbox.append(lines)
        except Exception as exc:  # the stream broke: say so; the loop decides what next
            other_inbox.append(warning(f"log stream ended: {_reason(exc)}"))
        finally:
            done.set()

    def readings(stopped: threading.Event) -> None:
        """The stats thread: one reading per ``interval`` from Docker's stream."""
        last = -math.inf
        try:
            for reading in handle.stats_stream(stopped, now=clock.now):
                now = time.monotonic()
                if now - last >= interval * 0.9:  # an interval longer than Docker's second skips some
                    last = now
                    other_inbox.append(reading)
        except Exception as exc:  # no readings; the log and the state still tell what happens
            other_inbox.append(warning(f"no container stats: {_reason(exc)}"))

    async def blocking(call: Callable[[], T]) -> T | None:
        nonlocal warned
        try:
            result = await asyncio.to_thread(call)
        except ContainerError as exc:
            if not warned:
                warned = True
                observe(warning(str(exc)))
            return None
        warned = False
        return result

    async def follow_run(start: float | None, limit: int | None) -> None:
        """Until the log stream ends (the container stopped) or Docker says it is not running."""
        nonlocal stop
        done, stop = threading.Event(), threading.Event()
        logs = threading.Thread(target=follow, args=(start, limit, done), name="container-logs", daemon=True)
        logs.start()
        threading.Thread(target=readings, args=(stop,), name="container-stats", daemon=True).start()
        state_due = time.monotonic() + STATE_EVERY_S
        while not done.is_set():
            await asyncio.sleep(every)
            drain()
            if time.monotonic() >= state_due:
                state_due = time.monotonic() + STATE_EVERY_S
                state = await blocking(handle.state)
                if state is not None and not state.running:
                    break
        stop.set()
        handle.close_logs()
        await asyncio.to_thread(logs.join, 2.0)
        drain()  # the last lines before the end

    start, limit = since, tail
    following = handle.started_at
    try:
        if tail is not None:
            backlog = await blocking(
                lambda: [one for lines in handle.log_chunks(since, follow=False, tail=tail) for one in lines]
            )
            if backlog is not None:  # read back: follow from the line after the last one
                line_inbox.append(backlog)
                drain()
                start, limit = (_after(last_t), None) if backlog else (since, None)
        if primed is not None:
            primed.set()
        while True:
            await follow_run(start, limit)
            state = await blocking(handle.state)
            if state is not None and state.status == "restarting":
                await asyncio.sleep(0.2)  # Docker restarts it in a moment: look again
                state = await blocking(handle.state)
            if state is not None and state.running and state.started_at != following:
                # it stopped and Docker restarted it (restart policy) before we could look
                observe(
                    Event(
                        clock.now(),
                        "error",
                        f"container {handle.name} stopped and was restarted by Docker",
                        "container",
                        "error",
                        {"last_lines": "\n".join(recent), "restarted": True},
                    )
                )
                following = state.started_at
                recent.clear()
                start, limit = _after(last_t) or state.started_at, None
                continue
            if state is None or state.running:
                # the stream broke while the container runs on: follow again from the last line
                await asyncio.sleep(interval)
                start, limit = _after(last_t), None
                continue
            now = clock.now()
            observe(handle.stopped_stats(state, now))
            data: dict[str, str | float | int | bool | None] = {
                "exit_code": state.exit_code,
                "oom_killed": state.oom_killed,
                "last_lines": "\n".join(recent),
            }
            if state.oom_killed:
                data["hint"] = OOM_HINT
            observe(
                Event(now, "error", f"container {handle.name} {state.reason()}", "container", "error", data)
            )
            previous = state.started_at
            while True:  # stopped: wait for a restart (restart policy, or `docker start`)
                await asyncio.sleep(max(interval, 2.0))
                state = await blocking(handle.state)
                if state is not None and state.running and state.started_at != previous:
                    observe(
                        Event(clock.now(), "container", f"container {handle.name} started again", "container")
                    )
                    following = state.started_at
                    start, limit = _after(last_t) or state.started_at, None
                    recent.clear()
                    break
                if state is not None and state.status == "missing":
                    return
    finally:
        stop.set()
        handle.close_logs()


async def log_file_loop(
    follower: LogFollower,
    observe: Observe,
    *,
    clock: Clock | None = None,
    every: float = DRAIN_EVERY_S,
    primed: asyncio.Event | None = None,
) -> None:
    """Follow a server's log file (``LogFollower``): its lines as raw ``log`` events, a few times a
    second. ``primed`` is set once what the file already held has been observed, so the first line
    or frame already knows the startup it tells. A file that cannot be read is said once (and again
    when it can be read after all). Never raises."""
    clock = clock or SystemClock()
    said: str | None = None
    while True:
        lines = await asyncio.to_thread(follower.poll)
        for line in lines:
            observe(Event(line.t, "log", line.text, "vllm"))
        problem = follower.problem
        if problem != said:
            text = problem or f"reading the log file {follower.path}"
            observe(
                Event(
                    clock.now(),
                    "error" if problem else "state",
                    text,
                    "sparktop",
                    "warning" if problem else "info",
                )
            )
            said = problem
        if primed is not None and (follower.caught_up or problem is not None):
            primed.set()
            primed = None
        if lines and not follower.caught_up:
            continue  # a long log is read back in several pieces, without a pause
        await asyncio.sleep(every)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _after(t: float | None) -> float | None:
    """Just after ``t``: Docker's ``since`` includes lines stamped at it."""
    return None if t is None else t + 1e-6
