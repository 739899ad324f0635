"""`sparktop profile`: serving profiles from and to ``docker run`` lines.

- ``import [FILE|-|docker run ...] [-o OUT.toml]``: a ``docker run ... vllm/vllm-openai:...
  --model ...`` command, given as the arguments, in a file or pasted, becomes a profile
  (``-e NAME=value`` keeps NAME only: values are never stored);
- ``show PROFILE.toml [--docker-run]``: what the profile launches, or the equivalent command;
- ``check PROFILE.toml``: problems with the file (file, line and a hint), before anything starts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from sparktop import fmt
from sparktop.cli import EXIT_OK, CliError
from sparktop.container.profile import (
    Profile,
    ProfileError,
    docker_run_command,
    load_profile,
    parse_docker_run,
    to_toml,
)

MAX_COMMAND_BYTES = 1 << 20


def run(args: argparse.Namespace) -> int:
    action: str | None = getattr(args, "action", None)
    if action == "import":
        return run_import(args)
    if action == "show":
        return run_show(args)
    if action == "check":
        return run_check(args)
    raise CliError("profile needs an action: import, show or check", hint="sparktop profile --help")


def _load(path: str) -> Profile:
    try:
        return load_profile(path)
    except ProfileError as exc:
        raise CliError(f"{exc.where}{exc.problem}", hint=exc.hint) from None


def split_import_args(words: Sequence[str]) -> tuple[list[str], str | None, bool]:
    """(the command or file, ``-o`` value, ``--force``) from what follows ``profile import``.

    The command may be given as arguments (``profile import docker run --gpus all ...``), so the
    parser hands everything after the first word over as it is; sparktop's own ``-o OUT``,
    ``--output OUT`` and ``--force`` are taken off its end (docker and vLLM have no such options).
    """
    rest = list(words)
    output: str | None = None
    force = False
    while rest:
        if rest[-1] == "--force":
            force = True
            rest.pop()
        elif rest[-1].startswith("--output="):
            output = output or rest.pop().partition("=")[2]
        elif len(rest) >= 2 and rest[-2] in ("-o", "--output"):
            output = output or rest[-1]
            del rest[-2:]
        else:
            break
    return rest, output, force


def _is_command(word: str) -> bool:
    """A single argument that is the command itself (quoted), not a file holding it."""
    first = word.split(None, 1)[0] if word.strip() else ""
    return any(c.isspace() for c in word.strip()) or first in ("docker", "sudo")


def _read_command(words: Sequence[str]) -> str:
    if not words or list(words) == ["-"]:
        if sys.stdin.isatty():
            print("paste the docker run command, then Ctrl-D:", file=sys.stderr)
        text = sys.stdin.read(MAX_COMMAND_BYTES + 1)
        where = "standard input"
    elif len(words) > 1 or (not Path(words[0]).is_file() and _is_command(words[0])):
        # the command line as arguments: one quoted string, or the words the shell split it into
        text = words[0] if len(words) == 1 else shlex.join(words)
        where = "the command line"
    else:
        source = words[0]
        try:
            with open(source, encoding="utf-8", errors="replace") as f:
                text = f.read(MAX_COMMAND_BYTES + 1)
        except OSError as exc:
            raise CliError(
                f"{source}: cannot read ({exc.strerror or exc})",
                hint="give a file holding the command, '-' to paste it, or the command itself: "
                "sparktop profile import docker run ... IMAGE --model MODEL",
            ) from None
        where = source
    if len(text) > MAX_COMMAND_BYTES:
        raise CliError(f"{where}: more than 1 MiB: not a docker run command", hint="paste just the command")
    if not text.strip():
        raise CliError(f"{where}: empty", hint="paste a docker run ... command")
    return text


def run_import(args: argparse.Namespace) -> int:
    words, output, force = split_import_args(args.file or [])
    args.output = args.output or output
    args.force = args.force or force
    text = _read_command(words)
    try:
        profile = parse_docker_run(text)
    except ProfileError as exc:
        raise CliError(f"cannot import the command: {exc.problem}", hint=exc.hint) from None
    toml = to_toml(profile)
    if args.output is None:
        sys.stdout.write(toml)
    else:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise CliError(f"{out} exists", hint="choose another name, or add --force to replace it")
        try:
            out.write_text(toml, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{out}: cannot write ({exc.strerror or exc})", hint="check the path") from None
        print(f"wrote {out} (profile {profile.name})", file=sys.stderr)
    if profile.env:
        names = ", ".join(profile.env)
        print(
            f"environment: {names} (names only; values are never stored: set them in your "
            "environment before launching)",
            file=sys.stderr,
        )
    return EXIT_OK


def describe(profile: Profile, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Rows of ``profile show``: what the profile launches."""
    environment = os.environ if env is None else env
    p = profile
    rows = [("profile", p.name), ("image", p.image)]
    served = f" (served as {p.served_model_name})" if p.served_model_name else ""
    rows.append(("model", p.model + served))
    if p.entrypoint is not None or p.command:
        rows.append(("entrypoint", " ".join(x for x in (p.entrypoint or "(image's)", *p.command) if x)))
    rows.append(("vllm args", " ".join(p.args) or "(none)"))
    if p.env:
        rows.append(("env", ", ".join(f"{n} ({'set' if n in environment else 'not set'})" for n in p.env)))
    if p.host_network:
        rows.append(("network", f"host: vLLM at http://127.0.0.1:{p.port}"))
    else:
        if p.network:
            rows.append(("network", p.network))
        reach = "" if p.publishes(p.port) else f" (vLLM's port {p.port} is not published!)"
        rows.append(("ports", (", ".join(p.ports) or "(none)") + reach))
    for label, value in (
        ("volumes", ", ".join(p.volumes)),
        ("gpus", p.gpus),
        ("runtime", p.runtime),
        ("ipc", p.ipc),
        ("shm size", p.shm_size),
        ("memory", p.memory),
        ("ulimits", ", ".join(p.ulimits)),
        ("restart", p.restart),
        ("container", p.container_name),
        ("workload", p.workload),
    ):
        if value:
            rows.append((label, value))
    rows.append(("health timeout", f"{p.health_timeout_s:g} s"))
    for key, limit in p.smoke.items():
        rows.append((f"smoke {key}", f"{limit:g}"))
    return rows


def run_show(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    if args.docker_run:
        print(docker_run_command(profile))
        return EXIT_OK
    rows = describe(profile)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {fmt.clean(value)}")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    problems: list[str] = []
    if not profile.host_network and not profile.publishes(profile.port):
        problems.append(
            f"vLLM's port {profile.port} is not published: add ports = "
            f'["{profile.port}:{profile.port}"] or network = "host"'
        )
    if problems:
        raise CliError(f"{args.profile}: {problems[0]}", hint="sparktop could not reach the server otherwise")
    unset = [name for name in profile.env if name not in os.environ]
    print(f"{args.profile}: ok (profile {profile.name}: {profile.image}, {profile.model})")
    if unset:
        print(f"note: not set in this environment: {', '.join(unset)}", file=sys.stderr)
    return EXIT_OK
