"""The recording format (version 1): one SQLite 3 database per session.

Any SQLite client can read a recording; this module is the reference for how. Tables::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- JSON values (see META_KEYS)
    layouts(id INTEGER PRIMARY KEY, keys BLOB)    -- zlib-compressed JSON array of vLLM series keys,
                                                  -- e.g. 'vllm:num_requests_running{engine="0",...}'
    observations(seq INTEGER PRIMARY KEY,         -- arrival order
                 t REAL,                          -- when it entered the session (epoch seconds)
                 kind TEXT,                       -- scrape, gpu, event, info, progress, request, container
                 keyframe INTEGER,                -- scrape rows: 1 = absolute values, 0 = delta
                 data BLOB)                       -- zlib-compressed payload, below

Payloads (after ``zlib.decompress``; JSON is UTF-8):

- ``scrape``: a JSON header line ``{"state", "detail", "latency", "layout", "skipped", "n",
  "metrics"}``, a newline, then the ``n`` values of the layout's series (compressed with the
  ``scrape`` dictionary like every kind, below). A keyframe holds them as little-endian
  float64. A delta row holds, against the previous scrape row (same layout): a bitmap of the values
  that changed (bit i of byte i//8), a bitmap of those whose change is an integer step, then the
  integer steps as zigzag LEB128 varints (in order), then the other changed values as float64. A
  keyframe is written every ``KEYFRAME_EVERY`` scrapes, whenever the layout changes, and first.
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

FORMAT_NAME = "sparktop-recording"
FORMAT_VERSION = 1
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
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_t ON observations(t);
"""

KINDS = ("scrape", "gpu", "event", "info", "progress", "request", "container")

META_KEYS = (
    "format",  # "sparktop-recording"
    "version",  # 1
    "sparktop_version",
    "created",  # epoch seconds
    "ended",  # epoch seconds, written on a clean close (absent after a crash)
    "target",  # TargetInfo as JSON (credentials removed from URLs)
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


def _is_step(new: float, old: float) -> bool:
    """Both are integers small enough that their difference is exact."""
    return new.is_integer() and old.is_integer() and abs(new) < 2**53 and abs(old) < 2**53


def encode_delta(values: Sequence[float], previous: Sequence[float]) -> bytes:
    """The delta row for ``values`` against ``previous`` (same length)."""
    n = len(values)
    changed = bytearray((n + 7) // 8)
    stepped = bytearray((n + 7) // 8)
    steps = bytearray()
    raw = array("d")
    for i, (new, old) in enumerate(zip(values, previous, strict=True)):
        if new == old or (new != new and old != old and struct.pack("<d", new) == struct.pack("<d", old)):
            continue
        changed[i >> 3] |= 1 << (i & 7)
        if new == new and old == old and not math.isinf(new) and not math.isinf(old) and _is_step(new, old):
            stepped[i >> 3] |= 1 << (i & 7)
            diff = int(new) - int(old)
            _varint(steps, diff * 2 if diff >= 0 else -diff * 2 - 1)  # zigzag
        else:
            raw.append(new)
    if not _LITTLE:
        raw.byteswap()
    return bytes(changed) + bytes(stepped) + bytes(steps) + raw.tobytes()


def decode_delta(data: bytes, previous: Sequence[float]) -> list[float]:
    n = len(previous)
    size = (n + 7) // 8
    if len(data) < 2 * size:
        raise RecordingError("delta row shorter than its bitmaps")
    changed, stepped = data[:size], data[size : 2 * size]
    pos = 2 * size
    out = list(previous)
    floats: list[int] = []
    for i in range(n):
        if changed[i >> 3] & (1 << (i & 7)):
            if stepped[i >> 3] & (1 << (i & 7)):
                value, pos = _read_varint(data, pos)
                diff = value >> 1 if not value & 1 else -((value + 1) >> 1)
                out[i] = float(int(previous[i]) + diff)
            else:
                floats.append(i)
    rest = data[pos:]
    if len(rest) != 8 * len(floats):
        raise RecordingError("delta row has the wrong number of raw values")
    raw = array("d")
    raw.frombytes(rest)
    if not _LITTLE:
        raw.byteswap()
    for i, number in zip(floats, raw, strict=True):
        out[i] = number
    return out


def _varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 70:
            raise RecordingError("truncated or malformed varint in a delta row")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


def _swap(values: array[float]) -> array[float]:
    values.byteswap()
    return values
