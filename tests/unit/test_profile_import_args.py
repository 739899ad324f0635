"""`sparktop profile import docker run ...`: the command line given as arguments, as people first try."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from sparktop.cli import main
from sparktop.container.profile import load_profile

COMMAND = (
    "docker run -d --name vllm-bench --gpus all --ipc=host -e HF_TOKEN=hf_inTheCommandSECRET "
    "-v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000 vllm/vllm-openai:v0.20.1 "
    "--model google/gemma-4-26B-A4B-it --served-model-name gemma-4-26b-a4b-bf16 --max-model-len 131072"
)


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPARKTOP_CONFIG", "/nonexistent/sparktop.toml")
    monkeypatch.chdir(tmp_path)  # a word of the command is never a file by chance


def test_the_command_as_arguments_with_options_at_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bf16.toml"
    assert main(["profile", "import", *shlex.split(COMMAND), "-o", str(out)]) == 0
    profile = load_profile(out)
    assert profile.image == "vllm/vllm-openai:v0.20.1" and profile.model == "google/gemma-4-26B-A4B-it"
    assert profile.env == ("HF_TOKEN",) and "SECRET" not in out.read_text()
    assert "--max-model-len" in profile.args
    capsys.readouterr()
    assert main(["profile", "import", *shlex.split(COMMAND), "-o", str(out)]) == 2  # not overwritten
    assert "exists" in capsys.readouterr().err
    assert main(["profile", "import", *shlex.split(COMMAND), "--output", str(out), "--force"]) == 0
    assert main(["profile", "import", "-o", str(out), "--force", *shlex.split(COMMAND)]) == 0


def test_the_command_as_one_quoted_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "import", COMMAND]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# sparktop serving profile") and 'container_name = "vllm-bench"' in out
    assert "SECRET" not in out + err


def test_an_argument_with_spaces_keeps_its_quoting(capsys: pytest.CaptureFixture[str]) -> None:
    words = [*shlex.split(COMMAND), "--chat-template-content-format", "a b"]
    assert main(["profile", "import", *words]) == 0
    assert "a b" in capsys.readouterr().out


def test_a_missing_file_says_the_command_can_be_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "import", "notes.txt"]) == 2
    err = capsys.readouterr().err
    assert "notes.txt: cannot read" in err and "sparktop profile import docker run" in err
    assert main(["profile", "import", "ls", "-l"]) == 2  # several words that are not docker run
    assert "not a docker run command" in capsys.readouterr().err


def test_only_the_trailing_options_are_sparktops() -> None:
    from sparktop.commands.profile import split_import_args

    assert split_import_args(["docker", "run", "img", "-o", "x.toml", "--force"]) == (
        ["docker", "run", "img"],
        "x.toml",
        True,
    )
    assert split_import_args(["notes.txt", "--output=y.toml"]) == (["notes.txt"], "y.toml", False)
    assert split_import_args(["docker", "run", "-e", "A", "img"]) == (
        ["docker", "run", "-e", "A", "img"],
        None,
        False,
    )
