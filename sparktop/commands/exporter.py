"""`sparktop exporter`: a Prometheus exporter for what vLLM's own /metrics cannot say.

Serves ``/metrics`` until SIGINT or SIGTERM (exit 0): the unified-memory breakdown always, NVML's
readings with ``--gpu``, a container's state, stats and vLLM startup phases with ``--container``.
The families are listed in the README ("Prometheus exporter") and made in ``sparktop.exporter.page``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable

from sparktop.cli import EXIT_OK, CliError
from sparktop.clock import SystemClock
from sparktop.exporter.collect import Collector
from sparktop.exporter.container import ContainerFollower, valid_name
from sparktop.gpu.nvml import NvmlCollector

log = logging.getLogger("sparktop.exporter")


def run(args: argparse.Namespace, make_gpu: Callable[[], NvmlCollector] = NvmlCollector) -> int:
    name: str | None = args.container
    if name is not None and not valid_name(name):
        raise CliError(
            f"not a container name or id: {name!r}",
            hint="a name as `docker ps` shows it ([a-zA-Z0-9][a-zA-Z0-9_.-]*), or an id",
        )
    _log_to_stderr()
    return asyncio.run(_serve(args, make_gpu))


def _log_to_stderr() -> None:
    logger = logging.getLogger("sparktop")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("sparktop exporter: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


async def _serve(args: argparse.Namespace, make_gpu: Callable[[], NvmlCollector]) -> int:
    from sparktop.exporter.server import make_app, start

    clock = SystemClock()
    gpu = make_gpu() if args.gpu else None
    follower = (
        ContainerFollower(args.container, interval=args.interval, clock=clock)
        if args.container is not None
        else None
    )
    collector = Collector(gpu=gpu, follower=follower, max_age_s=args.interval, wall=clock.now)
    try:
        runner, port = await start(make_app(collector.page), args.host, args.port)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one) or --host",
        ) from None
    print(f"sparktop exporter: serving {_url(args.host, port)}", flush=True)
    following = asyncio.create_task(follower.run()) if follower is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        await runner.cleanup()
        if gpu is not None:
            await asyncio.to_thread(gpu.close)
    return EXIT_OK
