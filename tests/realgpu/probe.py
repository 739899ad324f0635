"""Record what a real NVIDIA driver answers to every NVML call sparktop makes, as JSON.

    python -m tests.realgpu.probe OUT.json [--load-seconds S]

Run on a machine with an NVIDIA GPU. For each device it records the raw answer of each call the
collector makes (type, value or the error's code, class and text), the calls outside their domain
(an invalid handle, sensor or PID, before ``nvmlInit`` and after ``nvmlShutdown``), the wall time of
each call, and, with ``--load-seconds`` and PyTorch present, one collector sample per half second
while a matrix-multiply loop keeps the GPU busy. ``tests/fixtures/real-gpu/`` holds what it saw; the
unit tests hold the pynvml stand-in to those answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LOAD = """
import sys, time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print("ready", flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
"""


def _describe(value: Any) -> Any:
    """A JSON-friendly picture of an NVML answer, keeping its Python type."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"type": type(value).__name__, "value": value}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": value.decode("utf-8", "replace")}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": [_describe(v) for v in value]}
    fields = {}
    for name in dir(value):
        if name.startswith("_"):
            continue
        try:
            attr = getattr(value, name)
        except Exception as exc:  # a ctypes field may refuse
            fields[name] = {"error": repr(exc)}
            continue
        if callable(attr):
            continue
        fields[name] = _describe(attr)
    return {"type": type(value).__name__, "fields": fields}


def _call(fn: Callable[[], Any], repeat: int = 1) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        for _ in range(repeat):
            value = fn()
    except Exception as exc:
        return {
            "error": {
                "class": type(exc).__name__,
                "module": type(exc).__module__,
                "value": getattr(exc, "value", None),
                "text": str(exc),
            }
        }
    took = (time.perf_counter() - start) / repeat
    return {"answer": _describe(value), "us": round(took * 1e6, 1)}


def probe(load_seconds: float) -> dict[str, Any]:
    import pynvml as nv

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "pynvml_file": nv.__file__,
        "before_init": _call(nv.nvmlDeviceGetCount),
    }
    try:
        from importlib.metadata import version

        out["nvidia_ml_py"] = version("nvidia-ml-py")
    except Exception as exc:
        out["nvidia_ml_py"] = repr(exc)
    out["init"] = _call(nv.nvmlInit)
    if "error" in out["init"]:
        return out
    out["driver"] = _call(nv.nvmlSystemGetDriverVersion)
    out["nvml_version"] = _call(nv.nvmlSystemGetNVMLVersion)
    out["cuda_driver_version"] = _call(nv.nvmlSystemGetCudaDriverVersion)
    out["count"] = _call(nv.nvmlDeviceGetCount)
    out["handle_out_of_range"] = _call(lambda: nv.nvmlDeviceGetHandleByIndex(999))
    out["process_name_missing_pid"] = _call(lambda: nv.nvmlSystemGetProcessName(2**22 - 3))
    out["process_name_self"] = _call(lambda: nv.nvmlSystemGetProcessName(os.getpid()))
    devices = []
    for index in range(int(nv.nvmlDeviceGetCount())):
        h = nv.nvmlDeviceGetHandleByIndex(index)
        calls = _device_calls(nv, h)
        devices.append({"index": index, "calls": {name: _call(fn, repeat=20) for name, fn in calls.items()}})
    out["devices"] = devices
    out["shutdown"] = _call(nv.nvmlShutdown)
    out["after_shutdown"] = _call(nv.nvmlDeviceGetCount)
    out["under_load"] = _under_load(load_seconds) if load_seconds > 0 else None
    return out


def _device_calls(nv: Any, h: object) -> dict[str, Callable[[], Any]]:
    return {
        "nvmlDeviceGetName": lambda: nv.nvmlDeviceGetName(h),
        "nvmlDeviceGetUUID": lambda: nv.nvmlDeviceGetUUID(h),
        "nvmlDeviceGetUtilizationRates": lambda: nv.nvmlDeviceGetUtilizationRates(h),
        "nvmlDeviceGetPowerUsage": lambda: nv.nvmlDeviceGetPowerUsage(h),
        "nvmlDeviceGetEnforcedPowerLimit": lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h),
        "nvmlDeviceGetTemperature(GPU)": lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
        "nvmlDeviceGetTemperature(99)": lambda: nv.nvmlDeviceGetTemperature(h, 99),
        "nvmlDeviceGetClockInfo(SM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
        "nvmlDeviceGetClockInfo(MEM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
        "nvmlDeviceGetTotalEnergyConsumption": lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h),
        "nvmlDeviceGetCurrentClocksEventReasons": lambda: nv.nvmlDeviceGetCurrentClocksEventReasons(h),
        "nvmlDeviceGetCurrentClocksThrottleReasons": lambda: nv.nvmlDeviceGetCurrentClocksThrottleReasons(h),
        "nvmlDeviceGetMemoryInfo": lambda: nv.nvmlDeviceGetMemoryInfo(h),
        "nvmlDeviceGetMemoryInfo(v2)": lambda: nv.nvmlDeviceGetMemoryInfo(h, nv.nvmlMemory_v2),
        "nvmlDeviceGetComputeRunningProcesses": lambda: nv.nvmlDeviceGetComputeRunningProcesses(h),
    }


def _under_load(seconds: float) -> dict[str, Any]:
    from sparktop.codec import encode
    from sparktop.gpu.nvml import NvmlCollector

    collector = NvmlCollector()
    samples = [encode(collector.collect())]
    load = subprocess.Popen(
        [sys.executable, "-c", _LOAD, str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert load.stdout is not None
    ready = load.stdout.readline().strip()
    started = time.monotonic()
    while load.poll() is None and time.monotonic() - started < seconds + 30:
        samples.append(encode(collector.collect()))
        time.sleep(0.5)
    for _ in range(4):  # and as it cools down
        samples.append(encode(collector.collect()))
        time.sleep(0.5)
    collector.close()
    _, err = load.communicate(timeout=60)
    return {
        "load_pid": load.pid,
        "ready": ready,
        "rc": load.returncode,
        "stderr": err[-2000:],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--load-seconds", type=float, default=0.0)
    args = parser.parse_args()
    doc = probe(args.load_seconds)
    args.out.write_text(json.dumps(doc, indent=1, default=repr) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
