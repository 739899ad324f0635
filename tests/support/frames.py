"""Deterministic frames for view tests: a session fed with realistic pages, GPU samples and events
at fixed times, never from a live sampler."""

from __future__ import annotations

import functools
import math

from sparktop.model import (
    Event,
    Frame,
    GpuDevice,
    GpuProcess,
    GpuSample,
    HostMemory,
    ScrapeResult,
    ServerInfo,
    TargetInfo,
    Unknown,
    WorkloadProgress,
)
from sparktop.session.core import Session
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from tests.support.vllm_pages import LoadedServer

T0 = 1_790_000_000.0  # a fixed moment, so clocks in snapshots never change
GIB = 1024**3
NS = Unknown("not supported on this device")


def gb10_sample(t: float, load: float, simulated: bool = True) -> GpuSample:
    power = 18.0 + 70.0 * load
    device = GpuDevice(
        index=0,
        name="NVIDIA GB10",
        uuid="GPU-00000000-0000-0000-0000-000000000000",
        utilization_pct=round(100.0 * load),
        power_w=power,
        power_limit_w=NS,
        temperature_c=42.0 + 25.0 * load,
        sm_clock_mhz=2400.0,
        energy_mj=(t - T0) * power * 1000.0,
        throttle_reasons=(),
        unified_memory=True,
        memory_used_bytes=NS,
        memory_total_bytes=NS,
        processes=(GpuProcess(4242, "python3", 110.0 * GIB),),
    )
    memory = HostMemory(
        total_bytes=121.7 * GIB,
        available_bytes=9.5 * GIB,
        free_bytes=3.1 * GIB,
        page_cache_bytes=6.2 * GIB,
        reclaimable_bytes=6.4 * GIB,
        gpu_processes_bytes=110.0 * GIB,
        container_bytes=111.2 * GIB,
        psi_some_avg10=0.4,
        psi_full_avg10=0.0,
        description="unified with NVIDIA GB10",
    )
    return GpuSample(t, "ok", "", (device,), memory, simulated=simulated, driver_version="580.95.05")


def session_with_history(seconds: int = 300, engines: int = 1) -> Session:
    """A session that watched a loaded server for ``seconds`` (one scrape per second)."""
    target = TargetInfo("http://127.0.0.1:8000", "simulator", profile="gemma4-26b-a4b-nvfp4", simulated=True)
    session = Session(target, start=T0)
    server = LoadedServer(engines=engines, seed=7)
    parser, schema = SeriesParser(), Schema()
    session.observe(Event(T0 + 1, "startup", "Application startup complete.", "vllm"))
    session.observe(
        ServerInfo(T0 + 1, "0.23.0", ("gemma-4-26b-a4b-nvfp4",), 131072, "nvidia/Gemma-4-26B-A4B-NVFP4")
    )
    session.observe(
        Event(T0 + 5, "workload", "C-quick: 5 users", "workload", data={"phase": "c5", "boundary": "start"})
    )
    for i in range(seconds):
        t = T0 + 2 + i
        server.step()
        reading = schema.read(parser.parse(server.page()), t)
        session.observe(
            ScrapeResult(t, "healthy", "ok", 0.004, reading.snapshot, reading.keys, reading.values)
        )
        session.observe(gb10_sample(t + 0.5, 0.5 + 0.4 * math.sin(i / 20.0)))
        if i == seconds // 2:
            session.observe(Event(t, "marker", "switched to 10 users", "user"))
            session.observe(
                Event(
                    t, "workload", "C-quick: 10 users", "workload", data={"phase": "c10", "boundary": "start"}
                )
            )
    session.observe(WorkloadProgress("C-quick 10 users", 42, 60, 10, 1, float(seconds), T0 + 1 + seconds))
    return session


@functools.cache
def frame_at_end(seconds: int = 300, span_s: float = 300.0) -> Frame:
    """The frame at the end of ``session_with_history(seconds)`` (built once per arguments)."""
    session = session_with_history(seconds)
    return session.frame(span_s, now=T0 + 2 + seconds)


def sim_startup_lines(profile_name: str, start: float = T0, **kw: object) -> list[tuple[float, str]]:
    """The simulator's rendition of a vLLM startup log: (time, line) pairs from ``start``."""
    from sparktop.sim import startup as st
    from sparktop.sim.memory import plan_memory
    from sparktop.sim.profiles import get_profile

    profile = get_profile(profile_name)
    steps = st.startup_script(
        profile,
        profile.serving,
        plan_memory(profile),
        mode="realistic",
        served_model_name=profile.served_model_name,
        host="0.0.0.0",
        port=8000,
        vllm_version=str(kw.pop("vllm_version", profile.vllm_version)),
        **kw,  # type: ignore[arg-type]
    )
    t, out = start, []
    for step in steps:
        t += step.after_s
        out += [(t, st.LogFormat.render(line, t)) for line in step.lines]
    return out


def startup_lines_until(phase_text: str) -> list[tuple[float, str]]:
    """The simulator's vLLM startup log (Gemma NVFP4), up to the first line containing ``phase_text``."""
    lines = sim_startup_lines("gemma4-26b-a4b-nvfp4")
    upto = next((i for i, (_, text) in enumerate(lines) if phase_text in text), len(lines) - 1)
    return lines[: upto + 1]


@functools.cache
def starting_frame(phase_text: str = "Loading safetensors checkpoint shards:  50%") -> Frame:
    """A container whose vLLM is still loading weights: the dashboard shows the startup."""
    target = TargetInfo("docker:vllm-gemma", "container", profile="gemma-4-26b-a4b-nvfp4")
    session = Session(target, start=T0)
    lines = startup_lines_until(phase_text)
    for t, text in lines:
        session.observe(Event(t, "log", text, "container"))
    last = lines[-1][0]
    session.observe(ScrapeResult(last + 0.5, "starting", "TCP connects, HTTP does not answer (loading?)"))
    return session.frame(300.0, now=last + 1.0)
