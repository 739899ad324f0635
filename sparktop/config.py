"""Settings: defaults, then the optional config file, then command-line options.

The file is ``$XDG_CONFIG_HOME/sparktop/config.toml`` (``~/.config/sparktop/config.toml``), or the
path in ``SPARKTOP_CONFIG``. Every key is optional::

    interval = 1.0          # seconds between refreshes (scrapes and redraws)
    window = 60             # seconds that rates and percentiles are computed over
    theme = "dark"          # dark, light, high-contrast, or the name of a theme file you added
    recordings_dir = "~/.local/share/sparktop/recordings"
    record_watch = false    # record `sparktop watch` sessions too (demo and load always record)

A malformed file is an error that names the file, the key and what was expected.
"""

from __future__ import annotations

import argparse
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the problem."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sparktop"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sparktop"


def config_path() -> Path:
    explicit = os.environ.get("SPARKTOP_CONFIG")
    return Path(explicit).expanduser() if explicit else config_dir() / "config.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    interval: float = 1.0
    window: float = 60.0
    theme: str = "dark"
    recordings_dir: Path = Path()
    record_watch: bool = False

    def __post_init__(self) -> None:
        if self.recordings_dir == Path():
            object.__setattr__(self, "recordings_dir", data_dir() / "recordings")


_TYPES: dict[str, tuple[type, ...]] = {
    "interval": (int, float),
    "window": (int, float),
    "theme": (str,),
    "recordings_dir": (str,),
    "record_watch": (bool,),
}


def read_file(path: Path) -> dict[str, Any]:
    """The validated contents of a config file (empty when it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8", errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    out: dict[str, Any] = {}
    for key, raw_value in data.items():
        if key not in _TYPES:
            known = ", ".join(sorted(_TYPES))
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {known})")
        value = raw_value
        types = _TYPES[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            want = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{path}: {key} must be a {want}, not {type(value).__name__}")
        checked: Any = value
        if key in _RANGES:
            accepts, expected = _RANGES[key]
            if not (math.isfinite(checked) and accepts(checked)):  # inf would never wake
                raise ConfigError(f"{path}: {key} must be {expected}, not {checked!r}")
        out[key] = Path(checked).expanduser() if key == "recordings_dir" else checked
    return out


_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "interval": (lambda v: 0.05 <= v <= 3600, "from 0.05 to 3600 seconds"),
    "window": (lambda v: 0 < v <= 86400, "> 0 and at most 86400 seconds (a day)"),
}
"""What the command line accepts for the same settings."""


def load_settings(args: argparse.Namespace | None = None, path: Path | None = None) -> Settings:
    """Defaults < config file < command-line options (those present on ``args`` and not None)."""
    settings = Settings(**read_file(path or config_path()))
    if args is not None:
        overrides: dict[str, Any] = {}
        for f in fields(Settings):
            value = getattr(args, f.name, None)
            if value is not None:
                overrides[f.name] = Path(value).expanduser() if f.name == "recordings_dir" else value
        settings = replace(settings, **overrides)
    return settings
