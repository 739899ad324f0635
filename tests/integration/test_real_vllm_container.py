"""`sparktop watch PROFILE.toml` launching a REAL vLLM in a container, as a user launches theirs.

There is no image registry here, so the container runs the tests' Debian base image with the
provisioned real vLLM mounted into it (its packages, the tiny model, and the host's libnuma, which
vLLM's CPU kernels load): nothing is built or pulled, and the server inside is the real vLLM 0.32.
The profile gives it a ``shm_size``: without one, vLLM's engine fails on Docker's 64 MiB /dev/shm
(that failure is one of the fatal startup errors sparktop recognises).
"""

from __future__ import annotations

import ctypes.util
import re
import subprocess
from pathlib import Path

import docker
import pytest

from sparktop.container.profile import Profile
from tests.docker.build_image import BASE, BuildError, build_base
from tests.integration.container_helpers import (
    SPARKTOP,
    docker_client,
    exists,
    names,
    new_name,
    sparktop_env,
    write_profile,
)
from tests.realvllm.server import MAX_MODEL_LEN, MODEL_NAME, Install

__all__ = ["docker_client", "names"]  # fixtures

pytestmark = [pytest.mark.docker, pytest.mark.real_vllm, pytest.mark.slow]

SERVER_ENV = {
    "PYTHONPATH": "/opt/vllm-site",
    "HF_HUB_OFFLINE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_WORKER_MULTIPROC_METHOD": "fork",
}


SERVER_ARGS = (
    "--load-format", "dummy", "--max-model-len", str(MAX_MODEL_LEN), "--dtype", "float32",
    "--enforce-eager", "--host", "0.0.0.0", "--port", "8000",
)  # fmt: skip


def libnuma() -> Path:
    for folder in (
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
    ):
        candidate = Path(folder) / "libnuma.so.1"
        if candidate.exists():
            return candidate.resolve()
    found = ctypes.util.find_library("numa")
    raise AssertionError(f"libnuma.so.1 not found on this machine (find_library says {found!r})")


def real_profile(install: Install, name: str, shm_size: str | None) -> Profile:
    site = install.vllm.resolve().parents[1] / "lib" / "python3.11" / "site-packages"
    if not site.is_dir():
        pytest.skip(f"the real vLLM's virtualenv is not Python 3.11 (the container's Python): no {site}")
    return Profile(
        image=BASE,
        name="real-tiny",
        entrypoint="python3",
        command=("-m", "vllm.entrypoints.cli.main", "serve"),
        model="/models/tiny",
        model_arg="positional",
        served_model_name=MODEL_NAME,
        args=SERVER_ARGS,
        env=tuple(SERVER_ENV),
        volumes=(
            f"{site}:/opt/vllm-site:ro",
            f"{install.model}:/models/tiny:ro",
            f"{libnuma()}:/usr/lib/x86_64-linux-gnu/libnuma.so.1:ro",
        ),
        ports=("127.0.0.1::8000",),
        shm_size=shm_size,
        container_name=name,
        health_timeout_s=400.0,
    )


@pytest.fixture(scope="module")
def base_image(docker_client: docker.DockerClient) -> str:
    log: list[str] = []
    try:
        build_base(docker_client, log)
    except BuildError as exc:
        pytest.fail(f"the base image could not be built: {exc}")
    return BASE


def watch(profile_path: Path, count: int, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SPARKTOP, "watch", str(profile_path), "--headless", "--interval", "0.5", "--count", str(count)],
        capture_output=True,
        text=True,
        env=sparktop_env(**SERVER_ENV),
        timeout=timeout,
        check=False,
    )


def test_watch_launches_a_real_vllm_container_follows_its_startup_and_removes_it(
    real_install: Install,
    base_image: str,
    docker_client: docker.DockerClient,
    names: list[str],
    tmp_path: Path,
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, real_profile(real_install, name, shm_size="1g"))
    result = watch(path, count=3, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    started = re.findall(r"^# \S+ \+[\d.]+s (.+) started$", out, re.MULTILINE)
    assert started == [
        "engine start",
        "weights load",
        "memory profiling and KV cache",
        "engine warm-up",
        "API server",
    ]
    assert "KV cache: 262,144 tokens" in out and "max concurrency 256.00x at 1,024 tokens" in out
    assert re.search(r"^# \S+ \+[\d.]+s ready after [\d.]+ s$", out, re.MULTILINE)
    healthy = [line for line in out.splitlines() if " state=healthy " in line]
    assert len(healthy) == 3 and all("container=running" in line for line in healthy)
    assert not exists(docker_client, name)  # launched by sparktop: removed on exit


def test_a_real_vllm_without_shared_memory_fails_with_the_cause_and_a_hint(
    real_install: Install,
    base_image: str,
    docker_client: docker.DockerClient,
    names: list[str],
    tmp_path: Path,
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, real_profile(real_install, name, shm_size=None))
    result = watch(path, count=3, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "Insufficient space in /dev/shm" in said
    assert "shm_size" in said  # the hint
    assert not exists(docker_client, name)
