"""Keeping secrets out of recordings, reports and screens.

Serving profiles carry environment variable names, never values; URLs may carry credentials
(``http://user:token@host``) or tokens in their query; metadata dictionaries may carry keys that look
like secrets. All of those are replaced before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sparktop.model import TargetInfo

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(token|secret|passw|api[_-]?key|auth|credential|bearer)", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


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
