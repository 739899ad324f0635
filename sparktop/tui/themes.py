"""Themes are data files (``themes/*.toml``) turned into Textual themes.

Built-in themes ship with sparktop; users add their own as ``$XDG_CONFIG_HOME/sparktop/themes/*.toml``
(a user theme with a built-in's name replaces it). A file that does not parse, has an unknown key or
a colour Textual cannot read is an error naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from sparktop.config import config_dir

COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)
SERIES_KEYS = ("a", "b", "c", "muted")
BUILTIN_ORDER = ("dark", "light", "high-contrast")


class ThemeError(ValueError):
    """A theme file that cannot be used."""


def builtin_dir() -> Path:
    """Themes shipped with sparktop: inside the package when installed, the repo's themes/ otherwise."""
    packaged = Path(__file__).resolve().parent.parent / "_themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def user_dir() -> Path:
    return config_dir() / "themes"


@dataclass(frozen=True, slots=True)
class ThemeSpec:
    theme: Theme
    path: Path


def _color(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{path}: {key} must be a colour string, not {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(
            f"{path}: {key} = {value!r} is not a colour (use '#rrggbb' or an ANSI name)"
        ) from None
    return value


def load_theme(path: Path) -> ThemeSpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML: {exc}") from None
    known = {"name", "dark", "series", *COLOR_KEYS}
    for key in data:
        if key not in known:
            raise ThemeError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ThemeError(f"{path}: name must be a non-empty string")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: dark must be true or false")
    if "primary" not in data:
        raise ThemeError(f"{path}: primary colour missing")
    colors = {key: _color(path, key, data[key]) for key in COLOR_KEYS if key in data}
    series = data.get("series", {})
    if not isinstance(series, dict):
        raise ThemeError(f"{path}: [series] must be a table")
    variables: dict[str, str] = {}
    for key, value in series.items():
        if key not in SERIES_KEYS:
            raise ThemeError(f"{path}: unknown series colour {key!r} (known: {', '.join(SERIES_KEYS)})")
        variables[f"spark-{key}"] = _color(path, f"series.{key}", value)
    fallback = colors["primary"]
    for key in SERIES_KEYS:
        variables.setdefault(f"spark-{key}", fallback)
    ansi = all(v.startswith("ansi_") for v in colors.values())
    theme = Theme(name=name, dark=dark, variables=variables, ansi=ansi, **colors)  # type: ignore[arg-type]
    return ThemeSpec(theme, path)


def discover() -> dict[str, ThemeSpec]:
    """Every theme by name: built-ins first, then the user's (which may replace a built-in)."""
    found: dict[str, ThemeSpec] = {}
    for folder in (builtin_dir(), user_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                spec = load_theme(path)
                found[spec.theme.name] = spec
    return found


def cycle_order(names: list[str]) -> list[str]:
    """Built-ins in their order, then the user's themes by name."""
    return [n for n in BUILTIN_ORDER if n in names] + sorted(n for n in names if n not in BUILTIN_ORDER)
