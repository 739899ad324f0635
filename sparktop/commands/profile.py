"""`sparktop profile`: serving profiles from and to ``docker run`` lines.

- ``import [FILE|-] [-o OUT.toml]``: a pasted ``docker run ... vllm/vllm-openai:... --model ...``
  command becomes a profile (``-e NAME=value`` keeps NAME only: values are never stored);
- ``show PROFILE.toml [--docker-run]``: what the profile launches, or the equivalent command;
- ``check PROFILE.toml``: problems with the file (file, line and a hint), before anything starts.
"""

from __future__ import annotations

import argparse
import os
import sys
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


def _read_command(source: str | None) -> str:
    if source in (None, "-"):
        if sys.stdin.isatty():
            print("paste the docker run command, then Ctrl-D:", file=sys.stderr)
        text = sys.stdin.read(MAX_COMMAND_BYTES + 1)
        where = "standard input"
    else:
        try:
            with open(source, encoding="utf-8", errors="replace") as f:
                text = f.read(MAX_COMMAND_BYTES + 1)
        except OSError as exc:
            raise CliError(f"{source}: cannot read ({exc.strerror or exc})", hint="check the path") from None
        where = source
    if len(text) > MAX_COMMAND_BYTES:
        raise CliError(f"{where}: more than 1 MiB: not a docker run command", hint="paste just the command")
    if not text.strip():
        raise CliError(f"{where}: empty", hint="paste a docker run ... command")
    return text


def run_import(args: argparse.Namespace) -> int:
    text = _read_command(args.file)
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
