"""`sparktop smoke PROFILE.toml` and `sparktop smoke docker:NAME` with a real Docker engine.

The test image runs the simulated Spark as ``vllm serve`` (ten times faster than real time here), so
the launch, its startup log and its failures are the real code paths of a launched profile.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.container_helpers import (
    docker_client,
    exists,
    names,
    new_name,
    sim_image,
    sim_profile,
    write_profile,
)
from tests.integration.test_container_cli import run

__all__ = ["docker_client", "names", "sim_image"]  # fixtures

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FAST = {"SPARKTOP_SIM_SPEED": "10"}


def checks_of(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    doc = json.loads(path.read_text())
    return doc, {c["name"]: c for c in doc["checks"]}


def test_a_profile_passes_and_an_attached_container_passes_too(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    profile = replace(sim_profile(sim_image, name), smoke={"ttft_p99_ms": 5000.0, "error_rate_max": 0.0})
    path = write_profile(tmp_path, profile)
    out = tmp_path / "profile.json"
    proc = run("smoke", str(path), "--json", str(out), "--no-record", "--keep", timeout=120, extra_env=FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc, checks = checks_of(out)
    assert doc["verdict"] == "pass"
    assert checks["memory preflight"]["status"] == "skip"  # the test profile asks for no GPU
    assert checks["launch"]["pass"] is True and name in checks["launch"]["reason"]
    startup = checks["startup"]
    assert (
        startup["pass"] is True and startup["limit"] == profile.health_timeout_s and 0 < startup["value"] < 60
    )
    assert checks["/v1/models"]["value"] == "gemma-sim"  # the profile's served name
    assert (
        checks["no fatal log line"]["pass"] is True
        and "log lines read" in checks["no fatal log line"]["reason"]
    )
    ttft = checks["ttft_p99_ms"]
    assert ttft["limit"] == 5000 and "[profile]" in ttft["reason"]
    assert doc["seconds_after_ready"] < 60
    # the startup phases were shown while it started
    assert "weights load" in proc.stderr and "API server" in proc.stderr
    assert exists(docker_client, name)  # --keep
    # the same server, attached: no launch, the same verdict, and the container is left alone
    attached = tmp_path / "attached.json"
    proc = run("smoke", f"docker:{name}", "--json", str(attached), "--no-record", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc, checks = checks_of(attached)
    assert doc["verdict"] == "pass" and checks["server healthy"]["pass"] is True
    assert "startup" not in checks and checks["/v1/models"]["value"] == "gemma-sim"
    assert checks["no fatal log line"]["pass"] is True  # its log read back from the start
    assert exists(docker_client, name)


def test_a_profile_whose_startup_fails_fails_and_is_removed(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    out, junit = tmp_path / "smoke.json", tmp_path / "smoke.xml"
    proc = run(
        "smoke",
        str(path),
        "--json",
        str(out),
        "--junit",
        str(junit),
        "--no-record",
        timeout=120,
        SPARKTOP_SIM_FAIL_STARTUP="kv",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _, checks = checks_of(out)
    startup = checks["startup"]
    assert startup["pass"] is False
    assert "KV cache" in startup["reason"] or "max seq len" in startup["reason"]
    assert "hint: lower --max-model-len" in startup["reason"]
    # nothing after a failed startup is passed: skipped, with the reason
    for name_ in ("/v1/models", "completion", "workload", "ttft_p99_ms"):
        assert checks[name_]["status"] == "skip" and checks[name_]["reason"], checks[name_]
    assert "stopped and removed container" in proc.stderr
    assert not exists(docker_client, name)
    assert b'<failure message="' in junit.read_bytes()
