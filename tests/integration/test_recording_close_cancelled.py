"""An app that ends cancels its feed, sometimes twice, while the feed closes its recording: the
recording still gets its end (``complete``), whenever the cancellation lands."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from sparktop.recording.attach import start_recording
from sparktop.recording.reader import Recording
from sparktop.session.core import Observation, Session
from tests.support.recordings import TARGET, observations


async def test_a_close_cancelled_before_any_thread_took_it_still_ends_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "cancelled.sparktop"
    session = Session(TARGET)
    close = start_recording(
        session, path=path, directory=tmp_path, what="watch", simulated=False, settings={}
    )
    observed = cast(list[Observation], list(observations(50)))
    for obs in observed:
        session.observe(obs)
    # the loop's executor is busy (its one thread blocked): work handed to it waits in its queue,
    # as it does for a moment on a loaded machine
    loop = asyncio.get_running_loop()
    busy = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(busy)
    release = threading.Event()
    blocked = loop.run_in_executor(None, release.wait)

    async def closer() -> None:
        await close()

    closing = asyncio.create_task(closer())
    await asyncio.sleep(0.05)
    closing.cancel()  # the app ending: the feed, awaiting its closer, is cancelled
    release.set()
    await blocked
    busy.shutdown(wait=False)
    for thread in threading.enumerate():
        if thread.name == "recording-close":
            thread.join(10)
    with Recording.open(path) as rec:
        assert rec.complete, "the recording was left without its end"
        assert len(list(rec.observations())) == len(observed)
