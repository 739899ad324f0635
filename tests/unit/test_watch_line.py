"""The plain line of ``watch --headless``: GPU readings on it when there are any."""

from __future__ import annotations

from pathlib import Path

from sparktop.clock import FakeClock
from sparktop.commands.watch import format_line
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import TargetInfo
from sparktop.session.core import Session
from tests.support.fake_pynvml import FakeNvml, h100, h200
from tests.support.procfs import write_proc


def line_with(fake: FakeNvml, tmp_path: Path) -> str:
    clock = FakeClock(start=1_750_000_000.0)
    session = Session(TargetInfo("http://127.0.0.1:8000", "url"), start=clock.now())
    session.observe(NvmlCollector(nvml=fake, clock=clock, proc_root=write_proc(tmp_path)).collect())
    return format_line(session.frame(60, now=clock.now()))


def test_gpu_readings_are_on_the_line(tmp_path: Path) -> None:
    busy = h200()
    busy.utilization_pct, busy.power_mw, busy.temperature_c = 99, 690_412, 59
    line = line_with(FakeNvml([busy]), tmp_path)
    assert " gpu_util=99% gpu_w=690.4 gpu_temp=59C " in line  # then the server's state and reason


def test_several_devices_give_mean_use_total_power_and_the_hottest(tmp_path: Path) -> None:
    line = line_with(FakeNvml([h200(), h100()]), tmp_path)  # 0% and 71%; 77.26 + 512.3 W; 37 and 58 C
    assert "gpu_util=36% gpu_w=589.6 gpu_temp=58C" in line


def test_an_unknown_power_leaves_the_sum_off(tmp_path: Path) -> None:
    quiet = h100()
    quiet.power_mw = None
    line = line_with(FakeNvml([h200(), quiet]), tmp_path)
    assert "gpu_w=" not in line and "gpu_util=36%" in line


def test_no_gpu_readings_add_nothing(tmp_path: Path) -> None:
    fake = FakeNvml([h200()])
    fake.library_missing = True
    assert "gpu_" not in line_with(fake, tmp_path)
