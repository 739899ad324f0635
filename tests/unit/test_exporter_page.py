"""The exporter's page from frozen readings: names, units, unknowns, escaping, counters.

Every page is parsed back with prometheus_client's parser (the reference reader of the format) and,
where promtool is installed, checked by the real ``promtool check metrics``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sparktop.clock import FakeClock
from sparktop.container.phases import PhaseTracker
from sparktop.exporter.exposition import (
    MAX_LABEL,
    Family,
    clean_label,
    escape_help,
    escape_label_value,
    format_value,
    render,
)
from sparktop.exporter.page import ContainerView, PartStatus, Readings, families, render_page
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import (
    ContainerStats,
    GpuDevice,
    GpuProcess,
    GpuSample,
    HostMemory,
    StartupPhase,
    StartupProgress,
    Unknown,
)
from sparktop.secrets import REDACTED
from tests.support.fake_pynvml import GB10_PROCESS_MEMORY, FakeDevice, FakeNvml, gb10, h100
from tests.support.frames import sim_startup_lines
from tests.support.procfs import KIB, meminfo_text, write_proc
from tests.support.prometheus import tool

UNITS = ("_bytes", "_watts", "_celsius", "_seconds", "_ratio", "_joules_total", "_hertz", "_total", "_info")
HOSTILE = 'evil "GPU" \\ back\nslash\r\x1b[31mred\x1b[0m\x07\x00 tab\there \u202e'


def sample_of(tmp_path: Path, *devices: FakeDevice) -> GpuSample:
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    collector = NvmlCollector(nvml=FakeNvml(devices), clock=FakeClock(), proc_root=proc, cgroup_root=tmp_path)
    try:
        return collector.collect()
    finally:
        collector.close()


def readings(sample: GpuSample | None = None, memory: HostMemory | None = None, **kw: object) -> Readings:
    mem = memory if memory is not None else (sample.memory if sample is not None else _host())
    parts = {"memory": PartStatus(True, "", 0.001)}
    if sample is not None:
        parts["gpu"] = PartStatus(sample.status == "ok", f"{sample.status}: {sample.detail}", 0.002)
    values: dict[str, object] = {
        "t": 2000.0,
        "version": "0.1.0",
        "memory": mem,
        "gpu": sample,
        "parts": parts,
    }
    values.update(kw)
    return Readings(**values)  # type: ignore[arg-type]


def _host() -> HostMemory:
    return HostMemory(
        total_bytes=128.0 * 2**30,
        available_bytes=64.0 * 2**30,
        free_bytes=20.0 * 2**30,
        page_cache_bytes=44.0 * 2**30,
        reclaimable_bytes=44.0 * 2**30,
        gpu_processes_bytes=Unknown("GPU readings are off"),
        container_bytes=Unknown("no container given"),
        psi_some_avg10=1.25,
        psi_full_avg10=0.5,
        description="host memory",
    )


def parse(page: str) -> dict[str, list[Sample]]:
    """The page read back: every family documented and typed, samples by their own names."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(page):
        assert family.documentation, family.name
        assert family.type in ("gauge", "counter"), family.name
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def one(samples: dict[str, list[Sample]], name: str, /, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def unknowns(samples: dict[str, list[Sample]], family: str) -> dict[tuple[str, str], str]:
    """(device or container, field) -> reason of an unknown-readings info family."""
    return {
        (s.labels.get("device", s.labels.get("container", "")), s.labels["field"]): s.labels["reason"]
        for s in samples.get(family, [])
    }


def promtool_check(page: str) -> None:
    promtool = tool("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# --------------------------------------------------------------------------------------------------
# the GPU part


def test_gb10_readings_with_units_and_unsupported_fields_absent_with_the_reason(tmp_path: Path) -> None:
    sample = sample_of(tmp_path, gb10())
    page = render_page(readings(sample))
    samples = parse(page)
    assert one(samples, "sparktop_gpu_power_watts", device="0") == pytest.approx(41.25)
    assert one(samples, "sparktop_gpu_temperature_celsius", device="0") == 63
    assert one(samples, "sparktop_gpu_utilization_ratio", device="0") == pytest.approx(0.96)
    assert one(samples, "sparktop_gpu_sm_clock_hertz", device="0") == 2418e6
    assert one(samples, "sparktop_gpu_energy_joules_total", device="0") == 3_600_000
    assert one(samples, "sparktop_gpu_throttle_reason_active", device="0", reason="sw_power_cap") == 1
    assert one(samples, "sparktop_gpu_throttle_reason_active", device="0", reason="gpu_idle") == 0
    assert one(samples, "sparktop_gpu_info", device="0", name="NVIDIA GB10", unified_memory="true") == 1
    assert one(samples, "sparktop_gpu_collector_info", status="ok") == 1
    # not supported on GB10: absent, never 0, and the info series says why
    for absent in ("memory_used_bytes", "memory_total_bytes", "power_limit_watts"):
        assert f"sparktop_gpu_{absent}" not in samples
    why = unknowns(samples, "sparktop_gpu_field_unknown_info")
    assert why[("0", "memory_used_bytes")].startswith("not supported on this device")
    assert why[("0", "power_limit_watts")] == "not supported on this device"
    assert "memory_total_bytes" in {f for _, f in why}
    # processes: host PIDs, one without a figure (absent, with its PID in the reason's series)
    assert one(samples, "sparktop_gpu_processes", device="0") == 2
    assert one(samples, "sparktop_gpu_process_memory_bytes", device="0", pid="2841907") == GB10_PROCESS_MEMORY
    assert one(
        samples, "sparktop_gpu_field_unknown_info", device="0", field="process_memory_bytes", pid="2841955"
    )
    # the unified-memory breakdown knows the GPU processes' share, a lower bound with one unreported
    assert one(samples, "sparktop_memory_gpu_processes_bytes") == GB10_PROCESS_MEMORY
    assert one(samples, "sparktop_memory_gpu_processes_unreported") == 1
    assert one(samples, "sparktop_memory_total_bytes") == 127_608_324 * KIB
    assert one(samples, "sparktop_memory_available_bytes") == 66_871_020 * KIB
    assert one(samples, "sparktop_memory_pressure_some_avg10_ratio") == pytest.approx(0.0125)
    assert one(samples, "sparktop_memory_pressure_full_avg10_ratio") == pytest.approx(0.005)
    assert one(samples, "sparktop_exporter_part_up", part="gpu") == 1
    promtool_check(page)


def test_every_name_is_sparktops_with_its_unit_and_one_help_and_type(tmp_path: Path) -> None:
    sample = sample_of(tmp_path, gb10(), h100())
    page = render_page(readings(sample, container=_container_view(), memory_container="vllm"))
    names = [line.split()[2] for line in page.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names)) == sum(line.startswith("# HELP") for line in page.splitlines())
    for name in names:
        assert name.startswith("sparktop_"), name
    unitless = {
        "sparktop_exporter_part_up",
        "sparktop_gpu_processes",
        "sparktop_gpu_throttle_reason_active",
        "sparktop_memory_gpu_processes_unreported",
        "sparktop_container_running",
        "sparktop_container_state",
        "sparktop_container_oom_killed",
        "sparktop_container_exit_code",
        "sparktop_startup_ready",
        "sparktop_startup_failed",
        "sparktop_startup_phase_running",
        "sparktop_startup_kv_cache_tokens",
        "sparktop_startup_max_concurrency",
    }
    for name in set(names) - unitless:
        assert name.endswith(UNITS), name
    # the discrete GPU has the fields GB10 lacks
    samples = parse(page)
    assert one(samples, "sparktop_gpu_memory_total_bytes", device="1") == 85_520_809_984
    assert one(samples, "sparktop_gpu_power_limit_watts", device="1") == 700
    assert ("1", "memory_used_bytes") not in unknowns(samples, "sparktop_gpu_field_unknown_info")
    promtool_check(page)


def test_the_energy_counter_is_a_counter_in_joules(tmp_path: Path) -> None:
    page = render_page(readings(sample_of(tmp_path, h100())))
    (energy,) = [f for f in text_string_to_metric_families(page) if f.name == "sparktop_gpu_energy_joules"]
    assert energy.type == "counter"
    assert [(s.name, s.value) for s in energy.samples] == [("sparktop_gpu_energy_joules_total", 9_100_000)]
    assert "# TYPE sparktop_gpu_energy_joules_total counter" in page
    with pytest.raises(ValueError, match="_total"):
        Family("sparktop_gpu_energy_joules", "counter", "not a counter's name")


def test_a_collector_without_a_gpu_says_why_and_shows_no_device(tmp_path: Path) -> None:
    fake = FakeNvml([gb10()])
    fake.library_missing = True
    proc = write_proc(tmp_path, meminfo=meminfo_text())
    sample = NvmlCollector(nvml=fake, clock=FakeClock(), proc_root=proc, cgroup_root=tmp_path).collect()
    samples = parse(render_page(readings(sample)))
    assert one(samples, "sparktop_gpu_collector_info", status="no-library") == 1
    assert one(samples, "sparktop_exporter_part_up", part="gpu") == 0
    reason = samples["sparktop_exporter_part_error_info"][0].labels["reason"]
    assert reason.startswith("no-library: NVML library (libnvidia-ml.so.1) not found")
    assert not any(name.startswith(("sparktop_gpu_power", "sparktop_gpu_info")) for name in samples)
    assert one(samples, "sparktop_memory_total_bytes") > 0
    assert (
        "no GPU readings (no-library)"
        in unknowns(samples, "sparktop_memory_field_unknown_info")[("", "gpu_processes_bytes")]
    )


def test_readings_that_are_not_finite_are_left_out_with_a_reason(tmp_path: Path) -> None:
    sample = sample_of(tmp_path, h100())
    device = sample.devices[0]
    broken = GpuDevice(
        index=0,
        name=device.name,
        uuid=device.uuid,
        utilization_pct=float("nan"),
        power_w=float("inf"),
        power_limit_w=device.power_limit_w,
        temperature_c=device.temperature_c,
        sm_clock_mhz=device.sm_clock_mhz,
        energy_mj=device.energy_mj,
        throttle_reasons=("sw_power_cap", "0x8000"),
        unified_memory=False,
        memory_used_bytes=device.memory_used_bytes,
        memory_total_bytes=device.memory_total_bytes,
        processes=(GpuProcess(1, "a", 1.0), GpuProcess(1, "a", 2.0)),
    )
    page = render_page(readings(GpuSample(1.0, "ok", "1 device", (broken,), sample.memory)))
    samples = parse(page)
    assert "sparktop_gpu_utilization_ratio" not in samples and "sparktop_gpu_power_watts" not in samples
    why = unknowns(samples, "sparktop_gpu_field_unknown_info")
    assert why[("0", "utilization_ratio")] == "the reading was not a finite number (nan)"
    assert why[("0", "power_watts")] == "the reading was not a finite number (inf)"
    # a reason bit NVML did not name yet, and a process the driver listed twice
    assert one(samples, "sparktop_gpu_throttle_reason_active", device="0", reason="0x8000") == 1
    assert one(samples, "sparktop_gpu_process_memory_bytes", device="0", pid="1") == 1
    promtool_check(page)


# --------------------------------------------------------------------------------------------------
# escaping untrusted text


def test_hostile_text_is_cleaned_escaped_and_reads_back_as_one_line_each(tmp_path: Path) -> None:
    evil = FakeDevice(name=HOSTILE, uuid='GPU-"}\n1', power_mw=1000)
    sample = sample_of(tmp_path, evil)
    fatal = f"ERROR {HOSTILE} http://user:hunter2@hub.example/x?token=sekrit Bearer abcdef123456"
    view = ContainerView(
        name="vllm",
        stats=ContainerStats(
            1999.0, "vllm", "exited", Unknown("x"), Unknown("y"), Unknown("z"), 1, False, HOSTILE
        ),
        startup=StartupProgress(phases=(StartupPhase("engine", 1000.0, 1001.0),), fatal=fatal, hint=HOSTILE),
    )
    page = render_page(readings(sample, container=view, memory_container="vllm"))
    assert "\x1b" not in page and "\x07" not in page and "\x00" not in page and "\r" not in page
    assert "\u202e" not in page
    assert "hunter2" not in page and "sekrit" not in page and "abcdef123456" not in page
    for line in page.splitlines():  # every line is a comment or one whole sample
        assert line.startswith("# ") or line.rstrip().split(" ")[-1].replace(".", "").isdigit(), line
    samples = parse(page)
    expected = 'evil "GPU" \\ back slashred tab here'
    # the collector already replaced the name's control characters; quotes and backslashes remain
    name = clean_label(str(sample.devices[0].name))
    assert '"GPU" \\ back' in name
    assert one(samples, "sparktop_gpu_info", device="0", name=name) == 1
    assert samples["sparktop_gpu_info"][0].labels["uuid"] == 'GPU-"}?1'
    assert one(samples, "sparktop_container_stopped_info", container="vllm", reason=expected) == 1
    line = samples["sparktop_startup_fatal_info"][0].labels["line"]
    assert line.startswith(f"ERROR {expected} http://{REDACTED}@hub.example/x?token={REDACTED}")
    promtool_check(page)


def test_escaping_follows_the_text_format() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help('a\\b"c\nd') == 'a\\\\b"c\\nd'
    family = Family("sparktop_test_info", "gauge", "help with \\ and\nnewline")
    family.add(1, value='a\\b"c')
    page = render([family])
    assert page == (
        "# HELP sparktop_test_info help with \\\\ and\\nnewline\n"
        "# TYPE sparktop_test_info gauge\n"
        'sparktop_test_info{value="a\\\\b\\"c"} 1\n'
    )
    (parsed,) = text_string_to_metric_families(page)
    assert parsed.documentation == "help with \\ and\nnewline"
    assert parsed.samples[0].labels == {"value": 'a\\b"c'}


def test_label_values_are_cut_and_encodable() -> None:
    long = clean_label("x" * 10_000)
    assert len(long) == MAX_LABEL and long.endswith("…")
    assert clean_label("bad \udcff byte") == "bad ? byte"
    assert clean_label("  many\n\n  spaces\t ") == "many spaces"


def test_values_are_written_as_the_format_wants() -> None:
    assert [format_value(v) for v in (0.0, 3.0, 2.5, 1e20, -1.0)] == ["0", "3", "2.5", "1e+20", "-1"]
    assert format_value(float("nan")) == "NaN" and format_value(float("inf")) == "+Inf"
    family = Family("sparktop_test_ratio", "gauge", "x")
    with pytest.raises(ValueError, match="finite"):
        family.add(float("nan"))
    with pytest.raises(ValueError, match="label name"):
        family.add(1, **{"bad-name": "x"})
    twice = Family("sparktop_test_ratio", "gauge", "x")
    twice.add(1, a="1")
    twice.add(2, a="1")
    with pytest.raises(ValueError, match="two samples"):
        render([twice])


# --------------------------------------------------------------------------------------------------
# the container part


def _container_view() -> ContainerView:
    tracker = PhaseTracker()
    for t, line in sim_startup_lines("gemma4-26b-a4b-nvfp4", 1000.0):
        tracker.feed(t, line)
    stats = ContainerStats(1999.5, "vllm", "running", 150.0, 60.0 * 2**30, 100.0 * 2**30)
    return ContainerView(name="vllm", stats=stats, startup=tracker.progress)


def test_container_stats_and_startup_phase_durations_from_the_log() -> None:
    view = _container_view()
    assert view.startup is not None and view.startup.ready
    page = render_page(readings(container=view, memory_container="vllm"))
    samples = parse(page)
    assert one(samples, "sparktop_container_running", container="vllm") == 1
    assert one(samples, "sparktop_container_state", container="vllm", state="running") == 1
    assert one(samples, "sparktop_container_state", container="vllm", state="exited") == 0
    assert one(samples, "sparktop_container_cpu_usage_ratio", container="vllm") == 1.5
    assert one(samples, "sparktop_container_memory_bytes", container="vllm") == 60 * 2**30
    assert one(samples, "sparktop_container_memory_limit_bytes", container="vllm") == 100 * 2**30
    assert one(samples, "sparktop_container_oom_killed", container="vllm") == 0
    assert one(samples, "sparktop_container_reading_age_seconds", container="vllm") == 0.5
    assert "sparktop_container_exit_code" not in samples
    assert one(samples, "sparktop_startup_ready", container="vllm") == 1
    assert one(samples, "sparktop_startup_failed", container="vllm") == 0
    for phase in view.startup.phases:
        assert phase.ended is not None
        took = one(samples, "sparktop_startup_phase_duration_seconds", container="vllm", phase=phase.name)
        assert took == pytest.approx(phase.ended - phase.started)
        assert one(samples, "sparktop_startup_phase_running", container="vllm", phase=phase.name) == 0
    phases = {s.labels["phase"] for s in samples["sparktop_startup_phase_duration_seconds"]}
    assert {"engine", "weights", "kv_cache", "graphs", "api"} <= phases
    total = one(samples, "sparktop_startup_duration_seconds", container="vllm")
    ends = [p.ended for p in view.startup.phases if p.ended is not None]
    assert total == pytest.approx(max(ends) - view.startup.phases[0].started)
    assert one(samples, "sparktop_startup_kv_cache_tokens", container="vllm") == view.startup.kv_cache_tokens
    assert view.startup.max_concurrency_tokens is not None
    tokens = str(view.startup.max_concurrency_tokens)
    assert one(samples, "sparktop_startup_max_concurrency", container="vllm", tokens_per_request=tokens) > 0
    promtool_check(page)


def test_a_phase_still_running_counts_up_to_now_with_its_progress() -> None:
    startup = StartupProgress(
        phases=(StartupPhase("engine", 1000.0, 1004.0), StartupPhase("weights", 1004.0)),
        current="weights",
        percent=40.0,
    )
    view = ContainerView(name="vllm", startup=startup, stats=None, problem="")
    samples = parse(render_page(readings(container=view, t=1010.0)))
    assert one(samples, "sparktop_startup_phase_duration_seconds", phase="engine") == 4
    assert one(samples, "sparktop_startup_phase_duration_seconds", phase="weights") == 6
    assert one(samples, "sparktop_startup_phase_running", phase="weights") == 1
    assert one(samples, "sparktop_startup_phase_start_timestamp_seconds", phase="weights") == 1004
    assert one(samples, "sparktop_startup_phase_progress_ratio", phase="weights") == 0.4
    assert one(samples, "sparktop_startup_ready", container="vllm") == 0
    assert "sparktop_startup_duration_seconds" not in samples
    assert ("vllm", "state") in unknowns(samples, "sparktop_container_field_unknown_info")


def test_a_container_that_is_gone_keeps_the_page_with_the_reason() -> None:
    why = Unknown("container missing")
    gone = ContainerStats(
        2000.0, "vllm", "missing", why, why, why, None, False, "the container no longer exists"
    )
    view = ContainerView(name="vllm", stats=gone, startup=None, problem="container vllm no longer exists")
    r = readings(
        container=view,
        memory_container="vllm",
        parts={"memory": PartStatus(True), "container": PartStatus(False, view.problem)},
    )
    page = render_page(r)
    samples = parse(page)
    assert one(samples, "sparktop_container_state", container="vllm", state="missing") == 1
    assert one(samples, "sparktop_container_running", container="vllm") == 0
    assert one(samples, "sparktop_container_stopped_info", reason="the container no longer exists") == 1
    assert one(samples, "sparktop_exporter_part_up", part="container") == 0
    assert one(samples, "sparktop_exporter_part_error_info", part="container") == 1
    assert samples["sparktop_exporter_part_error_info"][0].labels["reason"] == view.problem
    assert "sparktop_container_memory_bytes" not in samples
    fields = unknowns(samples, "sparktop_container_field_unknown_info")
    assert fields[("vllm", "memory_bytes")] == "container missing"
    assert ("vllm", "startup_ready") in fields
    assert one(samples, "sparktop_memory_total_bytes") > 0
    promtool_check(page)


def test_families_come_in_part_order_with_unknowns_last() -> None:
    names = [f.name for f in families(readings(container=_container_view(), memory_container="vllm"))]
    parts = [n.split("_")[1] for n in names]
    order = ["exporter", "memory", "container", "startup"]
    assert sorted(parts, key=lambda p: min(order.index(p), 2)) == parts
    memory = [n for n in names if n.startswith("sparktop_memory_")]
    assert memory[-1] == "sparktop_memory_field_unknown_info"


def test_the_readme_documents_every_family_and_no_other() -> None:
    """Every family a page can hold is in the README's table, and the table names no other."""
    gb10_like = GpuDevice(
        0,
        "NVIDIA GB10",
        "GPU-1",
        1.0,
        2.0,
        Unknown("not supported on this device"),
        4.0,
        5.0,
        6.0,
        (),
        False,
        7.0,
        8.0,
        (GpuProcess(1, "vllm", 9.0),),
    )
    sample = GpuSample(
        1.0,
        "ok",
        "2 devices",
        (gb10_like, replace(gb10_like, index=1, power_limit_w=3.0)),
        replace(_host(), gpu_processes_bytes=1.0, container_bytes=2.0),
    )
    failed = ContainerView(
        name="vllm",
        stats=ContainerStats(
            1.0, "vllm", "exited", Unknown("x"), Unknown("x"), Unknown("x"), 1, True, "exited"
        ),
        startup=StartupProgress(
            phases=(StartupPhase("weights", 1.0),), current="weights", percent=50.0, fatal="boom", hint="h"
        ),
    )
    down = {"memory": PartStatus(True, "", 0.1), "gpu": PartStatus(False, "no-library: x", 0.1)}
    pages = [
        readings(sample, container=_container_view(), memory_container="vllm"),
        readings(sample, container=failed, memory_container="vllm", parts=down),
        readings(GpuSample(1.0, "no-library", "x", (), _host()), memory=_host()),
    ]
    produced = {f.name for r in pages for f in families(r) if f.samples}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Prometheus exporter (`sparktop exporter`)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(sparktop_[a-z0-9_]+)`", section, re.MULTILINE))
    assert produced == documented
