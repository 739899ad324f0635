"""`sparktop gpu`: the table, --json and the preflight exit code."""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import pytest

from sparktop.cli import main
from sparktop.clock import FakeClock
from sparktop.codec import decode
from sparktop.commands.gpu import render_text, run
from sparktop.gpu.nvml import NvmlCollector
from sparktop.gpu.preflight import PreflightResult
from sparktop.model import GpuSample, Unknown
from tests.realgpu.here import EXPECTED_WITHOUT, machine_gpu_or_skip
from tests.support.fake_pynvml import FakeNvml, gb10, h100
from tests.support.procfs import meminfo_text, write_proc


def args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {"json": False, "gpu_memory_utilization": None, "container": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def collector_factory(tmp_path: Path, fake: FakeNvml, **meminfo: int) -> partial[NvmlCollector]:
    proc = write_proc(tmp_path, meminfo=meminfo_text(**meminfo))
    return partial(NvmlCollector, nvml=fake, clock=FakeClock(), proc_root=proc, cgroup_root=tmp_path / "cg")


def test_gb10_table_shows_unknowns_and_the_breakdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNvml([gb10()])
    assert run(args(), make_collector=collector_factory(tmp_path, fake)) == 0
    out = capsys.readouterr().out
    assert "GPU 0  NVIDIA GB10" in out
    assert "power limit     unknown: not supported on this device" in out
    assert "41.2 W" in out
    assert "sw_power_cap" in out
    assert "unified with the host" in out
    assert "PID 2841907" in out and "89.0 GiB" in out
    assert "unknown: not reported by the driver" in out
    assert "at least (1 process without a figure)" in out
    assert "Memory: unified memory shared by the CPU and NVIDIA GB10" in out
    assert "some 1.25 %, full 0.50 %" in out
    assert fake.refcount == 0  # the command shut NVML down


def test_h100_table_shows_used_and_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(args(), make_collector=collector_factory(tmp_path, FakeNvml([h100()])))
    out = capsys.readouterr().out
    assert "memory used     67.1 GiB" in out
    assert "energy          9100.0 kJ since the driver loaded" in out  # NVML's 9,100,000,000 mJ
    assert "memory total    79.6 GiB" in out
    assert "GPU memory is separate" in out


def test_json_decodes_back_and_carries_the_preflight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = collector_factory(tmp_path, FakeNvml([gb10()]), free_kb=20 * 1024**2, available_kb=30 * 1024**2)
    code = run(args(json=True, gpu_memory_utilization=0.9), make_collector=factory)
    doc = json.loads(capsys.readouterr().out)
    sample = decode(GpuSample, doc["sample"])
    assert sample.devices[0].power_limit_w == Unknown("not supported on this device")
    assert decode(PreflightResult, doc["preflight"]).verdict == "fail"
    assert code == 1


def test_preflight_warn_still_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    factory = collector_factory(
        tmp_path, FakeNvml([gb10()]), free_kb=20 * 1024**2, available_kb=100 * 1024**2
    )
    assert run(args(gpu_memory_utilization=0.5), make_collector=factory) == 0
    out = capsys.readouterr().out
    assert "Preflight: warn:" in out and "drop_caches" in out


def test_the_real_command_here_exits_0_and_shows_host_memory(capsys: pytest.CaptureFixture[str]) -> None:
    """The real command on this machine, through the real pynvml: what it must say depends on the GPU."""
    here = machine_gpu_or_skip()
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    if here == "gpu":
        assert first.startswith("GPU: ok: ")
    else:
        status, detail = EXPECTED_WITHOUT[here]
        assert first == f"GPU: {status}: {detail}"
    assert "Memory: " in out and "total" in out
    assert main(["gpu", "--json"]) == 0
    sample = decode(GpuSample, json.loads(capsys.readouterr().out)["sample"])
    assert (sample.status == "ok") == (here == "gpu")
    assert not isinstance(sample.memory.total_bytes, Unknown)


def test_bad_input_is_one_line_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "--container", "my-vllm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparktop: error: not a container id") and "hint:" in err
    with pytest.raises(SystemExit) as exc:
        main(["gpu", "--gpu-memory-utilization", "90"])
    assert exc.value.code == 2
    assert "(0, 1]" in capsys.readouterr().err


def test_untrusted_text_is_cleaned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = write_proc(tmp_path, comm={2_841_907: "evil\x1b[2Jname"})
    sample = NvmlCollector(nvml=FakeNvml([gb10()]), clock=FakeClock(), proc_root=proc).collect()
    text = render_text(sample)
    assert "\x1b" not in text and "evil?[2Jname" in text
