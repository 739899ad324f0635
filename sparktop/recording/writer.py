"""Writing a recording: a session sink that never blocks the session.

``Recorder`` is called with every raw observation on the session's loop; it only queues it. A
writer thread encodes the queued observations and commits them every ``commit_every`` seconds (0.5
by default) on a fixed cadence, however long a commit takes, so a recording killed with SIGKILL
holds everything handed over until one interval plus one commit's time before the kill (a slow
commit does not push the next one later). SQLite's atomic commit keeps the file readable whatever
happens to the process. A full disk or any write error stops the recording with a one-line reason
in ``status``; the session goes on without it.

Any SQLite client may read the live file. The file keeps SQLite's rollback journal (not WAL, whose
recent commits live in a separate ``-wal`` file until a checkpoint: a recording copied while open or
after a ``kill -9`` would lose them), so a reader holding a read transaction open keeps a commit from
finishing. The file being busy is never a reason to stop: a commit that cannot get the file within
``BUSY_TIMEOUT_S`` is rolled back, its rows stay in memory, already encoded, and go in with the next
commit once the reader lets go. ``close`` waits for the reader up to its timeout.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import platform
import queue
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from sparktop import __version__
from sparktop.codec import encode
from sparktop.model import (
    GpuSample,
    RecordingStatus,
    RequestRecord,
    ScrapeResult,
    ServerInfo,
    TargetInfo,
    Unknown,
    or_none,
)
from sparktop.recording import format as fmt
from sparktop.recording.format import RecordingError
from sparktop.recording.kinds import kind_of, time_of
from sparktop.recording.redact import redact_mapping, redact_target

log = logging.getLogger("sparktop.recording")

_STOP = object()
MAX_BACKLOG = 200_000
"""Observations waiting for the writer before the recording gives up (hours at a normal pace):
memory stays bounded even when the disk stalls or another program holds the file for hours."""
BUSY_TIMEOUT_S = 0.25
"""How long one commit waits for readers to let go of the file before its rows wait for the next
commit. Short, so that the writer does not hold the lock that keeps new readers out for long."""


class Recorder:
    """A session sink that records every observation to ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        target: TargetInfo,
        targets: Sequence[TargetInfo] = (),
        simulated: bool = False,
        settings: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        workload: Mapping[str, Any] | None = None,
        commit_every: float = 0.5,
        arrival: Callable[[], float] | None = None,
    ) -> None:
        self.path = path
        self._arrival = arrival
        self.commit_every = commit_every
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._ok = True
        self._detail = ""
        self._bytes = 0
        self._last_t: float | None = None
        self.writer_cpu_s = 0.0
        """CPU the writer thread has used so far (encoding and committing)."""
        self.busy_commits = 0
        """Commits put off because another program held the file."""
        self._unwritten: list[tuple[float, str, int, bytes, int]] = []
        self._unwritten_meta: dict[str, Any] = {}
        self._stop_by = float("inf")
        self._lock = threading.Lock()
        self._db = self._open(path)
        fleet = [encode(redact_target(t)) for t in targets] if len(targets) > 1 else []
        meta: dict[str, Any] = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FLEET_VERSION if fleet else fmt.FORMAT_VERSION,
            "sparktop_version": __version__,
            "created": time.time(),
            "target": fleet[0] if fleet else encode(redact_target(target)),
            "host": {
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "simulated": simulated,
            "settings": dict(settings or {}),
        }
        if profile is not None:
            meta["profile"] = redact_mapping(profile)
        if workload is not None:
            meta["workload"] = redact_mapping(workload)
        if fleet:
            meta["targets"] = fleet
        try:
            with self._db:
                if fleet:
                    self._db.execute(fmt.FLEET_INDEX)
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [(k, orjson.dumps(v).decode()) for k, v in meta.items()],
                )
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot write ({_one_line(exc)})") from None
        shared = _Shared()
        self._states = (
            [_EncoderState(dict(t), shared, fleet, i) for i, t in enumerate(fleet)]
            if fleet
            else [_EncoderState(dict(meta["target"]), shared)]
        )
        self._shared = shared
        self._thread = threading.Thread(target=self._run, name="sparktop-recorder", daemon=True)
        self._thread.start()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(
                f"{path.parent}: cannot create the directory ({exc.strerror or exc})"
            ) from None
        if path.exists():
            raise RecordingError(f"{path}: already exists; recordings are never overwritten")
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(fmt.SCHEMA)
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot create ({_one_line(exc)})") from None
        db.isolation_level = "DEFERRED"
        return db

    # ----------------------------------------------------------------------------------------------
    # the session side

    @property
    def backlog(self) -> int:
        """Observations handed over and not written yet (queued, or encoded and waiting for the file)."""
        return self._queue.qsize() + len(self._unwritten)

    def __call__(self, obs: object) -> None:
        self._take(obs, 0)

    def sink(self, index: int) -> Callable[[object], None]:
        """The sink of the fleet's target ``index``: its observations, tagged with it."""
        if not 0 <= index < len(self._states):
            raise IndexError(f"the recording has no target {index}")
        return lambda obs: self._take(obs, index)

    def _take(self, obs: object, index: int) -> None:
        if self._ok and self.backlog >= MAX_BACKLOG:
            why = "another program holds the file" if self._unwritten else "the disk is too slow"
            self._stop(RecordingError(f"{why}: {MAX_BACKLOG:,} observations waiting"))
            return
        if self._ok:
            # a row's time is when the observation reached the session (``arrival``), so a replay
            # that feeds rows up to a moment holds exactly what the live session held then
            self._queue.put((self._arrival() if self._arrival is not None else time_of(obs), obs, index))

    @property
    def status(self) -> RecordingStatus:
        with self._lock:
            return RecordingStatus(str(self.path), self._bytes, self._ok, self._detail)

    def close(self, timeout: float = 10.0) -> RecordingStatus:
        """Write what is queued, mark the recording as ended, and close the file.

        While another program holds the file, the last commit is retried until shortly before
        ``timeout``; if the file is still held then, the recording ends with what it had committed.
        """
        self._stop_by = time.monotonic() + max(0.0, timeout - 4 * BUSY_TIMEOUT_S)
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return self.status

    # ----------------------------------------------------------------------------------------------
    # the writer thread

    def _run(self) -> None:
        pending: list[tuple[float, object, int]] = []
        deadline = time.monotonic() + self.commit_every
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                if item is _STOP:
                    stopping = True
                else:
                    pending.append(item)  # type: ignore[arg-type]
            except queue.Empty:
                pass
            if stopping or time.monotonic() >= deadline:
                if (pending or self._unwritten) and self._ok:
                    started = time.thread_time()
                    self._write(pending)
                    self.writer_cpu_s += time.thread_time() - started
                pending = []
                # commits keep their cadence whatever a commit takes (a loaded machine, a slow
                # disk): what was handed over waits at most one interval plus one commit
                # (after a commit that overran its interval, the next one is due at once)
                deadline = max(deadline + self.commit_every, time.monotonic())
        if self._ok:
            self._unwritten_meta["ended"] = time.time()
            while self._ok and not self._write([]):
                if time.monotonic() >= self._stop_by:
                    self._stop(RecordingError("another program kept the file open past the close"))
        self._finish()

    def _write(self, items: list[tuple[float, object, int]]) -> bool:
        """Encode ``items`` and commit them with any rows still waiting for the file.

        Returns False when another program held the file (the rows wait, encoded, for the next
        try), True when they are written or the recording has stopped.
        """
        try:
            for arrived, obs, index in items:
                row = self._states[index].row(arrived, obs, self._unwritten_meta)
                if row is not None:
                    self._unwritten.append((*row, index))
        except Exception as exc:  # a bug must stop the recording with a message, never the thread silently
            log.exception("recording %s: cannot encode an observation", self.path)
            self._stop(exc)
            return True
        rows, meta = self._unwritten, self._unwritten_meta
        try:
            if self._db.in_transaction:  # a rollback that failed after a put-off commit
                self._db.execute("ROLLBACK")
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO layouts(id, keys) VALUES (?, ?)", self._shared.new_layouts)
                if meta:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                        [(k, orjson.dumps(v).decode()) for k, v in meta.items()],
                    )
                self._db.executemany(
                    "INSERT INTO observations(t, kind, keyframe, data, target) VALUES (?, ?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            if _busy(exc):
                self._put_off()
                return False
            self._stop(exc)
            return True
        self._shared.new_layouts.clear()
        last_t = rows[-1][0] if rows else None
        self._unwritten, self._unwritten_meta = [], {}
        size = _file_size(self.path)
        with self._lock:
            self._bytes = size
            self._detail = ""
            if last_t is not None:
                self._last_t = last_t
        return True

    def _put_off(self) -> None:
        """Another program holds the file: keep the rows for the next commit."""
        self.busy_commits += 1
        with self._lock:
            first = not self._detail
            if not self._ok:
                return
            self._detail = f"waiting for another program that holds the file ({len(self._unwritten)} rows)"
        if first:
            log.warning("recording %s: another program holds the file; the rows wait in memory", self.path)

    def _stop(self, exc: BaseException) -> None:
        text = _one_line(exc)
        full = "full" in text.lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        since = time.strftime("%H:%M:%S", time.localtime(self._last_t)) if self._last_t else "the start"
        reason = "disk full" if full else f"write failed ({text})"
        with self._lock:
            self._ok = False
            self._detail = f"{reason}; the file keeps everything up to {since}"
        log.error("recording %s stopped: %s", self.path, self._detail)

    def _finish(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        size = _file_size(self.path)
        with self._lock:
            self._bytes = size


class _Shared:
    """What the targets of one file share: series layouts and compression dictionaries."""

    def __init__(self) -> None:
        self.layouts: dict[tuple[str, ...], int] = {}
        self.new_layouts: list[tuple[int, bytes]] = []
        """Layouts given an id and not written yet: they go in with the rows that use them."""
        self.layout_ids: dict[int, int] = {}  # id(keys tuple) -> layout id, for the common case
        self.zdicts: dict[str, bytes] = {}


class _EncoderState:
    """What encoding one target's rows needs to remember: its previous scrape's values (its rows
    form their own keyframe and delta chain), and what the file shares."""

    def __init__(
        self,
        target: dict[str, Any],
        shared: _Shared,
        fleet: list[dict[str, Any]] | None = None,
        index: int = 0,
    ) -> None:
        self.target = target
        self.shared = shared
        self.fleet = fleet
        """Every target's metadata, in a fleet recording (kept current in ``meta.targets``)."""
        self.index = index
        self.previous: tuple[int, list[float]] | None = None  # (layout, values) of the last scrape row
        self.since_keyframe = 0
        self.gpu_described = False

    def _update_target(self, info: ServerInfo, meta: dict[str, Any]) -> None:
        """Keep the metadata's model and version current (a reader should not need to replay for them)."""
        changed = False
        if info.models and self.target.get("model") != info.models[0]:
            self.target["model"] = info.models[0]
            changed = True
        if isinstance(info.version, str) and self.target.get("version") != info.version:
            self.target["version"] = info.version
            changed = True
        if info.simulated and not self.target.get("simulated"):
            self.target["simulated"] = True
            meta["simulated"] = True  # the server said so: the simulated Spark, whatever we were told
            changed = True
        if changed and self.fleet is not None:
            self.fleet[self.index] = dict(self.target)
            meta["targets"] = [dict(t) for t in self.fleet]
            if self.index == 0:
                meta["target"] = dict(self.target)
        elif changed:
            meta["target"] = dict(self.target)

    def _layout(self, keys: tuple[str, ...]) -> int:
        shared = self.shared
        cached = shared.layout_ids.get(id(keys))
        if cached is not None and shared.layouts.get(keys) == cached:
            return cached
        layout = shared.layouts.get(keys)
        if layout is None:
            packed = zlib.compress(orjson.dumps(list(keys)), 9)
            layout = len(shared.layouts) + 1  # the file is new: ids are 1, 2, ... in order
            shared.new_layouts.append((layout, packed))
            shared.layouts[keys] = layout
        shared.layout_ids[id(keys)] = layout
        return layout

    def row(self, t: float, obs: object, meta: dict[str, Any]) -> tuple[float, str, int, bytes] | None:
        kind = kind_of(obs)
        if kind is None:
            return None
        if isinstance(obs, ServerInfo):
            self._update_target(obs, meta)
        if isinstance(obs, ScrapeResult):
            return self._scrape(t, obs, meta)
        if isinstance(obs, GpuSample) and not self.gpu_described:
            self.gpu_described = True
            meta["gpu"] = _describe_gpu(obs)
        if isinstance(obs, RequestRecord):
            return (t, kind, 0, self._pack(kind, fmt.encode_request(obs), meta))
        return (t, kind, 0, self._pack(kind, orjson.dumps(encode(obs)), meta))

    def _pack(self, kind: str, payload: bytes, meta: dict[str, Any]) -> bytes:
        zdict = self.shared.zdicts.get(kind)
        if zdict is None:
            zdict = self.shared.zdicts[kind] = payload[:32768]
            meta[f"zdict_{kind}"] = base64.b64encode(zdict).decode()
        packer = zlib.compressobj(9, zdict=zdict)
        return packer.compress(payload) + packer.flush()

    def _scrape(self, t: float, obs: ScrapeResult, meta: dict[str, Any]) -> tuple[float, str, int, bytes]:
        keys, values = obs.series_keys, list(obs.series_values)
        layout = self._layout(keys) if keys else 0
        header = {
            "t": obs.t,
            "state": obs.state,
            "detail": obs.detail,
            "latency": obs.latency_s,
            "layout": layout,
            "skipped": obs.snapshot.skipped_lines if obs.snapshot is not None else 0,
            "n": len(values),
            "metrics": obs.snapshot is not None,
        }
        keyframe = 1
        if values:
            previous = self.previous
            if previous is not None and previous[0] == layout and self.since_keyframe < fmt.KEYFRAME_EVERY:
                body = fmt.encode_delta(values, previous[1])
                keyframe = 0
                self.since_keyframe += 1
            else:
                body = fmt.encode_keyframe(values)
                self.since_keyframe = 0
            self.previous = (layout, values)
        else:
            body = b""
            keyframe = 0  # nothing to start decoding from: the next deltas build on earlier values
        return (t, "scrape", keyframe, self._pack("scrape", orjson.dumps(header) + b"\n" + body, meta))


def _describe_gpu(sample: GpuSample) -> dict[str, Any]:
    names = [d.name for d in sample.devices if not isinstance(d.name, Unknown)]
    return {
        "status": sample.status,
        "devices": names,
        "driver": sample.driver_version if not isinstance(sample.driver_version, Unknown) else None,
        "simulated": sample.simulated,
        "unified_memory": any(d.unified_memory for d in sample.devices),
        "memory_total_bytes": or_none(sample.memory.total_bytes),
    }


def _busy(exc: BaseException) -> bool:
    """Whether ``exc`` says another connection holds the file (a reason to wait, never to stop)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(exc)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def default_name(model: str | None, what: str, simulated: bool, now: float | None = None) -> str:
    """``20261123-142005_gemma-4-26b-a4b-nvfp4_C-quick_sim.sparktop``: sorts by time, says what."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    parts = [stamp, _slug(model or "unknown-model"), _slug(what)]
    if simulated:
        parts.append("sim")
    return "_".join(parts) + fmt.SUFFIX


def _slug(text: str) -> str:
    keep = [c if c.isalnum() or c in "-." else "-" for c in text.rsplit("/", maxsplit=1)[-1]]
    slug = "".join(keep).strip("-.")[:60]
    return slug or "x"
