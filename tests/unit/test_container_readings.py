"""What sparktop reads from Docker's answers (inspect and stats JSON as the engine sends them), and
what it asks Docker for, without an engine."""

from __future__ import annotations

from typing import Any

import pytest

from sparktop.container.lifecycle import (
    LAUNCHED_LABEL,
    ContainerHandle,
    cpu_percent,
    launch_kwargs,
    memory_use,
    missing_env,
    parse_timestamp,
    published_url,
    run_state,
    secret_values,
)
from sparktop.container.profile import Profile, VllmCommand, parse_docker_run
from sparktop.model import Unknown, is_known

# Shapes of GET /containers/{id}/stats?stream=false&one-shot=true from a cgroup v1 engine (20.10)...
V1_STATS = {
    "read": "2026-05-01T10:00:01.000000000Z",
    "cpu_stats": {
        "cpu_usage": {"total_usage": 2_400_000_000, "percpu_usage": [1_200_000_000, 1_200_000_000]},
        "system_cpu_usage": 20_000_000_000,
        "online_cpus": 2,
    },
    "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "memory_stats": {
        "usage": 300 * 2**20,
        "limit": 200 * 2**20 * 10,
        "stats": {"total_inactive_file": 100 * 2**20, "inactive_file": 100 * 2**20, "cache": 120 * 2**20},
    },
}
# ...and from a cgroup v2 engine, without one-shot (precpu filled in by the engine)
V2_STATS = {
    "cpu_stats": {
        "cpu_usage": {"total_usage": 5_000_000_000},
        "system_cpu_usage": 40_000_000_000,
        "online_cpus": 4,
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 4_000_000_000},
        "system_cpu_usage": 36_000_000_000,
        "online_cpus": 4,
    },
    "memory_stats": {
        "usage": 50 * 2**20,
        "limit": 8 * 2**30,
        "stats": {"inactive_file": 10 * 2**20, "file": 12 * 2**20},
    },
}
STOPPED_STATS: dict[str, Any] = {
    "cpu_stats": {"cpu_usage": {"total_usage": 0}},
    "precpu_stats": {},
    "memory_stats": {},
}


def test_cpu_percent_from_counter_deltas_as_docker_stats() -> None:
    first = V1_STATS
    second = {
        **V1_STATS,
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_400_000_000, "percpu_usage": [1, 1]},
            "system_cpu_usage": 22_000_000_000,
            "online_cpus": 2,
        },
    }
    # 1 s of CPU over 2 s of system time (both cores counted) on 2 cores = 100% of one core
    assert cpu_percent(first, second) == pytest.approx(100.0)
    assert isinstance(cpu_percent(None, V1_STATS), Unknown)  # one-shot: nothing to compare with yet
    assert cpu_percent(None, V2_STATS) == pytest.approx(1e9 / 4e9 * 4 * 100)  # the engine's precpu
    assert isinstance(cpu_percent(V1_STATS, V1_STATS), Unknown)  # no time passed
    assert isinstance(cpu_percent(None, STOPPED_STATS), Unknown)


def test_memory_is_usage_minus_inactive_file_cache() -> None:
    assert memory_use(V1_STATS) == (200 * 2**20, 2000 * 2**20)
    assert memory_use(V2_STATS) == (40 * 2**20, 8 * 2**30)
    used, limit = memory_use(STOPPED_STATS)
    assert isinstance(used, Unknown) and isinstance(limit, Unknown)
    odd = {"memory_stats": {"usage": 10, "stats": {"inactive_file": 50}}}
    assert memory_use(odd)[0] == 10  # a cache larger than usage is not subtracted


def inspect(state: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"Id": "c0ffee" * 10, "Name": "/vllm-bench", "State": state, "Config": {"Image": "img"}, **more}


def test_run_state_from_inspect() -> None:
    running = run_state(
        inspect(
            {"Status": "running", "ExitCode": 0, "OOMKilled": False, "StartedAt": "2026-05-01T10:00:00.5Z"}
        )
    )
    assert running.running and running.exit_code is None and running.reason() == ""
    assert running.started_at == pytest.approx(1777629600.5)
    oom = run_state(inspect({"Status": "exited", "ExitCode": 137, "OOMKilled": True}))
    assert not oom.running and oom.reason() == "killed for running out of memory (OOMKilled, exit code 137)"
    killed = run_state(inspect({"Status": "exited", "ExitCode": 137, "OOMKilled": False}))
    assert killed.reason() == "exited with code 137, killed by signal 9"
    failed = run_state(
        inspect({"Status": "exited", "ExitCode": 127, "Error": "exec: \x1b[31mvllm\x1b[0m: not found"})
    )
    assert failed.reason() == "exited with code 127, exec: vllm: not found"
    created = run_state(inspect({"Status": "created", "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z"}))
    assert created.started_at is None and created.exit_code is None
    assert run_state(inspect({"Status": "weird"})).status == "dead"


def test_docker_timestamps() -> None:
    assert parse_timestamp("2026-05-01T10:00:00Z") == 1777629600.0
    assert parse_timestamp("2026-05-01T10:00:00.123456789Z") == pytest.approx(1777629600.123456789)
    assert parse_timestamp("2026-05-01T12:00:00.5+02:00") == pytest.approx(1777629600.5)
    assert parse_timestamp("0001-01-01T00:00:00Z") is None
    assert parse_timestamp("garbage") is None and parse_timestamp("") is None


@pytest.mark.parametrize(
    ("attrs", "port", "url"),
    [
        ({"HostConfig": {"NetworkMode": "host"}}, 8001, "http://127.0.0.1:8001"),
        (
            {
                "NetworkSettings": {
                    "Ports": {
                        "8000/tcp": [
                            {"HostIp": "0.0.0.0", "HostPort": "32768"},
                            {"HostIp": "::", "HostPort": "32768"},
                        ]
                    }
                }
            },
            8000,
            "http://127.0.0.1:32768",
        ),
        (
            {"NetworkSettings": {"Ports": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9"}]}}},
            8000,
            "http://127.0.0.1:9",
        ),
        (
            {"NetworkSettings": {"Ports": {"8000/tcp": [{"HostIp": "10.1.2.3", "HostPort": "80"}]}}},
            8000,
            "http://10.1.2.3:80",
        ),
        (
            {"NetworkSettings": {"Ports": {"8000/tcp": [{"HostIp": "fd00::1", "HostPort": "80"}]}}},
            8000,
            "http://[fd00::1]:80",
        ),
        ({"NetworkSettings": {"Ports": {"8000/tcp": None}}}, 8000, None),
        ({"NetworkSettings": {"Ports": {"9000/tcp": [{"HostIp": "", "HostPort": "9000"}]}}}, 8000, None),
    ],
)
def test_where_vllm_answers(attrs: dict[str, Any], port: int, url: str | None) -> None:
    assert published_url(attrs, port) == url


REFERENCE = (
    "docker run -d --name vllm-bench --gpus all --ipc=host -e HF_TOKEN -e MISSING "
    "-v ~/hf:/root/.cache/huggingface -p 8000:8000 -p 127.0.0.1::9000/udp --shm-size 16g --memory 100g "
    "--ulimit memlock=-1 --ulimit stack=67108864:134217728 --restart on-failure:3 "
    "vllm/vllm-openai:v0.20.1 --model m --served-model-name s --port 8000"
)


def test_what_sparktop_asks_docker_for() -> None:
    profile = parse_docker_run(REFERENCE)
    kw = launch_kwargs(profile, {"HF_TOKEN": "hf_x", "UNRELATED": "1"})
    assert kw["image"] == "vllm/vllm-openai:v0.20.1"
    assert kw["command"] == ["--model", "m", "--served-model-name", "s", "--port", "8000"]
    assert kw["environment"] == {"HF_TOKEN": "hf_x"}
    assert missing_env(profile, {"HF_TOKEN": "x"}) == ["MISSING"]
    assert kw["labels"] == {LAUNCHED_LABEL: "1", "org.sparktop.profile": "s"}
    assert kw["name"] == "vllm-bench" and kw["detach"] is True
    assert kw["volumes"][0].endswith("/hf:/root/.cache/huggingface") and not kw["volumes"][0].startswith("~")
    assert kw["ports"] == {"8000/tcp": 8000, "9000/udp": ("127.0.0.1",)}
    (request,) = kw["device_requests"]
    assert (request["Count"], request["Capabilities"]) == (-1, [["gpu"]])
    assert (kw["ipc_mode"], kw["shm_size"], kw["mem_limit"]) == ("host", "16g", "100g")
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in kw["ulimits"]] == [
        ("memlock", -1, -1),
        ("stack", 67108864, 134217728),
    ]
    assert kw["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert "entrypoint" not in kw and "network_mode" not in kw and "auto_remove" not in kw


def test_host_networking_entrypoint_and_gpu_devices() -> None:
    profile = Profile(
        image="nvcr.io/nvidia/vllm:26.02-py3",
        model="m",
        model_arg="positional",
        command=("serve",),
        entrypoint="vllm",
        network="host",
        ports=("8000:8000",),
        gpus='"device=0,1"',
    )
    kw = launch_kwargs(profile, {})
    assert kw["entrypoint"] == ["vllm"] and kw["command"] == ["serve", "m"]
    assert kw["network_mode"] == "host" and "ports" not in kw
    (request,) = kw["device_requests"]
    assert request["DeviceIDs"] == ["0", "1"] and request["Capabilities"] == [["gpu"]]
    assert launch_kwargs(Profile(image="i", model="m", gpus="2"), {})["device_requests"][0]["Count"] == 2
    assert launch_kwargs(Profile(image="i", model="m", network="lab-net"), {})["network"] == "lab-net"


def test_secret_values_are_masked_in_log_lines() -> None:
    secrets = secret_values(
        {
            "HF_TOKEN": "hf_abcdef",
            "VLLM_API_KEY": "sk-123456",
            "MY_PASSWORD": "pw-secret",
            "PATH": "/usr/bin",
            "SHORT_KEY": "ab",
        }
    )
    assert set(secrets) == {"hf_abcdef", "sk-123456", "pw-secret"}
    handle = ContainerHandle(
        client=None,  # masking needs no engine
        attrs=inspect({"Status": "running"}),
        url="http://127.0.0.1:1",
        command=VllmCommand("m", None, (), 8000, None),
        launched=False,
        secrets=secrets,
    )
    assert handle.mask("token hf_abcdef and key sk-123456 in /usr/bin") == "token *** and key *** in /usr/bin"
    assert handle.name == "vllm-bench" and "hf_abcdef" not in repr(handle)


def test_an_attached_container_is_never_stopped() -> None:
    handle = ContainerHandle(
        client=None,  # refusing needs no engine
        attrs=inspect({"Status": "running"}),
        url="http://127.0.0.1:1",
        command=VllmCommand("m", None, (), 8000, None),
        launched=False,
    )
    assert handle.stop_and_remove() is False


def test_stopped_stats_carry_the_reason() -> None:
    handle = ContainerHandle(
        client=None,
        attrs=inspect({"Status": "running"}),
        url="http://127.0.0.1:1",
        command=VllmCommand("m", None, (), 8000, None),
        launched=True,
    )
    stats = handle.stopped_stats(
        run_state(inspect({"Status": "exited", "ExitCode": 137, "OOMKilled": True})), 5.0
    )
    assert (stats.t, stats.state, stats.exit_code, stats.oom_killed) == (5.0, "exited", 137, True)
    assert "OOMKilled" in stats.error and not is_known(stats.cpu_pct) and not is_known(stats.mem_bytes)
