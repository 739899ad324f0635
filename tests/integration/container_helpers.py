"""Fixtures for the tests that drive a real Docker engine with the simulated-Spark image.

Import the fixtures into a test module (``from tests.integration.container_helpers import ...``).
Without an engine (``DOCKER_HOST`` unset and no ``/var/run/docker.sock``, or nothing answering)
the tests are skipped with the reason; with ``SPARKTOP_REQUIRE_DOCKER=1`` (CI) they fail instead.
The image is built once per engine and reused (``tests/docker/build_image.py``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
import requests

from sparktop.container.profile import Profile, to_toml
from tests.support.waiting import wait_until

GEMMA = "google/gemma-4-26B-A4B-it"
SIM_ENV = {"SPARKTOP_SIM_STARTUP": "fast"}
"""The simulator's startup in ~2 s (same phases and lines as a real one, compressed)."""
NAME_PREFIX = "sparktop-test-"


def _engine_missing() -> str | None:
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return (
            "no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock does not exist "
            "(start one with .ci/docker-up)"
        )
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("SPARKTOP_REQUIRE_DOCKER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    missing = _engine_missing()
    if missing:
        _skip_or_fail(missing)
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        _skip_or_fail(f"the Docker engine at {where} does not answer: {exc}")
    yield client
    for container in client.containers.list(all=True):
        if container.name.startswith(NAME_PREFIX):
            container.remove(force=True)
    client.close()


@pytest.fixture(scope="session")
def sim_image(docker_client: docker.DockerClient) -> str:
    from tests.docker.build_image import BuildError, build

    try:
        return build(docker_client)
    except BuildError as exc:
        pytest.fail(f"the test image could not be built: {exc}")


@pytest.fixture
def names(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Container names for one test; whatever still exists afterwards is removed."""
    created: list[str] = []
    yield created
    for name in created:
        try:
            docker_client.api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass


def new_name(names: list[str]) -> str:
    name = NAME_PREFIX + uuid.uuid4().hex[:10]
    names.append(name)
    return name


def sim_profile(image: str, name: str, **changes: Any) -> Profile:
    """A profile for the test image: fast startup, any free loopback port, the sim's knobs passed."""
    base = Profile(
        image=image,
        model=GEMMA,
        name="sim-gemma",
        served_model_name="gemma-sim",
        args=("--max-model-len", "8192"),
        env=(
            "SPARKTOP_SIM_STARTUP",
            "SPARKTOP_SIM_SPEED",
            "SPARKTOP_SIM_CRASH_AFTER",
            "SPARKTOP_SIM_FAIL_STARTUP",
            "SPARKTOP_SIM_GENERATE_STATUS",
            "SPARKTOP_SIM_ALLOC_MIB",
            "SPARKTOP_SIM_LOG_STATS_EVERY",
            "SPARKTOP_SIM_HOST_USED_GIB",
            "SPARKTOP_SIM_VLLM_VERSION",
            "HF_TOKEN",
        ),
        ports=("127.0.0.1::8000",),
        container_name=name,
        health_timeout_s=60.0,
    )
    return replace(base, **changes)


def write_profile(directory: Path, profile: Profile) -> Path:
    path = directory / f"{profile.container_name or profile.name}.toml"
    path.write_text(to_toml(profile), encoding="utf-8")
    return path


def exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.api.inspect_container(name)
    except docker.errors.NotFound:
        return False
    return True


def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> bool:
    return wait_until(predicate, timeout, step)


def wait_healthy(client: docker.DockerClient, name: str, timeout: float = 60.0) -> None:
    """Until the container's server answers /health with 200 on its published loopback port."""

    def healthy() -> bool:
        ports = client.api.inspect_container(name)["NetworkSettings"]["Ports"] or {}
        bound = ports.get("8000/tcp") or []
        if not bound:
            return False
        try:
            return httpx.get(f"http://127.0.0.1:{bound[0]['HostPort']}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(healthy, timeout=timeout, step=0.2), f"{name} never became healthy"


def sparktop_env(**extra: str) -> dict[str, str]:
    """The environment for a ``sparktop`` subprocess: this one, the sim's fast startup, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKTOP_SIM_") and k != "HF_TOKEN"}
    env.update(SIM_ENV)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    env["SPARKTOP_CONFIG"] = "/nonexistent/sparktop.toml"
    return env


SPARKTOP = [sys.executable, "-m", "sparktop"]
