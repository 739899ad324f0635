"""Energy per generated token from the NVML energy counter and vLLM's token counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktop.clock import FakeClock
from sparktop.derive.energy import counter_increase, energy_per_token, total_energy_mj
from sparktop.gpu.nvml import NvmlCollector
from sparktop.model import Num, Unknown
from tests.support.fake_pynvml import FakeNvml, gb10, h100
from tests.support.procfs import write_proc


def series(points: list[tuple[float, float | Unknown]]) -> list[tuple[float, Num]]:
    return list(points)


def test_steady_load() -> None:
    # 40 W for 60 s = 2400 J; 20 tok/s for 60 s = 1200 tokens -> 2 J/token
    energy = series([(t, 1_000_000 + 40_000 * t) for t in range(0, 61)])
    tokens = series([(t + 0.3, 20.0 * t) for t in range(0, 61)])
    assert energy_per_token(energy, tokens, window_s=60, now=60.3) == pytest.approx(2.0)


def test_window_keeps_only_recent_samples() -> None:
    # the first half idles at 10 W with no tokens, the second half runs at 50 W, 25 tok/s
    energy = series([(t, 10_000.0 * min(t, 30) + 50_000.0 * max(0, t - 30)) for t in range(0, 61)])
    tokens = series([(t, 25.0 * max(0, t - 30)) for t in range(0, 61)])
    assert energy_per_token(energy, tokens, window_s=20, now=60) == pytest.approx(2.0)
    whole = energy_per_token(energy, tokens, window_s=60, now=60)
    assert whole == pytest.approx((300 + 1500) / 750)


def test_counter_resets_count_the_value_after_the_reset() -> None:
    assert counter_increase([(0, 100.0), (1, 150.0), (2, 20.0), (3, 50.0)]) == (50 + 20 + 30, 3)
    energy = series([(0, 5_000_000.0), (10, 5_100_000.0), (20, 40_000.0), (30, 140_000.0)])
    tokens = series([(0, 1_000.0), (10, 1_100.0), (20, 1_200.0), (30, 1_300.0)])
    # 100 + 40 + 100 kJ... in mJ: 100_000 + 40_000 + 100_000 = 240 J over 300 tokens
    assert energy_per_token(energy, tokens, window_s=30, now=30) == pytest.approx(240 / 300)


def test_unknown_energy_passes_its_reason_on() -> None:
    unsupported = Unknown("not supported on this device")
    energy = series([(0, unsupported), (1, unsupported)])
    tokens = series([(0, 0.0), (1, 10.0)])
    result = energy_per_token(energy, tokens, window_s=10)
    assert isinstance(result, Unknown) and "not supported on this device" in result.reason


def test_gaps_in_the_counters_are_bridged() -> None:
    energy = series([(0, 0.0), (1, Unknown("NVML error: Timeout")), (2, 2_000.0)])
    tokens = series([(0, 0.0), (2, 4.0)])
    assert energy_per_token(energy, tokens, window_s=5, now=2) == pytest.approx(0.5)


def test_no_tokens_or_too_few_readings() -> None:
    energy = series([(0, 0.0), (10, 10_000.0)])
    idle = energy_per_token(energy, series([(0, 50.0), (10, 50.0)]), window_s=10)
    assert isinstance(idle, Unknown) and "no tokens" in idle.reason
    one = energy_per_token(energy, series([(10, 50.0)]), window_s=10)
    assert isinstance(one, Unknown) and "generated tokens" in one.reason
    empty = energy_per_token([], [], window_s=10)
    assert isinstance(empty, Unknown)
    with pytest.raises(ValueError, match="window"):
        energy_per_token(energy, energy, window_s=0)


def test_total_energy_from_samples(tmp_path: Path) -> None:
    proc = write_proc(tmp_path)
    fake = FakeNvml([gb10(), h100()])
    sample = NvmlCollector(nvml=fake, clock=FakeClock(), proc_root=proc).collect()
    expected = sum(d.energy_mj or 0 for d in fake.devices)
    assert total_energy_mj(sample) == expected
    fake_no = FakeNvml([gb10()])
    fake_no.devices[0].energy_mj = None
    unsupported = NvmlCollector(nvml=fake_no, clock=FakeClock(), proc_root=proc).collect()
    result = total_energy_mj(unsupported)
    assert isinstance(result, Unknown) and "not supported" in result.reason
    fake_none = FakeNvml([gb10()])
    fake_none.library_missing = True
    missing = total_energy_mj(NvmlCollector(nvml=fake_none, clock=FakeClock(), proc_root=proc).collect())
    assert isinstance(missing, Unknown) and "no-library" in missing.reason


def test_end_to_end_from_collector_ticks(tmp_path: Path) -> None:
    """Energy from successive collector ticks, tokens from a counter: the figure the panel shows."""
    proc = write_proc(tmp_path)
    clock = FakeClock(start=0.0)
    fake = FakeNvml([gb10()])
    collector = NvmlCollector(nvml=fake, clock=clock, proc_root=proc)
    energy: list[tuple[float, Num]] = []
    tokens: list[tuple[float, Num]] = []
    for step in range(31):
        model = fake.devices[0]
        assert model.energy_mj is not None
        sample = collector.collect()
        energy.append((sample.t, total_energy_mj(sample)))
        tokens.append((sample.t, 30.0 * step))
        model.energy_mj += 45_000  # 45 W
        clock.advance(1)
    assert energy_per_token(energy, tokens, window_s=30) == pytest.approx(45 / 30)


class SlowEnergy:
    """A timer, and an energy read that costs ``cost_s`` of it (as one did on an H200, 4.3 ms)."""

    def __init__(self, fake: FakeNvml, cost_s: float) -> None:
        self.now = 0.0
        self.reads = 0
        read = fake.nvmlDeviceGetTotalEnergyConsumption

        def slow(handle: object) -> int:
            self.reads += 1
            self.now += cost_s
            return read(handle)

        setattr(fake, "nvmlDeviceGetTotalEnergyConsumption", slow)  # noqa: B010 - shadows the method

    def timer(self) -> float:
        return self.now


@pytest.mark.parametrize(("cost_s", "reads"), [(0.0043, 7), (0.0002, 31)])
def test_a_slow_energy_counter_is_read_every_few_seconds_and_the_figure_stays_exact(
    tmp_path: Path, cost_s: float, reads: int
) -> None:
    proc = write_proc(tmp_path)
    clock = FakeClock(start=0.0)
    fake = FakeNvml([h100()])
    slow = SlowEnergy(fake, cost_s)
    collector = NvmlCollector(nvml=fake, clock=clock, proc_root=proc, timer=slow.timer)
    energy: list[tuple[float, Num]] = []
    tokens: list[tuple[float, Num]] = []
    skipped: list[Unknown] = []
    for step in range(31):
        sample = collector.collect()
        value = total_energy_mj(sample)
        energy.append((sample.t, value))
        tokens.append((sample.t, 30.0 * step))
        if isinstance(value, Unknown):
            skipped.append(value)
        model = fake.devices[0]
        assert model.energy_mj is not None and model.power_mw is not None
        model.energy_mj += 450_000  # 450 J per second
        clock.advance(1)
    # slow: t = 0, 5, 10, ... 30; fast: every tick
    assert slow.reads == reads
    assert len(skipped) == 31 - reads
    assert all("read every 5 s" in u.reason and f"{cost_s * 1000:.1f} ms" in u.reason for u in skipped)
    # every other field is still read each tick
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 31
    assert energy_per_token(energy, tokens, window_s=30) == pytest.approx(450 / 30)
    # a window shorter than the spacing still has two readings with their own times
    assert energy_per_token(energy, tokens, window_s=10) == pytest.approx(450 / 30)


def test_the_spacing_ends_when_a_read_is_cheap_again(tmp_path: Path) -> None:
    proc = write_proc(tmp_path)
    clock = FakeClock(start=0.0)
    fake = FakeNvml([h100()])
    slow = SlowEnergy(fake, 0.004)
    collector = NvmlCollector(nvml=fake, clock=clock, proc_root=proc, timer=slow.timer)
    collector.collect()
    clock.advance(1)
    assert isinstance(total_energy_mj(collector.collect()), Unknown)
    slow_reads = slow.reads
    del fake.nvmlDeviceGetTotalEnergyConsumption  # the class's own read again: cheap
    clock.advance(4)
    assert not isinstance(total_energy_mj(collector.collect()), Unknown)  # due: read, and cheap now
    clock.advance(1)
    assert not isinstance(total_energy_mj(collector.collect()), Unknown)
    assert slow.reads == slow_reads
