"""Attaching a recorder to a live session (used by watch, demo and load)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sparktop.model import Event, RecordingStatus
from sparktop.recording.format import RecordingError
from sparktop.recording.writer import Recorder, default_name
from sparktop.session.core import Session

log = logging.getLogger("sparktop.recording")


async def close_whatever_happens(recorder: Recorder) -> RecordingStatus:
    """Close ``recorder`` in a thread of its own and wait for it.

    The close runs to its end even when this wait is cancelled (an app ending cancels its feed,
    sometimes twice): a close handed to the loop's executor could be dropped before a thread took
    it up, leaving the recording without its end. The thread is not a daemon: the process waits
    for it before it exits."""
    closing = threading.Thread(target=recorder.close, name="recording-close")
    closing.start()
    await asyncio.to_thread(closing.join)
    return recorder.status


def start_recording(
    session: Session,
    *,
    path: Path | None,
    directory: Path,
    what: str,
    simulated: bool,
    settings: Mapping[str, Any],
    profile: Mapping[str, Any] | None = None,
    workload: Mapping[str, Any] | None = None,
    name_hint: str | None = None,
    arrival: Callable[[], float] | None = None,
) -> Callable[[], Awaitable[RecordingStatus | None]]:
    """Record ``session`` to ``path`` (or a time-sorted name in ``directory``).

    Returns the closer to call when the session ends. When the file cannot be created the session
    goes on unrecorded: the failure shows in the status bar and as an error event.
    """
    model = session.target.model if isinstance(session.target.model, str) else name_hint
    if path is None or path == Path():
        path = directory / default_name(model or session.target.label, what, simulated)
    target = path
    try:
        recorder = Recorder(
            target,
            target=session.target,
            simulated=simulated,
            settings=settings,
            profile=profile,
            workload=workload,
            arrival=arrival,
        )
    except RecordingError as exc:
        session.recording = RecordingStatus(str(target), 0, False, f"not recording: {exc}")
        session.observe(Event(session.server.since, "error", f"not recording: {exc}", "sparktop", "error"))
        log.warning("not recording: %s", exc)

        async def nothing() -> RecordingStatus | None:
            return None

        return nothing
    session.sinks.append(recorder)
    session.recording_status = lambda: recorder.status

    async def close() -> RecordingStatus | None:
        if recorder in session.sinks:
            session.sinks.remove(recorder)
        return await close_whatever_happens(recorder)

    return close


def start_fleet_recording(
    sessions: Sequence[Session],
    *,
    path: Path | None,
    directory: Path,
    what: str,
    simulated: bool,
    settings: Mapping[str, Any],
    workload: Mapping[str, Any] | None = None,
    arrival: Callable[[], float] | None = None,
) -> Callable[[], Awaitable[RecordingStatus | None]]:
    """Record a fleet's sessions into one file, each observation tagged with its target.

    As ``start_recording``: returns the closer; a file that cannot be created leaves every session
    unrecorded, each saying why.
    """
    if path is None or path == Path():
        path = directory / default_name(f"fleet-{len(sessions)}", what, simulated)
    try:
        recorder = Recorder(
            path,
            target=sessions[0].target,
            targets=[session.target for session in sessions],
            simulated=simulated,
            settings=settings,
            workload=workload,
            arrival=arrival,
        )
    except RecordingError as exc:
        for session in sessions:
            session.recording = RecordingStatus(str(path), 0, False, f"not recording: {exc}")
            session.observe(
                Event(session.server.since, "error", f"not recording: {exc}", "sparktop", "error")
            )
        log.warning("not recording: %s", exc)

        async def nothing() -> RecordingStatus | None:
            return None

        return nothing
    sinks = [recorder.sink(i) for i in range(len(sessions))]
    for session, sink in zip(sessions, sinks, strict=True):
        session.sinks.append(sink)
        session.recording_status = lambda: recorder.status

    async def close() -> RecordingStatus | None:
        for session, sink in zip(sessions, sinks, strict=True):
            if sink in session.sinks:
                session.sinks.remove(sink)
        return await close_whatever_happens(recorder)

    return close
