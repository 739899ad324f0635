"""The exporter's collection: one per cache period however many scrape, parts that fail alone, the
energy counter held between slow reads, the container follower's view, and the verb's bad arguments."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sparktop.cli import main
from sparktop.clock import FakeClock
from sparktop.exporter.collect import Collector
from sparktop.exporter.container import ContainerFollower, valid_name
from sparktop.gpu.nvml import ENERGY_EVERY_S, NvmlCollector
from sparktop.model import ContainerStats, Event, GpuSample, Unknown
from tests.support.fake_pynvml import FakeNvml, gb10, h100
from tests.support.frames import sim_startup_lines
from tests.support.procfs import KIB, meminfo_text, write_proc


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def samples_of(page: str) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(page: str, name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples_of(page).get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels)
    return found[0]


def gpu_collector(tmp_path: Path, fake: FakeNvml) -> NvmlCollector:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    return NvmlCollector(nvml=fake, clock=FakeClock(), proc_root=proc, cgroup_root=tmp_path / "cg")


async def test_scrapes_at_once_share_one_collection_and_the_cache_expires(tmp_path: Path) -> None:
    fake = FakeNvml([gb10(), h100()])
    ticks = Ticks()
    collector = Collector(gpu=gpu_collector(tmp_path, fake), max_age_s=5.0, monotonic=ticks)
    pages = await asyncio.gather(*(collector.page() for _ in range(6)))
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 2  # one collection: one call per device
    assert collector.collections == 1
    assert sorted(value(p, "sparktop_exporter_scrapes_total") for p in pages) == [1, 2, 3, 4, 5, 6]
    assert {value(p, "sparktop_exporter_collections_total") for p in pages} == {1}
    ticks.now += 4.9  # still fresh
    await collector.page()
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 2
    ticks.now += 0.2
    page = await collector.page()
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 4
    assert value(page, "sparktop_exporter_collections_total") == 2


async def test_a_scraper_that_hangs_up_does_not_cancel_the_collection_others_wait_on(tmp_path: Path) -> None:
    fake = FakeNvml([gb10()])
    collector = Collector(gpu=gpu_collector(tmp_path, fake), max_age_s=5.0, monotonic=Ticks())
    first = asyncio.ensure_future(collector.page())
    second = asyncio.ensure_future(collector.page())
    await asyncio.sleep(0)
    first.cancel()
    page = await second
    assert value(page, "sparktop_gpu_power_watts", device="0") == pytest.approx(41.25)
    assert collector.collections == 1


async def test_without_gpu_the_host_memory_is_served_and_no_gpu_part(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    page = await Collector(proc_root=proc, cgroup_root=tmp_path / "cg").page()
    assert value(page, "sparktop_memory_total_bytes") == 127_608_324 * KIB
    assert value(page, "sparktop_exporter_part_up", part="memory") == 1
    assert "sparktop_gpu_collector_info" not in page and 'part="gpu"' not in page


async def test_unreadable_meminfo_marks_the_memory_part_down_with_the_reason(tmp_path: Path) -> None:
    page = await Collector(proc_root=tmp_path / "nothing", cgroup_root=tmp_path).page()
    assert value(page, "sparktop_exporter_part_up", part="memory") == 0
    reason = samples_of(page)["sparktop_exporter_part_error_info"][0].labels["reason"]
    assert reason.startswith("cannot read ") and "meminfo" in reason
    assert "sparktop_memory_total_bytes" not in page


class Exploding(NvmlCollector):
    def collect(self) -> GpuSample:
        raise RuntimeError("the binding blew up")


async def test_a_gpu_collector_that_raises_costs_the_gpu_part_only(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    broken = Exploding(nvml=FakeNvml([gb10()]), proc_root=proc, cgroup_root=tmp_path)
    collector = Collector(gpu=broken, proc_root=proc, cgroup_root=tmp_path)
    page = await collector.page()
    assert value(page, "sparktop_exporter_part_up", part="gpu") == 0
    assert value(page, "sparktop_exporter_part_up", part="memory") == 1
    assert value(page, "sparktop_gpu_collector_info", status="error") == 1
    errors = {
        s.labels["part"]: s.labels["reason"] for s in samples_of(page)["sparktop_exporter_part_error_info"]
    }
    assert errors == {"gpu": "error: GPU collection failed: RuntimeError: the binding blew up"}
    assert value(page, "sparktop_memory_total_bytes") == 127_608_324 * KIB


class Scripted(NvmlCollector):
    """A collector whose samples are the real collector's with the energy counter scripted."""

    def __init__(self, energies: list[float | Unknown], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.energies = energies

    def collect(self) -> GpuSample:
        sample = super().collect()
        energy = self.energies.pop(0)
        return replace(sample, devices=tuple(replace(d, energy_mj=energy) for d in sample.devices))


async def test_the_energy_counter_is_held_between_slow_reads_not_dropped(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    slow = Unknown("read every 5 s: one reading takes 4.3 ms on this driver")
    gpu = Scripted(
        [5000.0, slow, slow, 9000.0, slow], nvml=FakeNvml([h100()]), proc_root=proc, cgroup_root=tmp_path
    )
    ticks = Ticks()
    collector = Collector(gpu=gpu, max_age_s=1.0, monotonic=ticks)

    async def energy() -> float | None:
        ticks.now += 1.0
        found = samples_of(await collector.page()).get("sparktop_gpu_energy_joules_total", [])
        return found[0].value if found else None

    assert await energy() == 5.0
    assert await energy() == 5.0  # held: the collector skipped this read
    ticks.now += 2 * ENERGY_EVERY_S  # held too long: gone, with the collector's reason
    page_value = await energy()
    assert page_value is None
    assert await energy() == 9.0
    assert await energy() == 9.0


# --------------------------------------------------------------------------------------------------
# the container follower


def test_the_follower_reads_the_startup_from_log_lines_and_keeps_the_latest_reading() -> None:
    follower = ContainerFollower("vllm")
    view = follower.view()
    assert (view.stats, view.startup, view.problem) == (None, None, "looking for container vllm")
    follower._problem = ""
    for t, line in sim_startup_lines("gemma4-26b-a4b-nvfp4", 1000.0):
        follower.observe(Event(t, "log", line, "container"))
    follower.observe(ContainerStats(1.0, "vllm", "running", 10.0, 1.0, 2.0))
    view = follower.view()
    assert view.startup is not None and view.startup.ready and view.problem == ""
    assert view.stats is not None and view.stats.cpu_pct == 10.0
    follower.observe(Event(2.0, "container", "no container stats: broken pipe", "sparktop", "warning"))
    assert follower.view().problem == "no container stats: broken pipe"
    follower.observe(ContainerStats(3.0, "vllm", "running", 11.0, 1.0, 2.0))
    assert follower.view().problem == ""  # a reading came: Docker answers again


async def test_memory_of_a_container_not_followed_says_why(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    follower = ContainerFollower("vllm")
    follower._problem = "no container named vllm"
    page = await Collector(follower=follower, proc_root=proc, cgroup_root=tmp_path).page()
    fields = {
        s.labels["field"]: s.labels["reason"] for s in samples_of(page)["sparktop_memory_field_unknown_info"]
    }
    assert fields["container_bytes"] == "container vllm is not followed: no container named vllm"
    assert value(page, "sparktop_exporter_part_up", part="container") == 0
    assert value(page, "sparktop_container_field_unknown_info", field="state") == 1


def test_container_names() -> None:
    assert valid_name("vllm-bench_1.2") and valid_name("0123456789ab") and valid_name("/vllm")
    assert (
        not valid_name("")
        and not valid_name("bad name")
        and not valid_name("-x")
        and not valid_name("a" * 256)
    )


# --------------------------------------------------------------------------------------------------
# the verb's arguments


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--port", "70000"], "argument --port: must be 0..65535: '70000'"),
        (["--port", "x"], "argument --port: not a port number: 'x'"),
        (["--interval", "0"], "argument --interval: must be from 0.05 to 3600 seconds: '0'"),
        (["--interval", "nan"], "argument --interval: must be a finite number: 'nan'"),
    ],
)
def test_bad_options_exit_2_with_the_reason(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["exporter", *argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"sparktop exporter: error: {said}"


def test_a_bad_container_name_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exporter", "--container", "no such;name"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "sparktop: error: not a container name or id: 'no such;name'"
    assert err[1].startswith("hint: ")
    assert len(err) == 2
