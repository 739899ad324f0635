"""`sparktop report` on the sample recordings: every format, the comparison, bad files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparktop.report import read_report, render_table

SAMPLES = Path(__file__).parents[2] / "recordings"
BF16 = SAMPLES / "chat-1k-c1-5-10_gemma4-26b-a4b-bf16.sparktop"
NVFP4 = SAMPLES / "chat-1k-c1-5-10_gemma4-26b-a4b-nvfp4.sparktop"
MTP = SAMPLES / "chat-1k-c1-5-10_gemma4-26b-a4b-mtp.sparktop"
LOAD_KEYS = {
    "successful",
    "failed",
    "duration_s",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "peak_concurrency",
    "ttft_ms",
    "tpot_ms",
    "itl_ms",
    "e2el_ms",
}


def report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparktop", "report", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


def test_samples_are_marked_simulated_and_complete() -> None:
    for path in (BF16, NVFP4, MTP):
        r = read_report(path)
        assert r.meta["simulated"] is True and r.complete
        assert r.client is not None
        successful, failed = r.client.successful, r.client.failed
        assert isinstance(successful, int) and successful > 0 and failed == 0
        # server and client agree on what was done (the run is bracketed by scrapes): the server
        # also finished the closed loop's unmeasured warm-up rounds
        assert r.server["requests_finished"] == r.requests == successful + r.client.warmup


def test_table_compares_against_the_first() -> None:
    proc = report(str(BF16), str(NVFP4), str(MTP))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "SIMULATED" in out and "Δ vs [1]" in out and "[3]" in out
    line = next(
        x for x in out.splitlines() if "decode per user" in x and x.lstrip().startswith(("server", "decode"))
    )
    changes = [c for c in line.split() if c.endswith("%")]
    assert len(changes) == 2 and all(c.startswith("+") for c in changes)  # NVFP4 and MTP decode faster


def test_json_uses_the_load_key_names() -> None:
    proc = report(str(BF16), str(NVFP4), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["recordings"]) == 2
    first = doc["recordings"][0]
    assert set(first["client"]) >= LOAD_KEYS
    assert set(first["client"]["ttft_ms"]) >= {"mean", "median", "p90", "p99"}
    assert first["simulated"] is True and first["server"]["ttft_s"]["p99"] > 0
    decode = next(
        row for row in doc["compare"] if row["section"] == "server" and row["figure"] == "decode per user"
    )
    assert decode["change_pct"][0] is None and decode["change_pct"][1] > 0


def test_csv_and_markdown() -> None:
    rows = list(csv.reader(io.StringIO(report(str(BF16), str(NVFP4), "--format", "csv").stdout)))
    assert rows[0][:3] == ["section", "figure", "unit"] and len(rows[0]) == 6
    ttft = next(r for r in rows if r[0] == "client" and r[1] == "TTFT p99")
    assert float(ttft[3]) > 0 and float(ttft[5])
    server = next(r for r in rows if r[0] == "server" and r[1] == "TTFT p99")
    assert float(server[3]) > 0 and server[5] == ""  # both in one histogram bucket: no measured change
    md = report(str(BF16), "--format", "md").stdout
    tables = [t for t in md.split("\n\n") if t.lstrip().startswith("|")]
    assert len(tables) == 2  # the whole run, then by workload step
    for block in tables:
        table = [x for x in block.splitlines() if x.startswith("|")]
        assert table[1].startswith("|---") and all(x.count("|") == table[0].count("|") for x in table)


@pytest.mark.parametrize("content", [b"", b"not a recording", b"SQLite format 3\x00" + b"\x00" * 200])
def test_bad_files_exit_2_with_one_line(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.sparktop"
    bad.write_bytes(content)
    proc = report(str(BF16), str(bad))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("sparktop: error:") and "Traceback" not in proc.stderr


def whole_run(text: str) -> list[str]:
    """The lines of the whole run's table: from the header to the table by workload step."""
    table = text.split("\n\n")[1]
    assert "by workload step" not in table
    return table.splitlines()


def test_render_without_client_side() -> None:
    r = read_report(BF16)
    with_client = whole_run(render_table([r]))
    assert any(line.startswith("client") for line in with_client)
    r.client = None
    lines = whole_run(render_table([r]))
    assert any(line.startswith("server") for line in lines)
    # no client section of empty figures: only the client measures successes and peak concurrency
    assert not any(line.startswith("client") for line in lines), lines
    assert not any(figure in line for line in lines for figure in ("successful", "peak concurrency"))
