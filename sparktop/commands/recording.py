"""Whether and where a live command records, and the recorder it attaches to its feed.

Shared by ``watch`` (a URL, a container attached or launched from a profile), ``demo`` and ``load``,
so ``--record``, ``--no-record`` and ``--recordings-dir`` mean the same everywhere and each recording
carries the same metadata (settings, and the profile and workload where there are some).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktop.recording.attach import start_fleet_recording, start_recording
from sparktop.recording.redact import redact_argv

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sparktop.config import Settings
    from sparktop.container.profile import Profile
    from sparktop.session.feeds import LiveFeed
    from sparktop.session.fleet import FleetFeed
    from sparktop.session.live import LiveOptions


def recording_wanted(args: argparse.Namespace, *, default: bool) -> Path | None:
    """The recording's path (``Path()`` meaning "a name in the recordings directory"), or None."""
    if getattr(args, "no_record", False):
        return None
    given = getattr(args, "record", None)
    if given is None:
        return Path() if default else None
    return Path(given).expanduser() if given else Path()


def record_feed(
    feed: LiveFeed,
    args: argparse.Namespace,
    settings: Settings,
    options: LiveOptions,
    *,
    what: str,
    simulated: bool,
    default: bool,
    profile: Mapping[str, Any] | None = None,
    workload: Mapping[str, Any] | None = None,
    name_hint: str | None = None,
) -> None:
    """Record ``feed``'s session when the options (or ``default``) ask for it; closed with the feed.

    A file that cannot be created does not stop the session: the status bar and an error event say
    why it is not recorded.
    """
    path = recording_wanted(args, default=default)
    if path is None:
        return
    feed.add_closer(
        start_recording(
            feed.session,
            arrival=feed.clock.now,
            path=path,
            directory=settings.recordings_dir,
            what=what,
            simulated=simulated,
            settings={
                "interval": options.interval,
                "window": options.window_s,
                "rate_window": options.rate_window_s,
            },
            profile=profile,
            workload=workload,
            name_hint=name_hint,
        )
    )


def record_fleet(
    feed: FleetFeed,
    args: argparse.Namespace,
    settings: Settings,
    *,
    what: str,
    simulated: bool,
    default: bool,
    workload: Mapping[str, Any] | None = None,
) -> None:
    """Record every target of ``feed`` into one file (each observation tagged with its target)
    when the options (or ``default``) ask for it; closed with the fleet."""
    path = recording_wanted(args, default=default)
    if path is None:
        return
    first = feed.feeds[0]
    feed.add_closer(
        start_fleet_recording(
            feed.sessions,
            arrival=first.clock.now,
            path=path,
            directory=settings.recordings_dir,
            what=what,
            simulated=simulated,
            settings={
                "interval": first.interval,
                "window": first.session.window_s,
                "rate_window": first.session.rate_window_s,
            },
            workload=workload,
        )
    )


def workload_meta(workload: Any) -> dict[str, Any]:
    """A workload as a recording's metadata: its name, title and stages."""
    try:
        return {
            "name": workload.name,
            "title": workload.title,
            "stages": [asdict(s) for s in workload.stages],
        }
    except (TypeError, AttributeError):
        return {"name": str(getattr(workload, "name", "workload"))}


def profile_meta(profile: Profile, source: str) -> dict[str, Any]:
    """A serving profile as a recording's metadata: what was served and how, never a secret.

    Environment variables are names only (values never leave the caller's environment); the values
    of secret-looking arguments (``--api-key``, ``--hf-token``) are replaced.
    """
    return {
        "name": profile.name,
        "source": source,
        "image": profile.image,
        "model": profile.model,
        "served_model_name": profile.served_model_name,
        "args": redact_argv(profile.args),
        "env": list(profile.env),
        "smoke": dict(profile.smoke),
    }


def container_meta(name: str, image: str, *, model: str | None, args: tuple[str, ...]) -> dict[str, Any]:
    """An attached container as a recording's metadata: its name, image and vLLM command line."""
    return {
        "name": name,
        "source": "attached container",
        "image": image,
        "model": model,
        "args": redact_argv(args),
    }
