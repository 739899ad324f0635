"""Shared test settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings

# Tests never read the user's config nor write into their recordings directory (subprocesses too).
os.environ["SPARKTOP_CONFIG"] = str(Path(tempfile.gettempdir()) / "sparktop-tests-no-config.toml")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="sparktop-tests-data-")

# CI explores the same examples on every run (a failure there reproduces); local runs vary.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
