"""Serving profiles: docker run lines <-> profiles <-> TOML, and errors with file, line and hint."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparktop.container.profile import (
    Profile,
    ProfileError,
    docker_run_command,
    load_profile,
    parse_docker_run,
    read_vllm_command,
    to_toml,
)
from sparktop.sim.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]

# The published serving command (shared/reference/spark-benchmarks.md) and its variants.
REFERENCE = """docker run -d --name vllm-bench --gpus all --ipc=host \\
  -v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000 \\
  vllm/vllm-openai:v0.20.1 \\
  --model google/gemma-4-26B-A4B-it --served-model-name gemma-4-26b-a4b-bf16 \\
  --max-model-len 131072 --gpu-memory-utilization 0.95 --kv-cache-dtype fp8 \\
  --limit-mm-per-prompt '{"image":0,"audio":0}' --async-scheduling --no-enable-prefix-caching \\
  --host 0.0.0.0 --port 8000"""
NVFP4 = REFERENCE.replace("--model google/gemma-4-26B-A4B-it", "--model nvidia/Gemma-4-26B-A4B-NVFP4")
NEMOTRON = """docker run -d --name vllm-bench --gpus all --ipc=host \\
  -v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000 \\
  vllm/vllm-openai:v0.20.0 \\
  --model nvidia/NVIDIA-Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16 --served-model-name nemotron \\
  --max-model-len 131072 --gpu-memory-utilization 0.95 --max-num-seqs 256 --max-num-batched-tokens 8192 \\
  --trust-remote-code --reasoning-parser nemotron_v3 --host 0.0.0.0 --port 8000"""
NEMOTRON_FP8 = NEMOTRON.replace("--max-num-seqs 256", "--kv-cache-dtype fp8 --max-num-seqs 256")
V23 = REFERENCE.replace("vllm/vllm-openai:v0.20.1", "vllm/vllm-openai:v0.23.0-aarch64-cu129-ubuntu2404")
MTP = V23.replace(
    "--no-enable-prefix-caching",
    '--no-enable-prefix-caching --speculative-config \'{"method":"mtp","num_speculative_tokens":2}\'',
)
NVIDIA = """docker run -d --name vllm-nv --gpus all --ipc=host \\
  -v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000 -e HF_TOKEN --entrypoint vllm \\
  nvcr.io/nvidia/vllm:26.02-py3 serve nvidia/NVIDIA-Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16 \\
  --trust-remote-code --port 8000"""
CANONICAL = [REFERENCE, NVFP4, NEMOTRON, NEMOTRON_FP8, V23, MTP, NVIDIA]


def tokens(command: str) -> list[str]:
    return shlex.split(command.replace("\\\n", " "))


def test_the_published_command_becomes_this_profile() -> None:
    p = parse_docker_run(REFERENCE)
    assert p == Profile(
        image="vllm/vllm-openai:v0.20.1",
        model="google/gemma-4-26B-A4B-it",
        name="gemma-4-26b-a4b-bf16",
        served_model_name="gemma-4-26b-a4b-bf16",
        args=(
            *["--max-model-len", "131072", "--gpu-memory-utilization", "0.95", "--kv-cache-dtype", "fp8"],
            *("--limit-mm-per-prompt", '{"image":0,"audio":0}', "--async-scheduling"),
            *["--no-enable-prefix-caching", "--host", "0.0.0.0", "--port", "8000"],
        ),
        volumes=("appliance_hf-cache:/root/.cache/huggingface",),
        ports=("8000:8000",),
        gpus="all",
        ipc="host",
        container_name="vllm-bench",
    )
    assert (p.port, p.gpu_memory_utilization, p.publishes(8000), p.publishes(8001)) == (
        8000,
        0.95,
        True,
        False,
    )


@pytest.mark.parametrize(
    "command", CANONICAL, ids=["bf16", "nvfp4", "nemotron", "nemotron-fp8", "v23", "mtp", "nvidia"]
)
def test_published_commands_round_trip(command: str, tmp_path: Path) -> None:
    profile = parse_docker_run(command)
    printed = docker_run_command(profile)
    assert tokens(printed) == tokens(command)  # the same command, word for word
    assert parse_docker_run(printed) == profile
    path = tmp_path / "p.toml"
    path.write_text(to_toml(profile))
    assert load_profile(path) == profile


@pytest.mark.parametrize("key", sorted(PROFILES))
def test_every_simulated_profile_command_round_trips(key: str) -> None:
    command = PROFILES[key].docker_command()
    profile = parse_docker_run(command)
    assert profile.model == PROFILES[key].hf_model and profile.image == PROFILES[key].image
    assert parse_docker_run(docker_run_command(profile)) == profile
    assert tokens(docker_run_command(profile)) == tokens(command)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "sudo docker run --rm -it --ipc host --name=x -p8000:8000 img:1 --model=m --port 8000",
            {"remove": True, "detach": False, "ipc": "host", "container_name": "x", "ports": ("8000:8000",)},
        ),
        (
            "$ docker container run -d --net host img m --port 9000",
            {"network": "host", "model_arg": "positional"},
        ),
        ("docker run -dit img --model m", {"detach": True}),
        (
            "docker run --shm-size 16g --memory 100g --ulimit memlock=-1 --ulimit stack=67108864 "
            "--runtime nvidia --restart unless-stopped img --model m",
            {
                "shm_size": "16g",
                "memory": "100g",
                "ulimits": ("memlock=-1", "stack=67108864"),
                "runtime": "nvidia",
                "restart": "unless-stopped",
            },
        ),
        ("docker run --gpus '\"device=0,1\"' img --model m", {"gpus": '"device=0,1"'}),
        (
            "docker run img vllm serve m --dtype auto  # a comment",
            {"command": ("vllm", "serve"), "args": ("--dtype", "auto")},
        ),
    ],
)
def test_variants_parse_and_round_trip(command: str, expected: dict[str, object]) -> None:
    profile = parse_docker_run(command)
    for key, value in expected.items():
        assert getattr(profile, key) == value, key
    assert parse_docker_run(docker_run_command(profile)) == profile


def test_secret_values_are_dropped_and_only_names_kept() -> None:
    command = (
        "docker run -e HF_TOKEN=hf_abcdefSECRET --env=OTHER_KEY=sk-zzzSECRET -e PLAIN -e HF_TOKEN img "
        "--model m --api-key sk-apiSECRET --hf-token=hf_flagSECRET --port 8000"
    )
    profile = parse_docker_run(command)
    assert profile.env == ("HF_TOKEN", "OTHER_KEY", "PLAIN", "VLLM_API_KEY")
    assert profile.args == ("--port", "8000")
    for text in (repr(profile), to_toml(profile), docker_run_command(profile)):
        assert "SECRET" not in text
    assert " -e HF_TOKEN -e OTHER_KEY -e PLAIN -e VLLM_API_KEY " in docker_run_command(profile).replace(
        "\\\n ", ""
    )


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("docker run --privileged img --model m", "docker option --privileged is not supported"),
        ("docker run --env-file .env img --model m", "docker option --env-file is not supported"),
        ("docker run -d", "no image"),
        ("docker run -d img --port 8000", "no model"),
        ("podman run img --model m", "not a docker run command"),
        ("docker run img --model 'm", "cannot split"),
        ("docker run img --model m --served-model-name a b", "more than one --served-model-name"),
        ("docker run img serve m --model n", "the model is given twice"),
        ("docker run -e 'A B=1' img --model m", "not a variable name"),
        ("docker run img m extra --port 1", "args must start with a --flag"),
    ],
)
def test_commands_that_cannot_be_profiles_say_why(command: str, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_docker_run(command)
    assert problem in caught.value.problem
    assert caught.value.hint
    assert caught.value.path is None


# --------------------------------------------------------------------------------------------------
# profile files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


GOOD = 'image = "vllm/vllm-openai:v0.20.1"\nmodel = "m"\nports = ["8000:8000"]\n'


@pytest.mark.parametrize(
    ("text", "line", "problem", "hint"),
    [
        (GOOD + "imgae = 'x'\n", 4, "unknown key 'imgae'", "did you mean 'image'?"),
        (GOOD + "health_timeout = 'soon'\n", 4, "health_timeout must be a number, not a string", "seconds"),
        (GOOD + "health_timeout = 0\n", 4, "health_timeout must be > 0 seconds", "seconds"),
        ('model = "m"\n', 1, "missing key 'image'", 'image = "vllm/vllm-openai:v0.20.1"'),
        ('image = 3\nmodel = "m"\n', 1, "image must be a string, not an integer", "the image to run"),
        (
            GOOD + "args = ['--port', 8000]\n",
            4,
            "args must be a list of strings, not a list with an integer",
            "args takes",
        ),
        (
            GOOD + "env = [\n  'HF_TOKEN',\n  'NOT VALID',\n]\n",
            6,
            "env: 'NOT VALID' is not a variable name",
            "names only",
        ),
        (
            'image = "i"\nmodel = "m"\nports = [\n  "8000:8000",\n  "eighty",\n]\n',
            5,
            "ports: 'eighty' is not a port mapping",
            "docker -p",
        ),
        (
            GOOD + "volumes = ['cache']\n",
            4,
            "volumes: 'cache' is not SOURCE:/container/path[:ro]",
            "docker -v",
        ),
        (
            GOOD + "args = ['--api-key', 'x']\n",
            4,
            "args: --api-key would store a secret",
            "VLLM_API_KEY under env",
        ),
        (GOOD + "args = ['--model', 'x']\n", 4, "args: --model belongs in model", "model ="),
        (GOOD + "memory = 'lots'\n", 4, "memory: 'lots' is not a size", '"16g"'),
        (GOOD + "model_arg = 'both'\n", 4, "model_arg must be 'flag' or 'positional'", "positional"),
        (
            GOOD + "\n[smoke]\nttft_p99_ms = 'fast'\n",
            6,
            "smoke.ttft_p99_ms must be a number >= 0, not a string",
            "[smoke]",
        ),
        (
            GOOD + '\n[smoke]\nttft_p99_ms = 3000\n"decode per user" = 20.5\n',
            7,
            "smoke.decode per user is not an SLO sparktop knows",
            "decode_per_user_min",
        ),
        (GOOD + "detach = 'yes'\n", 4, "detach must be true or false, not a string", "detach takes"),
        (GOOD + "container_name = 'no spaces'\n", 4, "is not a valid container name", "letters"),
        (GOOD + "image =\n", 4, "not valid TOML", "quotes"),
    ],
)
def test_profile_errors_name_file_line_and_hint(
    tmp_path: Path, text: str, line: int, problem: str, hint: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert problem in error.problem
    assert hint in error.hint
    assert str(error).startswith(f"{path}:{line}: ")


def test_an_env_value_in_a_profile_is_refused_without_being_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + 'env = ["HF_TOKEN=hf_inTheFileSECRET"]\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.line == 4 and "names only" in caught.value.problem
    assert "SECRET" not in str(caught.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path)


def test_defaults_and_optional_settings(tmp_path: Path) -> None:
    path = tmp_path / "my-profile.toml"
    path.write_text(
        GOOD
        + 'workload = "C"\nhealth_timeout = 120\n\n[smoke]\nttft_p99_ms = 3000\ndecode_per_user_min = 20.5\n'
    )
    profile = load_profile(path)
    assert profile.name == "my-profile"  # the file's stem
    assert (profile.workload, profile.health_timeout_s) == ("C", 120.0)
    assert profile.smoke == {"ttft_p99_ms": 3000.0, "decode_per_user_min": 20.5}
    assert (profile.detach, profile.remove, profile.model_arg) == (True, False, "flag")
    again = tmp_path / "again.toml"
    again.write_text(to_toml(profile))
    assert load_profile(again) == profile
    assert tomllib.loads(to_toml(profile))["smoke"] == {"ttft_p99_ms": 3000.0, "decode_per_user_min": 20.5}


@pytest.mark.parametrize("path", sorted((ROOT / "profiles").glob("*.toml")), ids=lambda p: p.stem)
def test_example_profiles_load_and_match_their_command(path: Path) -> None:
    profile = load_profile(path)
    assert profile.env == ("HF_TOKEN",) and profile.gpus == "all" and profile.publishes(profile.port)
    assert parse_docker_run(docker_run_command(profile)) == profile
    known = {p.hf_model for p in PROFILES.values()}
    assert profile.model in known  # the simulated Spark serves every example


def test_there_are_the_published_example_profiles() -> None:
    names = {p.stem for p in (ROOT / "profiles").glob("*.toml")}
    assert {"gemma-4-26b-a4b-bf16", "gemma-4-26b-a4b-nvfp4", "nemotron-3-nano-30b-a3b-bf16"} <= names


# --------------------------------------------------------------------------------------------------
# any profile round-trips

_word = st.text(
    alphabet=st.characters(codec="ascii", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=12
).filter(
    lambda w: w.strip() == w and not w.startswith("-") and w not in ("serve", "vllm", "-m") and "#" not in w
)
_flag = st.from_regex(r"--[a-z][a-z0-9-]{0,12}", fullmatch=True).filter(
    lambda f: f.split("=")[0] not in ("--model", "--served-model-name", "--api-key", "--hf-token")
)
_args = st.lists(st.tuples(_flag, st.lists(_word, max_size=2)), max_size=5).map(
    lambda groups: tuple(x for flag, values in groups for x in (flag, *values))
)
_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
_image = st.from_regex(r"[a-z0-9]+(/[a-z0-9.-]+)?(:[a-z0-9._-]+)?", fullmatch=True)


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    positional = draw(st.booleans())
    return Profile(
        image=draw(_image),
        model=draw(_word),
        name=draw(_word),
        served_model_name=draw(st.none() | _word),
        model_arg="positional" if positional else "flag",
        command=draw(st.sampled_from([(), ("serve",)])) if positional else (),
        args=draw(_args),
        env=tuple(dict.fromkeys(draw(st.lists(_name, max_size=3)))),
        volumes=tuple(
            draw(st.lists(st.sampled_from(["hf:/root/.cache/huggingface", "/data:/data:ro"]), max_size=2))
        ),
        ports=tuple(
            draw(st.lists(st.sampled_from(["8000:8000", "127.0.0.1::8000", "9000:8000/tcp"]), max_size=2))
        ),
        network=draw(st.none() | st.just("host")),
        gpus=draw(st.none() | st.sampled_from(["all", "1"])),
        ipc=draw(st.none() | st.just("host")),
        shm_size=draw(st.none() | st.just("16g")),
        memory=draw(st.none() | st.just("100g")),
        container_name=draw(st.none() | st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)),
        entrypoint=draw(st.none() | st.just("vllm")),
        detach=draw(st.booleans()),
        remove=draw(st.booleans()),
    )


@given(profiles())
def test_any_profile_survives_toml_and_the_docker_command(
    tmp_path_factory: pytest.TempPathFactory, profile: Profile
) -> None:
    path = tmp_path_factory.mktemp("p") / "p.toml"
    path.write_text(to_toml(profile))
    assert load_profile(path) == profile
    parsed = parse_docker_run(docker_run_command(profile))
    assert parsed == replace(profile, name=parsed.name)


def test_a_containers_command_line_tells_model_port_and_args() -> None:
    vllm_openai = read_vllm_command(
        ["vllm", "serve", "--model", "m", "--port", "8001", "--served-model-name", "s"]
    )
    assert (vllm_openai.model, vllm_openai.served_model_name, vllm_openai.port) == ("m", "s", 8001)
    nvidia = read_vllm_command(["vllm", "serve", "nvidia/x", "--host", "127.0.0.1"])
    assert (nvidia.model, nvidia.port, nvidia.host, nvidia.args) == (
        "nvidia/x",
        8000,
        "127.0.0.1",
        ("--host", "127.0.0.1"),
    )
    old = read_vllm_command(["python3", "-m", "vllm.entrypoints.openai.api_server", "--model=m", "--port=9"])
    assert (old.model, old.port) == ("m", 9)
    unknown = read_vllm_command(["/bin/sh", "-c", "sleep 1"])
    assert unknown.model is None and unknown.port == 8000
    assert re.fullmatch(r"\d+", str(unknown.port))
