"""The simulator knobs the container tests rely on: idle stats lines and memory taken while loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparktop.sim.faults import FaultConfig, FaultConfigError, from_env
from sparktop.sim.server import SimConfig, SimServer
from sparktop.sim.vllm_entry import EntryError, build_config
from tests.support.waiting import eventually

GEMMA = "google/gemma-4-26B-A4B-it"


def test_knobs_come_from_the_environment() -> None:
    config, _ = build_config(
        ["serve", GEMMA], {"SPARKTOP_SIM_LOG_STATS_EVERY": "2.5", "SPARKTOP_SIM_ALLOC_MIB": "64"}
    )
    assert config is not None
    assert (config.stats_interval_s, config.stats_when_idle) == (2.5, True)
    assert config.faults == FaultConfig(alloc_mib=64.0)
    default, _ = build_config(["serve", GEMMA], {})
    assert default is not None and (default.stats_interval_s, default.stats_when_idle) == (10.0, False)
    with pytest.raises(FaultConfigError, match="SPARKTOP_SIM_ALLOC_MIB"):
        from_env({"SPARKTOP_SIM_ALLOC_MIB": "lots"})
    with pytest.raises(EntryError, match="SPARKTOP_SIM_LOG_STATS_EVERY"):
        build_config(["serve", GEMMA], {"SPARKTOP_SIM_LOG_STATS_EVERY": "-1"})


async def test_idle_server_prints_its_stats_line_when_asked() -> None:
    quiet = SimConfig(startup="instant", speed=50, stats_interval_s=1.0)
    chatty = SimConfig(startup="instant", speed=50, stats_interval_s=1.0, stats_when_idle=True)

    def stats_lines(sim: SimServer) -> int:
        return sum("Engine 000: Avg prompt throughput" in line for line in sim.logs)

    async with SimServer(quiet) as sim:
        await sim.wait_ready()
        await sim.clock.sleep(5.5)
        assert stats_lines(sim) == 0
    async with SimServer(chatty) as sim:
        await sim.wait_ready()
        # real seconds: a loaded machine only slows the lines down
        assert await eventually(lambda: stats_lines(sim) >= 4, within_s=15.0), stats_lines(sim)


async def test_memory_is_really_taken_while_weights_load() -> None:
    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = rss()
    config = SimConfig(startup="instant", faults=FaultConfig(alloc_mib=256))
    async with SimServer(config) as sim:
        await sim.wait_ready()
        held = rss()
    assert held - before >= 250 * 1024 * 1024
