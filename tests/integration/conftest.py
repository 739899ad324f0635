"""Fixtures for the tests that run against a REAL vLLM (``@pytest.mark.real_vllm``).

The real vLLM is PyPI's CPU build serving a tiny random-weights Llama (``tests/realvllm/``;
``make test`` provisions it). Without it these tests are skipped with the reason; with
``SPARKTOP_REQUIRE_REAL_VLLM=1`` (CI) they fail instead. The tests of a module that only need a
running server share one (``real_vllm``); tests that restart or constrain a server start their own
(``start_real_vllm``); every server is stopped when its test (or module) ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.realvllm.server import Install, RealVllm, find_install

StartReal = Callable[..., RealVllm]


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("SPARKTOP_REQUIRE_REAL_VLLM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_install() -> Install:
    install = find_install()
    if isinstance(install, str):
        _skip_or_fail(install)
        raise AssertionError("unreachable")
    return install


def _ready(server: RealVllm) -> RealVllm:
    try:
        server.wait_ready()
        server.warm_up()
    except Exception:
        server.stop()
        raise
    return server


def shared_server(real_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealVllm]:
    """A real server for tests to share (eager mode, 1 GiB of KV cache), warmed up; stopped when
    the generator is closed."""
    server = RealVllm(real_install, log_path=tmp_path_factory.mktemp("real-vllm") / "server.log").start()
    try:
        yield _ready(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def real_vllm(real_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealVllm]:
    """The real server a module's tests share; stopped when the module is done, so it holds no
    memory or CPU while other tests run (``shared_real_vllm/`` shares one across its modules)."""
    yield from shared_server(real_install, tmp_path_factory)


@pytest.fixture
def start_real_vllm(real_install: Install, tmp_path: Path) -> Iterator[StartReal]:
    """``start(args=..., port=..., log_path=..., ready=True)``: a server of the test's own."""
    started: list[RealVllm] = []

    def start(
        args: Sequence[str] = ("--enforce-eager",),
        *,
        port: int | None = None,
        log_path: Path | None = None,
        ready: bool = True,
    ) -> RealVllm:
        log = log_path or tmp_path / f"server-{len(started)}.log"
        server = RealVllm(real_install, log_path=log, port=port, args=args).start()
        started.append(server)
        return _ready(server) if ready else server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
