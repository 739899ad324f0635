"""Real /proc and cgroup files written into a temporary directory, in the kernel's own formats."""

from __future__ import annotations

from pathlib import Path

KIB = 1024
GIB = 1024**3


def meminfo_text(
    *,
    total_kb: int = 127_608_324,  # a DGX Spark: about 121.7 GiB
    free_kb: int = 21_234_112,
    available_kb: int = 66_871_020,
    buffers_kb: int = 10_236,
    cached_kb: int = 46_102_440,
    shmem_kb: int = 301_220,
    sreclaimable_kb: int = 1_204_556,
) -> str:
    rows = [
        ("MemTotal", total_kb),
        ("MemFree", free_kb),
        ("MemAvailable", available_kb),
        ("Buffers", buffers_kb),
        ("Cached", cached_kb),
        ("SwapCached", 0),
        ("Active", 30_110_204),
        ("Inactive", 40_771_880),
        ("Shmem", shmem_kb),
        ("KReclaimable", sreclaimable_kb),
        ("Slab", 2_004_112),
        ("SReclaimable", sreclaimable_kb),
        ("SUnreclaim", 799_556),
        ("VmallocTotal", 135_288_315_904),
    ]
    lines = [f"{name + ':':<16}{value:>8} kB" for name, value in rows]
    lines += ["HugePages_Total:       0", "HugePages_Free:        0", "Hugepagesize:       2048 kB"]
    return "\n".join(lines) + "\n"


PSI_TEXT = (
    "some avg10=1.25 avg60=0.40 avg300=0.09 total=1843211\n"
    "full avg10=0.50 avg60=0.12 avg300=0.02 total=602118\n"
)


def write_proc(
    root: Path,
    *,
    meminfo: str | None = None,
    psi: str | None = PSI_TEXT,
    comm: dict[int, str] | None = None,
) -> Path:
    """A /proc stand-in directory with meminfo, pressure/memory and <pid>/comm files."""
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "meminfo").write_text(meminfo if meminfo is not None else meminfo_text())
    if psi is not None:
        (proc / "pressure").mkdir(exist_ok=True)
        (proc / "pressure" / "memory").write_text(psi)
    for pid, name in (comm or {}).items():
        (proc / str(pid)).mkdir(exist_ok=True)
        (proc / str(pid) / "comm").write_text(name + "\n")
    return proc


def write_cgroup_v2(directory: Path, current: int, inactive_file: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.current").write_text(f"{current}\n")
    (directory / "memory.stat").write_text(
        f"anon {current - inactive_file - 4096}\nfile {inactive_file + 4096}\n"
        f"active_file 4096\ninactive_file {inactive_file}\nshmem 0\n"
    )
    return directory


def write_cgroup_v1(directory: Path, usage: int, total_inactive_file: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (directory / "memory.stat").write_text(
        f"cache {total_inactive_file}\nrss {usage - total_inactive_file}\n"
        f"inactive_file {total_inactive_file}\ntotal_cache {total_inactive_file}\n"
        f"total_inactive_file {total_inactive_file}\n"
    )
    return directory
