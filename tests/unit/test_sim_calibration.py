"""The simulated Spark reproduces the published closed-loop figures its profiles carry."""

from __future__ import annotations

import pytest

from sparktop.sim.calibration import run_closed_loop, simulate_cell
from sparktop.sim.profiles import PROFILES, TOLERANCE


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_calibrated_cells_are_within_tolerance(name: str) -> None:
    profile = PROFILES[name]
    off = []
    for figure in profile.calibrated_figures():
        simulated = simulate_cell(profile, figure.cell, figure.users).metric(figure.metric)
        if abs(simulated / figure.value - 1) > TOLERANCE:
            off.append(
                f"{figure.cell} x{figure.users} {figure.metric}: "
                f"published {figure.value}, sim {simulated:.3f}"
            )
    assert not off, "\n".join(off)


def test_decode_per_user_falls_with_concurrency_not_prompt_length() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    c1, c10 = run_closed_loop(p, 1024, 256, 1), run_closed_loop(p, 1024, 256, 10)
    long1 = run_closed_loop(p, 16384, 256, 1)
    assert c10.decode_per_user < 0.6 * c1.decode_per_user
    assert long1.decode_per_user > 0.9 * c1.decode_per_user


def test_ttft_grows_with_prompt_size_times_concurrency() -> None:
    p = PROFILES["gemma4-26b-a4b-nvfp4"]
    small = run_closed_loop(p, 2048, 16, 5).ttft_s
    assert run_closed_loop(p, 8192, 16, 5).ttft_s > 3 * small
    assert run_closed_loop(p, 2048, 16, 20).ttft_s > 2.5 * small


def test_speculative_decoding_speeds_decode_up() -> None:
    plain = run_closed_loop(PROFILES["gemma4-26b-a4b-bf16"], 1024, 512, 10)
    mtp = run_closed_loop(PROFILES["gemma4-26b-a4b-mtp"], 1024, 512, 10)
    assert mtp.decode_per_user > 1.3 * plain.decode_per_user


def test_the_suites_first_cell_pays_the_cold_start_once_in_three_runs() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    warm = run_closed_loop(p, 4096, 256, 1)
    cold = run_closed_loop(p, 4096, 256, 1, cold=True)
    assert cold.ttft_s - warm.ttft_s == pytest.approx(p.cold_start_s)
    assert simulate_cell(p, "A-4k", 1).ttft_s == pytest.approx(warm.ttft_s + p.cold_start_s / 3)
    assert simulate_cell(p, "A-4k", 10).ttft_s == pytest.approx(run_closed_loop(p, 4096, 256, 10).ttft_s)
