"""Reading a recording, as untrusted input.

``Recording.open`` checks that the file is a SQLite database holding a sparktop recording of a
format version this build understands; anything else is a ``RecordingError`` with a one-line cause
(never a traceback, never code execution: payloads are JSON and packed numbers, decoded strictly by
``sparktop.codec``). Reading stops with a ``RecordingError`` at the first damaged row; what came
before it has been delivered.

A file cut short (a copy that stopped half-way, a full disk on the way) holds fewer pages than its
header says. SQLite refuses such a file as a whole; it is opened anyway, in a mode that lets SQLite
read the pages that are there (``truncated`` says so, with the sizes), and reading stops at the
first row it cannot reach, like at any other damage.

A recorder killed in the middle of a commit leaves a hot rollback journal (``<file>-journal``)
beside the file. SQLite will not read such a file through a read-only connection, so opening one
first rolls the unfinished commit back (what SQLite does on any ordinary open): in place when the
file is writable, otherwise in a private copy, leaving the original untouched.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from sparktop.codec import DecodeError, decode
from sparktop.model import ScrapeResult, ServerState, TargetInfo
from sparktop.recording import format as fmt
from sparktop.recording.format import RecordingError
from sparktop.recording.kinds import KIND_TYPES
from sparktop.vllm.exposition import Page, Series, Skip, parse_line
from sparktop.vllm.schema import Schema

_STATES = ("unknown", "unreachable", "starting", "unresponsive", "healthy", "dead", "metrics-disabled")
MAX_PAYLOAD = 64 * 1024 * 1024
# A damaged file can make SQLite report errors whose text is not UTF-8: those are damage too.
_DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, UnicodeError)
_REPAIR_ERRORS: tuple[type[Exception], ...] = (OSError, *_DB_ERRORS)


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    t: float
    kind: str
    keyframe: bool
    data: bytes


class Recording:
    """An open recording. Not thread-safe; cheap to open (nothing is read but the metadata)."""

    def __init__(
        self, path: Path, db: sqlite3.Connection, meta: dict[str, Any], truncated: str | None = None
    ) -> None:
        self.path = path
        self._db = db
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self.meta = meta
        self._zdicts: dict[str, bytes] = {}
        self._layouts: dict[int, tuple[tuple[str, ...], list[Series]]] = {}
        self._schema = Schema()
        self.truncated = truncated
        """How the file is shorter than its header says (``cut short: ...``), None when it is not."""
        self.start: float
        self.end: float
        self.count: int
        self.target_index: int | None = None
        """The target this view reads (``for_target``); None: the whole file."""
        self._owner: Recording | None = None
        self._tagged = self._has_target_column()
        self.targets = self._targets()
        """Every target the file holds (one, unless a fleet was recorded)."""
        if truncated is not None:
            self._span_of_readable_rows()
            return
        row = self._one("SELECT MIN(t), MAX(t), COUNT(*) FROM observations")
        self.start = float(row[0]) if row and row[0] is not None else float(meta.get("created", 0.0))
        self.end = float(row[1]) if row and row[1] is not None else self.start
        self.count = int(row[2]) if row else 0

    def _span_of_readable_rows(self) -> None:
        """``start``, ``end`` and ``count`` from the rows that can be read, in order, up to the
        first that cannot (a cut-short file: the indexes may point past its end)."""
        times: list[float] = []
        try:
            for (t,) in self._db.execute("SELECT t FROM observations ORDER BY seq"):
                if isinstance(t, (int, float)):
                    times.append(float(t))
        except _DB_ERRORS:
            pass
        self.start = min(times) if times else float(self.meta.get("created", 0.0))
        self.end = max(times) if times else self.start
        self.count = len(times)

    # ----------------------------------------------------------------------------------------------
    # opening

    @classmethod
    def open(cls, path: str | Path) -> Recording:
        path = Path(path)
        if not path.exists():
            raise RecordingError(f"{path}: no such file")
        if path.is_dir():
            raise RecordingError(f"{path}: is a directory, not a recording")
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if head != b"SQLite format 3\x00":
            raise RecordingError(f"{path}: not a sparktop recording (not a SQLite database)")
        source, scratch = path, None
        if _journal(path).exists():
            writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
            source, scratch = _rolled_back(path, in_place=writable)
        truncated, page_size = _cut_short(source)
        if truncated is not None and source.stat().st_size % page_size:
            source, scratch = _whole_pages(path, source, page_size, scratch)
        try:
            db, tables = _connect(source, salvage=truncated is not None)
        except _DB_ERRORS as exc:
            if scratch is not None:
                scratch.cleanup()
            why = truncated or _one_line(exc)
            raise RecordingError(f"{path}: damaged or not a recording ({why})") from None
        try:
            return cls._checked(path, db, tables, scratch, truncated)
        except BaseException:
            if scratch is not None:
                scratch.cleanup()
            raise

    @classmethod
    def _checked(
        cls,
        path: Path,
        db: sqlite3.Connection,
        tables: set[str],
        scratch: tempfile.TemporaryDirectory[str] | None,
        truncated: str | None = None,
    ) -> Recording:
        if not {"meta", "layouts", "observations"} <= tables:
            db.close()
            raise RecordingError(f"{path}: a SQLite database, but not a sparktop recording")
        try:
            meta = {}
            for key, value in db.execute("SELECT key, value FROM meta"):
                if isinstance(key, str) and isinstance(value, str):
                    meta[key] = orjson.loads(value)
        except (sqlite3.Error, UnicodeError, orjson.JSONDecodeError) as exc:
            db.close()
            raise RecordingError(f"{path}: unreadable metadata ({_one_line(exc)})") from None
        if meta.get("format") != fmt.FORMAT_NAME:
            db.close()
            raise RecordingError(f"{path}: not a sparktop recording (format {meta.get('format')!r})")
        version = meta.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            db.close()
            raise RecordingError(f"{path}: recording with an invalid format version {version!r}")
        if version > fmt.READ_VERSION:
            db.close()
            raise RecordingError(
                f"{path}: recorded in format {version} by a newer sparktop "
                f"({meta.get('sparktop_version', '?')}); this one reads up to "
                f"{fmt.READ_VERSION}: upgrade sparktop"
            )
        try:
            recording = cls(path, db, meta, truncated)
        except RecordingError:
            db.close()
            raise
        except _DB_ERRORS as exc:
            db.close()
            raise RecordingError(f"{path}: damaged ({_one_line(exc)})") from None
        recording._scratch = scratch
        return recording

    def _has_target_column(self) -> bool:
        try:
            return any(r[1] == "target" for r in self._db.execute("PRAGMA table_info(observations)"))
        except _DB_ERRORS:
            return False

    def _targets(self) -> list[TargetInfo]:
        listed = self.meta.get("targets")
        if not isinstance(listed, list) or len(listed) < 2 or not self._tagged:
            return [self.target]
        out = []
        for i, item in enumerate(listed):
            try:
                out.append(decode(TargetInfo, item))
            except DecodeError:
                out.append(TargetInfo(label=f"target {i + 1}", kind="replay"))
        return out

    @property
    def fleet(self) -> bool:
        """Several targets, each read through ``for_target``."""
        return len(self.targets) > 1

    def for_target(self, index: int) -> Recording:
        """The recording of one of the file's targets: its rows only, on the file's clock (its
        start and end are the file's, so the targets of a fleet replay side by side)."""
        if not 0 <= index < len(self.targets):
            raise RecordingError(f"{self.path}: no target {index + 1} (it holds {len(self.targets)})")
        view = copy.copy(self)
        view.target_index = index
        view._owner = self
        view._layouts = self._layouts
        view._zdicts = self._zdicts
        view._schema = Schema()  # its own: the schema keeps the plan of the last layout it read
        if self._tagged:
            row = self._one("SELECT COUNT(*) FROM observations WHERE target = ?", (index,))
            view.count = int(row[0]) if row else 0
        return view

    def _only(self) -> tuple[str, tuple[int, ...]]:
        """The SQL condition (and its argument) that keeps this view's target's rows."""
        if self.target_index is None or not self._tagged:
            return "1", ()
        return "target = ?", (self.target_index,)

    def close(self) -> None:
        if self._owner is not None:
            return  # a view: the file is its owner's to close
        self._db.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------
    # metadata

    @property
    def target(self) -> TargetInfo:
        if self.target_index is not None and self.fleet:
            return self.targets[self.target_index]
        try:
            return decode(TargetInfo, self.meta.get("target"))
        except DecodeError:
            return TargetInfo(label=str(self.path.name), kind="replay")

    @property
    def simulated(self) -> bool:
        return bool(self.meta.get("simulated", False))

    @property
    def complete(self) -> bool:
        """False when the session ended without closing the file (a crash or a kill)."""
        return "ended" in self.meta

    def setting(self, name: str, default: float) -> float:
        settings = self.meta.get("settings")
        value = settings.get(name) if isinstance(settings, dict) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    # ----------------------------------------------------------------------------------------------
    # rows

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        try:
            return self._db.execute(sql, args).fetchone()
        except _DB_ERRORS as exc:
            raise RecordingError(f"{self.path}: damaged ({_one_line(exc)})") from None

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except _DB_ERRORS as exc:
            raise RecordingError(f"{self.path}: damaged ({_one_line(exc)})") from None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except _DB_ERRORS as exc:
            raise RecordingError(f"{self.path}: damaged ({_one_line(exc)})") from None

    def rows(
        self,
        t_from: float | None = None,
        t_to: float | None = None,
        kinds: tuple[str, ...] = (),
        seq_from: int | None = None,
    ) -> Iterator[Row]:
        """Rows in arrival order; ``seq_from`` (a row known to come no later than the first one
        wanted) lets SQLite start there instead of scanning the file from its beginning."""
        clauses: list[str] = []
        args: list[object] = []
        if seq_from is not None:
            clauses.append("seq >= ?")
            args.append(seq_from)
        # with a starting row, the time filters are checked row by row (the unary + keeps SQLite
        # from walking the t index and sorting everything after it by seq)
        column = "+t" if seq_from is not None else "t"
        if t_from is not None:
            clauses.append(f"{column} >= ?")
            args.append(t_from)
        if t_to is not None:
            clauses.append(f"{column} <= ?")
            args.append(t_to)
        if kinds:
            clauses.append("kind IN (" + ",".join("?" * len(kinds)) + ")")
            args.extend(kinds)
        if self.target_index is not None and self._tagged:
            clauses.append("target = ?")
            args.append(self.target_index)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        cursor = self._query(
            # only fixed fragments and ? placeholders are joined: values travel as parameters
            f"SELECT seq, t, kind, keyframe, data FROM observations{where} ORDER BY seq",  # noqa: S608
            tuple(args),
        )
        last: object = None
        while True:
            # one row at a time: a batch that meets damage would lose the good rows before it
            try:
                fetched = cursor.fetchone()
            except _DB_ERRORS as exc:
                after = f" after row {last}" if last is not None else ""
                why = self.truncated or _one_line(exc)
                raise RecordingError(f"{self.path}: damaged{after} ({why})") from None
            if fetched is None:
                return
            seq, t, kind, keyframe, data = fetched
            if (
                not isinstance(seq, int)
                or not isinstance(t, (int, float))
                or not isinstance(kind, str)
                or not isinstance(keyframe, int)
                or not isinstance(data, bytes)
            ):
                raise RecordingError(f"{self.path}: malformed row {seq!r}")
            last = seq
            yield Row(seq, float(t), kind, bool(keyframe), data)

    def keyframe_before(self, t: float) -> tuple[float, int] | None:
        """Time and row of the last scrape keyframe at or before ``t`` that holds values (where
        decoding can start). A scrape that read nothing (an unreachable server) is no start: files
        before this was known mark it a keyframe, and the deltas after it build on the values
        before it."""
        only, arg = self._only()
        cursor = self._query(
            "SELECT t, seq, data FROM observations WHERE kind='scrape' AND t <= ? AND keyframe=1 "  # noqa: S608
            f"AND {only} ORDER BY t DESC, seq DESC",
            (t, *arg),
        )
        zdict = self._zdict("scrape")
        for when, seq, data in cursor:
            if not isinstance(when, (int, float)) or not isinstance(seq, int) or not isinstance(data, bytes):
                return None
            head = self._payload(Row(seq, float(when), "scrape", True, data), zdict).partition(b"\n")[0]
            try:
                header = orjson.loads(head)
            except orjson.JSONDecodeError:
                raise RecordingError(f"{self.path}: row {seq} has a damaged header") from None
            if isinstance(header, dict) and header.get("n"):
                return float(when), seq
        return None

    def last_before(self, kind: str, t: float) -> object | None:
        """The last observation of ``kind`` (not ``scrape``) that arrived before ``t``, or None."""
        only, arg = self._only()
        row = self._one(
            "SELECT seq, t, kind, keyframe, data FROM observations WHERE t < ? AND kind = ? "  # noqa: S608
            f"AND {only} ORDER BY t DESC LIMIT 1",
            (t, kind, *arg),
        )
        if row is None or kind == "scrape":
            return None
        seq, when, name, keyframe, data = row
        if not isinstance(seq, int) or not isinstance(when, (int, float)) or not isinstance(data, bytes):
            raise RecordingError(f"{self.path}: malformed row {seq!r}")
        return self._other(Row(seq, float(when), str(name), bool(keyframe), data))

    def times(self, kinds: tuple[str, ...]) -> list[float]:
        """When observations of these kinds happened (e.g. events, to step from one to the next)."""
        marks = ",".join("?" * len(kinds))
        only, arg = self._only()
        return [
            float(r[0])
            for r in self._all(
                f"SELECT t FROM observations WHERE kind IN ({marks}) AND {only} ORDER BY t",  # noqa: S608
                (*kinds, *arg),
            )
        ]

    # ----------------------------------------------------------------------------------------------
    # decoding

    def observations(self, t_from: float | None = None, t_to: float | None = None) -> Iterator[object]:
        """Decoded observations in arrival order, from ``t_from`` to ``t_to`` (inclusive)."""
        for _, obs in self.arrivals(t_from, t_to):
            yield obs

    def arrivals(
        self, t_from: float | None = None, t_to: float | None = None
    ) -> Iterator[tuple[float, object]]:
        """``(arrival time, observation)`` in arrival order, from ``t_from`` to ``t_to`` (inclusive).

        The arrival time is when the observation reached the live session. Scrape rows are deltas,
        so decoding starts at the keyframe before ``t_from``; rows before ``t_from`` are decoded but
        not yielded.
        """
        if self.fleet and self.target_index is None:
            raise RecordingError(
                f"{self.path}: a fleet recording ({len(self.targets)} targets): read one target at a time"
            )
        keyframe = None if t_from is None else self.keyframe_before(t_from)
        if keyframe is not None:
            rows = self.rows(keyframe[0], t_to, seq_from=keyframe[1])
        else:
            rows = self.rows(t_from, t_to)
        previous: tuple[int, list[float]] | None = None
        for row in rows:
            obs: object | None
            if row.kind == "scrape":
                # rows before t_from only carry the values forward: no snapshot is read from them
                obs, previous = self._scrape(row, previous, read=t_from is None or row.t >= t_from)
            else:
                if t_from is not None and row.t < t_from:
                    continue
                obs = self._other(row)
            if obs is not None and (t_from is None or row.t >= t_from):
                yield row.t, obs

    def _payload(self, row: Row, zdict: bytes | None = None) -> bytes:
        try:
            unpacker = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
            data = unpacker.decompress(row.data, MAX_PAYLOAD)
            if unpacker.unconsumed_tail:
                raise RecordingError(f"{self.path}: row {row.seq} expands beyond {MAX_PAYLOAD} bytes")
            return data
        except zlib.error as exc:
            raise RecordingError(f"{self.path}: row {row.seq} is damaged ({exc})") from None

    def _layout(self, layout: int) -> tuple[tuple[str, ...], list[Series]]:
        cached = self._layouts.get(layout)
        if cached is not None:
            return cached
        row = self._one("SELECT keys FROM layouts WHERE id=?", (layout,))
        if row is None:
            raise RecordingError(f"{self.path}: missing series layout {layout}")
        try:
            unpacker = zlib.decompressobj()
            keys = orjson.loads(unpacker.decompress(row[0], MAX_PAYLOAD))
        except (orjson.JSONDecodeError, zlib.error, TypeError):
            raise RecordingError(f"{self.path}: damaged series layout {layout}") from None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise RecordingError(f"{self.path}: damaged series layout {layout}")
        series = []
        for key in keys:
            parsed = parse_line(key + " 0")
            if isinstance(parsed, Skip):
                raise RecordingError(f"{self.path}: series layout {layout} holds an invalid key")
            series.append(parsed[0])
        entry = (tuple(keys), series)
        self._layouts[layout] = entry
        return entry

    def _scrape(
        self, row: Row, previous: tuple[int, list[float]] | None, *, read: bool = True
    ) -> tuple[ScrapeResult, tuple[int, list[float]] | None]:
        data = self._payload(row, self._zdict("scrape"))
        head, sep, body = data.partition(b"\n")
        try:
            header = orjson.loads(head)
        except orjson.JSONDecodeError:
            raise RecordingError(f"{self.path}: row {row.seq} has a damaged header") from None
        if not sep or not isinstance(header, dict):
            raise RecordingError(f"{self.path}: row {row.seq} has a damaged header")
        state = header.get("state")
        layout, n = header.get("layout"), header.get("n")
        detail, latency, skipped = header.get("detail", ""), header.get("latency"), header.get("skipped", 0)
        stamped = header.get("t", row.t)
        if (
            state not in _STATES
            or not isinstance(layout, int)
            or not isinstance(n, int)
            or not isinstance(detail, str)
            or not (latency is None or isinstance(latency, (int, float)))
            or not isinstance(skipped, int)
            or not isinstance(stamped, (int, float))
        ):
            raise RecordingError(f"{self.path}: row {row.seq} has a malformed header")
        state_value: ServerState = state
        t = float(stamped)
        if n == 0 or layout == 0:
            return ScrapeResult(t, state_value, detail, latency), previous
        keys, series = self._layout(layout)
        if len(keys) != n:
            raise RecordingError(f"{self.path}: row {row.seq} does not match its layout")
        if row.keyframe:
            values = fmt.decode_keyframe(body, n)
        else:
            if previous is None or previous[0] != layout:
                raise RecordingError(f"{self.path}: row {row.seq} is a delta without its keyframe")
            values = fmt.decode_delta(body, previous[1])
        snapshot = None
        if read and header.get("metrics", True):
            snapshot = self._schema.read(Page(series, values, skipped), t).snapshot
        result = ScrapeResult(t, state_value, detail, latency, snapshot, keys, tuple(values))
        return result, (layout, values)

    def _zdict(self, kind: str) -> bytes | None:
        zdict = self._zdicts.get(kind)
        if zdict is None:
            encoded = self.meta.get(f"zdict_{kind}")
            try:
                zdict = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
            except (binascii.Error, ValueError):
                raise RecordingError(f"{self.path}: damaged dictionary for {kind} rows") from None
            self._zdicts[kind] = zdict
        return zdict or None

    def _other(self, row: Row) -> object | None:
        cls = KIND_TYPES.get(row.kind)
        if cls is None:
            return None  # a kind from a later format minor: skip it
        data = self._payload(row, self._zdict(row.kind))
        if row.kind == "request":
            try:
                return fmt.decode_request(data)
            except RecordingError as exc:
                raise RecordingError(f"{self.path}: row {row.seq}: {exc}") from None
        try:
            return decode(cls, orjson.loads(data))
        except (orjson.JSONDecodeError, DecodeError) as exc:
            raise RecordingError(
                f"{self.path}: row {row.seq} ({row.kind}) is malformed: {_one_line(exc)}"
            ) from None


def _connect(path: Path, *, salvage: bool = False) -> tuple[sqlite3.Connection, set[str]]:
    """A read-only connection and the file's tables. ``salvage`` lets SQLite read a file that holds
    fewer pages than its header says (it refuses one otherwise); nothing is ever written."""
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        # text in a damaged file may not be UTF-8: never let that escape as a decoding error
        db.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        db.execute("PRAGMA query_only=1")
        if salvage:
            db.execute("PRAGMA writable_schema=ON")  # size from the file, not the header
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except BaseException:
        db.close()
        raise
    return db, tables


def _cut_short(path: Path) -> tuple[str | None, int]:
    """``cut short: N of M bytes`` when the file is smaller than its header says, else None; and
    the page size.

    The header (https://www.sqlite.org/fileformat.html) holds the page size at offset 16 and,
    when valid (the change counter at 24 equals the one at 92), the size in pages at 28."""
    try:
        with path.open("rb") as fh:
            head = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None, 0
    if len(head) < 100:
        return None, 0
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if page_size < 512 or page_size & (page_size - 1) or head[24:28] != head[92:96] or pages == 0:
        return None, 0
    expected = page_size * pages
    return (f"cut short: {size:,} of {expected:,} bytes" if size < expected else None), page_size


def _whole_pages(
    path: Path, source: Path, page_size: int, scratch: tempfile.TemporaryDirectory[str] | None
) -> tuple[Path, tempfile.TemporaryDirectory[str]]:
    """A private copy of ``source`` without its last, partial page: SQLite would read that page
    with zeros for its missing bytes, and rows half there would decode as if whole."""
    if scratch is None:
        scratch = tempfile.TemporaryDirectory(prefix="sparktop-recording-")
    copy = Path(scratch.name) / (path.name + ".pages")
    try:
        with source.open("rb") as src, copy.open("wb") as dst:
            whole = os.fstat(src.fileno()).st_size // page_size * page_size
            while whole > 0:
                chunk = src.read(min(whole, 1 << 20))
                if not chunk:
                    break
                dst.write(chunk)
                whole -= len(chunk)
    except OSError as exc:
        scratch.cleanup()
        raise RecordingError(f"{path}: cut short and cannot be copied ({exc.strerror or exc})") from None
    return copy, scratch


def _journal(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def _roll_back(path: Path) -> None:
    """Let SQLite roll back an unfinished commit: any read through a writable connection does.

    A journal that belongs to a recorder still writing is not hot (the recorder holds its lock),
    and SQLite leaves it alone; the busy timeout covers a commit in progress.
    """
    db = sqlite3.connect(path, timeout=5.0)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    finally:
        db.close()


def _rolled_back(path: Path, *, in_place: bool) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """The file to read after rolling back a hot journal, and the scratch directory holding it."""
    if in_place:
        try:
            _roll_back(path)
            return path, None
        except _DB_ERRORS:
            pass  # fall back to a copy; if that fails too, opening reports the damage
    scratch = tempfile.TemporaryDirectory(prefix="sparktop-recording-")
    copy = Path(scratch.name) / path.name
    try:
        shutil.copyfile(path, copy)
        shutil.copyfile(_journal(path), _journal(copy))
        _roll_back(copy)
    except _REPAIR_ERRORS as exc:
        scratch.cleanup()
        cause = (exc.strerror or str(exc)) if isinstance(exc, OSError) else _one_line(exc)
        raise RecordingError(
            f"{path}: cut off in the middle of a write and cannot be repaired ({cause}); "
            "hint: copy it together with its -journal file somewhere writable and open the copy"
        ) from None
    return copy, scratch


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
