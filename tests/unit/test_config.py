"""Settings precedence and config-file errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sparktop.config import ConfigError, Settings, load_settings, read_file


def test_defaults_when_no_file(tmp_path: Path) -> None:
    s = load_settings(path=tmp_path / "missing.toml")
    assert s == Settings()
    assert s.interval == 1.0 and s.window == 60.0 and s.theme == "dark"
    assert s.recordings_dir.name == "recordings"


def test_file_then_options(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('interval = 0.5\nwindow = 300\ntheme = "light"\nrecordings_dir = "~/recs"\n')
    s = load_settings(path=path)
    assert (s.interval, s.window, s.theme) == (0.5, 300, "light")
    assert s.recordings_dir == Path("~/recs").expanduser()
    args = argparse.Namespace(interval=2.0, window=None, theme=None)
    s = load_settings(args, path=path)
    assert (s.interval, s.window, s.theme) == (2.0, 300, "light")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("intervall = 1\n", "unknown key 'intervall'"),
        ('interval = "fast"\n', "interval must be a int or float, not str"),
        ("window = -5\n", "window must be > 0"),
        ("interval = inf\n", "interval must be from 0.05 to 3600 seconds, not inf"),
        ("interval = nan\n", "interval must be from 0.05 to 3600 seconds, not nan"),
        ("interval = 0.001\n", "interval must be from 0.05"),
        ("window = inf\n", "window must be > 0 and at most 86400 seconds"),
        ("record_watch = 1\n", "record_watch must be a bool"),
        ("interval = true\n", "interval must be"),
        ("this is not toml\n", "not valid TOML"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_xdg_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARKTOP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "cfg" / "sparktop").mkdir(parents=True)
    (tmp_path / "cfg" / "sparktop" / "config.toml").write_text("window = 30\n")
    s = load_settings()
    assert s.window == 30
    assert s.recordings_dir == tmp_path / "data" / "sparktop" / "recordings"
