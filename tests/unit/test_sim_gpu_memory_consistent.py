"""The simulated GB10's memory breakdown obeys the definitions the real one is read by."""

from __future__ import annotations

import pytest

from sparktop.model import Unknown
from sparktop.sim.profiles import PROFILES
from sparktop.sim.server import SimConfig, SimServer


@pytest.mark.parametrize("profile", list(PROFILES))
def test_reclaimable_is_available_less_free_and_nothing_exceeds_the_total(profile: str) -> None:
    memory = SimServer(SimConfig(profile=profile, startup="instant")).gpu_sample().memory
    values = [memory.total_bytes, memory.available_bytes, memory.free_bytes, memory.reclaimable_bytes]
    assert not any(isinstance(v, Unknown) for v in values)
    total, available, free, reclaimable = (float(v) for v in values)  # type: ignore[arg-type]
    assert reclaimable == available - free
    assert 0 <= free <= available <= total
