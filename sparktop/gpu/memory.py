"""Host memory as a unified-memory GPU sees it: /proc/meminfo, memory pressure (PSI) and cgroups.

Every reader takes the root it reads under (``/proc``, ``/sys/fs/cgroup``) so tests point it at real
files in a temporary directory. Nothing here raises for a missing or odd file: the figure becomes
``Unknown`` with the reason. File contents are untrusted: lines that do not parse are skipped.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sparktop.model import HostMemory, Num, Unknown

_UNITS = {"kB": 1024, "KB": 1024, "B": 1}


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as ``{field: bytes}`` (fields without a unit, like HugePages_Total, as-is)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        key = key.strip()
        if not sep or not key:
            continue
        parts = rest.split()
        if not parts or len(parts) > 2:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        if len(parts) == 2:
            scale = _UNITS.get(parts[1])
            if scale is None:
                continue
            value *= scale
        out[key] = value
    return out


def read_meminfo(proc_root: Path) -> dict[str, int] | Unknown:
    """Read and parse ``<proc_root>/meminfo``."""
    try:
        text = (proc_root / "meminfo").read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        return Unknown(f"cannot read {proc_root / 'meminfo'}: {exc.strerror or exc}")
    info = parse_meminfo(text)
    if "MemTotal" not in info:
        return Unknown(f"{proc_root / 'meminfo'} has no MemTotal line")
    return info


@dataclass(frozen=True, slots=True)
class Pressure:
    """One PSI resource: ``some`` and ``full`` averages over 10 s, in percent."""

    some_avg10: Num
    full_avg10: Num


def parse_psi(text: str) -> dict[str, dict[str, float]]:
    """A PSI file (``some avg10=0.00 avg60=... total=...``) as ``{"some": {"avg10": ...}, ...}``."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full"):
            continue
        values: dict[str, float] = {}
        for item in rest.split():
            name, eq, number = item.partition("=")
            if not eq:
                continue
            try:
                values[name] = float(number)
            except ValueError:
                continue
        out[kind] = values
    return out


def read_memory_pressure(proc_root: Path) -> Pressure:
    """``<proc_root>/pressure/memory``; absent or disabled PSI gives Unknown with the reason."""
    path = proc_root / "pressure" / "memory"
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        why = Unknown("no memory pressure (PSI) on this kernel: needs CONFIG_PSI")
        return Pressure(why, why)
    except OSError as exc:
        if exc.errno == errno.EOPNOTSUPP:
            why = Unknown("memory pressure (PSI) is disabled: boot with psi=1")
        else:
            why = Unknown(f"cannot read {path}: {exc.strerror or exc}")
        return Pressure(why, why)
    psi = parse_psi(text)

    def pick(kind: str) -> Num:
        value = psi.get(kind, {}).get("avg10")
        if value is None:
            return Unknown(f"{path} has no '{kind} avg10' figure")
        return value

    return Pressure(pick("some"), pick("full"))


# --------------------------------------------------------------------------------------------------
# cgroups

_CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")


def container_cgroup_candidates(cgroup_root: Path, container_id: str) -> list[Path]:
    """Where a Docker container's memory cgroup lives, cgroup v2 first, then v1.

    v2 with the systemd driver: ``system.slice/docker-<id>.scope``; with the cgroupfs driver:
    ``docker/<id>``; v1 puts the same under the ``memory`` hierarchy.
    """
    return [
        cgroup_root / "system.slice" / f"docker-{container_id}.scope",
        cgroup_root / "docker" / container_id,
        cgroup_root / "memory" / "system.slice" / f"docker-{container_id}.scope",
        cgroup_root / "memory" / "docker" / container_id,
    ]


def _is_memory_cgroup(path: Path) -> bool:
    return (path / "memory.current").is_file() or (path / "memory.usage_in_bytes").is_file()


def resolve_container_cgroup(cgroup_root: Path, container: str | Path) -> Path | Unknown:
    """The memory cgroup directory of a container given by id (full or unique prefix) or by path.

    A path (``Path``, or a string with a ``/``) is used as-is, relative ones under ``cgroup_root``.
    Raises ``ValueError`` for something that is neither, since that is a caller's mistake.
    """
    if isinstance(container, Path) or "/" in container:
        path = Path(container)
        if not path.is_absolute():
            path = cgroup_root / path
        if _is_memory_cgroup(path):
            return path
        return Unknown(f"no memory cgroup at {path}")
    cid = container.strip().lower()
    if not _CONTAINER_ID.fullmatch(cid):
        raise ValueError(
            f"not a container id: {container!r} (expected 12 to 64 hex digits; "
            "`docker inspect -f '{{.Id}}' NAME` prints it)"
        )
    for path in container_cgroup_candidates(cgroup_root, cid):
        if _is_memory_cgroup(path):
            return path
    if len(cid) < 64:
        found: list[Path] = []
        for path in container_cgroup_candidates(cgroup_root, cid):
            found.extend(_prefix_matches(path, cid))
        unique = sorted(set(found))
        if len(unique) == 1:
            return unique[0]
        if len(unique) > 1:
            return Unknown(f"container id {cid} is ambiguous: {len(unique)} cgroups match")
    return Unknown(f"no cgroup for container {cid[:12]} (not running?)")


def _prefix_matches(candidate: Path, cid: str) -> list[Path]:
    """Siblings of ``candidate`` whose name is the same with a longer id (short ids)."""
    parent = candidate.parent
    head, _, tail = candidate.name.partition(cid)
    out = []
    try:
        with os.scandir(parent) as entries:
            for entry in entries:
                name = entry.name
                if not (name.startswith(head + cid) and name.endswith(tail)):
                    continue
                middle = name[len(head) : len(name) - len(tail)]
                if _CONTAINER_ID.fullmatch(middle) and entry.is_dir() and _is_memory_cgroup(Path(entry.path)):
                    out.append(Path(entry.path))
    except OSError:
        return []
    return out


def _parse_stat(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def read_cgroup_memory(path: Path) -> Num:
    """A cgroup's working set in bytes: usage minus inactive file cache (what ``docker stats`` shows).

    cgroup v2: ``memory.current`` and ``memory.stat`` (``inactive_file``); v1:
    ``memory.usage_in_bytes`` and ``memory.stat`` (``total_inactive_file``).
    """
    try:
        if (path / "memory.current").exists():
            usage = int((path / "memory.current").read_text().strip())
            inactive_key = "inactive_file"
        else:
            usage = int((path / "memory.usage_in_bytes").read_text().strip())
            inactive_key = "total_inactive_file"
    except FileNotFoundError:
        return Unknown(f"cgroup {path} is gone (container stopped?)")
    except OSError as exc:
        return Unknown(f"cannot read cgroup {path}: {exc.strerror or exc}")
    except ValueError:
        return Unknown(f"cgroup {path}: memory usage is not a number")
    try:
        stat = _parse_stat((path / "memory.stat").read_text())
    except OSError:
        stat = {}
    inactive = stat.get(inactive_key, 0)
    # An inconsistent stat (inactive above usage) is ignored rather than shown as 0.
    return float(usage - inactive) if 0 <= inactive <= usage else float(usage)


# --------------------------------------------------------------------------------------------------
# the breakdown


def host_memory(
    meminfo: Mapping[str, int] | Unknown,
    pressure: Pressure,
    *,
    gpu_processes_bytes: Num,
    container_bytes: Num,
    description: str,
    gpu_processes_unreported: int = 0,
) -> HostMemory:
    """Assemble the breakdown from parsed /proc/meminfo and the other parts."""

    def field(*keys: str) -> Num:
        if isinstance(meminfo, Unknown):
            return meminfo
        missing = [k for k in keys if k not in meminfo]
        if missing:
            return Unknown(f"/proc/meminfo has no {', '.join(missing)}")
        return float(sum(meminfo[k] for k in keys))

    available = field("MemAvailable")
    free = field("MemFree")
    reclaimable: Num
    if isinstance(available, Unknown):
        reclaimable = available
    elif isinstance(free, Unknown):
        reclaimable = free
    else:
        reclaimable = max(0.0, available - free)
    return HostMemory(
        total_bytes=field("MemTotal"),
        available_bytes=available,
        free_bytes=free,
        page_cache_bytes=field("Buffers", "Cached"),
        reclaimable_bytes=reclaimable,
        gpu_processes_bytes=gpu_processes_bytes,
        container_bytes=container_bytes,
        psi_some_avg10=pressure.some_avg10,
        psi_full_avg10=pressure.full_avg10,
        description=description,
        gpu_processes_unreported=gpu_processes_unreported,
    )
