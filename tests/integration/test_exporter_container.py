"""`sparktop exporter --container NAME` against a real container of the simulated-Spark image.

The exporter is started before the container exists (the page says why there is nothing yet), then
follows it: Docker's state and stats, and vLLM's startup phases read from the container's log. When
the container is removed the page is still served, saying so.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.integration.container_helpers import (
    GEMMA,
    SIM_ENV,
    docker_client,
    names,
    new_name,
    sim_image,
    sparktop_env,
)
from tests.integration.exporter_helpers import (
    Exporter,
    find,
    label_of,
    one,
    promtool_check,
    running_exporter,
)
from tests.support.waiting import poll

__all__ = ["docker_client", "names", "sim_image"]  # fixtures

pytestmark = pytest.mark.docker

SECRET = "hf_exporterSecretValue42"


def scrape_until(exporter: Exporter, done: object, within_s: float = 90.0) -> str:
    """Scrape until ``done(page)`` holds; the last page."""
    page, ok = poll(exporter.scrape, done, within_s, 0.25)  # type: ignore[arg-type]
    assert ok, f"{page}\n{exporter.logs()}"
    return page


def test_container_stats_and_startup_phases_and_a_container_that_disappears(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    with running_exporter(tmp_path, "--container", name, "--interval", "0.2", env=sparktop_env()) as exporter:
        # not there yet: the rest of the page is served, and it says why
        missing = (
            f'sparktop_exporter_part_error_info{{part="container",reason="no container named {name}"}} 1'
        )
        page = scrape_until(exporter, lambda p: missing in p)
        assert one(page, "sparktop_exporter_part_up", part="container") == 0
        assert one(page, "sparktop_memory_total_bytes") > 0
        promtool_check(page)

        docker_client.containers.run(
            sim_image,
            ["serve", GEMMA, "--served-model-name", "exported", "--max-model-len", "4096"],
            entrypoint=["vllm"],
            name=name,
            detach=True,
            environment={**SIM_ENV, "HF_TOKEN": SECRET},
        )
        page = scrape_until(
            exporter,
            lambda p: (
                find(p, "sparktop_startup_ready", container=name) == [1]
                and find(p, "sparktop_container_memory_bytes", container=name) != []
            ),
        )
        promtool_check(page)
        assert one(page, "sparktop_exporter_part_up", part="container") == 1
        assert one(page, "sparktop_container_running", container=name) == 1
        assert one(page, "sparktop_container_state", container=name, state="running") == 1
        assert one(page, "sparktop_container_oom_killed", container=name) == 0
        assert one(page, "sparktop_container_memory_bytes", container=name) > 0
        assert one(page, "sparktop_startup_failed", container=name) == 0
        durations = {
            phase: one(page, "sparktop_startup_phase_duration_seconds", container=name, phase=phase)
            for phase in ("engine", "weights", "kv_cache", "graphs", "api")
        }
        assert all(took >= 0 for took in durations.values()), durations
        assert durations["weights"] > 0  # the simulator's fast startup still takes its phases' time
        total = one(page, "sparktop_startup_duration_seconds", container=name)
        assert total >= max(durations.values())
        assert one(page, "sparktop_startup_max_concurrency", container=name, tokens_per_request="4096") > 0
        assert one(page, "sparktop_startup_kv_cache_tokens", container=name) > 0
        # the container's cgroup memory in the breakdown, or why not (an engine elsewhere, another driver)
        memory = find(page, "sparktop_memory_container_bytes", container=name)
        if not memory:
            reason = label_of(
                page, "sparktop_memory_field_unknown_info", "reason", field="container_bytes", container=name
            )
            assert reason.startswith("no cgroup for container"), reason
        assert SECRET not in page and SECRET not in exporter.logs()

        # removed underneath the exporter: still served, saying so
        docker_client.api.remove_container(name, force=True)
        page = scrape_until(
            exporter, lambda p: find(p, "sparktop_container_state", container=name, state="missing") == [1]
        )
        assert one(page, "sparktop_container_running", container=name) == 0
        assert one(page, "sparktop_container_stopped_info", container=name) == 1
        assert find(page, "sparktop_container_memory_bytes", container=name) == []
        page = scrape_until(exporter, lambda p: find(p, "sparktop_exporter_part_up", part="container") == [0])
        reason = label_of(page, "sparktop_exporter_part_error_info", "reason", part="container")
        assert reason in (f"container {name} no longer exists", f"no container named {name}")
        assert one(page, "sparktop_memory_total_bytes") > 0
        assert one(page, "sparktop_exporter_part_up", part="memory") == 1
        promtool_check(page)
