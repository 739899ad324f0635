"""`sparktop watch PROFILE.toml` as a user runs it: a real process, a real Docker engine."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import docker
import pytest

from sparktop.container.lifecycle import launch
from sparktop.model import ContainerStats, ScrapeResult, TargetInfo
from sparktop.recording.reader import Recording
from sparktop.session.core import Observation, Session
from tests.integration.container_helpers import (
    SIM_ENV,
    SPARKTOP,
    docker_client,
    exists,
    names,
    new_name,
    sim_image,
    sim_profile,
    sparktop_env,
    wait_for,
    wait_healthy,
    write_profile,
)
from tests.support.recordings import secrets_in_recording

__all__ = ["docker_client", "names", "sim_image"]  # fixtures

pytestmark = pytest.mark.docker
STARTUP_PHASES = [
    "engine start",
    "weights load",
    "torch.compile",
    "memory profiling and KV cache",
    "CUDA graphs",
    "engine warm-up",
    "API server",
]
STARTED = re.compile(r"^# \S+ \+[\d.]+s (.+) started$")


def run(
    *args: str, timeout: float = 60, extra_env: dict[str, str] | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*SPARKTOP, *args],
            capture_output=True,
            text=True,
            env=sparktop_env(**env, **(extra_env or {})),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # say where it hung
        raise AssertionError(
            f"sparktop {' '.join(args)} still running after {timeout} s\n"
            f"stdout:\n{_text(exc.stdout)}\nstderr:\n{_text(exc.stderr)}"
        ) from None


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def start(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SPARKTOP, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sparktop_env(**env),
    )


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> list[str]:
    """Lines from ``proc`` up to and including the first that matches ``pattern``."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(lines))


def test_launch_prints_phases_then_live_lines_and_removes_the_container(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    proc = run("watch", str(path), "--headless", "--count", "2", "--interval", "0.3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"# sparktop watch {path}: launched container {name}")
    started = [m.group(1) for line in lines if (m := STARTED.match(line))]
    assert started == STARTUP_PHASES
    assert any(
        re.match(r"^# \S+ \+[\d.]+s weights load finished in [\d.]+ s \(48\.00 GiB\)$", x) for x in lines
    )
    assert any(re.match(r"^# \S+ \+[\d.]+s max concurrency [\d.]+x at 8,192 tokens$", x) for x in lines)
    ready = [i for i, line in enumerate(lines) if line.startswith("# ready after")]
    assert len(ready) == 1 and "serving gemma-sim" in lines[ready[0]]
    live = [line for line in lines if not line.startswith("#")]
    assert len(live) == 2
    for line in live:
        assert "state=healthy" in line and "container=running" in line and "ctr_mem=" in line
    assert f"stopped and removed container {name}" in proc.stderr
    assert not exists(docker_client, name)


def test_keep_leaves_the_container_and_attaching_never_touches_it(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    proc = run("watch", str(path), "--headless", "--count", "1", "--interval", "0.3", "--keep")
    assert proc.returncode == 0, proc.stderr
    assert "--keep" in proc.stderr and f"docker rm -f {name}" in proc.stderr
    assert docker_client.containers.get(name).status == "running"

    attached = run("watch", f"docker:{name}", "--headless", "--count", "2", "--interval", "0.3")
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout.startswith(f"# sparktop watch docker:{name}:")
    lines = attached.stdout.splitlines()
    # the startup is read back from its log before the first scrape, so it comes first
    ready = next(i for i, line in enumerate(lines) if line.startswith("# ") and "ready after" in line)
    assert ready < next(i for i, line in enumerate(lines) if "state=" in line), lines
    assert sum("state=healthy" in line for line in lines) == 2
    assert "removed" not in attached.stderr
    assert docker_client.containers.get(name).status == "running"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_tears_down_what_was_launched(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path, sig: signal.Signals
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    proc = start("watch", str(path), "--headless", "--interval", "0.3")
    try:
        read_until(proc, r"state=healthy")
        assert exists(docker_client, name)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"stopped and removed container {name}" in err
    assert not exists(docker_client, name)


def test_signal_during_startup_tears_down_too(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    proc = start("watch", str(path), "--headless", SPARKTOP_SIM_STARTUP="realistic", SPARKTOP_SIM_SPEED="6")
    try:
        read_until(proc, r"weights load started")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert not exists(docker_client, name)


def test_fatal_startup_error_exits_1_with_the_line_and_a_hint(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    secret = "hf_neverShownAnywhere42"
    # the container prints its token as it exits: the last log lines shown must be masked
    script = 'vllm serve "$0" "$@"; code=$?; echo "token was $HF_TOKEN"; exit $code'
    path = write_profile(
        tmp_path,
        replace(
            sim_profile(sim_image, name), entrypoint="/bin/sh", command=("-c", script), model_arg="positional"
        ),
    )
    proc = run("watch", str(path), "--headless", SPARKTOP_SIM_FAIL_STARTUP="kv", HF_TOKEN=secret)
    assert proc.returncode == 1
    err = proc.stderr
    assert (
        "sparktop: error: ValueError: To serve at least one request with the model's max seq len (8192)"
        in err
    )
    assert re.search(r"hint: lower --max-model-len to \d+ or less", err)
    assert "last log lines of the container (exit code 1):" in err
    assert "Engine core initialization failed" in err
    assert "token was ***" in err
    assert secret not in proc.stdout + err
    assert "memory profiling and KV cache failed" in proc.stdout
    assert not exists(docker_client, name)


@pytest.mark.parametrize(
    ("env", "model", "line", "hint"),
    [
        (
            {"SPARKTOP_SIM_HOST_USED_GIB": "60"},
            None,
            "ValueError: Free memory on device (",
            "hint: lower --gpu-memory-utilization, or drop the page cache first",
        ),
        (
            {"SPARKTOP_SIM_VLLM_VERSION": "0.15.1"},
            "nvidia/NVIDIA-Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16",
            "Model architectures ['NemotronHForCausalLM'] are not supported for now",
            "hint: this vLLM image does not know the model's architecture: use a newer image",
        ),
    ],
    ids=["free-memory", "architecture"],
)
def test_other_known_startup_failures_exit_1_with_their_hint(
    docker_client: docker.DockerClient,
    sim_image: str,
    names: list[str],
    tmp_path: Path,
    env: dict[str, str],
    model: str | None,
    line: str,
    hint: str,
) -> None:
    name = new_name(names)
    profile = sim_profile(sim_image, name)
    if model is not None:
        profile = replace(profile, model=model)
    proc = run("watch", str(write_profile(tmp_path, profile)), "--headless", extra_env=env)
    assert proc.returncode == 1
    first = proc.stderr.split("sparktop: error: ", 1)[1].splitlines()
    assert line in first[0]
    assert first[1].startswith(hint)
    assert not exists(docker_client, name)


def test_oom_kill_during_startup_exits_1_with_a_memory_hint(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name, memory="200m"))
    proc = run("watch", str(path), "--headless", SPARKTOP_SIM_ALLOC_MIB="1000")
    assert proc.returncode == 1
    assert (
        f"sparktop: error: container {name} killed for running out of memory (OOMKilled, exit code 137)"
        in (proc.stderr)
    )
    assert "hint: the container ran out of memory: raise its memory limit" in proc.stderr
    assert not exists(docker_client, name)


def test_crash_mid_run_shows_the_container_dead_and_sparktop_keeps_running(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    name = new_name(names)
    path = write_profile(tmp_path, sim_profile(sim_image, name))
    proc = start("watch", str(path), "--headless", "--interval", "0.3", SPARKTOP_SIM_CRASH_AFTER="1")
    try:
        read_until(proc, r"state=healthy")
        died = read_until(proc, rf"container {name} exited with code 1$")
        assert any("engine died: EngineCore encountered a fatal error" in line for line in died)
        rest = read_until(proc, r"state=unreachable container=exited\(1\)")
        details = [line for line in rest if line.startswith("#   | ")]
        assert any("torch.AcceleratorError: CUDA error" in line for line in details)
        assert not any('"GET /metrics' in line for line in details)  # polling noise left out
        read_until(proc, r"state=unreachable container=exited\(1\)")  # and it goes on
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _out, _err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert wait_for(lambda: not exists(docker_client, name), 10)


def test_missing_image_exits_1_with_the_pull_command(
    sim_image: str, names: list[str], tmp_path: Path
) -> None:
    path = write_profile(
        tmp_path, replace(sim_profile(sim_image, new_name(names)), image="sparktop-test/absent:2")
    )
    proc = run("watch", str(path), "--headless")
    assert proc.returncode == 1
    assert "image sparktop-test/absent:2 is not present locally" in proc.stderr
    assert "hint: pull it first: docker pull sparktop-test/absent:2" in proc.stderr


def recorded(path: Path) -> tuple[dict[str, Any], list[object]]:
    with Recording.open(path) as rec:
        return dict(rec.meta), list(rec.observations())


def test_a_launch_is_recorded_with_its_profile_and_without_secrets(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    secret = "hf_EnVsEcReT654321"
    name = new_name(names)
    profile = sim_profile(sim_image, name)
    path = write_profile(tmp_path, profile)
    file = tmp_path / "launched.sparktop"
    proc = run(
        "watch", str(path), "--headless", "--count", "2", "--interval", "0.3", "--record", str(file),
        HF_TOKEN=secret,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert secrets_in_recording(file, secret) == []  # every row decoded: they are compressed
    meta, observations = recorded(file)
    assert meta["profile"]["name"] == "sim-gemma" and meta["profile"]["image"] == sim_image
    assert meta["profile"]["args"] == ["--max-model-len", "8192"]
    assert meta["profile"]["env"] == list(profile.env)  # names only
    assert meta["target"]["kind"] == "container" and meta["target"]["model"] == "gemma-sim"
    assert meta["simulated"] is True  # the server says it is the simulated Spark, whatever it poses as
    assert sum(isinstance(o, ScrapeResult) and o.state == "healthy" for o in observations) >= 2
    assert any(isinstance(o, ContainerStats) for o in observations)
    replayed = Session(TargetInfo("replay", "container"))
    for observation in observations:
        replayed.observe(cast("Observation", observation))
    startup = replayed.startup  # the log lines were recorded: the phases come back from them
    assert startup is not None and startup.ready and len(startup.phases) == len(STARTUP_PHASES)


def test_an_attached_container_is_recorded_when_asked_without_its_secret_arguments(
    docker_client: docker.DockerClient, sim_image: str, names: list[str], tmp_path: Path
) -> None:
    """A container started by hand may carry ``--api-key`` on its command line (a profile may not)."""
    secret = "sk-ArGsEcReT123456"
    name = new_name(names)
    profile = sim_profile(sim_image, name, args=("--max-model-len", "8192", "--api-key", secret))
    launch(profile, SIM_ENV, client=docker_client)
    wait_healthy(docker_client, name)
    directory = tmp_path / "recordings"
    attached = run(
        "watch", f"docker:{name}", "--headless", "--count", "2", "--interval", "0.3",
        "--recordings-dir", str(directory), "--record",
    )  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    (file,) = directory.iterdir()
    assert file.name.endswith("_gemma-sim_watch.sparktop")
    assert secrets_in_recording(file, secret) == []  # every row decoded: they are compressed
    meta, observations = recorded(file)
    assert meta["profile"]["source"] == "attached container" and meta["profile"]["name"] == name
    assert meta["profile"]["args"][-2:] == ["--api-key", "[redacted]"]
    assert sum(isinstance(o, ScrapeResult) and o.state == "healthy" for o in observations) >= 2

    plain = run(
        "watch", f"docker:{name}", "--headless", "--count", "1", "--interval", "0.3",
        "--recordings-dir", str(tmp_path / "none"),
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "none").exists()  # watch records only when asked (record_watch is off)
