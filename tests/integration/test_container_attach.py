"""Attaching to containers sparktop did not start: found by name, read, never touched."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess

import docker
import pytest

from sparktop.container.lifecycle import ContainerError, ContainerHandle, attach
from sparktop.model import Frame, TargetInfo
from sparktop.session.core import Session
from sparktop.session.live import LiveOptions, live_feed
from sparktop.session.sources import container_loop
from sparktop.sim.server import SimConfig, SimServer
from tests.integration.container_helpers import (
    GEMMA,
    SIM_ENV,
    SPARKTOP,
    docker_client,
    names,
    new_name,
    sim_image,
    sparktop_env,
    wait_for,
    wait_healthy,
)
from tests.support.net import free_port

__all__ = ["docker_client", "names", "sim_image"]  # fixtures

pytestmark = pytest.mark.docker


SECRET = "hf_attachSecretValue99"
ECHO_TOKEN = ["/bin/sh", "-c", 'echo "token $HF_TOKEN"; exec vllm "$@"', "sh"]
"""An entrypoint that prints the token before starting vLLM (sparktop must mask it)."""


def start_nvidia_style(
    client: docker.DockerClient, image: str, name: str, entrypoint: list[str] | None = None, **kwargs: object
) -> None:
    """What a user runs by hand: `--entrypoint vllm IMAGE serve MODEL ...` (NVIDIA's image needs it)."""
    extra: list[str] = kwargs.pop("args", [])  # type: ignore[assignment]
    client.containers.run(
        image,
        ["serve", GEMMA, "--served-model-name", "by-hand", "--max-model-len", "4096", *extra],
        entrypoint=entrypoint or ["vllm"],
        name=name,
        detach=True,
        environment={**SIM_ENV, "HF_TOKEN": SECRET},
        **kwargs,
    )


async def _until_healthy(handle: ContainerHandle, url: str, wait_s: float = 30) -> tuple[Frame, Session]:
    frames: list[Frame] = []
    got = asyncio.Event()

    def emit(frame: Frame) -> None:
        frames.append(frame)
        startup_read = frame.startup is not None and frame.startup.ready  # the log lags the server a little
        if frame.server.state == "healthy" and startup_read and frame.container is not None:
            got.set()

    options = LiveOptions(
        interval=0.2,
        gpu="none",
        extra_sources=(lambda s: container_loop(handle, s.observe, 0.2, tail=2000),),
    )
    feed = live_feed(TargetInfo("attached", "container"), url, options)
    task = asyncio.create_task(feed.run(emit))
    try:
        await asyncio.wait_for(got.wait(), wait_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return frames[-1], feed.session


async def test_attach_reads_port_model_and_args_and_follows_the_log(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    start_nvidia_style(docker_client, sim_image, name, ECHO_TOKEN, ports={"8000/tcp": ("127.0.0.1",)})
    port = wait_for(
        lambda: docker_client.api.inspect_container(name)["NetworkSettings"]["Ports"].get("8000/tcp")
    )
    assert port
    handle = await asyncio.to_thread(attach, name)
    host_port = docker_client.api.inspect_container(name)["NetworkSettings"]["Ports"]["8000/tcp"][0][
        "HostPort"
    ]
    assert handle.url == f"http://127.0.0.1:{host_port}"
    assert (handle.model, handle.served_model_name) == (GEMMA, "by-hand")
    assert handle.args == ("--served-model-name", "by-hand", "--max-model-len", "4096")
    assert not handle.launched
    frame, session = await _until_healthy(handle, handle.url)
    assert frame.container is not None and frame.container.state == "running"
    # attached mid-startup or after it: the startup is read back from the container's own log
    startup = session.startup
    assert startup is not None and startup.ready and startup.max_concurrency_tokens == 4096
    logs = [e.text for e in session.logs]
    assert "token ***" in logs
    assert SECRET not in repr(logs) + repr(session.events) + repr(handle)
    # an attached container is never stopped or removed
    assert handle.stop_and_remove() is False
    assert docker_client.containers.get(name).status == "running"


async def test_attach_to_host_networking_uses_the_port_on_the_command_line(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    port = free_port()
    start_nvidia_style(docker_client, sim_image, name, network_mode="host", args=["--port", str(port)])
    handle = await asyncio.to_thread(attach, name)
    assert handle.url == f"http://127.0.0.1:{port}"
    frame, _session = await _until_healthy(handle, handle.url)
    assert frame.server.state == "healthy"


def test_watch_attach_headless_leaves_the_container_running(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    start_nvidia_style(docker_client, sim_image, name, ports={"8000/tcp": ("127.0.0.1",)})
    wait_healthy(docker_client, name)
    proc = subprocess.run(
        [*SPARKTOP, "watch", f"docker:{name}", "--headless", "--count", "3", "--interval", "0.3"],
        capture_output=True,
        text=True,
        env=sparktop_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    live = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    assert len(live) == 3 and "container=running" in live[-1] and "state=healthy" in live[-1]
    assert docker_client.containers.get(name).status == "running"


def test_a_fleet_of_a_container_and_a_url_each_line_its_own(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    """``watch docker:NAME URL``: the container attached (and left running), the URL scraped, one
    line per server and scrape, each tagged; the container's lines carry its Docker state."""
    name = new_name(names)
    start_nvidia_style(docker_client, sim_image, name, ports={"8000/tcp": ("127.0.0.1",)})
    wait_healthy(docker_client, name)
    other = SimServer(SimConfig(startup="instant", seed=5)).start_in_thread()
    try:
        other.wait_ready(10)
        proc = subprocess.run(
            [
                *SPARKTOP,
                "watch",
                f"docker:{name}",
                other.url,
                "--headless",
                "--count",
                "8",
                "--interval",
                "0.3",
            ],
            capture_output=True,
            text=True,
            env=sparktop_env(),
            timeout=90,
            check=False,
        )
    finally:
        other.stop()
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    mine = [line for line in lines if line.startswith(f"target=docker:{name} ")]
    theirs = [line for line in lines if line.startswith(f"target={other.url} ")]
    assert mine and theirs and len(mine) + len(theirs) == 8
    assert (
        "container=running" in mine[-1] and "state=healthy" in mine[-1]
    )  # its stats come after a first scrape
    assert not any("container=" in line for line in theirs)
    assert docker_client.containers.get(name).status == "running"


def test_attach_errors_name_the_problem_and_the_way_out(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    with pytest.raises(ContainerError) as caught:
        attach("sparktop-test-no-such-container")
    assert "docker ps" in caught.value.hint
    name = new_name(names)
    docker_client.containers.create(sim_image, ["--model", GEMMA], name=name)
    with pytest.raises(ContainerError, match="is not running") as caught:
        attach(name)
    assert f"docker start {name}" in caught.value.hint
    proc = subprocess.run(
        [*SPARKTOP, "watch", "docker:sparktop-test-no-such-container", "--headless"],
        capture_output=True,
        text=True,
        env=sparktop_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "sparktop: error: no container named sparktop-test-no-such-container\nhint: "
    )
