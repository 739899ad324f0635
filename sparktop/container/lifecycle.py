"""Launching, attaching to and tearing down vLLM containers with the Docker SDK.

Every call here blocks (the SDK talks HTTP to the engine's socket): callers run them in threads.
Nothing is pulled implicitly: a missing image is a ``ContainerError`` whose hint is the
``docker pull`` command, unless the caller asked for the pull. A handle remembers whether sparktop
started its container; only those are ever stopped and removed.

Secrets: environment values are read from the caller's environment at launch, handed to Docker,
and never stored, logged or shown; the values of secret-looking variables (``HF_TOKEN``,
``*_API_KEY``, ``*_SECRET``, ``*_PASSWORD``...) and options (``--api-key``, ``--hf-token``) are also
masked in the container's log lines before anyone sees them.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from sparktop import fmt
from sparktop.container.profile import Profile, VllmCommand, read_vllm_command
from sparktop.model import ContainerState, ContainerStats, Num, Unknown
from sparktop.recording.redact import argv_secrets, looks_secret

LAUNCHED_LABEL = "org.sparktop.launched"
PROFILE_LABEL = "org.sparktop.profile"
MASK = "***"
_STATES: frozenset[str] = frozenset(
    ("created", "running", "paused", "restarting", "removing", "exited", "dead")
)
NO_GPU_HINT = (
    "this Docker engine cannot hand out GPUs: install the NVIDIA Container Toolkit "
    "(nvidia-ctk runtime configure --runtime=docker, then restart Docker), or remove gpus from the profile"
)


class ContainerError(Exception):
    """A container could not be launched, found or read; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class RunState:
    """A container's state as ``docker inspect`` tells it."""

    status: ContainerState
    exit_code: int | None
    oom_killed: bool
    error: str
    started_at: float | None
    finished_at: float | None

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting", "paused")

    def reason(self) -> str:
        """Why the container is not running, in words (empty while it runs)."""
        if self.running:
            return ""
        if self.status == "missing":
            return "the container no longer exists"
        if self.oom_killed:
            return f"killed for running out of memory (OOMKilled, exit code {self.exit_code})"
        parts = [f"{self.status} with code {self.exit_code}" if self.exit_code is not None else self.status]
        if self.exit_code is not None and self.exit_code > 128:
            parts.append(f"killed by signal {self.exit_code - 128}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One container log line: Docker's timestamp (seconds since the epoch) and the text, masked."""

    t: float
    text: str


def connect() -> docker.DockerClient:
    """A client for the engine in the environment (``DOCKER_HOST`` or the default socket)."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ContainerError(
            f"cannot reach the Docker engine: {_one_line(exc)}",
            "start Docker, or point DOCKER_HOST at a running engine (unix:///path/to/docker.sock)",
        ) from None
    return client


# --------------------------------------------------------------------------------------------------
# readings


def parse_timestamp(text: str) -> float | None:
    """Docker's RFC 3339 timestamp (``2026-05-01T12:00:00.123456789Z``) as epoch seconds."""
    if len(text) < 20 or text.startswith("0001-"):
        return None
    try:
        whole = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    rest = text[19:]
    fraction = 0.0
    if rest.startswith("."):
        digits = re.match(r"\.(\d+)", rest)
        if digits is not None:
            fraction = float("0." + digits.group(1)[:9])
            rest = rest[digits.end() :]
    offset = re.match(r"([+-])(\d\d):(\d\d)$", rest)
    if offset is not None:
        sign = 1 if offset.group(1) == "+" else -1
        whole -= sign * (int(offset.group(2)) * 3600 + int(offset.group(3)) * 60)
    return whole + fraction


def run_state(attrs: Mapping[str, Any]) -> RunState:
    """The state part of ``docker inspect`` output."""
    state = attrs.get("State") or {}
    status = str(state.get("Status", "dead"))
    code = state.get("ExitCode")
    return RunState(
        status=status if status in _STATES else "dead",  # type: ignore[arg-type]
        exit_code=int(code) if isinstance(code, int) and status not in ("running", "created") else None,
        oom_killed=bool(state.get("OOMKilled", False)),
        error=fmt.clean(str(state.get("Error") or ""))[:300],
        started_at=parse_timestamp(str(state.get("StartedAt") or "")),
        finished_at=parse_timestamp(str(state.get("FinishedAt") or "")),
    )


def cpu_percent(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> Num:
    """CPU use between two stats readings, in % of one core (as ``docker stats``)."""
    cur = current.get("cpu_stats") or {}
    pre = (previous or {}).get("cpu_stats") or current.get("precpu_stats") or {}
    try:
        cpu_delta = cur["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cur["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return Unknown("needs two readings")
    cpus = cur.get("online_cpus") or len(cur["cpu_usage"].get("percpu_usage") or ()) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return Unknown("no CPU time elapsed between readings")
    return float(cpu_delta) / float(system_delta) * cpus * 100.0


def memory_use(stats: Mapping[str, Any]) -> tuple[Num, Num]:
    """(usage minus inactive file cache, limit) from a stats reading, as ``docker stats``."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if not isinstance(usage, (int, float)):
        return Unknown("no memory reading (container not running)"), Unknown("no memory reading")
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file")  # cgroup v1
    if not isinstance(inactive, (int, float)) or inactive >= usage:
        inactive = detail.get("inactive_file")  # cgroup v2
    used = usage - inactive if isinstance(inactive, (int, float)) and inactive < usage else usage
    limit = mem.get("limit")
    return float(used), float(limit) if isinstance(limit, (int, float)) and limit > 0 else Unknown("no limit")


def published_url(attrs: Mapping[str, Any], port: int, host: str | None = None) -> str | None:
    """Where vLLM's ``port`` answers from this machine: host networking or a published port."""
    host_config = attrs.get("HostConfig") or {}
    if host_config.get("NetworkMode") == "host":
        bind = host if host and host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{bind}:{port}"
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{port}/tcp") or []
    for binding in bindings:
        ip = binding.get("HostIp") or ""
        host_port = binding.get("HostPort")
        if not host_port:
            continue
        if ip in ("", "0.0.0.0", "::", "127.0.0.1"):
            return f"http://127.0.0.1:{host_port}"
        if ":" not in ip:
            return f"http://{ip}:{host_port}"
    for binding in bindings:
        ip = binding.get("HostIp") or ""
        if binding.get("HostPort") and ":" in ip:
            return f"http://[{ip}]:{binding['HostPort']}"
    return None


def secret_values(env: Mapping[str, str], argv: Sequence[str] = ()) -> tuple[str, ...]:
    """The values of secret-looking variables and command-line options (``--api-key X``), longest
    first: what log lines are masked with (vLLM logs its non-default arguments at startup)."""
    values = {v for k, v in env.items() if looks_secret(k) and len(v) >= 4}
    values.update(v for v in argv_secrets(argv) if len(v) >= 4)
    return tuple(sorted(values, key=len, reverse=True))


# --------------------------------------------------------------------------------------------------
# the handle


class ContainerHandle:
    """One vLLM container sparktop launched or attached to."""

    def __init__(
        self,
        client: docker.DockerClient,
        attrs: Mapping[str, Any],
        *,
        url: str,
        command: VllmCommand,
        launched: bool,
        secrets: tuple[str, ...] = (),
        profile: str | None = None,
    ) -> None:
        self.client = client
        self.id: str = attrs["Id"]
        self.name: str = str(attrs.get("Name", "")).lstrip("/") or self.id[:12]
        self.image: str = str((attrs.get("Config") or {}).get("Image", ""))
        self.url = url
        self.model = command.model
        self.served_model_name = command.served_model_name
        self.args = command.args
        self.launched = launched
        """True when sparktop started this container (only then is it ever stopped or removed)."""
        self.profile = profile
        self.started_at = run_state(attrs).started_at
        self._secrets = secrets
        self._streams: set[Any] = set()
        self._lock = threading.Lock()
        self._previous_stats: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        return f"ContainerHandle({self.name!r}, url={self.url!r}, launched={self.launched})"

    def mask(self, text: str) -> str:
        """``text`` with the values of secret variables replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def logs(
        self, since: float | None = None, *, follow: bool = True, tail: int | None = None
    ) -> Iterator[LogLine]:
        """The container's log lines (stdout and stderr) from ``since``, then new ones as they come.

        Ends when the container stops (or ``close_logs`` is called from another thread). Lines
        carry Docker's timestamps; carriage returns (progress bars) stay inside a line.
        """
        for chunk in self.log_chunks(since, follow=follow, tail=tail):
            yield from chunk

    def log_chunks(
        self, since: float | None = None, *, follow: bool = True, tail: int | None = None
    ) -> Iterator[list[LogLine]]:
        """``logs``, as the lines each read from the engine brought (never an empty list)."""
        try:
            stream = self.client.api.logs(
                self.id,
                stream=True,
                follow=follow,
                timestamps=True,
                since=since if since and since > 0 else None,
                tail=tail if tail is not None else "all",
            )
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(f"cannot read the logs of {self.name}: {_one_line(exc)}") from None
        with self._lock:
            self._streams.add(stream)
        stamp_cache: tuple[str, float] = ("", 0.0)
        buffer = b""
        try:
            for chunk in stream:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                out = []
                for raw in lines:
                    line, stamp_cache = self._line(raw, stamp_cache)
                    out.append(line)
                if out:
                    yield out
            if buffer:
                yield [self._line(buffer, stamp_cache)[0]]
        except (requests.RequestException, OSError, ValueError):
            return  # the stream was closed under us
        finally:
            with self._lock:
                self._streams.discard(stream)
            with contextlib.suppress(Exception):
                stream.close()

    def _line(self, raw: bytes, cache: tuple[str, float]) -> tuple[LogLine, tuple[str, float]]:
        text = raw.decode("utf-8", errors="replace")
        stamp, _, rest = text.partition(" ")
        second = stamp[:19]
        if second == cache[0] and stamp[19:20] in (".", "Z"):
            fraction = re.match(r"\.(\d+)", stamp[19:])
            t = cache[1] + (float("0." + fraction.group(1)[:9]) if fraction else 0.0)
        else:
            parsed = parse_timestamp(stamp)
            if parsed is None:
                return LogLine(time.time(), self.mask(text.rstrip("\n"))), cache
            t = parsed
            cache = (second, float(int(parsed)))
        return LogLine(t, self.mask(rest)), cache

    def close_logs(self) -> None:
        """End every ``logs`` iteration in progress (their threads return)."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()

    def state(self) -> RunState:
        """What Docker says now: running or not, exit code, OOMKilled."""
        try:
            attrs = self.client.api.inspect_container(self.id)
        except docker.errors.NotFound:
            return RunState("missing", None, False, "the container was removed", None, None)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(f"cannot inspect {self.name}: {_one_line(exc)}") from None
        return run_state(attrs)

    def stats(self, t: float | None = None) -> ContainerStats:
        """One reading: CPU % from the stats API's counters since the previous reading, memory in
        use minus inactive file cache. A container that is not running reads as its state."""
        now = time.time() if t is None else t
        try:
            try:
                raw = self.client.api.stats(self.id, stream=False, one_shot=True)
            except docker.errors.InvalidVersion:  # engines before API 1.41: two cycles, ~1 s
                raw = self.client.api.stats(self.id, stream=False)
        except docker.errors.NotFound:
            return self.stopped_stats(RunState("missing", None, False, "", None, None), now)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(f"cannot read the stats of {self.name}: {_one_line(exc)}") from None
        used, limit = memory_use(raw)
        if isinstance(used, Unknown):
            return self.stopped_stats(self.state(), now)
        cpu = cpu_percent(self._previous_stats, raw)
        self._previous_stats = raw
        return ContainerStats(now, self.name, "running", cpu, used, limit)

    def stats_stream(
        self, stop: threading.Event, now: Callable[[], float] = time.time
    ) -> Iterator[ContainerStats]:
        """Docker's stats stream as readings (the engine sends one about every second, with the CPU
        counters of the one before). Cheaper than asking for one reading at a time.

        Ends when the container stops, the stream breaks, or ``stop`` is set (seen as the next
        reading arrives).
        """
        try:
            stream = self.client.api.stats(self.id, stream=True, decode=True)
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(f"cannot read the stats of {self.name}: {_one_line(exc)}") from None
        try:
            for raw in stream:
                if stop.is_set() or not isinstance(raw, dict):
                    return
                used, limit = memory_use(raw)
                if isinstance(used, Unknown):
                    return  # not running any more
                yield ContainerStats(now(), self.name, "running", cpu_percent(None, raw), used, limit)
        except (requests.RequestException, OSError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    def stopped_stats(self, state: RunState, t: float) -> ContainerStats:
        """The reading for a container that is not running: its state and why."""
        why = Unknown(f"container {state.status}")
        return ContainerStats(
            t, self.name, state.status, why, why, why, state.exit_code, state.oom_killed, state.reason()
        )

    def stop_and_remove(self, timeout: float = 10.0) -> bool:
        """Stop (SIGTERM, then SIGKILL after ``timeout``) and remove a container sparktop launched.

        Refuses (returns False) for an attached container; True once it is gone.
        """
        if not self.launched:
            return False
        self.close_logs()
        try:
            self.client.api.stop(self.id, timeout=int(timeout))
        except docker.errors.NotFound:
            return True
        except (docker.errors.DockerException, requests.RequestException):
            pass  # removal below forces it
        try:
            self.client.api.remove_container(self.id, force=True)
        except docker.errors.NotFound:
            return True
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(
                f"could not remove container {self.name}: {_one_line(exc)}",
                f"remove it by hand: docker rm -f {self.name}",
            ) from None
        return True


# --------------------------------------------------------------------------------------------------
# launch and attach


def _gpu_request(gpus: str) -> list[docker.types.DeviceRequest]:
    text = gpus.strip().strip('"')
    if text == "all":
        return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if text.isdigit():
        return [docker.types.DeviceRequest(count=int(text), capabilities=[["gpu"]])]
    fields: dict[str, str] = {}
    for part in re.split(r",(?=[a-z_]+=)", text):
        key, _, value = part.partition("=")
        fields[key.strip()] = value.strip()
    ids = [d for d in fields.get("device", "").split(",") if d]
    count = fields.get("count")
    return [
        docker.types.DeviceRequest(
            device_ids=ids or None,
            count=(-1 if count == "all" else int(count)) if count else (None if ids else -1),
            capabilities=[fields.get("capabilities", "gpu").split(",")],
        )
    ]


def _ulimit(spec: str) -> docker.types.Ulimit:
    name, _, limits = spec.partition("=")
    soft, _, hard = limits.partition(":")
    return docker.types.Ulimit(name=name, soft=int(soft), hard=int(hard or soft))


def _restart(policy: str) -> dict[str, Any]:
    name, _, count = policy.partition(":")
    out: dict[str, Any] = {"Name": name}
    if count:
        out["MaximumRetryCount"] = int(count)
    return out


def _ports(specs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, list[Any]] = {}
    for given in specs:
        spec, _, proto = given.partition("/")
        proto = proto or "tcp"
        ip = ""
        if spec.startswith("["):
            ip, spec = spec[1:].split("]:", 1)
        parts = spec.split(":")
        if len(parts) == 3:
            ip, host, container = parts
        elif len(parts) == 2:
            host, container = parts
        else:
            host, container = "", parts[0]
        binding: Any
        if ip:
            binding = (ip, int(host)) if host else (ip,)
        else:
            binding = int(host) if host else None
        out.setdefault(f"{container}/{proto}", []).append(binding)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def launch_kwargs(profile: Profile, env: Mapping[str, str]) -> dict[str, Any]:
    """The Docker SDK's ``containers.create`` arguments for a profile (pure).

    Environment values are looked up in ``env`` by the profile's names; names not set there are
    left out (``missing_env`` lists them).
    """
    p = profile
    kwargs: dict[str, Any] = {
        "image": p.image,
        "command": p.vllm_argv(),
        "detach": True,
        "environment": {name: env[name] for name in p.env if name in env},
        "labels": {LAUNCHED_LABEL: "1", PROFILE_LABEL: p.name},
    }
    if p.entrypoint is not None:
        kwargs["entrypoint"] = [p.entrypoint] if p.entrypoint else [""]
    if p.container_name:
        kwargs["name"] = p.container_name
    if p.volumes:
        kwargs["volumes"] = [_expand_volume(v) for v in p.volumes]
    if p.network in ("host", "bridge", "none") or (p.network or "").startswith("container:"):
        kwargs["network_mode"] = p.network
    elif p.network:
        kwargs["network"] = p.network
    if p.ports and not p.host_network:
        kwargs["ports"] = _ports(p.ports)
    if p.gpus:
        kwargs["device_requests"] = _gpu_request(p.gpus)
    if p.ipc:
        kwargs["ipc_mode"] = p.ipc
    if p.shm_size:
        kwargs["shm_size"] = p.shm_size
    if p.memory:
        kwargs["mem_limit"] = p.memory
    if p.ulimits:
        kwargs["ulimits"] = [_ulimit(u) for u in p.ulimits]
    if p.runtime:
        kwargs["runtime"] = p.runtime
    if p.restart:
        kwargs["restart_policy"] = _restart(p.restart)
    return kwargs


def missing_env(profile: Profile, env: Mapping[str, str]) -> list[str]:
    """The profile's variable names that are not set in ``env``."""
    return [name for name in profile.env if name not in env]


def _expand_volume(spec: str) -> str:
    source, sep, rest = spec.partition(":")
    if source.startswith("~"):
        source = str(Path(source).expanduser())
    return source + sep + rest


def _start_hint(message: str, profile: Profile) -> str:
    text = message.lower()
    if "could not select device driver" in text or ("nvidia" in text and "runtime" in text):
        return NO_GPU_HINT
    if "port is already allocated" in text or "address already in use" in text:
        return "another process or container holds the port: stop it, or change ports in the profile"
    if "unknown or invalid runtime" in text:
        return f"this engine has no runtime {profile.runtime!r}: remove runtime from the profile"
    if "no such file or directory" in text or "executable file not found" in text:
        return "the entrypoint or command is not in the image: check entrypoint and command in the profile"
    return "Docker's message above says why"


def ensure_image(
    client: docker.DockerClient, image: str, *, pull: bool, on_progress: Callable[[str], None] | None = None
) -> None:
    """Make sure ``image`` is present: pull only when asked, else a ``ContainerError`` with the command."""
    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        if not pull:
            raise ContainerError(
                f"image {image} is not present locally (sparktop never pulls without being asked)",
                f"pull it first: docker pull {image}   (or run again with --pull)",
            ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ContainerError(f"cannot look up image {image}: {_one_line(exc)}") from None
    repository, tag = _split_image(image)
    last = ""
    try:
        for item in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if not isinstance(item, dict):
                continue
            if item.get("error"):
                raise ContainerError(
                    f"could not pull {image}: {fmt.clean(str(item['error']))[:300]}",
                    "check the image name, the network and `docker login` for private registries",
                )
            status = fmt.clean(str(item.get("status", "")))
            if on_progress is not None and status and status != last:
                on_progress(f"{item.get('id', '')} {status}".strip())
                last = status
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ContainerError(
            f"could not pull {image}: {_one_line(exc)}",
            "check the image name, the network and `docker login` for private registries",
        ) from None


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def launch(
    profile: Profile,
    env: Mapping[str, str] | None = None,
    *,
    pull: bool = False,
    client: docker.DockerClient | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ContainerHandle:
    """Create and start the profile's container; its handle once Docker reports it running.

    Raises ``ContainerError`` (with a hint) when the engine is unreachable, the image is missing
    and ``pull`` is false, a container of that name exists, vLLM's port would be unreachable, or
    Docker refuses to start it. A container created here and refused is removed again.
    """
    environment = os.environ if env is None else env
    if not profile.host_network and not profile.publishes(profile.port):
        raise ContainerError(
            f"vLLM's port {profile.port} is not published, so sparktop could not reach it",
            f'add ports = ["{profile.port}:{profile.port}"] (or "127.0.0.1::{profile.port}" for any free '
            'port), or network = "host"',
        )
    client = client or connect()
    ensure_image(client, profile.image, pull=pull, on_progress=on_progress)
    if profile.container_name:
        try:
            existing = client.api.inspect_container(profile.container_name)
        except docker.errors.NotFound:
            existing = None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ContainerError(f"cannot reach the Docker engine: {_one_line(exc)}") from None
        if existing is not None:
            state = run_state(existing)
            raise ContainerError(
                f"a container named {profile.container_name} already exists ({state.status})",
                f"watch it with `sparktop watch docker:{profile.container_name}`, or remove it first: "
                f"docker rm -f {profile.container_name}",
            )
    kwargs = launch_kwargs(profile, environment)
    try:
        container = client.containers.create(**kwargs)
    except docker.errors.ImageNotFound:
        raise ContainerError(
            f"image {profile.image} is not present locally", f"pull it first: docker pull {profile.image}"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        message = _one_line(exc)
        raise ContainerError(
            f"Docker refused to create the container: {message}", _start_hint(message, profile)
        ) from None
    try:
        container.start()
        attrs = client.api.inspect_container(container.id)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        message = _one_line(exc)
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            container.remove(force=True)
        raise ContainerError(
            f"Docker could not start the container: {message}", _start_hint(message, profile)
        ) from None
    command = read_vllm_command(
        [*(attrs["Config"].get("Entrypoint") or []), *(attrs["Config"].get("Cmd") or [])]
    )
    url = published_url(attrs, profile.port, command.host)
    handle = ContainerHandle(
        client,
        attrs,
        url=url or f"http://127.0.0.1:{profile.port}",
        command=VllmCommand(
            profile.model, profile.served_model_name, profile.args, profile.port, command.host
        ),
        launched=True,
        secrets=secret_values(kwargs["environment"], profile.vllm_argv()),
        profile=profile.name,
    )
    if url is None:
        handle.stop_and_remove(timeout=2)
        raise ContainerError(
            f"Docker published no address for vLLM's port {profile.port}",
            f'check ports in the profile (e.g. ports = ["{profile.port}:{profile.port}"])',
        )
    return handle


def attach(name: str, *, client: docker.DockerClient | None = None) -> ContainerHandle:
    """A handle on a running container (never stopped or removed by sparktop).

    The vLLM port comes from the container's command line (``--port``, default 8000) and its
    published ports or host networking; the model and arguments from ``Config.Entrypoint`` and
    ``Config.Cmd``.
    """
    client = client or connect()
    try:
        attrs = client.api.inspect_container(name)
    except docker.errors.NotFound:
        raise ContainerError(
            f"no container named {name}", "`docker ps` lists the running containers"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ContainerError(f"cannot inspect container {name}: {_one_line(exc)}") from None
    state = run_state(attrs)
    if not state.running:
        raise ContainerError(
            f"container {name} is not running ({state.reason()})",
            f"start it (docker start {name}), or launch a profile: sparktop watch PROFILE.toml",
        )
    config = attrs.get("Config") or {}
    command = read_vllm_command([*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])])
    url = published_url(attrs, command.port, command.host)
    if url is None:
        raise ContainerError(
            f"container {name} does not publish vLLM's port {command.port}",
            f"publish it (docker run -p {command.port}:{command.port} ...) or use --network host",
        )
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    return ContainerHandle(
        client,
        attrs,
        url=url,
        command=command,
        launched=False,
        secrets=secret_values(env, [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]),
    )


def _one_line(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = " ".join(str(explanation or exc).split())
    return fmt.clean(text)[:300] or type(exc).__name__
