"""Markers added while replaying a recording, kept in a small file next to it: ``FILE.markers.json``.

A replay never writes into the recording itself: the file may still be written by the session that
records it (a second writer would contend for its lock, and a replay is a reader), it may be a
copy shared with others, and it may sit where it can be read but not written. The markers go to a
file of their own beside it instead; ``replay`` shows them again and ``report`` lists them with the
markers added live (those are events in the recording).

The file (UTF-8 JSON)::

    {"format": "sparktop-markers", "version": 1, "recording": "NAME.sparktop",
     "markers": [{"t": 1790000123.4, "note": "switched to NVFP4"}, ...]}

``t`` is on the recording's clock (epoch seconds), ``recording`` the file name it was made for
(informative: a renamed pair still reads). It is written whole each time, through a temporary file
renamed over the old one, so a reader never sees half of it. Like a recording, it is untrusted
input: read with a size limit and decoded strictly; a damaged file is a one-line reason and no
markers, never a failure of the replay or the report.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import orjson

FORMAT_NAME = "sparktop-markers"
FORMAT_VERSION = 1
SUFFIX = ".markers.json"
MAX_BYTES = 1024 * 1024
MAX_MARKERS = 10_000
MAX_NOTE = 500
"""Characters of a note kept (the marker screen takes 200)."""


class MarkerError(OSError):
    """Markers that cannot be saved; the message is one line, and says why."""


@dataclass(frozen=True, slots=True)
class Marker:
    t: float
    note: str


def sidecar(recording: Path) -> Path:
    """Where the markers of ``recording`` are kept."""
    return recording.with_name(recording.name + SUFFIX)


def read_markers(recording: Path) -> tuple[list[Marker], str | None]:
    """The markers saved next to ``recording`` (oldest first), and what is wrong with their file
    (None when it is fine or there is none)."""
    path = sidecar(recording)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return [], None
    except OSError as exc:
        return [], f"markers in {path} not read: {exc.strerror or exc}"
    if len(data) > MAX_BYTES:
        return [], f"markers in {path} not read: larger than {MAX_BYTES // 1024} KiB"
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [], f"markers in {path} not read: not JSON"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        return [], f"markers in {path} not read: not a sparktop markers file"
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return [], f"markers in {path} not read: invalid version {str(version)[:20]!r}"
    if version > FORMAT_VERSION:
        return [], f"markers in {path} not read: written by a newer sparktop (version {version})"
    entries = doc.get("markers")
    if not isinstance(entries, list):
        return [], f"markers in {path} not read: no list of markers"
    markers: list[Marker] = []
    skipped = 0
    for entry in entries[:MAX_MARKERS]:
        t = entry.get("t") if isinstance(entry, dict) else None
        note = entry.get("note") if isinstance(entry, dict) else None
        if not _finite(t) or not isinstance(note, str):
            skipped += 1
            continue
        markers.append(Marker(float(t), note[:MAX_NOTE]))
    markers.sort(key=lambda m: m.t)
    problem = None
    left_out = skipped + max(0, len(entries) - MAX_MARKERS)
    if left_out:
        problem = f"markers in {path}: {left_out} malformed or beyond {MAX_MARKERS:,}, left out"
    return markers, problem


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def save_markers(recording: Path, markers: Sequence[Marker]) -> Path:
    """Write ``markers`` next to ``recording`` (replacing what was there); the file's path.

    Raises ``MarkerError`` saying why they cannot be kept (a read-only folder, a full disk...).
    """
    path = sidecar(recording)
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "recording": recording.name,
        "markers": [{"t": m.t, "note": m.note[:MAX_NOTE]} for m in sorted(markers, key=lambda m: m.t)],
    }
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise MarkerError(f"cannot save markers next to the recording: {_why(exc, folder)}") from None
    try:
        with os.fdopen(handle, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(temporary).replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise MarkerError(f"cannot save markers to {path}: {_why(exc, path)}") from None
    return path


def _why(exc: OSError, where: Path) -> str:
    """A one-line reason, naming a read-only place as such."""
    import errno

    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where} is read-only ({exc.strerror})"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)
