"""`sparktop gpu` as a user runs it: a subprocess, the real pynvml, the real /proc.

What must hold depends on what this machine has (``tests/realgpu/here.py``): with a GPU, readings
of it; without one, the documented status and detail, exit 0, and nothing on stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys

from sparktop.codec import decode
from sparktop.gpu.preflight import PreflightResult
from sparktop.model import GpuSample, Unknown
from tests.realgpu.here import EXPECTED_WITHOUT, machine_gpu_or_skip


def sparktop_gpu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "gpu", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sparktop_gpu_says_what_this_machine_has() -> None:
    here = machine_gpu_or_skip()
    proc = sparktop_gpu()
    assert (proc.returncode, proc.stderr) == (0, "")
    first, *rest = proc.stdout.splitlines()
    if here == "gpu":
        assert first.startswith("GPU: ok: ") and "driver" in first
        assert any(line.startswith("GPU 0  ") for line in rest)
    else:
        status, detail = EXPECTED_WITHOUT[here]
        assert first == f"GPU: {status}: {detail}"
        assert not any(line.startswith("GPU 0") for line in rest)
    assert "Memory: " in proc.stdout


def test_sparktop_gpu_json_and_the_preflight_exit_code() -> None:
    here = machine_gpu_or_skip()
    small = sparktop_gpu("--json", "--gpu-memory-utilization", "0.01")
    assert (small.returncode, small.stderr) == (0, "")
    doc = json.loads(small.stdout)
    sample = decode(GpuSample, doc["sample"])
    if here == "gpu":
        assert sample.status == "ok" and sample.devices, sample.detail
    else:
        assert (sample.status, sample.detail) == EXPECTED_WITHOUT[here]
        assert sample.devices == () and isinstance(sample.driver_version, Unknown)
    assert not isinstance(sample.memory.total_bytes, Unknown)
    assert decode(PreflightResult, doc["preflight"]).verdict in ("ok", "warn")

    # all of the memory never fits (something always holds some): the preflight fails, exit 1
    whole = sparktop_gpu("--json", "--gpu-memory-utilization", "1")
    assert (whole.returncode, whole.stderr) == (1, "")
    assert decode(PreflightResult, json.loads(whole.stdout)["preflight"]).verdict == "fail"
