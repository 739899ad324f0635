"""The recording format (version 1): one SQLite 3 database per session.

Any SQLite client can read a recording; this module is the reference for how. Tables::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- JSON values (see META_KEYS)
    layouts(id INTEGER PRIMARY KEY, keys BLOB)    -- zlib-compressed JSON array of vLLM series keys,
                                                  -- e.g. 'vllm:num_requests_running{engine="0",...}'
    observations(seq INTEGER PRIMARY KEY,         -- arrival order
                 t REAL,                          -- when it entered the session (epoch seconds)
                 kind TEXT,                       -- scrape, gpu, event, info, progress, request, container
                 keyframe INTEGER,                -- scrape rows: 1 = absolute values, 0 = delta
                 data BLOB,                       -- zlib-compressed payload, below
                 target INTEGER)                  -- which target (a fleet recording); 0 otherwise

Indexes on ``t`` and on ``(kind, t)`` make seeking O(log n) in a day-long file (files from before
the second index read the same, only slower).

A fleet recording (several servers watched at once, format version 2) lists its targets in
``meta.targets`` (``target`` is the first of them) and tags each row with the target's index in that
list; each target's scrape rows form their own keyframe and delta chain, and an index on
``(target, kind, t)`` keeps seeking per target O(log n). Files without the ``target`` column (from
before fleets) hold one target: 0.

Payloads (after ``zlib.decompress``; JSON is UTF-8):

- ``scrape``: a JSON header line ``{"state", "detail", "latency", "layout", "skipped", "n",
  "metrics"}``, a newline, then the ``n`` values of the layout's series (compressed with the
  ``scrape`` dictionary like every kind, below). A keyframe holds them as little-endian
  float64. A delta row holds, against the previous scrape row (same layout): a bitmap of the values
  that changed (bit i of byte i//8), a bitmap of those whose change is an integer step (both values
  integers, the step within a signed 32-bit integer), then those steps as little-endian int32 in
  order, then the other changed values as float64 in order. A
  keyframe is written every ``KEYFRAME_EVERY`` scrapes, whenever the layout changes, and first.
- ``request``: the record encoded by ``sparktop.codec`` as JSON without its ``gaps``, a newline,
  then the gaps between token chunks as little-endian uint32 microseconds.
- every other kind: the observation encoded by ``sparktop.codec`` as JSON.

Every payload is compressed with its kind's dictionary (``meta.zdict_<kind>``, base64: the first
payload of that kind, so repeated structure costs almost nothing; no dictionary when absent).

Only raw observations are stored, never derived figures: replay feeds them back through the same
derivation, so a better derivation later improves old recordings too.

Readers must treat a file as untrusted input: nothing here evaluates or unpickles anything, and every
malformed piece raises ``RecordingError`` with a one-line cause.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import replace

import orjson

from sparktop.codec import DecodeError, decode, encode
from sparktop.model import RequestRecord

FORMAT_NAME = "sparktop-recording"
FORMAT_VERSION = 1
FLEET_VERSION = 2
"""The version of a fleet recording (one target per recording is still version 1: any sparktop
that reads version 1 reads it)."""
READ_VERSION = FLEET_VERSION
"""The newest version this sparktop reads."""
FLEET_INDEX = "CREATE INDEX IF NOT EXISTS observations_target_kind_t ON observations(target, kind, t);"
SUFFIX = ".sparktop"
KEYFRAME_EVERY = 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layouts (id INTEGER PRIMARY KEY, keys BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS observations (
    seq INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    keyframe INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,
    target INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS observations_t ON observations(t);
CREATE INDEX IF NOT EXISTS observations_kind_t ON observations(kind, t);
"""

KINDS = ("scrape", "gpu", "event", "info", "progress", "request", "container")

META_KEYS = (
    "format",  # "sparktop-recording"
    "version",  # 1
    "sparktop_version",
    "created",  # epoch seconds
    "ended",  # epoch seconds, written on a clean close (absent after a crash)
    "target",  # TargetInfo as JSON (credentials removed from URLs)
    "targets",  # a fleet recording: every target's TargetInfo, in the order of the rows' ``target``
    "host",  # {"hostname", "platform", "python"}
    "gpu",  # description of the GPU(s), from the first GPU sample
    "simulated",  # true when the source was the simulated Spark
    "profile",  # the serving profile (environment variable names only, never values)
    "workload",  # the workload definition, when sparktop drove one
    "settings",  # {"interval", "window", "rate_window"}
)


class RecordingError(ValueError):
    """A recording that cannot be read or written; the message is one line."""


# --------------------------------------------------------------------------------------------------
# scrape values


def encode_keyframe(values: Sequence[float]) -> bytes:
    return array("d", values).tobytes() if _LITTLE else _swap(array("d", values)).tobytes()


def decode_keyframe(data: bytes, n: int) -> list[float]:
    if len(data) != 8 * n:
        raise RecordingError(f"keyframe holds {len(data)} bytes for {n} values")
    values = array("d")
    values.frombytes(data)
    if not _LITTLE:
        values.byteswap()
    return values.tolist()


_STEP_LIMIT = 2**31


def _step(new: float, old: float) -> int | None:
    """``new - old`` when both are integers and the step fits a 32-bit integer, else None."""
    if new.is_integer() and old.is_integer() and abs(new) < 2**53 and abs(old) < 2**53:
        diff = int(new) - int(old)
        if -_STEP_LIMIT <= diff < _STEP_LIMIT:
            return diff
    return None


# the set bits of every byte value, lowest first
_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(b for b in range(8) if value & (1 << b)) for value in range(256)
)


def _positions(bitmap: bytes) -> list[int]:
    return [(k << 3) + b for k, byte in enumerate(bitmap) if byte for b in _BITS[byte]]


def encode_delta(values: Sequence[float], previous: Sequence[float]) -> bytes:
    """The delta row for ``values`` against ``previous`` (same length)."""
    n = len(values)
    changed = bytearray((n + 7) // 8)
    stepped = bytearray((n + 7) // 8)
    steps = array("i")
    raw = array("d")
    for i, (new, old) in enumerate(zip(values, previous, strict=True)):
        if new == old or (new != new and old != old and struct.pack("<d", new) == struct.pack("<d", old)):
            continue
        changed[i >> 3] |= 1 << (i & 7)
        finite = new == new and old == old and not (math.isinf(new) or math.isinf(old))
        diff = _step(new, old) if finite else None
        if diff is not None:
            stepped[i >> 3] |= 1 << (i & 7)
            steps.append(diff)
        else:
            raw.append(new)
    if not _LITTLE:
        steps.byteswap()
        raw.byteswap()
    return bytes(changed) + bytes(stepped) + steps.tobytes() + raw.tobytes()


def decode_delta(data: bytes, previous: Sequence[float]) -> list[float]:
    n = len(previous)
    size = (n + 7) // 8
    if len(data) < 2 * size:
        raise RecordingError("delta row shorter than its bitmaps")
    changed = int.from_bytes(data[:size], "little")
    stepped = int.from_bytes(data[size : 2 * size], "little")
    if stepped & ~changed:
        raise RecordingError("delta row marks unchanged values as stepped")
    step_at = _positions(data[size : 2 * size])
    raw_at = _positions((changed & ~stepped).to_bytes(size, "little"))
    if (step_at and step_at[-1] >= n) or (raw_at and raw_at[-1] >= n):
        raise RecordingError("delta row marks a value beyond its layout")
    body = data[2 * size :]
    if len(body) != 4 * len(step_at) + 8 * len(raw_at):
        raise RecordingError("delta row has the wrong number of values")
    steps = array("i")
    steps.frombytes(body[: 4 * len(step_at)])
    raw = array("d")
    raw.frombytes(body[4 * len(step_at) :])
    if not _LITTLE:
        steps.byteswap()
        raw.byteswap()
    out = list(previous)
    for i, diff in zip(step_at, steps, strict=True):
        out[i] += diff  # exact: a stepped value is a whole number below 2**53 (see _step)
    for i, number in zip(raw_at, raw, strict=True):
        out[i] = number
    return out


_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


def _swap(values: array[float]) -> array[float]:
    values.byteswap()
    return values


# --------------------------------------------------------------------------------------------------
# request records: the JSON of the record without its gaps, a newline, then the gaps as little-endian
# uint32 microseconds (a response's gaps are thousands of numbers; as JSON text they would dominate)

_MAX_GAP_US = 2**32 - 1


def encode_request(record: RequestRecord) -> bytes:
    head = orjson.dumps(encode(replace(record, gaps=())))
    gaps = array("I", (min(_MAX_GAP_US, max(0, round(g * 1e6))) for g in record.gaps))
    if not _LITTLE:
        gaps.byteswap()
    return head + b"\n" + gaps.tobytes()


def decode_request(data: bytes) -> RequestRecord:
    head, sep, body = data.partition(b"\n")
    if not sep or len(body) % 4:
        raise RecordingError("request row is malformed")
    try:
        record = decode(RequestRecord, orjson.loads(head))
    except (orjson.JSONDecodeError, DecodeError) as exc:
        raise RecordingError(f"request row is malformed: {exc}") from None
    gaps = array("I")
    gaps.frombytes(body)
    if not _LITTLE:
        gaps.byteswap()
    return replace(record, gaps=tuple(g / 1e6 for g in gaps))
