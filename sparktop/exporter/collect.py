"""Readings on demand, behind a short cache: one collection however many scrapers ask at once.

A scrape within ``max_age_s`` of the last collection gets that collection's readings; scrapes that
arrive while one is running wait for it rather than start another (two Prometheus servers scraping
together cost one set of NVML calls). The blocking part (NVML, /proc, cgroups) runs in a worker
thread; the container's part is what its follower has read, so a scrape never waits on Docker.

A part that fails costs that part only: its readings are left out and the page says why. Nothing a
driver, a file or Docker does ends the exporter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sparktop import __version__
from sparktop.exporter.container import ContainerFollower
from sparktop.exporter.page import PartStatus, Readings, render_page
from sparktop.gpu.memory import (
    host_memory,
    read_cgroup_memory,
    read_meminfo,
    read_memory_pressure,
    resolve_container_cgroup,
)
from sparktop.gpu.nvml import ENERGY_EVERY_S, NvmlCollector
from sparktop.model import GpuDevice, GpuSample, HostMemory, Num, Unknown

log = logging.getLogger("sparktop.exporter")

NO_GPU = "GPU readings are off (run the exporter with --gpu)"


def read_host_memory(proc_root: Path, cgroup_root: Path, container_id: str | None) -> HostMemory:
    """The memory breakdown without NVML (blocks on /proc and cgroup files; never raises for them)."""
    container: Num
    if container_id is None:
        container = Unknown("no container given (--container NAME)")
    else:
        found = resolve_container_cgroup(cgroup_root, container_id)
        container = found if isinstance(found, Unknown) else read_cgroup_memory(found)
    return host_memory(
        read_meminfo(proc_root),
        read_memory_pressure(proc_root),
        gpu_processes_bytes=Unknown(NO_GPU),
        container_bytes=container,
        description="host memory (no GPU readings: run with --gpu)",
    )


def _failed_memory(reason: str) -> HostMemory:
    why = Unknown(reason)
    return HostMemory(why, why, why, why, why, why, why, why, why, description="")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Collector:
    """Collects the readings of every part and renders the page.

    Args:
        gpu: the NVML collector (``--gpu``), or None.
        follower: the container's follower (``--container``), or None.
        max_age_s: how long one collection's readings serve scrapes.
        proc_root, cgroup_root: where host memory is read without ``--gpu``.
        wall: seconds since the epoch (phase durations are measured on log timestamps).
    """

    def __init__(
        self,
        *,
        gpu: NvmlCollector | None = None,
        follower: ContainerFollower | None = None,
        max_age_s: float = 1.0,
        proc_root: Path = Path("/proc"),
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gpu = gpu
        self._follower = follower
        self._max_age = max_age_s
        self._proc = proc_root
        self._cgroup_root = cgroup_root
        self._wall = wall
        self._monotonic = monotonic
        self._cached: Readings | None = None
        self._cached_at = -math.inf
        self._inflight: asyncio.Future[Readings] | None = None
        self._collections = 0
        self._scrapes = 0
        self._container_id: str | None = None
        self._gpu_container: str | None = None
        self._energy: dict[tuple[int, str], tuple[float, float]] = {}
        self._energy_hold_s = 2 * ENERGY_EVERY_S + max_age_s

    @property
    def collections(self) -> int:
        return self._collections

    async def page(self) -> str:
        """One scrape: the readings (fresh or cached) as exposition text."""
        self._scrapes += 1
        scrape = self._scrapes
        readings = await self.readings()
        return render_page(replace(readings, scrapes=scrape))

    async def readings(self) -> Readings:
        """The latest collection if it is recent enough, else a new one (shared by all who ask)."""
        if self._cached is not None and self._monotonic() - self._cached_at < self._max_age:
            return self._cached
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._collect())
        # shielded: a scraper that hangs up does not cancel the collection the others wait on
        return await asyncio.shield(self._inflight)

    async def _collect(self) -> Readings:
        try:
            readings = await self._gather()
            self._cached, self._cached_at = readings, self._monotonic()
            return readings
        finally:
            self._inflight = None

    async def _gather(self) -> Readings:
        t = self._wall()
        view = None
        container_status: PartStatus | None = None
        if self._follower is not None:
            started = self._monotonic()
            try:
                view = self._follower.view()
                self._container_id = self._follower.container_id
                container_status = PartStatus(not view.problem, view.problem, self._monotonic() - started)
            except Exception as exc:  # a bug reading the follower costs the container part only
                log.exception("reading the container's state failed")
                container_status = PartStatus(
                    False, f"reading the container's state failed: {_error_text(exc)}"
                )
        memory, sample, memory_status, gpu_status = await asyncio.to_thread(self._blocking)
        if self._follower is not None and self._container_id is None:
            reason = (view.problem if view is not None else "") or "not found yet"
            memory = replace(
                memory, container_bytes=Unknown(f"container {self._follower.name} is not followed: {reason}")
            )
        parts = {"memory": memory_status}
        if gpu_status is not None:
            parts["gpu"] = gpu_status
        if container_status is not None:
            parts["container"] = container_status
        self._collections += 1
        return Readings(
            t=t,
            version=__version__,
            memory=memory,
            memory_container=None if self._follower is None else self._follower.name,
            gpu=sample,
            container=view,
            parts=parts,
            collections=self._collections,
        )

    def _blocking(self) -> tuple[HostMemory, GpuSample | None, PartStatus, PartStatus | None]:
        """The memory and GPU parts (in a worker thread)."""
        container_id = self._container_id
        if self._gpu is None:
            started = self._monotonic()
            try:
                memory = read_host_memory(self._proc, self._cgroup_root, container_id)
            except Exception as exc:
                log.exception("reading host memory failed")
                memory = _failed_memory(f"reading host memory failed: {_error_text(exc)}")
            return memory, None, _memory_status(memory, self._monotonic() - started), None
        started = self._monotonic()
        try:
            if container_id != self._gpu_container:
                self._gpu.set_container(container_id)
                self._gpu_container = container_id
            sample = self._hold_energy(self._gpu.collect())
        except Exception as exc:  # collect() never raises by contract; the exporter does not rely on it
            detail = f"GPU collection failed: {_error_text(exc)}"
            log.exception("GPU collection failed")
            try:
                memory = read_host_memory(self._proc, self._cgroup_root, container_id)
            except Exception as again:
                memory = _failed_memory(f"reading host memory failed: {_error_text(again)}")
            sample = GpuSample(t=self._wall(), status="error", detail=detail, devices=(), memory=memory)
        took = self._monotonic() - started
        status = PartStatus(sample.status == "ok", f"{sample.status}: {sample.detail}", took)
        return sample.memory, sample, _memory_status(sample.memory, took), status

    def _hold_energy(self, sample: GpuSample) -> GpuSample:
        """The energy counter at its last reading while the collector reads it less often than it is
        scraped (a slow read on some drivers): a counter that comes and goes breaks ``rate()``."""
        if sample.status != "ok":
            self._energy.clear()
            return sample
        now = self._monotonic()
        devices: list[GpuDevice] = []
        for device in sample.devices:
            key = (device.index, str(device.uuid))
            energy = device.energy_mj
            if not isinstance(energy, Unknown):
                self._energy[key] = (energy, now)
                devices.append(device)
                continue
            held = self._energy.get(key)
            if held is not None and now - held[1] <= self._energy_hold_s:
                devices.append(replace(device, energy_mj=held[0]))
            else:
                devices.append(device)
        return replace(sample, devices=tuple(devices))


def _memory_status(memory: HostMemory, took: float) -> PartStatus:
    total = memory.total_bytes
    if isinstance(total, Unknown):
        return PartStatus(False, total.reason, took)
    return PartStatus(True, "", took)
