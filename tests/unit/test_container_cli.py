"""`sparktop profile` and the container parts of `sparktop watch` that need no engine."""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from sparktop.cli import main
from sparktop.commands.watch import format_line
from sparktop.commands.watch_container import EventPrinter, format_event, gpu_preflight
from sparktop.container.profile import Profile, load_profile
from sparktop.model import ContainerStats, Event, Unknown
from tests.support.frames import frame_at_end

COMMAND = (
    "docker run -d --name vllm-bench --gpus all --ipc=host -e HF_TOKEN=hf_inTheCommandSECRET "
    "-v appliance_hf-cache:/root/.cache/huggingface -p 8000:8000 vllm/vllm-openai:v0.20.1 "
    "--model google/gemma-4-26B-A4B-it --served-model-name gemma-4-26b-a4b-bf16 --max-model-len 131072"
)


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKTOP_CONFIG", "/nonexistent/sparktop.toml")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # nothing may reach an engine here


def options(argv: list[str]) -> set[str]:
    """A ``docker run`` line's options before the image, each with its value: ``-p 8000:8000``."""
    image = next(i for i, token in enumerate(argv) if token.startswith("vllm/"))
    groups: list[str] = []
    for token in argv[2:image]:
        if token.startswith("-"):
            groups.append(token)
        else:
            groups[-1] += f" {token}"
    return set(groups)


def test_import_from_stdin_prints_the_profile_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(COMMAND))
    assert main(["profile", "import"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# sparktop serving profile")
    assert 'env = ["HF_TOKEN"]' in out and 'container_name = "vllm-bench"' in out
    assert "SECRET" not in out + err
    assert "HF_TOKEN (names only; values are never stored" in err


def test_import_to_a_file_then_show_and_check_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("$ " + COMMAND.replace(" -p", " \\\n  -p") + "\n")
    out = tmp_path / "bf16.toml"
    assert main(["profile", "import", str(source), "-o", str(out)]) == 0
    assert "SECRET" not in out.read_text()
    profile = load_profile(out)
    capsys.readouterr()

    assert main(["profile", "import", str(source), "-o", str(out)]) == 2  # never overwritten silently
    assert "exists" in capsys.readouterr().err
    assert main(["profile", "import", str(source), "-o", str(out), "--force"]) == 0

    assert main(["profile", "show", str(out), "--docker-run"]) == 0
    printed = capsys.readouterr().out
    argv = shlex.split(printed.replace("\\\n", ""))  # continued over lines, as a shell reads it
    assert argv[:2] == ["docker", "run"]
    imported = shlex.split(COMMAND)
    image = imported.index("vllm/vllm-openai:v0.20.1")
    assert argv[argv.index("vllm/vllm-openai:v0.20.1") :] == imported[image:]  # vLLM's arguments, in order
    # the same docker options, the secret's value left to the shell that runs it
    assert options(argv) == options(imported) - {"-e HF_TOKEN=hf_inTheCommandSECRET"} | {"-e HF_TOKEN"}
    assert "SECRET" not in printed
    assert profile.container_name == "vllm-bench"
    assert main(["profile", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^model\s+google/gemma-4-26B-A4B-it \(served as gemma-4-26b-a4b-bf16\)$", shown, re.M)
    assert re.search(r"^env\s+HF_TOKEN \((set|not set)\)$", shown, re.M)
    assert re.search(r"^health timeout\s+900 s$", shown, re.M)

    assert main(["profile", "check", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: ok (profile gemma-4-26b-a4b-bf16")


def test_check_reports_file_line_and_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('image = "i"\nmodel = "m"\nports = ["8000:8000"]\nhealth_timout = 5\n')
    assert main(["profile", "check", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"sparktop: error: {bad}:4: unknown key 'health_timout'",
        "hint: did you mean 'health_timeout'?",
    ]
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text('image = "i"\nmodel = "m"\n')
    assert main(["profile", "check", str(unreachable)]) == 2
    assert "vLLM's port 8000 is not published" in capsys.readouterr().err


def test_import_refuses_what_it_cannot_carry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("docker run --privileged img --model m"))
    assert main(["profile", "import", "-"]) == 2
    err = capsys.readouterr().err
    assert "docker option --privileged is not supported" in err and err.splitlines()[1].startswith(
        "hint: remove it"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("   \n"))
    assert main(["profile", "import", "-"]) == 2
    assert main(["profile"]) == 2


def test_watch_reports_a_bad_profile_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "m"\nports = ["8000:8000"]\n')
    # DOCKER_HOST points nowhere: reaching for the engine would be a different error
    assert main(["watch", str(bad), "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"sparktop: error: {bad}:1: missing key 'image'\nhint: add the image to run, e.g. image = "
    )


def test_watch_without_an_engine_says_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text('image = "i"\nmodel = "m"\nports = ["8000:8000"]\n')
    assert main(["watch", str(good), "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparktop: error: cannot reach the Docker engine")
    assert "DOCKER_HOST" in err
    assert main(["watch", "docker:vllm-bench", "--headless"]) == 2
    assert "cannot reach the Docker engine" in capsys.readouterr().err
    assert main(["watch", "http://127.0.0.1:1", "--pull"]) == 2
    assert "--pull applies to a profile" in capsys.readouterr().err


def test_plain_lines_carry_the_container() -> None:
    frame = frame_at_end(60)
    running = replace(frame, container=ContainerStats(frame.t, "c", "running", 12.34, 1.5 * 1024**3, 8e9))
    line = format_line(running)
    assert " container=running ctr_cpu=12.3% ctr_mem=1.50GiB" in line
    assert all("=" in field for field in line.split()[1:])  # one word per field, always
    first = replace(frame, container=ContainerStats(frame.t, "c", "running", Unknown("needs two"), 5e6, 8e9))
    assert "ctr_cpu=- ctr_mem=5MiB" in format_line(first)
    dead = replace(
        frame,
        container=ContainerStats(frame.t, "c", "exited", Unknown("x"), Unknown("x"), Unknown("x"), 137, True),
    )
    assert " container=exited(137)" in format_line(dead)
    assert "container=" not in format_line(frame)


def test_event_lines_are_new_cleaned_and_detailed() -> None:
    frame = frame_at_end(60)
    out = io.StringIO()
    printer = EventPrinter(out, since=frame.t - 10, prefix="# ", details=True)
    death = Event(
        frame.t,
        "error",
        "container c exited with code 1",
        "container",
        "error",
        {"hint": "look", "last_lines": "one\n\x1b[31mtwo\x1b[0m"},
    )
    startup = Event(frame.t - 5, "startup", "weights load 50%\x07", "container")
    with_events = replace(frame, events=(*frame.events, startup, death))
    printer.print(with_events)
    printed = out.getvalue().splitlines()
    assert printed[-5].endswith("+5.0s weights load 50%")
    assert printed[-4].endswith("+10.0s container c exited with code 1")
    assert printed[-3:] == ["#   hint: look", "#   | one", "#   | two"]
    assert all(line.startswith("# ") for line in printed)
    out.truncate(0)
    out.seek(0)
    printer.print(with_events)  # nothing new
    assert out.getvalue() == ""
    assert format_event(Event(0.0, "startup", "a\tb\x1b[2Jc"), 0.0).endswith("+0.0s a    bc")


def test_preflight_runs_only_for_a_gpu_request() -> None:
    profile = Profile(image="i", model="m", args=("--gpu-memory-utilization", "0.5"))
    assert gpu_preflight(profile) is None
    # this machine's memory decides: a sliver of it fits, all of it never does (some is always in use)
    sliver = gpu_preflight(replace(profile, gpus="all", args=("--gpu-memory-utilization", "0.001")))
    assert sliver is not None and sliver.gpu_memory_utilization == 0.001
    assert sliver.verdict == "ok", sliver.message
    everything = gpu_preflight(replace(profile, gpus="all", args=("--gpu-memory-utilization", "1")))
    assert everything is not None
    assert everything.verdict == "fail", everything.message
    assert everything.message.startswith("--gpu-memory-utilization 1 asks for") and everything.hint
