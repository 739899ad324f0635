"""The real Prometheus tools (Debian's ``prometheus`` package: ``prometheus`` and ``promtool``).

Tests that need one call ``tool(name)``: without it they are skipped with the reason, or fail
when ``SPARKTOP_REQUIRE_PROMETHEUS=1`` (CI provisions the package and sets it).
"""

from __future__ import annotations

import os
import shutil

import pytest

HINT = "apt-get install prometheus"


def tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; skips (or fails in CI) when it is missing."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (hint: {HINT})"
        if os.environ.get("SPARKTOP_REQUIRE_PROMETHEUS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
