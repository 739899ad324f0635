"""A fast parser for the Prometheus text exposition format (version 0.0.4, what vLLM serves).

sparktop scrapes vLLM on the same machine that serves the model, once a second for hours, so the
parser is built for the steady state: the same series, page after page. ``SeriesParser`` keeps a
cache from each series' text (``name{labels}``, exactly as exposed) to its parsed name and labels,
the way Prometheus' own scrape cache does, so a known line costs a split, a dict lookup and a
``float()``, all done in bulk by C-implemented builtins. A line it has not seen goes through the
full line parser (``parse_line``), which is also what ``parse_samples`` uses for one-off parsing.

On every valid exposition the samples equal those of prometheus-client's parser (the oracle in the
tests). Lines that are not exposition (a log line pasted into the page, garbage, a truncated last
line) are skipped and counted; nothing here raises on any input text.

Memory stays a small multiple of the page whatever the page holds: label values are scanned with
``str.find`` rather than a repeated regex group (which keeps state per character consumed, over a
hundred bytes per byte of the value), and a label value longer than ``MAX_LABEL_VALUE`` characters
makes its line skipped like any other malformed line. vLLM's label values are model names, paths,
finish reasons and config numbers; ``MAX_LABEL_VALUE`` is the longest path Linux accepts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*\"")
_ESCAPE = re.compile(r"\\[\\n\"]")
_ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}
_WHITESPACE = " \t\r"

# A series cache that keeps growing means the server invents new label values all the time; start
# over rather than hold on to memory for hours.
_MAX_CACHED_SERIES = 100_000
MAX_LABEL_VALUE = 4096
"""The longest label value accepted, in characters as exposed (escapes included)."""
_FIRST = itemgetter(0)
_LAST = itemgetter(2)


class Sample(NamedTuple):
    """One sample line: metric name, labels, value and optional timestamp in seconds."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None


class Series(NamedTuple):
    """A series as exposed: ``key`` is the text before the value, e.g. ``vllm:x{engine="0"}``."""

    key: str
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Page:
    """One parsed page: series and their values (parallel lists, in page order), and the count of
    skipped lines.

    For a page whose series are the same as the previous page's, ``series`` holds the very same
    ``Series`` objects in the same order, which lets readers reuse work keyed on the layout.
    """

    series: list[Series]
    values: list[float]
    skipped: int
    first_skipped: str | None = None
    """The first line that was skipped (truncated), for error messages."""


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], value) if "\\" in value else value


def _label_value_end(text: str, start: int) -> int | None:
    """Index of the quote that closes the label value starting at ``text[start]``, or None when
    there is none within ``MAX_LABEL_VALUE`` characters.

    The closing quote is the first one preceded by an even number of backslashes (``\\"`` is an
    escaped quote, ``\\\\"`` an escaped backslash then the end).
    """
    limit = min(len(text), start + MAX_LABEL_VALUE + 1)
    pos = start
    while True:
        quote = text.find('"', pos, limit)
        if quote < 0:
            return None
        before = quote
        while before > start and text[before - 1] == "\\":
            before -= 1
        if (quote - before) % 2 == 0:
            return quote
        pos = quote + 1


def _parse_labels(text: str, start: int) -> tuple[dict[str, str], int] | None:
    """Parse ``a="b",c="d"}`` from ``text[start]`` (just after ``{``).

    Returns the labels and the index after ``}``, or None when the text is not a label set.
    """
    labels: dict[str, str] = {}
    pos = start
    n = len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos < n and text[pos] == "}":
            return labels, pos + 1
        m = _LABEL_NAME.match(text, pos)
        if m is None:
            return None
        name = m.group(1)
        end = _label_value_end(text, m.end())
        if end is None or name in labels:
            return None
        labels[name] = _unescape(text[m.end() : end])
        pos = end + 1
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos < n and text[pos] == ",":
            pos += 1
        elif pos >= n or text[pos] != "}":
            return None


def _parse_number(token: str) -> float | None:
    """A value as prometheus-client reads it (int or Python float syntax, no underscores)."""
    if "_" in token:
        return None
    try:
        return float(int(token))
    except ValueError:
        pass
    except OverflowError:
        return None
    try:
        return float(token)
    except ValueError:
        return None


def _parse_timestamp(token: str) -> float | None:
    if "_" in token:
        return None
    try:
        return int(token) / 1000
    except ValueError:
        pass
    except OverflowError:
        return None
    try:
        return float(token) / 1000
    except ValueError:
        return None


class Skip(enum.Enum):
    """Why ``parse_line`` returned no sample."""

    COMMENT = "comment or blank line"
    INVALID = "not exposition"


COMMENT = Skip.COMMENT
INVALID = Skip.INVALID


def parse_line(line: str) -> tuple[Series, float, float | None] | Skip:
    """Parse one line into ``(series, value, timestamp)``, or say why it holds no sample."""
    text = line.strip()
    if not text or text[0] == "#":
        return COMMENT
    m = _NAME.match(text)
    if m is None:
        return INVALID
    name = m.group(0)
    pos = m.end()
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    labels: Mapping[str, str] = {}
    if pos < n and text[pos] == "{":
        parsed = _parse_labels(text, pos + 1)
        if parsed is None:
            return INVALID
        labels, pos = parsed
        key = text[:pos]
    else:
        if pos == m.end():
            return INVALID  # the name runs into something that is neither a blank nor "{"
        key = name
    if "__name__" in labels:
        return INVALID
    tokens = text[pos:].split()
    if not tokens or len(tokens) > 2:
        return INVALID
    value = _parse_number(tokens[0])
    if value is None:
        return INVALID
    timestamp = None
    if len(tokens) == 2:
        timestamp = _parse_timestamp(tokens[1])
        if timestamp is None:
            return INVALID
    return Series(key, name, labels), value, timestamp


def parse_samples(text: str) -> tuple[list[Sample], int]:
    """Every sample of ``text`` (with labels as dicts and timestamps) and the count of skipped lines."""
    samples: list[Sample] = []
    skipped = 0
    for line in text.split("\n"):
        parsed = parse_line(line)
        if parsed is COMMENT:
            continue
        if parsed is INVALID:
            skipped += 1
            continue
        assert not isinstance(parsed, Skip)
        series, value, timestamp = parsed
        samples.append(Sample(series.name, dict(series.labels), value, timestamp))
    return samples, skipped


def parse_types(text: str) -> dict[str, str]:
    """Metric family name -> type from the ``# TYPE`` lines."""
    types: dict[str, str] = {}
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("#"):
            parts = stripped[1:].split()
            if len(parts) >= 3 and parts[0] == "TYPE":
                types[parts[1]] = parts[2]
    return types


class SeriesParser:
    """Parses pages from one target, remembering the series it has seen (see the module docstring).

    Besides series, it remembers the value texts it has converted: most values on a page (zeros,
    bucket counts, ``_created`` timestamps) repeat from one scrape to the next, and a dict lookup is
    several times cheaper than ``float()``. Not thread-safe: one parser per scraper.
    """

    def __init__(self) -> None:
        self._series: dict[str, Series] = {}
        self._values: dict[str, float] = {}

    def parse(self, text: str) -> Page:
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
        # the value is after the last blank of a line; what precedes it is the series' text
        parts = [line.rpartition(" ") for line in text.split("\n") if line and line[0] != "#"]
        infos = list(map(self._series.get, map(_FIRST, parts)))
        values_text = list(map(_LAST, parts))
        values = list(map(self._values.get, values_text))
        if None in values:
            self._convert_values(values_text, values)
        if None in infos or None in values:
            return self._parse_slow(parts, infos, values)
        return Page(infos, values, 0)  # type: ignore[arg-type]

    def _convert_values(self, values_text: list[str], values: list[float | None]) -> None:
        cache = self._values
        if len(cache) > 4 * _MAX_CACHED_SERIES:
            cache.clear()
        for i, value in enumerate(values):
            if value is None:
                text = values_text[i]
                number = _parse_number(text)
                if number is not None:
                    cache[text] = values[i] = number

    def _parse_slow(
        self,
        parts: list[tuple[str, str, str]],
        infos: list[Series | None],
        values: list[float | None],
    ) -> Page:
        out_series: list[Series] = []
        out_values: list[float] = []
        skipped = 0
        first_skipped: str | None = None
        cache = self._series
        if len(cache) > _MAX_CACHED_SERIES:
            cache.clear()
        for part, info, value in zip(parts, infos, values, strict=True):
            if info is not None and value is not None:
                out_series.append(info)
                out_values.append(value)
                continue
            line = "".join(part)
            parsed = parse_line(line)
            if parsed is COMMENT:
                continue
            if parsed is INVALID:
                skipped += 1
                if first_skipped is None:
                    first_skipped = line[:200]
                continue
            assert not isinstance(parsed, Skip)
            series, number, timestamp = parsed
            key = part[0]
            if timestamp is None and key.strip(_WHITESPACE) == series.key:
                cache[key] = series
            out_series.append(series)
            out_values.append(number)
        return Page(out_series, out_values, skipped, first_skipped)
