"""Launching serving profiles on a real Docker engine: phases, health, live figures, failures, teardown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace

import docker
import httpx
import pytest

from sparktop.container.lifecycle import NO_GPU_HINT, ContainerError, ContainerHandle, launch
from sparktop.container.phases import PHASES
from sparktop.container.profile import docker_run_command, to_toml
from sparktop.model import Frame, TargetInfo, is_known
from sparktop.session.feeds import LiveFeed
from sparktop.session.live import LiveOptions, live_feed
from sparktop.session.sources import OOM_HINT, container_loop
from tests.integration.container_helpers import (
    SIM_ENV,
    docker_client,
    exists,
    names,
    new_name,
    sim_image,
    sim_profile,
)

__all__ = ["docker_client", "names", "sim_image"]  # fixtures

pytestmark = pytest.mark.docker
STARTUP_ORDER = ["engine", "weights", "compile", "kv_cache", "graphs", "warmup", "api"]


class Watcher:
    """Runs a live feed and waits for frames that satisfy a condition."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(feed.run(self._emit))

    def _emit(self, frame: Frame) -> None:
        self.frames.append(frame)
        self._changed.set()

    async def until(self, predicate: Callable[[Frame], bool], wait_s: float = 30.0) -> Frame:
        deadline = time.monotonic() + wait_s
        while True:
            if self.frames and predicate(self.frames[-1]):
                return self.frames[-1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = self.frames[-1] if self.frames else None
                raise AssertionError(f"condition not met in {wait_s} s; last frame: {last}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def ready(frame: Frame) -> bool:
    return frame.startup is not None and frame.startup.ready


def watch(handle: ContainerHandle, *, teardown: bool = True) -> Watcher:
    async def close() -> None:
        if teardown:
            await asyncio.to_thread(handle.stop_and_remove, 2.0)

    options = LiveOptions(
        interval=0.2,
        gpu="none",
        extra_sources=(lambda s: container_loop(handle, s.observe, 0.2),),
        on_close=(close,),
    )
    return Watcher(live_feed(TargetInfo(handle.name, "container"), handle.url, options))


async def test_launch_shows_startup_phases_in_order_then_health_and_live_figures(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    handle = await asyncio.to_thread(launch, sim_profile(sim_image, name), dict(SIM_ENV))
    assert handle.launched and handle.name == name and handle.url.startswith("http://127.0.0.1:")
    watcher = watch(handle)
    try:
        # the log reaches the session a moment after the server answers: wait for both
        frame = await watcher.until(
            lambda f: f.server.state == "healthy" and f.figures is not None and ready(f)
        )
        startup = frame.startup
        assert startup is not None and startup.ready and startup.fatal is None
        assert [p.name for p in startup.phases] == STARTUP_ORDER
        assert all(p.ended is not None and p.ended >= p.started for p in startup.phases)
        starts = [p.started for p in startup.phases]
        assert starts == sorted(starts)
        assert startup.kv_cache_tokens is not None and startup.kv_cache_tokens > 0
        assert startup.max_concurrency is not None and startup.max_concurrency_tokens == 8192
        finished = [e.data["phase"] for e in frame.events if e.data.get("status") == "finished"]
        assert finished == STARTUP_ORDER
        progress = [
            x
            for e in frame.events
            if e.data.get("phase") == "weights" and isinstance(x := e.data.get("percent"), float)
        ]
        assert progress and progress == sorted(progress) and progress[-1] == 100
        assert set(STARTUP_ORDER) <= set(PHASES)

        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                handle.url + "/v1/completions", json={"model": "gemma-sim", "prompt": "hi", "max_tokens": 12}
            )
        assert answer.status_code == 200
        frame = await watcher.until(
            lambda f: (
                f.figures is not None
                and is_known(f.figures.generation_tps)
                and f.figures.generation_tps > 0
                and f.container is not None
                and is_known(f.container.cpu_pct)
            )
        )
        assert frame.target.model == "gemma-sim"  # what /v1/models said
        c = frame.container
        assert c is not None and c.state == "running" and c.name == name
        assert is_known(c.mem_bytes) and c.mem_bytes > 1_000_000
        assert is_known(c.mem_limit_bytes) and c.mem_limit_bytes >= c.mem_bytes
    finally:
        await watcher.close()
    assert not exists(docker_client, name)  # closing the session removed what it launched


async def test_oom_kill_is_reported_with_exit_code_hint_and_last_lines(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    profile = sim_profile(sim_image, name, memory="200m")
    handle = await asyncio.to_thread(launch, profile, {**SIM_ENV, "SPARKTOP_SIM_ALLOC_MIB": "1000"})
    watcher = watch(handle)
    try:
        frame = await watcher.until(lambda f: f.container is not None and f.container.state == "exited")
        container = frame.container
        assert container is not None and container.oom_killed and container.exit_code == 137
        assert "OOMKilled" in container.error
        deaths = [e for e in frame.events if e.kind == "error" and e.data.get("oom_killed") is True]
        assert len(deaths) == 1
        death = deaths[0]
        assert death.data["exit_code"] == 137 and death.data["hint"] == OOM_HINT
        assert "non-default args:" in str(death.data["last_lines"])
        assert frame.startup is not None and not frame.startup.ready
        # the session goes on after the container died
        later = await watcher.until(lambda f: f.t > frame.t and f.server.state == "unreachable")
        assert later.container is not None and later.container.oom_killed
    finally:
        await watcher.close()
    assert not exists(docker_client, name)


async def test_missing_image_is_an_error_with_the_pull_command_and_nothing_is_pulled(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    absent = "sparktop-test/not-here:1.0"
    since = int(time.time()) - 1
    with pytest.raises(ContainerError) as caught:
        await asyncio.to_thread(launch, replace(sim_profile(sim_image, name), image=absent), dict(SIM_ENV))
    assert "not present locally" in str(caught.value)
    assert f"docker pull {absent}" in caught.value.hint
    assert not exists(docker_client, name)
    events = docker_client.events(since=since, until=int(time.time()) + 1, decode=True)
    actions = [(e.get("Type"), e.get("Action")) for e in events]
    assert ("image", "pull") not in actions
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(absent)


async def test_pull_when_asked_reports_the_registry_error(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    # a registry on a closed loopback port: the pull is attempted and fails at once, nothing leaves
    absent = "127.0.0.1:9/sparktop-test/none:1"
    with pytest.raises(ContainerError) as caught:
        await asyncio.to_thread(
            launch, replace(sim_profile(sim_image, new_name(names)), image=absent), {}, pull=True
        )
    assert f"could not pull {absent}" in str(caught.value)


async def test_gpu_request_without_gpu_support_is_refused_and_nothing_is_left(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    with pytest.raises(ContainerError) as caught:
        await asyncio.to_thread(launch, sim_profile(sim_image, name, gpus="all"), dict(SIM_ENV))
    assert caught.value.hint == NO_GPU_HINT
    assert not exists(docker_client, name)


async def test_a_container_with_the_name_is_left_alone(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    other = docker_client.containers.create(sim_image, ["--model", "x"], name=name)
    with pytest.raises(ContainerError) as caught:
        await asyncio.to_thread(launch, sim_profile(sim_image, name), dict(SIM_ENV))
    assert f"sparktop watch docker:{name}" in caught.value.hint
    other.reload()
    assert other.status == "created" and other.id == docker_client.api.inspect_container(name)["Id"]


async def test_unpublished_port_is_refused_before_anything_starts(sim_image: str, names: list[str]) -> None:
    with pytest.raises(ContainerError, match="not published"):
        await asyncio.to_thread(launch, sim_profile(sim_image, new_name(names), ports=()), dict(SIM_ENV))


async def test_hf_token_reaches_the_container_but_no_event_log_or_profile_output(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    secret = "hf_sparktopTestSecret0123456789"
    name = new_name(names)
    # the container prints its token before starting vLLM: sparktop must mask it
    profile = sim_profile(
        sim_image,
        name,
        entrypoint="/bin/sh",
        command=("-c", 'echo "token is $HF_TOKEN"; exec vllm serve "$0" "$@"'),
        model_arg="positional",
    )
    assert secret not in to_toml(profile) + docker_run_command(profile)
    handle = await asyncio.to_thread(launch, profile, {**SIM_ENV, "HF_TOKEN": secret})
    env = docker_client.api.inspect_container(name)["Config"]["Env"]
    assert f"HF_TOKEN={secret}" in env  # passed through from the caller's environment
    watcher = watch(handle)
    try:
        frame = await watcher.until(lambda f: f.server.state == "healthy")
        session = watcher.feed.session
        logs = [e.text for e in session.logs]
        assert "token is ***" in logs
        everything = repr(frame) + repr(list(session.logs)) + repr(handle)
        assert secret not in everything
    finally:
        await watcher.close()


async def test_entrypoint_override_runs_nvidia_style(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    profile = replace(
        sim_profile(sim_image, name), entrypoint="vllm", command=("serve",), model_arg="positional"
    )
    handle = await asyncio.to_thread(launch, profile, dict(SIM_ENV))
    attrs = docker_client.api.inspect_container(name)
    assert attrs["Config"]["Entrypoint"] == ["vllm"]
    assert attrs["Config"]["Cmd"][:2] == ["serve", profile.model]
    watcher = watch(handle)
    try:
        frame = await watcher.until(lambda f: f.server.state == "healthy" and ready(f))
        assert frame.startup is not None and frame.startup.fatal is None
    finally:
        await watcher.close()


async def test_a_container_docker_restarts_is_followed_into_its_next_run(
    docker_client: docker.DockerClient, sim_image: str, names: list[str]
) -> None:
    name = new_name(names)
    profile = sim_profile(sim_image, name, restart="on-failure:1")
    handle = await asyncio.to_thread(
        launch, profile, {**SIM_ENV, "SPARKTOP_SIM_CRASH_AFTER": "4", "SPARKTOP_SIM_SPEED": "2"}
    )
    watcher = watch(handle)
    try:
        first = await watcher.until(lambda f: f.startup is not None and f.startup.ready)
        assert first.startup is not None
        first_start = first.startup.phases[0].started
        restarted = await watcher.until(
            lambda f: (
                any(e.data.get("restarted") is True for e in f.events)
                and f.startup is not None
                and f.startup.phases[0].started > first_start + 1.0
            )
        )
        death = next(e for e in restarted.events if e.data.get("restarted") is True)
        assert "EngineDeadError" in str(death.data["last_lines"])
        # the second run crashes too, and on-failure:1 lets it stay dead
        final = await watcher.until(lambda f: f.container is not None and f.container.state == "exited")
        assert final.container is not None and final.container.exit_code == 1
    finally:
        await watcher.close()
