"""Where recordings have taken their redaction helpers from: they live in ``sparktop.secrets`` now,
since reports, output files and screens use them too."""

from __future__ import annotations

from sparktop.secrets import (
    REDACTED,
    argv_secrets,
    looks_secret,
    redact_argv,
    redact_mapping,
    redact_target,
    redact_url,
)

__all__ = [
    "REDACTED",
    "argv_secrets",
    "looks_secret",
    "redact_argv",
    "redact_mapping",
    "redact_target",
    "redact_url",
]
