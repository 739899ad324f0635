"""The core never imports a UI toolkit: only sparktop.tui may pull in Textual or Rich."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import sparktop

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(sparktop.__path__, "sparktop.")
    if not m.name.startswith("sparktop.tui") and m.name != "sparktop.__main__"
)


def test_core_modules_do_not_import_textual_or_rich() -> None:
    assert len(CORE) > 10
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'textual_plotext'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imports UI modules: {out.stdout.strip()}"


def test_cli_help_is_fast_to_import() -> None:
    heavy = ("httpx", "aiohttp", "textual", "docker")
    code = f"import sys, sparktop.cli\nprint(','.join(m for m in sys.modules if m.startswith({heavy!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""  # heavy libraries are imported by the verbs that need them
