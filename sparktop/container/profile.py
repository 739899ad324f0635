"""Serving profiles: the ``docker run`` line of a vLLM server as a TOML file sparktop can launch.

A profile holds what the ``docker run`` line holds: the image, the model and its served name, vLLM's
arguments, the NAMES of environment variables to pass through (their values come from the caller's
environment at launch and are never stored), volumes, ports or host networking, the GPU request,
ipc/shm, memory limit, container name and entrypoint, plus sparktop's own settings (the health
timeout, a default workload and smoke thresholds).

``parse_docker_run`` turns a pasted command into a profile and ``docker_run_command`` prints one
back, so nothing is locked in: parsing the printed command gives the same profile. ``load_profile``
reads a file and reports any problem with the file, the line and a hint.

    name = "gemma-4-26b-a4b-bf16"
    image = "vllm/vllm-openai:v0.20.1"
    model = "google/gemma-4-26B-A4B-it"
    served_model_name = "gemma-4-26b-a4b-bf16"
    args = ["--max-model-len", "131072", "--gpu-memory-utilization", "0.95"]
    env = ["HF_TOKEN"]
    volumes = ["appliance_hf-cache:/root/.cache/huggingface"]
    ports = ["8000:8000"]
    gpus = "all"
    ipc = "host"
    container_name = "vllm-bench"
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import tomli_w

ModelArg = Literal["flag", "positional"]

DEFAULT_HEALTH_TIMEOUT_S = 900.0
"""A first start on a Spark downloads, loads and compiles for minutes; 15 minutes covers most."""
DEFAULT_VLLM_PORT = 8000
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9
"""vLLM's default when ``--gpu-memory-utilization`` is not given."""

SECRET_ARGS: dict[str, str] = {"--api-key": "VLLM_API_KEY", "--hf-token": "HF_TOKEN"}
"""vLLM arguments that carry a secret, and the environment variable vLLM reads instead."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_SIZE = re.compile(r"^\d+(?:\.\d+)?[bkmgtBKMGT]?$")
_PORT_SPEC = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:(?P<host>\d*):)?"
    r"(?P<container>\d+)(?:/(?P<proto>tcp|udp|sctp))?$"
)
_GPUS = re.compile(r"^(?:all|\d+|\"?device=[\w,.:-]+\"?|.*capabilities=.*)$")


class ProfileError(ValueError):
    """A profile (or a pasted command) that cannot be used: what, where, and what to do."""

    def __init__(self, problem: str, hint: str, path: str | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.hint = hint
        self.path = path
        self.line = line
        super().__init__(f"{self.where}{problem} (hint: {hint})")

    @property
    def where(self) -> str:
        """``file:line: `` (or ``file: ``, or nothing for a pasted command)."""
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "


@dataclass(frozen=True)
class Profile:
    """One serving profile (see the module docstring). Frozen; ``to_toml`` writes it back."""

    image: str
    model: str
    name: str = ""
    served_model_name: str | None = None
    model_arg: ModelArg = "flag"
    """How the model is passed: ``--model M`` (vllm/vllm-openai) or positional after ``serve``."""
    command: tuple[str, ...] = ()
    """Words before the model, e.g. ``("serve",)`` with ``entrypoint = "vllm"`` (NVIDIA's image)."""
    args: tuple[str, ...] = ()
    """vLLM's other arguments, verbatim and in order."""
    env: tuple[str, ...] = ()
    """Names of variables passed from the caller's environment (values are never stored)."""
    volumes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    network: str | None = None
    gpus: str | None = None
    ipc: str | None = None
    shm_size: str | None = None
    memory: str | None = None
    ulimits: tuple[str, ...] = ()
    runtime: str | None = None
    restart: str | None = None
    container_name: str | None = None
    entrypoint: str | None = None
    detach: bool = True
    remove: bool = False
    """``--rm`` on the command line (sparktop removes what it launched itself, after reading the
    exit status, so it is not passed to Docker)."""
    health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S
    workload: str | None = None
    """Default workload for load runs (an arena workload id such as ``C``)."""
    smoke: Mapping[str, float] = field(default_factory=dict)
    """Smoke-test thresholds (figure name -> limit)."""

    # ----------------------------------------------------------------------------------------------

    def vllm_argv(self) -> list[str]:
        """What follows the image on the command line: command words, model, served name, args."""
        out = list(self.command)
        if self.model_arg == "positional":
            out.append(self.model)
        else:
            out += ["--model", self.model]
        if self.served_model_name is not None:
            out += ["--served-model-name", self.served_model_name]
        out += self.args
        return out

    @property
    def port(self) -> int:
        """The port vLLM listens on inside the container (``--port``, default 8000)."""
        text = arg_value(self.args, "--port")
        return int(text) if text is not None and text.isdigit() else DEFAULT_VLLM_PORT

    @property
    def gpu_memory_utilization(self) -> float:
        text = arg_value(self.args, "--gpu-memory-utilization")
        try:
            return float(text) if text is not None else DEFAULT_GPU_MEMORY_UTILIZATION
        except ValueError:
            return DEFAULT_GPU_MEMORY_UTILIZATION

    @property
    def host_network(self) -> bool:
        return self.network == "host"

    def publishes(self, container_port: int) -> bool:
        """Whether a ``ports`` entry publishes ``container_port`` (TCP)."""
        for spec in self.ports:
            found = _PORT_SPEC.match(spec)
            if (
                found
                and int(found.group("container")) == container_port
                and found.group("proto")
                in (
                    None,
                    "tcp",
                )
            ):
                return True
        return False


def arg_value(args: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in vLLM-style ``args`` (``--flag V`` or ``--flag=V``); the last wins."""
    value: str | None = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
    return value


# --------------------------------------------------------------------------------------------------
# TOML file <-> Profile

KEY_ORDER: tuple[str, ...] = (
    "name",
    "image",
    "model",
    "served_model_name",
    "model_arg",
    "entrypoint",
    "command",
    "args",
    "env",
    "volumes",
    "ports",
    "network",
    "gpus",
    "ipc",
    "shm_size",
    "memory",
    "ulimits",
    "runtime",
    "restart",
    "container_name",
    "detach",
    "remove",
    "health_timeout",
    "workload",
    "smoke",
)
_FIELD_OF_KEY = {"health_timeout": "health_timeout_s"}
_STR, _STRS, _BOOL, _NUM, _TABLE = "a string", "a list of strings", "true or false", "a number", "a table"
KEY_TYPES: dict[str, str] = {
    "name": _STR,
    "image": _STR,
    "model": _STR,
    "served_model_name": _STR,
    "model_arg": _STR,
    "entrypoint": _STR,
    "command": _STRS,
    "args": _STRS,
    "env": _STRS,
    "volumes": _STRS,
    "ports": _STRS,
    "network": _STR,
    "gpus": _STR,
    "ipc": _STR,
    "shm_size": _STR,
    "memory": _STR,
    "ulimits": _STRS,
    "runtime": _STR,
    "restart": _STR,
    "container_name": _STR,
    "detach": _BOOL,
    "remove": _BOOL,
    "health_timeout": _NUM,
    "workload": _STR,
    "smoke": _TABLE,
}
KEY_HELP: dict[str, str] = {
    "image": 'the image to run, e.g. image = "vllm/vllm-openai:v0.20.1"',
    "model": 'the model to serve, e.g. model = "google/gemma-4-26B-A4B-it"',
    "env": 'names only, e.g. env = ["HF_TOKEN"]: values come from your environment at launch',
    "ports": 'docker -p syntax, e.g. ports = ["8000:8000"] or ["127.0.0.1:8000:8000"]',
    "volumes": 'docker -v syntax, e.g. volumes = ["hf-cache:/root/.cache/huggingface"]',
    "health_timeout": "seconds to wait for /health after launch, e.g. health_timeout = 900",
    "model_arg": 'model_arg = "flag" (--model M) or "positional" (serve M)',
    "smoke": "a [smoke] table of SLO = limit numbers, e.g. ttft_p99_ms = 3000 (sparktop smoke --list-slos)",
}


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Lines:
    """Where keys sit in a TOML text (tomllib gives no positions)."""

    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(?:#.*)?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def key(self, key: str, table: str | None = None) -> int | None:
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
        current: str | None = None
        for number, line in enumerate(self.lines, 1):
            header = self._TABLE.match(line)
            if header is not None and not line.lstrip().startswith("[["):
                current = header.group(1).strip().strip("\"'")
                if table is None and current == key:
                    return number  # a table given where a value belongs
                continue
            if current == table and pattern.match(line):
                return number
        return None

    def value(self, key: str, text: str, table: str | None = None) -> int | None:
        """The line of a list item (``text``) under ``key``, or the key's own line."""
        start = self.key(key, table)
        if start is None:
            return None
        for number in range(start, min(len(self.lines), start + 200) + 1):
            line = self.lines[number - 1]
            if text and (f'"{text}"' in line or f"'{text}'" in line):
                return number
            if number > start and "=" in line.split("#", 1)[0] and not line.strip().startswith('"'):
                break
        return start


def load_profile(path: str | Path) -> Profile:
    """Read and check a profile file; ``ProfileError`` names the file, the line and a hint."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProfileError("no such file", "give the path of a profile .toml file", where) from None
    except OSError as exc:
        raise ProfileError(
            f"cannot read: {exc.strerror or exc}", "check the path and its permissions", where
        ) from None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ProfileError(
            f"not valid TOML: {message}",
            'strings need quotes, lists need brackets: args = ["--port", "8000"]',
            where,
            int(found.group(1)) if found else None,
        ) from None
    default_name = Path(path).stem
    return profile_from_data(data, where=where, text=text, default_name=default_name)


def profile_from_data(
    data: Mapping[str, Any], *, where: str | None = None, text: str = "", default_name: str = ""
) -> Profile:
    """A checked ``Profile`` from parsed TOML ``data``.

    ``where`` names the file in errors and ``text`` (the file's text) locates problems by line.
    """
    lines = _Lines(text)

    def fail(
        problem: str, hint: str, key: str | None = None, item: str = "", table: str | None = None
    ) -> None:
        line = None
        if where is not None:
            if key is not None:
                line = lines.value(key, item, table) if item else lines.key(key, table)
            else:
                line = 1  # a missing key: the top of the file is where it belongs
        raise ProfileError(problem, hint, where, line)

    for key in data:
        if key not in KEY_TYPES:
            close = difflib.get_close_matches(key, KEY_TYPES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(KEY_ORDER)}"
            fail(f"unknown key {key!r}", hint, key)
    for required in ("image", "model"):
        if required not in data:
            fail(f"missing key {required!r}", f"add {KEY_HELP[required]}")

    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = KEY_TYPES[key]
        ok = (
            (kind == _STR and isinstance(value, str))
            or (kind == _STRS and isinstance(value, list) and all(isinstance(v, str) for v in value))
            or (kind == _BOOL and isinstance(value, bool))
            or (kind == _NUM and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (kind == _TABLE and isinstance(value, dict))
        )
        if not ok:
            got = _type_name(value)
            if kind == _STRS and isinstance(value, list):
                got = "a list with " + _type_name(next(v for v in value if not isinstance(v, str)))
            hint = KEY_HELP.get(key, f"{key} takes {kind}")
            fail(f"{key} must be {kind}, not {got}", hint, key)
        values[_FIELD_OF_KEY.get(key, key)] = tuple(value) if kind == _STRS else value

    for key in ("image", "model"):
        if not values[key].strip():
            fail(f"{key} is empty", f"give {KEY_HELP[key]}", key)
    timeout = values.get("health_timeout_s")
    if timeout is not None:
        if not (math.isfinite(timeout) and timeout > 0):
            fail("health_timeout must be > 0 seconds", KEY_HELP["health_timeout"], "health_timeout")
        values["health_timeout_s"] = float(timeout)
    if values.get("model_arg", "flag") not in ("flag", "positional"):
        fail(
            f"model_arg must be 'flag' or 'positional', not {values['model_arg']!r}",
            KEY_HELP["model_arg"],
            "model_arg",
        )
    for name in values.get("env", ()):
        if not _ENV_NAME.match(name):
            if "=" in name:
                fail(
                    "env holds variable names only, not values",
                    f"write just the name ({name.split('=', 1)[0]!r}); its value comes from your "
                    "environment at launch and is never stored",
                    "env",
                )
            fail(f"env: {name!r} is not a variable name", KEY_HELP["env"], "env", name)
    for spec in values.get("ports", ()):
        if not _PORT_SPEC.match(spec):
            fail(f"ports: {spec!r} is not a port mapping", KEY_HELP["ports"], "ports", spec)
    for spec in values.get("volumes", ()):
        parts = spec.split(":")
        if len(parts) < 2 or not parts[0] or not parts[1].startswith("/"):
            fail(
                f"volumes: {spec!r} is not SOURCE:/container/path[:ro]", KEY_HELP["volumes"], "volumes", spec
            )
    for key in ("shm_size", "memory"):
        size = values.get(key)
        if size is not None and not _SIZE.match(size):
            fail(f"{key}: {size!r} is not a size", f'docker size syntax, e.g. {key} = "16g"', key)
    for spec in values.get("ulimits", ()):
        if not re.match(r"^[a-z]+=-?\d+(?::-?\d+)?$", spec):
            fail(
                f"ulimits: {spec!r} is not NAME=SOFT[:HARD]",
                'e.g. ulimits = ["memlock=-1", "stack=67108864"]',
                "ulimits",
                spec,
            )
    gpus = values.get("gpus")
    if gpus is not None and not _GPUS.match(gpus):
        fail(f"gpus: {gpus!r} is not a GPU request", 'gpus = "all", a count ("1") or "device=0,1"', "gpus")
    name = values.get("container_name")
    if name is not None and not _CONTAINER_NAME.match(name):
        fail(
            f"container_name {name!r} is not a valid container name",
            "letters, digits, '_', '.', '-'",
            "container_name",
        )
    args = values.get("args", ())
    if args and not args[0].startswith("-"):
        fail(
            f"args must start with a --flag, not {args[0]!r}",
            "the model goes in model = ..., words before it (serve) in command = [...]",
            "args",
            args[0],
        )
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in SECRET_ARGS:
            fail(
                f"args: {flag} would store a secret in the profile",
                f'remove it and list {SECRET_ARGS[flag]} under env (env = ["{SECRET_ARGS[flag]}"]): '
                "vLLM reads it from the environment",
                "args",
                arg,
            )
        if flag in ("--model", "--served-model-name"):
            key = "model" if flag == "--model" else "served_model_name"
            fail(f"args: {flag} belongs in {key}", f"remove it from args and set {key} = ...", "args", arg)
    from sparktop.smoke.slo import SLOS, known_names

    for key, limit in values.get("smoke", {}).items():
        if key not in SLOS:
            fail(f"smoke.{key} is not an SLO sparktop knows", f"one of: {known_names()}", key, table="smoke")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
            given = (
                limit
                if isinstance(limit, (int, float)) and not isinstance(limit, bool)
                else _type_name(limit)
            )
            fail(
                f"smoke.{key} must be a number >= 0, not {given}",
                KEY_HELP["smoke"],
                key,
                table="smoke",
            )
    if "smoke" in values:
        values["smoke"] = {k: float(v) for k, v in values["smoke"].items()}
    values.setdefault("name", default_name or values.get("served_model_name") or _model_stem(values["model"]))
    return Profile(**values)


def _model_stem(model: str) -> str:
    return model.rstrip("/").rsplit("/", 1)[-1]


def _toml_value(value: object) -> str:
    if isinstance(value, str) and '"' in value and "'" not in value and value.isprintable():
        return f"'{value}'"  # a literal string reads better than escaped quotes (JSON arguments)
    if isinstance(value, (tuple, list)):
        items = [_toml_value(v) for v in value]
        inline = "[" + ", ".join(items) + "]"
        if len(inline) <= 80:
            return inline
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    return tomli_w.dumps({"v": value})[4:].rstrip("\n")


def _args_value(args: Sequence[str]) -> str:
    """vLLM arguments one flag (with its values) per line."""
    if not args:
        return "[]"
    groups: list[list[str]] = []
    for arg in args:
        if arg.startswith("-") or not groups:
            groups.append([arg])
        else:
            groups[-1].append(arg)
    inline = "[" + ", ".join(_toml_value(a) for a in args) + "]"
    if len(inline) <= 80:
        return inline
    body = "".join("    " + ", ".join(_toml_value(a) for a in group) + ",\n" for group in groups)
    return "[\n" + body + "]"


def to_toml(profile: Profile) -> str:
    """The profile as a TOML file (defaults left out); ``load_profile`` reads it back the same."""
    out = [
        "# sparktop serving profile: `sparktop watch THIS.toml` launches it,",
        "# `sparktop profile show THIS.toml --docker-run` prints the equivalent docker run line.",
    ]
    defaults = Profile(image="", model="")
    smoke: Mapping[str, float] = {}
    for key in KEY_ORDER:
        value = getattr(profile, _FIELD_OF_KEY.get(key, key))
        if key == "smoke":
            smoke = value
            continue
        if key not in ("name", "image", "model") and value == getattr(defaults, _FIELD_OF_KEY.get(key, key)):
            continue
        if key == "env":
            out.append("# names only: values come from your environment when the profile is launched")
        text = _args_value(value) if key == "args" else _toml_value(value)
        if key == "health_timeout":
            out.append(f"{key} = {text}  # seconds")
        else:
            out.append(f"{key} = {text}")
    if smoke:
        out += ["", "[smoke]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in smoke.items())]
    return "\n".join(out) + "\n"


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else tomli_w.dumps({key: 0}).split(" = ")[0]


# --------------------------------------------------------------------------------------------------
# docker run <-> Profile

_BOOL_OPTIONS = {"-d": "detach", "--detach": "detach", "--rm": "remove"}
_IGNORED_FLAGS = {"-i", "--interactive", "-t", "--tty"}
"""Flags that only matter to a terminal attached to the container; sparktop follows its logs."""
_VALUE_OPTIONS = {
    "--name": "container_name",
    "--gpus": "gpus",
    "--ipc": "ipc",
    "--shm-size": "shm_size",
    "-v": "volumes",
    "--volume": "volumes",
    "-p": "ports",
    "--publish": "ports",
    "--network": "network",
    "--net": "network",
    "-e": "env",
    "--env": "env",
    "--entrypoint": "entrypoint",
    "-m": "memory",
    "--memory": "memory",
    "--ulimit": "ulimits",
    "--runtime": "runtime",
    "--restart": "restart",
}
_LIST_FIELDS = {"volumes", "ports", "env", "ulimits"}
SUPPORTED_OPTIONS = sorted({*_BOOL_OPTIONS, *_VALUE_OPTIONS, *_IGNORED_FLAGS})


def _split_command(command: str) -> list[str]:
    text = re.sub(r"\\[ \t]*\r?\n", " ", command)  # shell line continuations
    text = re.sub(r"^\s*[$#]\s+", "", text)  # a pasted prompt
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError as exc:
        raise ProfileError(f"cannot split the command: {exc}", "check the quotes are balanced") from None
    while tokens and tokens[0] in ("sudo", "-E"):
        tokens.pop(0)
    if tokens[:2] == ["docker", "run"]:
        return tokens[2:]
    if tokens[:3] == ["docker", "container", "run"]:
        return tokens[3:]
    raise ProfileError(
        "not a docker run command",
        "paste the whole line: docker run ... vllm/vllm-openai:TAG --model MODEL ...",
    )


def parse_docker_run(command: str) -> Profile:
    """A profile from a ``docker run ... IMAGE [vLLM args]`` line.

    ``-e NAME=value`` keeps NAME only (the value is dropped, never stored); ``--api-key`` and
    ``--hf-token`` become ``VLLM_API_KEY`` and ``HF_TOKEN`` in ``env`` the same way. Docker
    options sparktop cannot apply are an error rather than silently lost.
    """
    tokens = _split_command(command)
    values: dict[str, Any] = {name: [] for name in _LIST_FIELDS}
    values["detach"] = False
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if not word.startswith("-") or word == "-":
            break
        i += 1
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if not word.startswith("--") and len(word) > 2:
            if all(f"-{c}" in _BOOL_OPTIONS or f"-{c}" in _IGNORED_FLAGS for c in word[1:]):
                for c in word[1:]:
                    if f"-{c}" in _BOOL_OPTIONS:
                        values[_BOOL_OPTIONS[f"-{c}"]] = True
                continue
            name, eq, inline = word[:2], "=", word[2:]  # -p8000:8000
        if name in _IGNORED_FLAGS:
            continue
        if name in _BOOL_OPTIONS:
            if eq and inline.lower() not in ("true", "false"):
                raise ProfileError(f"{name} takes no value", f"write {name} alone")
            values[_BOOL_OPTIONS[name]] = not eq or inline.lower() == "true"
            continue
        if name not in _VALUE_OPTIONS:
            raise ProfileError(
                f"docker option {name} is not supported in a profile",
                "remove it (sparktop could not apply it); supported: " + " ".join(SUPPORTED_OPTIONS),
            )
        if eq:
            value = inline
        elif i < len(tokens):
            value = tokens[i]
            i += 1
        else:
            raise ProfileError(f"{name} needs a value", f"give {name} VALUE")
        target = _VALUE_OPTIONS[name]
        if target == "env":
            value = value.split("=", 1)[0]  # the value is dropped here and never kept
            if not _ENV_NAME.match(value):
                raise ProfileError(f"-e {value!r} is not a variable name", "write -e NAME or -e NAME=value")
        if target in _LIST_FIELDS:
            if value not in values[target] or target != "env":
                values[target].append(value)
        else:
            values[target] = value
    if i >= len(tokens):
        raise ProfileError(
            "no image in the command", "the image comes after the docker options: ... vllm/vllm-openai:TAG"
        )
    values["image"] = tokens[i]
    rest = tokens[i + 1 :]
    _vllm_args(rest, values)
    values.setdefault(
        "name",
        values.get("served_model_name") or values.get("container_name") or _model_stem(values["model"]),
    )
    data = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
    return profile_from_data(data)


def _vllm_args(rest: list[str], values: dict[str, Any]) -> None:
    """Split what follows the image into command words, the model, its served name and the rest."""
    command: list[str] = []
    if rest[:2] == ["vllm", "serve"]:
        command, rest = rest[:2], rest[2:]
    elif rest[:1] == ["serve"]:
        command, rest = rest[:1], rest[1:]
    elif rest[:1] == ["-m"] and len(rest) > 1:
        command, rest = rest[:2], rest[2:]
    model: str | None = None
    if rest and not rest[0].startswith("-"):
        model, rest = rest[0], rest[1:]
        values["model_arg"] = "positional"
    args: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        flag, eq, inline = arg.partition("=")
        if flag in ("--model", "--served-model-name") or flag in SECRET_ARGS:
            if eq:
                value, i = inline, i + 1
            elif i + 1 < len(rest):
                value, i = rest[i + 1], i + 2
            else:
                raise ProfileError(f"{flag} needs a value", f"give {flag} VALUE")
            if flag == "--model":
                if model is not None and values.get("model_arg") == "positional":
                    raise ProfileError(
                        "the model is given twice", "give it positionally or with --model, not both"
                    )
                model = value
            elif flag == "--served-model-name":
                if i < len(rest) and not rest[i].startswith("-"):
                    raise ProfileError(
                        "more than one --served-model-name", "a profile serves one name: keep the first"
                    )
                values["served_model_name"] = value
            else:
                env = SECRET_ARGS[flag]  # the secret itself is dropped
                if env not in values["env"]:
                    values["env"].append(env)
            continue
        args.append(arg)
        i += 1
    if model is None:
        raise ProfileError("no model in the command", "add --model MODEL after the image")
    values["model"] = model
    values["command"] = tuple(command)
    values["args"] = tuple(args)


def _group(tokens: Sequence[str]) -> list[str]:
    """Flags with their values, quoted for a shell."""
    groups: list[list[str]] = []
    for token in tokens:
        if token.startswith("-") or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    return [" ".join(shlex.quote(t) for t in g) for g in groups]


def _wrap(parts: Sequence[str], width: int = 100) -> list[str]:
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += " " + part
        else:
            lines.append(part)
    return lines


def docker_options(profile: Profile) -> list[str]:
    """The docker options of ``docker run`` for this profile, in a fixed order."""
    p = profile
    out: list[str] = []
    if p.detach:
        out.append("-d")
    if p.remove:
        out.append("--rm")
    if p.container_name:
        out += ["--name", p.container_name]
    if p.gpus:
        out += ["--gpus", p.gpus]
    if p.runtime:
        out += ["--runtime", p.runtime]
    if p.ipc:
        out.append(f"--ipc={p.ipc}")
    if p.shm_size:
        out += ["--shm-size", p.shm_size]
    if p.memory:
        out += ["--memory", p.memory]
    for spec in p.ulimits:
        out += ["--ulimit", spec]
    if p.restart:
        out += ["--restart", p.restart]
    if p.network:
        out += ["--network", p.network]
    for spec in p.volumes:
        out += ["-v", spec]
    for spec in p.ports:
        out += ["-p", spec]
    for name in p.env:
        out += ["-e", name]
    if p.entrypoint is not None:
        out += ["--entrypoint", p.entrypoint]
    return out


def docker_run_command(profile: Profile) -> str:
    """A copy-pasteable ``docker run`` line (continued over lines) equivalent to the profile.

    Environment variables appear as ``-e NAME``: Docker takes the value from the shell running it.
    """
    options = _group(docker_options(profile))
    head = _wrap(["docker run", *options[: _split_at(options)]])
    mounts = _wrap(options[_split_at(options) :])
    image = " ".join(shlex.quote(t) for t in [profile.image, *profile.command])
    vllm = _group(profile.vllm_argv()[len(profile.command) :])
    model_part = 2 if profile.served_model_name is not None else 1
    if profile.model_arg == "positional":
        image += " " + vllm[0]
        vllm = vllm[1:]
        model_part -= 1
    lines = [*head, *mounts, image, *_wrap(vllm[:model_part]), *_wrap(vllm[model_part:])]
    return " \\\n  ".join(line for line in lines if line)


def _split_at(options: Sequence[str]) -> int:
    """Where the volume/port/env options start (they go on their own line)."""
    for i, option in enumerate(options):
        if option.startswith(("-v ", "-p ", "-e ", "--entrypoint ")):
            return i
    return len(options)


def profile_fields() -> tuple[str, ...]:
    """The field names of ``Profile`` (for tests and docs)."""
    return tuple(f.name for f in fields(Profile))


@dataclass(frozen=True, slots=True)
class VllmCommand:
    """What a running container's command line says about the vLLM it serves."""

    model: str | None
    served_model_name: str | None
    args: tuple[str, ...]
    port: int
    host: str | None


def read_vllm_command(argv: Sequence[str]) -> VllmCommand:
    """Read a container's full command line (entrypoint + command), leniently: what is found."""
    words = list(argv)
    rest = words
    model: str | None = None
    for i, word in enumerate(words):
        if word == "serve" or word.endswith(".api_server"):
            rest = words[i + 1 :]
            if word == "serve" and rest and not rest[0].startswith("-"):
                model, rest = rest[0], rest[1:]  # `vllm serve MODEL ...`
            break
    model = arg_value(rest, "--model") or model
    served = arg_value(rest, "--served-model-name")
    port_text = arg_value(rest, "--port")
    port = int(port_text) if port_text is not None and port_text.isdigit() else DEFAULT_VLLM_PORT
    return VllmCommand(model, served, tuple(rest), port, arg_value(rest, "--host"))
