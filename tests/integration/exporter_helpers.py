"""Running the real `sparktop exporter` as a subprocess, scraping it and checking its page."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.net import free_port
from tests.support.prometheus import tool
from tests.support.waiting import poll

ROOT = Path(__file__).resolve().parents[2]

FAKE_NVML_BOOT = (
    "import sys\n"
    "from tests.support.fake_pynvml import FakeNvml, gb10, h100\n"
    "sys.modules['pynvml'] = FakeNvml([gb10(), h100()])\n"
    "from sparktop.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)
"""A `sparktop` whose ``import pynvml`` finds the stand-in: a GB10 (memory info not supported) and an
H100 (everything works)."""


@dataclass
class Exporter:
    process: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path

    def scrape(self) -> str:
        response = httpx.get(self.url, timeout=30, trust_env=False)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        return response.text

    def logs(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@contextmanager
def running_exporter(
    tmp_path: Path,
    *args: str,
    fake_nvml: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Exporter]:
    """``sparktop exporter --port P ARGS`` until the block ends (SIGTERM; it must exit 0)."""
    port = free_port()
    argv: Sequence[str]
    if fake_nvml:
        argv = [sys.executable, "-c", FAKE_NVML_BOOT, "exporter", "--port", str(port), *args]
    else:
        argv = [sys.executable, "-m", "sparktop", "exporter", "--port", str(port), *args]
    environment = dict(env if env is not None else os.environ)
    environment["PYTHONUNBUFFERED"] = "1"
    environment["SPARKTOP_CONFIG"] = "/nonexistent/sparktop.toml"
    out, err = tmp_path / "exporter.out", tmp_path / "exporter.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(argv, cwd=ROOT, env=environment, stdout=stdout, stderr=stderr)
    exporter = Exporter(process, f"http://127.0.0.1:{port}/metrics", out, err)
    try:
        _, serving = poll(out.read_text, lambda text: "serving" in text or process.poll() is not None)
        assert serving and process.poll() is None, exporter.logs()
        assert out.read_text() == f"sparktop exporter: serving {exporter.url}\n"
        yield exporter
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the exporter did not stop on SIGTERM: {exporter.logs()}") from None
    assert code == 0, exporter.logs()


def promtool_check(page: str) -> None:
    """The real ``promtool check metrics``: exit 0 and nothing said (no lint warning)."""
    promtool = tool("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), page


def samples(page: str) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(page):
        assert family.documentation, family.name
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def find(page: str, name: str, /, **labels: str) -> list[float]:
    return [
        s.value for s in samples(page).get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())
    ]


def one(page: str, name: str, /, **labels: str) -> float:
    found = find(page, name, **labels)
    assert len(found) == 1, (name, labels, page)
    return found[0]


def label_of(page: str, name: str, label: str, /, **labels: str) -> str:
    found = [
        s.labels[label]
        for s in samples(page).get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, page)
    return found[0]
