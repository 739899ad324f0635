"""Writing a recording: a session sink that never blocks the session.

``Recorder`` is called with every raw observation on the session's loop; it only queues it. A
writer thread encodes the queued observations and commits them every ``commit_every`` seconds (0.5
by default), so a recording killed with SIGKILL holds everything up to about half a second before
the kill. SQLite's atomic commit keeps the file readable whatever happens to the process. A full
disk or any write error stops the recording with a one-line reason in ``status``; the session goes
on without it.
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
from collections.abc import Callable, Mapping
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
memory stays bounded even when the disk stalls."""


class Recorder:
    """A session sink that records every observation to ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        target: TargetInfo,
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
        self._lock = threading.Lock()
        self._db = self._open(path)
        meta: dict[str, Any] = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FORMAT_VERSION,
            "sparktop_version": __version__,
            "created": time.time(),
            "target": encode(redact_target(target)),
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
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [(k, orjson.dumps(v).decode()) for k, v in meta.items()],
                )
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot write ({_one_line(exc)})") from None
        self._state = _EncoderState(self._db, dict(meta["target"]))
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
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
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
        """Observations handed over and not written yet."""
        return self._queue.qsize()

    def __call__(self, obs: object) -> None:
        if self._ok and self._queue.qsize() >= MAX_BACKLOG:
            self._stop(RecordingError(f"the disk is too slow: {MAX_BACKLOG:,} observations waiting"))
            return
        if self._ok:
            # a row's time is when the observation reached the session (``arrival``), so a replay
            # that feeds rows up to a moment holds exactly what the live session held then
            self._queue.put((self._arrival() if self._arrival is not None else time_of(obs), obs))

    @property
    def status(self) -> RecordingStatus:
        with self._lock:
            return RecordingStatus(str(self.path), self._bytes, self._ok, self._detail)

    def close(self, timeout: float = 10.0) -> RecordingStatus:
        """Write what is queued, mark the recording as ended, and close the file."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return self.status

    # ----------------------------------------------------------------------------------------------
    # the writer thread

    def _run(self) -> None:
        pending: list[tuple[float, object]] = []
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
                if pending and self._ok:
                    started = time.thread_time()
                    self._write(pending)
                    self.writer_cpu_s += time.thread_time() - started
                pending = []
                deadline = time.monotonic() + self.commit_every
        self._finish()

    def _write(self, items: list[tuple[float, object]]) -> None:
        try:
            rows = []
            meta: dict[str, Any] = {}
            for arrived, obs in items:
                row = self._state.row(arrived, obs, meta)
                if row is not None:
                    rows.append(row)
            with self._db:
                if meta:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                        [(k, orjson.dumps(v).decode()) for k, v in meta.items()],
                    )
                self._db.executemany(
                    "INSERT INTO observations(t, kind, keyframe, data) VALUES (?, ?, ?, ?)", rows
                )
            self._state.commit()
            size = _file_size(self.path)
            with self._lock:
                self._bytes = size
                if rows:
                    self._last_t = rows[-1][0]
        except (sqlite3.Error, OSError) as exc:
            self._state.rollback()
            self._stop(exc)
        except Exception as exc:  # a bug must stop the recording with a message, never the thread silently
            self._state.rollback()
            log.exception("recording %s: cannot encode an observation", self.path)
            self._stop(exc)

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
            if self._ok:
                with self._db:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('ended', ?)",
                        (orjson.dumps(time.time()).decode(),),
                    )
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        size = _file_size(self.path)
        with self._lock:
            self._bytes = size


class _EncoderState:
    """What encoding needs to remember: the previous scrape's values, layouts, dictionaries."""

    def __init__(self, db: sqlite3.Connection, target: dict[str, Any]) -> None:
        self.db = db
        self.target = target
        self.layouts: dict[tuple[str, ...], int] = {}
        self.layout_ids: dict[int, int] = {}  # id(keys tuple) -> layout id, for the common case
        self.previous: tuple[int, list[float]] | None = None  # (layout, values) of the last scrape row
        self.since_keyframe = 0
        self.zdicts: dict[str, bytes] = {}
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
        if changed:
            meta["target"] = dict(self.target)

    def commit(self) -> None:
        """The rows given out since the last commit are in the file."""

    def rollback(self) -> None:
        """The rows given out since the last commit were not written: start again from a keyframe."""
        self.previous = None
        self.layouts.clear()
        self.layout_ids.clear()

    def _layout(self, keys: tuple[str, ...]) -> int:
        cached = self.layout_ids.get(id(keys))
        if cached is not None and self.layouts.get(keys) == cached:
            return cached
        layout = self.layouts.get(keys)
        if layout is None:
            packed = zlib.compress(orjson.dumps(list(keys)), 9)
            cursor = self.db.execute("INSERT INTO layouts(keys) VALUES (?)", (packed,))
            layout = int(cursor.lastrowid or 0)
            self.layouts[keys] = layout
        self.layout_ids[id(keys)] = layout
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
        zdict = self.zdicts.get(kind)
        if zdict is None:
            zdict = self.zdicts[kind] = payload[:32768]
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
