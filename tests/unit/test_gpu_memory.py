"""/proc/meminfo, PSI and cgroup parsing from real files, and the unified-memory breakdown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparktop.gpu.memory import (
    Pressure,
    host_memory,
    parse_meminfo,
    read_cgroup_memory,
    read_meminfo,
    read_memory_pressure,
    resolve_container_cgroup,
)
from sparktop.model import Unknown
from tests.support.procfs import KIB, meminfo_text, write_cgroup_v1, write_cgroup_v2, write_proc

CID = "4f1c2a9e8b7d" + "0" * 40 + "a1b2c3d4e5f6"


def test_meminfo_fields_are_bytes_and_unitless_fields_stay_counts(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, meminfo=meminfo_text(total_kb=1000, free_kb=300, available_kb=700))
    info = read_meminfo(proc)
    assert not isinstance(info, Unknown)
    assert info["MemTotal"] == 1000 * KIB
    assert info["MemFree"] == 300 * KIB
    assert info["MemAvailable"] == 700 * KIB
    assert info["HugePages_Total"] == 0
    assert info["Hugepagesize"] == 2048 * KIB


def test_meminfo_garbage_lines_are_skipped() -> None:
    text = "MemTotal: 10 kB\nnonsense\nMemFree: lots kB\nWeird: 5 parsecs\nMemAvailable:\n: 4 kB\n"
    assert parse_meminfo(text) == {"MemTotal": 10 * KIB}


def test_meminfo_missing_file_or_total_is_unknown(tmp_path: Path) -> None:
    missing = read_meminfo(tmp_path / "nowhere")
    assert isinstance(missing, Unknown) and "cannot read" in missing.reason
    proc = write_proc(tmp_path, meminfo="MemFree: 5 kB\n")
    no_total = read_meminfo(proc)
    assert isinstance(no_total, Unknown) and "MemTotal" in no_total.reason


def test_psi_avg10_values(tmp_path: Path) -> None:
    proc = write_proc(tmp_path)
    assert read_memory_pressure(proc) == Pressure(some_avg10=1.25, full_avg10=0.5)


def test_psi_absent_is_unknown_with_reason(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, psi=None)
    pressure = read_memory_pressure(proc)
    assert isinstance(pressure.some_avg10, Unknown) and "PSI" in pressure.some_avg10.reason
    assert isinstance(pressure.full_avg10, Unknown)


def test_psi_without_full_line(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, psi="some avg10=3.00 avg60=1.00 avg300=0.50 total=10\n")
    pressure = read_memory_pressure(proc)
    assert pressure.some_avg10 == 3.0
    assert isinstance(pressure.full_avg10, Unknown) and "full" in pressure.full_avg10.reason


def test_psi_unreadable_is_unknown(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, psi=None)
    (proc / "pressure" / "memory").mkdir(parents=True)  # reading a directory fails like a disabled file
    pressure = read_memory_pressure(proc)
    assert isinstance(pressure.some_avg10, Unknown) and "cannot read" in pressure.some_avg10.reason


def test_breakdown_from_meminfo(tmp_path: Path) -> None:
    proc = write_proc(
        tmp_path,
        meminfo=meminfo_text(total_kb=1000, free_kb=200, available_kb=650, buffers_kb=10, cached_kb=400),
    )
    info = read_meminfo(proc)
    mem = host_memory(
        info,
        read_memory_pressure(proc),
        gpu_processes_bytes=123.0,
        container_bytes=Unknown("no vLLM container given"),
        description="unified",
        gpu_processes_unreported=1,
    )
    assert mem.total_bytes == 1000 * KIB
    assert mem.free_bytes == 200 * KIB
    assert mem.available_bytes == 650 * KIB
    assert mem.page_cache_bytes == 410 * KIB
    assert mem.reclaimable_bytes == 450 * KIB
    assert mem.gpu_processes_bytes == 123.0
    assert mem.gpu_processes_unreported == 1
    assert mem.psi_some_avg10 == 1.25
    assert isinstance(mem.container_bytes, Unknown)


def test_breakdown_without_meminfo_carries_the_reason(tmp_path: Path) -> None:
    info = read_meminfo(tmp_path / "nowhere")
    mem = host_memory(
        info, Pressure(0.0, 0.0), gpu_processes_bytes=0.0, container_bytes=0.0, description="host"
    )
    for value in (mem.total_bytes, mem.available_bytes, mem.free_bytes, mem.reclaimable_bytes):
        assert isinstance(value, Unknown) and "cannot read" in value.reason


def test_breakdown_names_missing_meminfo_fields() -> None:
    mem = host_memory(
        {"MemTotal": 100, "MemFree": 50},
        Pressure(0.0, 0.0),
        gpu_processes_bytes=0.0,
        container_bytes=0.0,
        description="host",
    )
    assert mem.total_bytes == 100
    assert isinstance(mem.available_bytes, Unknown) and "MemAvailable" in mem.available_bytes.reason
    assert isinstance(mem.reclaimable_bytes, Unknown)
    assert isinstance(mem.page_cache_bytes, Unknown) and "Buffers" in mem.page_cache_bytes.reason


# --------------------------------------------------------------------------------------------------
# cgroups


def test_cgroup_v2_working_set(tmp_path: Path) -> None:
    group = write_cgroup_v2(tmp_path / "g", current=10_000_000, inactive_file=3_000_000)
    assert read_cgroup_memory(group) == 7_000_000


def test_cgroup_v1_working_set(tmp_path: Path) -> None:
    group = write_cgroup_v1(tmp_path / "g", usage=9_000_000, total_inactive_file=1_000_000)
    assert read_cgroup_memory(group) == 8_000_000


def test_cgroup_gone_or_garbage(tmp_path: Path) -> None:
    gone = read_cgroup_memory(tmp_path / "stopped")
    assert isinstance(gone, Unknown) and "gone" in gone.reason
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "memory.current").write_text("max\n")
    garbage = read_cgroup_memory(bad)
    assert isinstance(garbage, Unknown) and "not a number" in garbage.reason


@pytest.mark.parametrize(
    "layout",
    [
        "system.slice/docker-{id}.scope",  # v2, systemd driver
        "docker/{id}",  # v2, cgroupfs driver
        "memory/system.slice/docker-{id}.scope",  # v1, systemd driver
        "memory/docker/{id}",  # v1, cgroupfs driver
    ],
)
def test_container_id_resolves_in_each_layout(tmp_path: Path, layout: str) -> None:
    target = tmp_path / layout.format(id=CID)
    if layout.startswith("memory/"):
        write_cgroup_v1(target, usage=5_000, total_inactive_file=1_000)
    else:
        write_cgroup_v2(target, current=5_000, inactive_file=1_000)
    assert resolve_container_cgroup(tmp_path, CID) == target
    assert resolve_container_cgroup(tmp_path, CID[:12]) == target  # docker ps shows 12 digits
    assert resolve_container_cgroup(tmp_path, CID.upper()) == target


def test_v2_is_preferred_over_v1(tmp_path: Path) -> None:
    v2 = write_cgroup_v2(tmp_path / f"system.slice/docker-{CID}.scope", current=2, inactive_file=0)
    write_cgroup_v1(tmp_path / f"memory/docker/{CID}", usage=1, total_inactive_file=0)
    assert resolve_container_cgroup(tmp_path, CID) == v2


def test_short_id_ambiguous_or_absent(tmp_path: Path) -> None:
    other = CID[:12] + "f" * 52
    write_cgroup_v2(tmp_path / f"system.slice/docker-{CID}.scope", current=2, inactive_file=0)
    write_cgroup_v2(tmp_path / f"system.slice/docker-{other}.scope", current=2, inactive_file=0)
    ambiguous = resolve_container_cgroup(tmp_path, CID[:12])
    assert isinstance(ambiguous, Unknown) and "ambiguous" in ambiguous.reason
    absent = resolve_container_cgroup(tmp_path, "0123456789ab")
    assert isinstance(absent, Unknown) and "not running" in absent.reason


@pytest.mark.parametrize("bad", ["vllm", "../../etc", "4f1c2a9e", "4f1c2a9e8b7d;rm", "g" * 64])
def test_container_id_must_be_hex(tmp_path: Path, bad: str) -> None:
    if "/" in bad:
        # a path: used as given, and reported as unknown when it is no memory cgroup
        result = resolve_container_cgroup(tmp_path, bad)
        assert isinstance(result, Unknown) and "no memory cgroup" in result.reason
        return
    with pytest.raises(ValueError, match="container id"):
        resolve_container_cgroup(tmp_path, bad)


def test_container_given_as_path(tmp_path: Path) -> None:
    group = write_cgroup_v2(tmp_path / "machine.slice" / "libpod-x.scope", current=9, inactive_file=1)
    assert resolve_container_cgroup(tmp_path, group) == group
    assert resolve_container_cgroup(tmp_path, "machine.slice/libpod-x.scope") == group


# --------------------------------------------------------------------------------------------------
# this machine's real files


def test_real_proc_meminfo_and_psi() -> None:
    proc = Path("/proc")
    if not (proc / "meminfo").exists():
        pytest.skip("no /proc/meminfo here")
    info = read_meminfo(proc)
    assert not isinstance(info, Unknown)
    assert info["MemTotal"] > 0
    assert 0 <= info["MemFree"] <= info["MemTotal"]
    assert 0 <= info["MemAvailable"] <= info["MemTotal"]
    pressure = read_memory_pressure(proc)
    if (proc / "pressure" / "memory").exists() and os.access(proc / "pressure" / "memory", os.R_OK):
        try:
            (proc / "pressure" / "memory").read_text()
        except OSError:
            assert isinstance(pressure.some_avg10, Unknown)
        else:
            assert isinstance(pressure.some_avg10, float) and 0 <= pressure.some_avg10 <= 100
    else:
        assert isinstance(pressure.some_avg10, Unknown)


def _own_memory_cgroup() -> Path | None:
    """This process's memory cgroup directory from /proc/self/cgroup (v2 or v1), if readable."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    root = Path("/sys/fs/cgroup")
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (root / path.lstrip("/") / "memory.current").exists():
            return root / path.lstrip("/")
        if "memory" in controllers.split(","):
            candidate = root / "memory" / path.lstrip("/")
            if (candidate / "memory.usage_in_bytes").exists():
                return candidate
    return None


def test_real_cgroup_of_this_process() -> None:
    group = _own_memory_cgroup()
    if group is None:
        pytest.skip("no readable memory cgroup for this process")
    assert resolve_container_cgroup(Path("/sys/fs/cgroup"), group) == group
    used = read_cgroup_memory(group)
    assert isinstance(used, float) and used > 0  # this very test process is charged to it
