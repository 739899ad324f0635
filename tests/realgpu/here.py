"""What this machine offers NVML, found without sparktop, so the tests that run the real pynvml can
assert what must hold here instead of accepting any outcome.

- ``"no-library"``: ``libnvidia-ml.so.1`` (what pynvml loads) does not load: no NVIDIA driver;
- ``"no-driver"``: the library loads but the kernel module is not loaded (no /proc/driver/nvidia);
- ``"gpu"``: the library loads, the driver is loaded and lists a GPU, and its device nodes exist;
- ``"unclear"``: anything else (a container with the library but no devices, say): the tests skip.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Literal

import pytest

Here = Literal["gpu", "no-library", "no-driver", "unclear"]

LIBRARY = "libnvidia-ml.so.1"

# What `sparktop gpu` and NvmlCollector say on a machine without a usable GPU (README: "exits 0
# without a GPU"); the first line of `sparktop gpu` is "GPU: <status>: <detail>".
EXPECTED_WITHOUT: dict[str, tuple[str, str]] = {
    "no-library": (
        "no-library",
        "NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver on this machine",
    ),
    "no-driver": ("no-driver", "the NVIDIA driver is not loaded (does nvidia-smi work?)"),
}


def machine_gpu(driver_root: Path = Path("/proc/driver/nvidia"), dev: Path = Path("/dev")) -> Here:
    """Which of the cases above this machine is."""
    try:
        ctypes.CDLL(LIBRARY)
    except OSError:
        return "no-library"
    if not (driver_root / "version").exists():
        return "no-driver"
    gpus = driver_root / "gpus"
    if gpus.is_dir() and any(gpus.iterdir()) and (dev / "nvidiactl").exists():
        return "gpu"
    return "unclear"


def machine_gpu_or_skip() -> Here:
    here = machine_gpu()
    if here == "unclear":
        pytest.skip(f"{LIBRARY} loads but no GPU is visible: what NVML answers here is not defined")
    return here
