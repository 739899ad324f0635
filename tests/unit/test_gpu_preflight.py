"""The launch preflight: --gpu-memory-utilization against free and reclaimable memory now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparktop.clock import FakeClock
from sparktop.gpu.nvml import NvmlCollector
from sparktop.gpu.preflight import DROP_CACHES, preflight
from sparktop.model import GpuSample, Unknown
from tests.support.fake_pynvml import FakeNvml, gb10, h100
from tests.support.procfs import KIB, meminfo_text, write_proc

TOTAL_KB = 127_608_324  # 121.7 GiB


def spark_sample(tmp_path: Path, free_kb: int, available_kb: int, fake: FakeNvml | None = None) -> GpuSample:
    proc = write_proc(
        tmp_path, meminfo=meminfo_text(total_kb=TOTAL_KB, free_kb=free_kb, available_kb=available_kb)
    )
    return NvmlCollector(nvml=fake or FakeNvml([gb10()]), clock=FakeClock(), proc_root=proc).collect()


def suggested(hint: str) -> float:
    match = re.search(r"--gpu-memory-utilization (\d\.\d\d)", hint)
    assert match, hint
    return float(match.group(1))


def test_fits_in_free_memory(tmp_path: Path) -> None:
    sample = spark_sample(tmp_path, free_kb=110 * 1024**2, available_kb=115 * 1024**2)
    result = preflight(0.85, sample)
    assert result.verdict == "ok"
    assert result.requested_bytes == pytest.approx(0.85 * TOTAL_KB * KIB)
    assert result.hint == ""


def test_page_cache_in_the_way_warns_with_drop_caches(tmp_path: Path) -> None:
    # the DGX Spark failure: model files just read, 45 GiB of page cache, only 60 GiB free
    sample = spark_sample(tmp_path, free_kb=60 * 1024**2, available_kb=105 * 1024**2)
    result = preflight(0.80, sample)
    assert result.verdict == "warn"
    assert "page cache" in result.message
    assert DROP_CACHES in result.hint
    lower = suggested(result.hint)
    assert lower * TOTAL_KB <= 60 * 1024**2 < (lower + 0.01) * TOTAL_KB


def test_too_much_even_after_reclaim_fails(tmp_path: Path) -> None:
    sample = spark_sample(tmp_path, free_kb=20 * 1024**2, available_kb=50 * 1024**2)
    result = preflight(0.9, sample)
    assert result.verdict == "fail"
    assert "GPU processes already hold 89.0 GiB" in result.message
    lower = suggested(result.hint)
    assert lower * TOTAL_KB <= 50 * 1024**2 < (lower + 0.01) * TOTAL_KB
    assert preflight(lower, sample).verdict in ("ok", "warn")


def test_nothing_fits_at_all(tmp_path: Path) -> None:
    sample = spark_sample(tmp_path, free_kb=100, available_kb=200)
    result = preflight(0.5, sample)
    assert result.verdict == "fail" and "free memory first" in result.hint


def test_boundaries(tmp_path: Path) -> None:
    exactly_free = spark_sample(tmp_path, free_kb=TOTAL_KB // 2, available_kb=TOTAL_KB)
    assert preflight(0.5, exactly_free).verdict == "ok"
    exactly_available = spark_sample(tmp_path / "b", free_kb=0, available_kb=TOTAL_KB // 2)
    assert preflight(0.5, exactly_available).verdict == "warn"


def test_without_gpu_the_host_memory_decides(tmp_path: Path) -> None:
    fake = FakeNvml([gb10()])
    fake.library_missing = True
    sample = spark_sample(tmp_path, free_kb=20 * 1024**2, available_kb=100 * 1024**2, fake=fake)
    assert sample.status == "no-library"
    assert preflight(0.7, sample).verdict == "warn"


def test_unknown_memory_cannot_be_checked(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    sample = NvmlCollector(nvml=FakeNvml([gb10()]), clock=FakeClock(), proc_root=proc).collect()
    result = preflight(0.8, sample)
    assert result.verdict == "warn" and "cannot check" in result.message
    assert isinstance(result.requested_bytes, Unknown)


def test_discrete_gpu_uses_its_own_free_memory(tmp_path: Path) -> None:
    fake = FakeNvml([h100()])
    model = fake.devices[0]
    assert model.memory is not None
    total, used = model.memory
    sample = spark_sample(tmp_path, free_kb=1024**2, available_kb=1024**2, fake=fake)  # host RAM irrelevant
    low = (total - used) / total - 0.02
    assert preflight(low, sample).verdict == "ok"
    result = preflight(0.9, sample)
    assert result.verdict == "fail"
    assert suggested(result.hint) * total <= total - used


@pytest.mark.parametrize("util", [0.0, -0.1, 1.01])
def test_utilization_out_of_range(tmp_path: Path, util: float) -> None:
    sample = spark_sample(tmp_path, free_kb=1024**2, available_kb=1024**2)
    with pytest.raises(ValueError, match="gpu-memory-utilization"):
        preflight(util, sample)
