"""Keeping secrets out of recordings, reports and screens.

Serving profiles carry environment variable names, never values; URLs may carry credentials
(``http://user:token@host``) or tokens in their query; a container's command line may carry
``--api-key``; metadata dictionaries may carry keys that look like secrets. All of those are replaced
before anything is written or shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sparktop.model import TargetInfo

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(?:^|[^a-z0-9])(?:[a-z0-9]*token|secret|passw(?:or)?d|api[_-]?key|o?auth|authori[sz]ation|authentication|credentials?|bearer|"
    r"(?:access|private|secret|ssh)[_-]?key|key)(?:$|[^a-z0-9])",
    re.IGNORECASE,
)
"""A secret-looking name: ``HF_TOKEN``, ``api_key``, ``x-api-key``, ``password``, ``Authorization``...
Whole words only, so ``max_tokens`` or ``tokenizer`` (figures and settings worth keeping) are not."""


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def argv_secrets(argv: Sequence[str]) -> list[str]:
    """The values of secret-looking options on a command line (``--api-key X``, ``--hf-token=X``)."""
    found: list[str] = []
    for shown, given in zip(redact_argv(argv), argv, strict=True):
        if shown != given:
            found.append(given.split("=", 1)[1] if shown.endswith("=" + REDACTED) else given)
    return found


def redact_argv(argv: Sequence[str], mask: str = REDACTED) -> list[str]:
    """A command line with the values of secret-looking options replaced (``--api-key X``,
    ``--hf-token=X``)."""
    out: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            out.append(mask)
            hide = False
        elif arg.startswith("-") and "=" in arg and looks_secret(arg.split("=", 1)[0].lstrip("-")):
            out.append(arg.split("=", 1)[0] + "=" + mask)
        else:
            hide = arg.startswith("-") and looks_secret(arg.lstrip("-"))
            out.append(arg)
    return out


def redact_url(url: str) -> str:
    """The URL without user:password and with secret-looking query values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = [(k, REDACTED if looks_secret(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_target(target: TargetInfo) -> TargetInfo:
    return replace(target, label=redact_url(target.label))


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with values under secret-looking keys replaced (recursively)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if looks_secret(str(key)) and not isinstance(value, (Mapping, list)):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif isinstance(value, list):
            out[key] = [redact_mapping(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out
