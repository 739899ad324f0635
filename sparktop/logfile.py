"""Following a server's log file, as ``tail -F`` does: for a ``vllm serve`` run outside Docker.

``LogFollower`` reads a file from its beginning and then what is appended to it; when the file is
replaced (a new inode) or cut shorter (truncated for a restart: ``vllm serve ... > server.log``) it
starts again from the top. It never raises: a missing or unreadable file is a ``problem`` it says
once. Lines are decoded leniently and masked: the values of secret-looking arguments vLLM logs in its
``non-default args: {...}`` line, and the values of secret-looking variables of this environment.

Times: lines already in the file when it is first read take the time their vLLM header says
(``INFO 11-30 09:57:51 [...]``, local time; lines without one take the last header's time), so a
startup read back shows how long each phase took; lines read later take the moment they were read.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sparktop.recording.redact import looks_secret

READ_LIMIT = 1 << 20
"""Bytes read per ``poll`` at most (a huge log is read back over several polls)."""
MASK = "***"
_HEADER_TIME = re.compile(
    r"(?:^|\)\s)(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)"
)
_LOGGED_ARG = re.compile(r"'(?P<name>[A-Za-z0-9_-]+)': (?P<open>\[?)'(?P<value>[^']*)'")


@dataclass(frozen=True, slots=True)
class FileLine:
    t: float
    text: str


def header_time(line: str, now: float) -> float | None:
    """The local time a vLLM log header gives (``MM-DD HH:MM:SS``, this year or, if that is in the
    future, the last), or None."""
    found = _HEADER_TIME.search(line[:120])
    if found is None:
        return None
    month, day, hour, minute, second = (int(g) for g in found.groups())
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            t = time.mktime((candidate, month, day, hour, minute, second, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if t <= now + 86400:
            return t
    return None


def mask_logged_args(text: str) -> str:
    """``'api_key': 'abc'`` or ``'hf_token': ['abc']`` in a logged dict with the value masked."""
    if "'" not in text:
        return text

    def hide(found: re.Match[str]) -> str:
        if not looks_secret(found.group("name")) or not found.group("value"):
            return found.group(0)
        return f"'{found.group('name')}': {found.group('open')}'{MASK}'"

    return _LOGGED_ARG.sub(hide, text)


def environment_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of this environment's secret-looking variables (4+ characters), longest first."""
    values = {v for k, v in env.items() if looks_secret(k) and len(v) >= 4}
    return tuple(sorted(values, key=len, reverse=True))


class LogFollower:
    """Reads ``path`` incrementally (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        now: Callable[[], float] = time.time,
        secrets: tuple[str, ...] | None = None,
    ) -> None:
        self.path = path
        self._now = now
        self._secrets = environment_secrets(os.environ) if secrets is None else secrets
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._backlog = True
        self._last_header: float | None = None
        self.problem: str | None = None
        """Why the file cannot be read now (None while it can)."""
        self.restarts = 0
        """How many times the file was replaced or truncated and read again from the top."""

    @property
    def caught_up(self) -> bool:
        """Whether everything the file held when it was first read has been read."""
        return not self._backlog

    def poll(self) -> list[FileLine]:
        """The complete lines appended since the last call (blocking file I/O: run it in a thread)."""
        try:
            stat = self.path.stat()
        except OSError as exc:
            self._fail(exc)
            return []
        identity = (stat.st_dev, stat.st_ino)
        if self._inode is not None and (identity != self._inode or stat.st_size < self._offset):
            self._offset, self._partial = 0, b""
            self.restarts += 1
        self._inode = identity
        if stat.st_size == self._offset:
            self.problem = None
            self._backlog = False
            return []
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read(READ_LIMIT)
        except OSError as exc:
            self._fail(exc)
            return []
        self.problem = None
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        now = self._now()
        out = [self._line(raw, now) for raw in complete]
        if self._offset >= stat.st_size:
            self._backlog = False  # caught up: later lines are stamped when read
        return out

    def _line(self, raw: bytes, now: float) -> FileLine:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        t = now
        if self._backlog:
            stamped = header_time(text, now)
            if stamped is not None:
                self._last_header = stamped
            t = self._last_header if self._last_header is not None else now
        return FileLine(t, self._mask(text))

    def _mask(self, text: str) -> str:
        text = mask_logged_args(text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def _fail(self, exc: OSError) -> None:
        reason = exc.strerror or type(exc).__name__
        self.problem = f"cannot read the log file {self.path}: {reason}"
