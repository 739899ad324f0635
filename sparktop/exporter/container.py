"""Following one container for the exporter: Docker's stats and state, vLLM's startup from its log.

``ContainerFollower.run`` finds the container by name (or id) and follows it with the same loop a
live session uses (``sparktop.session.sources.container_loop``: the log and Docker's stats stream
read in threads, the state asked for when the log ends), feeding the log lines to a
``PhaseTracker``. Unlike ``watch docker:NAME`` it also follows a container that is stopped or
publishes no port (the exporter never talks to vLLM itself), and it never gives up: a container
that is not there yet, or was removed, or an engine that does not answer, is looked for again every
``retry_s`` seconds while ``view()`` says why it is not followed. Nothing here blocks the event loop;
``view()`` only reads what the loop left.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from sparktop.clock import Clock, SystemClock
from sparktop.container.phases import PhaseTracker
from sparktop.exporter.page import ContainerView
from sparktop.model import ContainerStats, Event, Unknown
from sparktop.session.core import Observation

log = logging.getLogger("sparktop.exporter")

RETRY_S = 5.0
"""Seconds between looks for a container that is not there (or an engine that does not answer)."""
BEFORE_START_S = 1.0
"""The log is read from this long before the container's start (its first line may be stamped a
little before Docker's StartedAt); older lines belong to earlier runs."""

_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def valid_name(name: str) -> bool:
    """A Docker container name or id (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, at most 255 characters)."""
    return len(name) <= 255 and _NAME.fullmatch(name) is not None


def open_handle(client: Any, name: str) -> Any | None:
    """A read-only handle on container ``name`` whatever its state, None when there is no such
    container (blocks: run it in a thread). Raises ``ContainerError`` when the engine does not answer.
    """
    import docker.errors
    import requests

    from sparktop.container.lifecycle import ContainerError, ContainerHandle, secret_values
    from sparktop.container.profile import read_vllm_command

    try:
        attrs = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        text = " ".join(str(getattr(exc, "explanation", None) or exc).split())
        raise ContainerError(f"cannot inspect container {name}: {text}") from None
    config = attrs.get("Config") or {}
    argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    return ContainerHandle(
        client,
        attrs,
        url="",
        command=read_vllm_command(argv),
        launched=False,
        secrets=secret_values(env, argv),
    )


class ContainerFollower:
    """The exporter's view of one container, kept up to date by ``run``."""

    def __init__(
        self,
        name: str,
        *,
        interval: float = 1.0,
        retry_s: float = RETRY_S,
        connect: Callable[[], Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._interval = interval
        self._retry_s = retry_s
        self._connect = connect
        self._clock: Clock = clock or SystemClock()
        self._tracker = PhaseTracker()
        self._stats: ContainerStats | None = None
        self._problem = f"looking for container {name}"
        self._warning = ""
        self._id: str | None = None

    @property
    def container_id(self) -> str | None:
        """The followed container's full id (for its memory cgroup); None while none is followed."""
        return self._id

    def view(self) -> ContainerView:
        """What is known now: the latest reading, the startup, and why it is not followed if not."""
        progress = self._tracker.progress
        return ContainerView(
            name=self.name,
            stats=self._stats,
            startup=progress if progress.phases else None,
            problem=self._problem or self._warning,
        )

    def observe(self, observation: Observation) -> None:
        """One observation from ``container_loop``: a log line, a reading, or a warning."""
        if isinstance(observation, ContainerStats):
            self._stats = observation
            self._warning = ""  # a reading arrived: Docker answers again
        elif isinstance(observation, Event):
            if observation.kind == "log":
                self._tracker.feed(observation.t, observation.text)
            elif observation.kind == "container" and observation.level == "warning":
                self._warning = observation.text

    async def run(self) -> None:
        """Follow the container until cancelled; never raises otherwise."""
        from sparktop.container.lifecycle import ContainerError, connect
        from sparktop.session.sources import container_loop

        client: Any = None
        while True:
            try:
                if client is None:
                    client = await asyncio.to_thread(self._connect or connect)
                handle = await asyncio.to_thread(open_handle, client, self.name)
            except ContainerError as exc:
                self._lost(str(exc))
                if "cannot reach" in str(exc) or "cannot inspect" in str(exc):
                    client = None
                await asyncio.sleep(self._retry_s)
                continue
            except Exception as exc:  # whatever the SDK does, the exporter goes on
                self._lost(f"cannot follow container {self.name}: {type(exc).__name__}: {exc}")
                client = None
                await asyncio.sleep(self._retry_s)
                continue
            if handle is None:
                self._gone(f"no container named {self.name}")
                await asyncio.sleep(self._retry_s)
                continue
            if handle.id != self._id:
                self._tracker = PhaseTracker()  # another container of that name: another startup
            self._id = handle.id
            self._problem = ""
            self._warning = ""
            log.info("following container %s (%s)", handle.name, handle.id[:12])
            since = None if handle.started_at is None else max(0.0, handle.started_at - BEFORE_START_S)
            try:
                await container_loop(handle, self.observe, self._interval, clock=self._clock, since=since)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop says it never raises; the exporter must not rely on it
                self._lost(f"following container {self.name} failed: {type(exc).__name__}: {exc}")
            else:
                self._gone(f"container {self.name} no longer exists")
            await asyncio.sleep(self._retry_s)

    def _gone(self, reason: str) -> None:
        """No such container (any more): a container that was followed reads as missing."""
        self._lost(reason)
        if self._stats is not None and self._stats.state != "missing":
            why = Unknown("the container no longer exists")
            self._stats = ContainerStats(
                self._clock.now(), self.name, "missing", why, why, why, error=why.reason
            )

    def _lost(self, reason: str) -> None:
        if reason != self._problem:
            log.warning("%s", reason)
        self._problem = reason
        self._id = None
