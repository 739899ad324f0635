"""Prometheus' text exposition format (version 0.0.4), written by hand: families, samples, escaping.

Label values often come from untrusted places (a container's log, the driver, Docker's errors), so
every value goes through ``clean_label`` on its way in: escape sequences and control characters
removed (``fmt.clean``), secrets redacted (``secrets.redact_text``), whitespace collapsed, cut to
``MAX_LABEL`` characters and made encodable as UTF-8. ``render`` then escapes what the format needs
escaped: backslash, double quote and newline in label values, backslash and newline in HELP text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sparktop import fmt
from sparktop.secrets import redact_text

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_LABEL = 300
"""Characters of a label value kept: a reason or a log line is for a person, not a database key."""

Kind = Literal["gauge", "counter"]

_METRIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def clean_label(text: str) -> str:
    """Untrusted text made into a label value a person can read and nobody can abuse."""
    text = redact_text(fmt.clean(text))
    text = " ".join(text.split())
    if len(text) > MAX_LABEL:
        text = text[: MAX_LABEL - 1] + "…"
    # lone surrogates (bytes decoded with surrogateescape) cannot be written as UTF-8
    return text.encode("utf-8", errors="replace").decode("utf-8")


def escape_label_value(text: str) -> str:
    """A label value escaped for the text format: ``\\`` ``"`` and newline."""
    return text.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def escape_help(text: str) -> str:
    """HELP text escaped for the text format: ``\\`` and newline."""
    return text.replace("\\", r"\\").replace("\n", r"\n")


def format_value(value: float) -> str:
    """A sample value as the format writes it (``NaN``, ``+Inf``, integers without a fraction)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(slots=True)
class Family:
    """One metric family: its name, type, help text and samples (labels cleaned as they are added)."""

    name: str
    kind: Kind
    help: str
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"not a metric name: {self.name!r}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {self.name!r}")

    def add(self, value: float, /, **labels: str) -> None:
        """A sample; ``value`` must be finite (an unknown is left out by the caller, with a reason)."""
        if not math.isfinite(value):
            raise ValueError(f"{self.name}: not a finite value: {value!r}")
        for name in labels:
            if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
                raise ValueError(f"not a label name: {name!r}")
        pairs = tuple((name, clean_label(str(text))) for name, text in labels.items())
        self.samples.append(Sample(pairs, float(value)))


def render(families: Iterable[Family]) -> str:
    """The page: HELP and TYPE then the samples of each family that has any, in the order given.

    Two families of one name are a caller's mistake (the format wants each family in one block), as
    are two samples with the same labels.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for family in families:
        if not family.samples:
            continue
        if family.name in seen:
            raise ValueError(f"family {family.name} given twice")
        seen.add(family.name)
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        keys: set[tuple[tuple[str, str], ...]] = set()
        for sample in family.samples:
            if sample.labels in keys:
                raise ValueError(f"{family.name}: two samples with labels {dict(sample.labels)}")
            keys.add(sample.labels)
            if sample.labels:
                inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample.labels)
                lines.append(f"{family.name}{{{inner}}} {format_value(sample.value)}")
            else:
                lines.append(f"{family.name} {format_value(sample.value)}")
    return "\n".join(lines) + "\n" if lines else ""
