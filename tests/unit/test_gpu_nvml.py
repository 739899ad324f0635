"""NvmlCollector against the pynvml stand-in (GB10 and H100 models) and real /proc files."""

from __future__ import annotations

import itertools
import logging
import shutil
from pathlib import Path

import pytest

from sparktop.clock import FakeClock
from sparktop.codec import decode, encode
from sparktop.gpu.nvml import NvmlCollector, decode_throttle_reasons
from sparktop.model import GpuDevice, GpuSample, Unknown
from tests.realgpu.here import EXPECTED_WITHOUT, machine_gpu_or_skip
from tests.support import fake_pynvml
from tests.support.fake_pynvml import GB10_PROCESS_MEMORY, FakeNvml, gb10, h100
from tests.support.procfs import KIB, meminfo_text, write_cgroup_v2, write_proc

MEMTOTAL_KB = 127_608_324


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    return write_proc(tmp_path, meminfo=meminfo_text(total_kb=MEMTOTAL_KB))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000.0)


def make(fake: FakeNvml, proc: Path, clock: FakeClock, **kwargs: object) -> NvmlCollector:
    return NvmlCollector(nvml=fake, clock=clock, proc_root=proc, cgroup_root=proc.parent / "cg", **kwargs)  # type: ignore[arg-type]


def only(sample: GpuSample) -> GpuDevice:
    assert sample.status == "ok", sample.detail
    assert len(sample.devices) == 1
    return sample.devices[0]


# --------------------------------------------------------------------------------------------------
# (the stand-in itself is compared with the real pynvml in test_gpu_fake_pynvml.py)


def test_throttle_mask_decoding() -> None:
    assert decode_throttle_reasons(0) == ()
    assert decode_throttle_reasons(0x4 | 0x40) == ("sw_power_cap", "hw_thermal_slowdown")
    assert decode_throttle_reasons(0x1 | 0x8000) == ("gpu_idle", "0x8000")


# --------------------------------------------------------------------------------------------------
# GB10


def test_gb10_fields(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    model = fake.devices[0]
    sample = make(fake, proc, clock).collect()
    dev = only(sample)
    assert dev.name == "NVIDIA GB10" and dev.uuid == model.uuid
    assert dev.utilization_pct == model.utilization_pct
    assert model.power_mw is not None and dev.power_w == pytest.approx(model.power_mw / 1000)
    assert dev.power_limit_w == Unknown("not supported on this device")
    assert str(dev.power_limit_w) == "unknown: not supported on this device"
    assert dev.temperature_c == model.temperature_c
    assert dev.sm_clock_mhz == model.sm_clock_mhz
    assert dev.energy_mj == model.energy_mj
    assert dev.throttle_reasons == ("sw_power_cap",)
    assert dev.unified_memory is True
    for value in (dev.memory_used_bytes, dev.memory_total_bytes):
        assert isinstance(value, Unknown)
        assert value.reason.startswith("not supported on this device") and "host memory" in value.reason
    assert sample.driver_version == fake.driver_version
    assert sample.t == clock.now() and sample.retry_in_s is None


def test_gb10_processes_with_host_pids(proc: Path, clock: FakeClock) -> None:
    dev = only(make(FakeNvml([gb10()]), proc, clock).collect())
    assert not isinstance(dev.processes, Unknown)
    first, second = dev.processes
    assert (first.pid, second.pid) == (2_841_907, 2_841_955)
    assert first.used_memory_bytes == GB10_PROCESS_MEMORY
    assert second.used_memory_bytes == Unknown("not reported by the driver")
    # host PIDs are not in this /proc and NVML does not know them either
    assert isinstance(first.name, Unknown) and "host PID" in first.name.reason


def test_gb10_memory_breakdown(proc: Path, clock: FakeClock) -> None:
    mem = make(FakeNvml([gb10()]), proc, clock).collect().memory
    assert mem.total_bytes == MEMTOTAL_KB * KIB
    assert mem.gpu_processes_bytes == GB10_PROCESS_MEMORY  # the process without a figure is not 0
    assert mem.gpu_processes_unreported == 1
    assert "NVIDIA GB10" in mem.description and "unified" in mem.description
    assert mem.psi_some_avg10 == 1.25
    assert mem.container_bytes == Unknown("no vLLM container given")


def test_process_names_from_proc_then_nvml(tmp_path: Path, clock: FakeClock) -> None:
    proc = write_proc(tmp_path, comm={2_841_907: "python3"})
    fake = FakeNvml([gb10()], process_names={2_841_955: "/usr/bin/VLLM::EngineCore"})
    dev = only(make(fake, proc, clock).collect())
    assert not isinstance(dev.processes, Unknown)
    assert [p.name for p in dev.processes] == ["python3", "VLLM::EngineCore"]


def test_unsupported_fields_are_not_asked_again(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    collector = make(fake, proc, clock)
    for _ in range(5):
        dev = only(collector.collect())
        assert isinstance(dev.power_limit_w, Unknown)
        clock.advance(1)
    assert fake.calls["nvmlDeviceGetMemoryInfo"] == 1
    assert fake.calls["nvmlDeviceGetEnforcedPowerLimit"] == 1
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 5
    assert fake.calls["nvmlInit"] == 1


def test_readings_follow_the_device(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    collector = make(fake, proc, clock)
    first = only(collector.collect())
    fake.devices[0].energy_mj = 3_600_500_000
    fake.devices[0].clock_event_reasons = 0
    fake.devices[0].processes = []
    second = only(collector.collect())
    assert first.energy_mj != second.energy_mj == 3_600_500_000
    assert second.throttle_reasons == ()
    assert second.processes == ()
    assert collector.collect().memory.gpu_processes_bytes == 0.0


def test_driver_reporting_host_sized_or_zero_memory_is_unified(proc: Path, clock: FakeClock) -> None:
    host_sized = gb10()
    host_sized.name = "NVIDIA Graphics Device"  # detection must not rely on the name
    host_sized.memory = (MEMTOTAL_KB * KIB + 4096, 80 * 1024**3)
    dev = only(make(FakeNvml([host_sized]), proc, clock).collect())
    assert dev.unified_memory is True
    assert dev.memory_total_bytes == MEMTOTAL_KB * KIB + 4096
    assert isinstance(dev.memory_used_bytes, Unknown) and "page cache" in dev.memory_used_bytes.reason

    zero = gb10()
    zero.name = "NVIDIA Graphics Device"
    zero.memory = (0, 0)
    dev = only(make(FakeNvml([zero]), proc, clock).collect())
    assert dev.unified_memory is True
    assert isinstance(dev.memory_total_bytes, Unknown) and "0" in dev.memory_total_bytes.reason


def test_processes_not_supported(proc: Path, clock: FakeClock) -> None:
    model = gb10()
    model.processes = None
    sample = make(FakeNvml([model]), proc, clock).collect()
    assert only(sample).processes == Unknown("not supported on this device")
    assert sample.memory.gpu_processes_bytes == Unknown("not supported on this device")


def test_not_available_sentinel(proc: Path, clock: FakeClock) -> None:
    model = gb10()
    model.power_mw = 0xFFFFFFFF
    dev = only(make(FakeNvml([model]), proc, clock).collect())
    assert dev.power_w == Unknown("not available right now")


# --------------------------------------------------------------------------------------------------
# discrete GPU


def test_h100_keeps_used_and_total(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([h100()])
    model = fake.devices[0]
    sample = make(fake, proc, clock).collect()
    dev = only(sample)
    assert model.memory is not None
    total, used = model.memory
    assert not dev.unified_memory
    assert dev.memory_total_bytes == total
    assert dev.memory_used_bytes == used
    assert model.power_limit_mw is not None and dev.power_limit_w == model.power_limit_mw / 1000
    assert dev.throttle_reasons == ()
    assert isinstance(sample.memory.gpu_processes_bytes, Unknown)
    assert "separate" in sample.memory.description


def test_mixed_devices(proc: Path, clock: FakeClock) -> None:
    sample = make(FakeNvml([h100(), gb10()]), proc, clock).collect()
    assert [d.unified_memory for d in sample.devices] == [False, True]
    assert sample.memory.gpu_processes_bytes == GB10_PROCESS_MEMORY
    assert "2 devices" in sample.detail


# --------------------------------------------------------------------------------------------------
# field-level trouble


def test_old_driver_without_clock_event_reasons(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()], missing_functions=["nvmlDeviceGetCurrentClocksEventReasons"])
    collector = make(fake, proc, clock)
    for _ in range(3):
        assert only(collector.collect()).throttle_reasons == ("sw_power_cap",)
    assert fake.calls["nvmlDeviceGetCurrentClocksEventReasons"] == 1
    assert fake.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 3


def test_old_driver_without_v3_processes_uses_v2_from_then_on(
    proc: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sparktop.gpu")
    fake = FakeNvml([gb10()], missing_functions=["nvmlDeviceGetComputeRunningProcesses_v3"])
    collector = make(fake, proc, clock)
    for _ in range(3):
        dev = only(collector.collect())
        assert not isinstance(dev.processes, Unknown)
        assert [p.pid for p in dev.processes] == [p.pid for p in fake.devices[0].processes or []]
        clock.advance(1)
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses"] == 1
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses_v2"] == 3
    assert collector.collect().memory.gpu_processes_bytes == GB10_PROCESS_MEMORY
    notes = [r.getMessage() for r in caplog.records if "ComputeRunningProcesses" in r.getMessage()]
    assert len(notes) == 1 and "NVMLLibraryMismatchError" in notes[0]


def test_driver_without_any_process_query_says_so_once(proc: Path, clock: FakeClock) -> None:
    missing = ["nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"]
    fake = FakeNvml([gb10()], missing_functions=missing)
    collector = make(fake, proc, clock)
    for _ in range(3):
        sample = collector.collect()
        assert only(sample).processes == Unknown("not supported by this driver")
        assert sample.memory.gpu_processes_bytes == Unknown("not supported by this driver")
        clock.advance(1)
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses"] == 1
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses_v2"] == 1


def test_library_mismatch_elsewhere_costs_that_field_once(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([h100()])
    calls = []

    def unversioned(handle: object) -> int:
        calls.append(handle)
        raise fake_pynvml.NVMLLibraryMismatchError("Unversioned function called")

    fake.nvmlDeviceGetPowerUsage = unversioned  # type: ignore[method-assign]
    collector = make(fake, proc, clock)
    for _ in range(3):
        dev = only(collector.collect())
        assert isinstance(dev.power_w, Unknown) and "older" in dev.power_w.reason
        assert isinstance(dev.temperature_c, float)
    assert len(calls) == 1


@pytest.mark.parametrize("constant", ["NVML_ERROR_ARGUMENT_VERSION_MISMATCH", "NVML_ERROR_DEPRECATED"])
def test_driver_refusing_a_call_for_good_is_not_asked_again(
    proc: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, constant: str
) -> None:
    fake = FakeNvml([h100()])
    calls = []

    def refused(handle: object, version: int | None = None) -> object:
        calls.append(handle)
        raise fake_pynvml.NVMLError(fake_pynvml.ERROR_CODES[constant])

    monkeypatch.setattr(fake, "nvmlDeviceGetMemoryInfo", refused)
    collector = make(fake, proc, clock)
    for _ in range(3):
        dev = only(collector.collect())
        assert isinstance(dev.memory_total_bytes, Unknown)
        assert dev.memory_total_bytes.reason.startswith("not supported by this driver (")
        assert isinstance(dev.power_w, float)
    assert len(calls) == 1


def test_driver_lacking_a_function_gives_unknown_for_that_field(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([h100()], missing_functions=["nvmlDeviceGetTotalEnergyConsumption"])
    dev = only(make(fake, proc, clock).collect())
    assert dev.energy_mj == Unknown("not supported by this driver")
    assert isinstance(dev.power_w, float)


def test_transient_error_is_retried_next_tick(
    proc: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNvml([gb10()])
    collector = make(fake, proc, clock)
    real_read = fake.nvmlDeviceGetTemperature

    def flaky(handle: object, sensor: int) -> int:
        raise fake_pynvml.NVMLError(fake_pynvml.ERROR_CODES["NVML_ERROR_TIMEOUT"])

    monkeypatch.setattr(fake, "nvmlDeviceGetTemperature", flaky)
    dev = only(collector.collect())
    assert isinstance(dev.temperature_c, Unknown) and "NVML error" in dev.temperature_c.reason
    assert isinstance(dev.power_w, float)
    monkeypatch.setattr(fake, "nvmlDeviceGetTemperature", real_read)
    assert only(collector.collect()).temperature_c == fake.devices[0].temperature_c


def test_binding_raising_anything_costs_one_field(
    proc: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNvml([gb10()])

    def broken(handle: object) -> int:
        raise RuntimeError("ctypes went sideways")

    monkeypatch.setattr(fake, "nvmlDeviceGetPowerUsage", broken)
    dev = only(make(fake, proc, clock).collect())
    assert isinstance(dev.power_w, Unknown) and "ctypes went sideways" in dev.power_w.reason
    assert dev.temperature_c == fake.devices[0].temperature_c


def test_collect_never_raises(proc: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([gb10()])

    def explode() -> None:
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    monkeypatch.setattr(fake, "nvmlInit", explode)
    sample = make(fake, proc, clock).collect()
    assert sample.status == "error" and "cannot open shared object" in sample.detail
    assert sample.devices == ()
    assert sample.memory.total_bytes == MEMTOTAL_KB * KIB


# --------------------------------------------------------------------------------------------------
# whole-library failures, backoff, logging


@pytest.mark.parametrize(
    ("switch", "status", "words"),
    [
        ("library_missing", "no-library", "libnvidia-ml.so.1"),
        ("driver_loaded", "no-driver", "driver is not loaded"),
        ("permission", "no-permission", "permission"),
    ],
)
def test_library_failures_say_which(
    proc: Path, clock: FakeClock, switch: str, status: str, words: str
) -> None:
    fake = FakeNvml([gb10()])
    setattr(fake, switch, switch == "library_missing")
    sample = make(fake, proc, clock).collect()
    assert sample.status == status
    assert words in sample.detail
    assert sample.devices == ()
    assert isinstance(sample.driver_version, Unknown)
    assert sample.retry_in_s == 5.0
    # the host part still shows
    assert sample.memory.total_bytes == MEMTOTAL_KB * KIB
    assert sample.memory.gpu_processes_bytes == Unknown(f"no GPU readings ({status})")


def test_no_devices(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([])
    sample = make(fake, proc, clock).collect()
    assert sample.status == "no-device"
    assert fake.refcount == 0  # NVML was shut down again


def test_backoff_doubles_to_the_cap_and_logs_once(
    proc: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sparktop.gpu")
    fake = FakeNvml([gb10()])
    fake.library_missing = True
    collector = make(fake, proc, clock, retry_initial_s=5.0, retry_max_s=40.0)
    attempts_at: list[float] = []
    start = clock.now()
    for _ in range(200):  # one tick per second for 200 s
        before = fake.calls["nvmlInit"]
        sample = collector.collect()
        assert sample.status == "no-library"
        if fake.calls["nvmlInit"] > before:
            attempts_at.append(clock.now() - start)
        clock.advance(1)
    assert attempts_at[:6] == [0, 5, 15, 35, 75, 115]
    assert all(b - a == 40 for a, b in itertools.pairwise(attempts_at[4:]))
    messages = [r.getMessage() for r in caplog.records if r.name == "sparktop.gpu"]
    assert len([m for m in messages if "no-library" in m]) == 1


def test_library_appearing_later_is_picked_up(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    fake.driver_loaded = False
    collector = make(fake, proc, clock)
    assert collector.collect().status == "no-driver"
    fake.driver_loaded = True
    clock.advance(4)
    assert collector.collect().status == "no-driver"  # not retried before the backoff ends
    clock.advance(1)
    assert collector.collect().status == "ok"


def test_gpu_lost_mid_run_then_back(proc: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sparktop.gpu")
    fake = FakeNvml([gb10()])
    collector = make(fake, proc, clock)
    assert collector.collect().status == "ok"
    fake.lose_gpu(0)
    lost = collector.collect()
    assert lost.status == "gpu-lost" and "GPU 0" in lost.detail
    assert lost.devices == ()
    assert lost.memory.total_bytes == MEMTOTAL_KB * KIB
    assert fake.calls["nvmlShutdown"] == 1 and fake.refcount == 0
    for _ in range(4):
        clock.advance(1)
        assert collector.collect().status == "gpu-lost"
    assert fake.calls["nvmlInit"] == 1  # no retry inside the backoff
    fake.restore_gpu(0)
    clock.advance(1)
    assert collector.collect().status == "ok"
    assert fake.calls["nvmlInit"] == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "gpu-lost" in r.getMessage()]
    assert len(warnings) == 1


def test_gpu_lost_at_start(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    fake.lose_gpu(0)
    sample = make(fake, proc, clock).collect()
    assert sample.status == "gpu-lost"
    assert fake.refcount == 0


def test_close_shuts_nvml_down_and_collect_starts_it_again(proc: Path, clock: FakeClock) -> None:
    fake = FakeNvml([gb10()])
    collector = make(fake, proc, clock)
    collector.collect()
    assert fake.refcount == 1
    collector.close()
    assert fake.refcount == 0
    collector.close()  # twice is fine
    assert fake.calls["nvmlShutdown"] == 1
    assert collector.collect().status == "ok"
    assert fake.refcount == 1


async def test_collect_async(proc: Path, clock: FakeClock) -> None:
    sample = await make(FakeNvml([gb10()]), proc, clock).collect_async()
    assert sample.status == "ok"


# --------------------------------------------------------------------------------------------------
# the vLLM container's cgroup


def test_container_memory_follows_the_container(proc: Path, clock: FakeClock) -> None:
    cid = "ab12cd34ef56" * 5 + "abcd"
    cgroup_root = proc.parent / "cg"
    group = write_cgroup_v2(
        cgroup_root / "system.slice" / f"docker-{cid}.scope", current=6_000_000, inactive_file=1_000_000
    )
    collector = make(FakeNvml([gb10()]), proc, clock, container=cid[:12])
    assert collector.collect().memory.container_bytes == 5_000_000
    shutil.rmtree(group)
    gone = collector.collect().memory.container_bytes
    assert isinstance(gone, Unknown)
    write_cgroup_v2(group, current=2_000_000, inactive_file=0)
    assert collector.collect().memory.container_bytes == 2_000_000


def test_bad_container_id_is_refused(proc: Path, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="not a container id"):
        make(FakeNvml([gb10()]), proc, clock, container="vllm-server")


# --------------------------------------------------------------------------------------------------
# encoding and the real library


def test_samples_survive_the_codec(proc: Path, clock: FakeClock) -> None:
    for fake in (FakeNvml([gb10()]), FakeNvml([h100()]), FakeNvml([])):
        sample = make(fake, proc, clock).collect()
        assert decode(GpuSample, encode(sample)) == sample


def test_real_pynvml_here(proc: Path) -> None:
    """The default collector with the real binding: what this machine has decides what must hold."""
    pytest.importorskip("pynvml")
    collector = NvmlCollector(proc_root=proc)
    try:
        sample = collector.collect()
    finally:
        collector.close()
    assert sample.memory.total_bytes == MEMTOTAL_KB * KIB
    assert decode(GpuSample, encode(sample)) == sample
    here = machine_gpu_or_skip()
    if here == "gpu":
        assert sample.status == "ok", sample.detail
        assert sample.devices and all(isinstance(d.name, str) for d in sample.devices)
        assert isinstance(sample.driver_version, str) and sample.retry_in_s is None
    else:
        assert (sample.status, sample.detail) == EXPECTED_WITHOUT[here]
        assert sample.devices == () and sample.retry_in_s == 5.0
        assert sample.memory.gpu_processes_bytes == Unknown(f"no GPU readings ({sample.status})")
