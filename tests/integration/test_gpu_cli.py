"""`sparktop gpu` as a user runs it: a subprocess, the real pynvml, the real /proc."""

from __future__ import annotations

import json
import subprocess
import sys

from sparktop.codec import decode
from sparktop.model import GpuSample


def test_sparktop_gpu_json_in_a_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sparktop", "gpu", "--json", "--gpu-memory-utilization", "0.01"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    sample = decode(GpuSample, doc["sample"])
    assert sample.status == "ok" or (sample.devices == () and sample.detail)
    assert doc["preflight"]["verdict"] in ("ok", "warn")
    # without a GPU nothing is logged at warning level or above, and nothing crashes
    assert "Traceback" not in proc.stderr
