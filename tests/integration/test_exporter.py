"""`sparktop exporter` as Prometheus meets it: a real process, real HTTP, the real promtool.

``--gpu`` runs against the NVML stand-in (a GB10 whose memory query is not supported, and an H100),
injected into the subprocess as ``pynvml``; this machine's /proc gives the memory breakdown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.exporter_helpers import (
    ROOT,
    find,
    label_of,
    one,
    promtool_check,
    running_exporter,
    samples,
)
from tests.support.fake_pynvml import GB10_PROCESS_MEMORY
from tests.support.waiting import poll


def test_the_page_without_options_is_the_memory_breakdown_and_promtool_clean(tmp_path: Path) -> None:
    with running_exporter(tmp_path) as exporter:
        page = exporter.scrape()
        promtool_check(page)
        total = one(page, "sparktop_memory_total_bytes")
        assert total > 0
        assert 0 < one(page, "sparktop_memory_available_bytes") <= total
        assert one(page, "sparktop_exporter_part_up", part="memory") == 1
        assert one(page, "sparktop_exporter_info", version=_version()) == 1
        assert one(page, "sparktop_exporter_collect_duration_seconds", part="memory") >= 0
        assert "sparktop_gpu_" not in page and "sparktop_container_" not in page
        reason = label_of(page, "sparktop_memory_field_unknown_info", "reason", field="gpu_processes_bytes")
        assert reason == "GPU readings are off (run the exporter with --gpu)"
        index = httpx.get(exporter.url.removesuffix("metrics"), trust_env=False)
        assert index.status_code == 200 and "/metrics" in index.text
        assert httpx.get(exporter.url + "x", trust_env=False).status_code == 404


def test_gpu_readings_with_per_field_unknowns_from_the_nvml_stand_in(tmp_path: Path) -> None:
    with running_exporter(tmp_path, "--gpu", fake_nvml=True) as exporter:
        page = exporter.scrape()
        promtool_check(page)
        assert one(page, "sparktop_gpu_collector_info", status="ok") == 1
        assert one(page, "sparktop_exporter_part_up", part="gpu") == 1
        assert one(page, "sparktop_gpu_info", device="0", name="NVIDIA GB10", unified_memory="true") == 1
        assert one(page, "sparktop_gpu_info", device="1", unified_memory="false") == 1
        # the GB10's memory query is not supported: absent, with the reason, never 0
        assert find(page, "sparktop_gpu_memory_used_bytes", device="0") == []
        reason = label_of(
            page, "sparktop_gpu_field_unknown_info", "reason", device="0", field="memory_used_bytes"
        )
        assert reason.startswith("not supported on this device")
        assert find(page, "sparktop_gpu_power_limit_watts", device="0") == []
        # the H100 has them
        assert one(page, "sparktop_gpu_memory_used_bytes", device="1") == 72_000_000_000
        assert one(page, "sparktop_gpu_power_limit_watts", device="1") == 700
        assert find(page, "sparktop_gpu_field_unknown_info", device="1", field="memory_used_bytes") == []
        assert one(page, "sparktop_gpu_power_watts", device="0") == pytest.approx(41.25)
        assert one(page, "sparktop_gpu_energy_joules_total", device="0") == 3_600_000
        assert one(page, "sparktop_gpu_sm_clock_hertz", device="1") == 1980e6
        assert one(page, "sparktop_gpu_temperature_celsius", device="1") == 58
        assert one(page, "sparktop_gpu_throttle_reason_active", device="0", reason="sw_power_cap") == 1
        assert one(page, "sparktop_memory_gpu_processes_bytes") == GB10_PROCESS_MEMORY
        assert "# TYPE sparktop_gpu_energy_joules_total counter" in page


def test_scrapes_together_share_one_collection(tmp_path: Path) -> None:
    async def scrape_together(url: str, n: int) -> list[str]:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            responses = await asyncio.gather(*(client.get(url) for _ in range(n)))
        return [r.text for r in responses]

    with running_exporter(tmp_path, "--gpu", "--interval", "600", fake_nvml=True) as exporter:
        pages = asyncio.run(scrape_together(exporter.url, 8))
        assert {one(p, "sparktop_exporter_collections_total") for p in pages} == {1}
        assert sorted(one(p, "sparktop_exporter_scrapes_total") for p in pages) == list(range(1, 9))
        later = exporter.scrape()  # within --interval: the same readings
        assert one(later, "sparktop_exporter_collections_total") == 1
        promtool_check(later)


def test_an_unreachable_docker_engine_costs_the_container_part_only(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    with running_exporter(tmp_path, "--container", "vllm", env=env) as exporter:
        page, ok = poll(exporter.scrape, lambda p: "cannot reach the Docker engine" in p)
        assert ok, page
        assert one(page, "sparktop_exporter_part_up", part="container") == 0
        reason = label_of(page, "sparktop_exporter_part_error_info", "reason", part="container")
        assert reason.startswith("cannot reach the Docker engine: ")
        assert one(page, "sparktop_exporter_part_up", part="memory") == 1
        assert one(page, "sparktop_memory_total_bytes") > 0
        why = label_of(page, "sparktop_memory_field_unknown_info", "reason", field="container_bytes")
        assert why.startswith("container vllm is not followed: cannot reach the Docker engine")
        promtool_check(page)
    assert "Traceback" not in exporter.logs()


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sparktop", "exporter", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "SPARKTOP_CONFIG": "/nonexistent/sparktop.toml"},
        )
    assert done.returncode == 2
    assert done.stdout == ""
    first, hint = done.stderr.splitlines()
    assert first.startswith(f"sparktop: error: cannot listen on 127.0.0.1:{port}: ")
    assert hint.startswith("hint: ")


def test_sigterm_ends_it_with_exit_0(tmp_path: Path) -> None:
    with running_exporter(tmp_path) as exporter:
        exporter.process.send_signal(signal.SIGTERM)
        assert exporter.process.wait(timeout=30) == 0
    assert "Traceback" not in exporter.logs()


def test_the_page_parses_with_prometheus_clients_reader(tmp_path: Path) -> None:
    with running_exporter(tmp_path, "--gpu", fake_nvml=True) as exporter:
        page = exporter.scrape()
    names = samples(page)
    assert all(name.startswith("sparktop_") for name in names)
    assert page.endswith("\n")


def _version() -> str:
    from sparktop import __version__

    return __version__
