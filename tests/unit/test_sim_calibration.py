"""The simulated Spark reproduces the published figures its profiles carry (virtual time, no HTTP).

``benchmarks/bench_sim_calibration.py`` checks the same figures over HTTP through the load
generator; here the engine runs without a clock, so every profile's closed-loop cells and open-loop
runs take about a second and a broken coefficient fails at once.
"""

from __future__ import annotations

import math

import pytest

from sparktop.sim.calibration import (
    Timing,
    closed_figures,
    open_figures,
    open_loop_requests,
    open_stage,
    peak_concurrency,
    probe_latency,
    run_closed_loop,
    simulate_cell,
    simulate_figures,
    simulate_run,
)
from sparktop.sim.profiles import OPEN_RUNS, PROFILES, PROMPT_TOKEN_RATIO, TOLERANCE, Figure
from sparktop.workload import arrivals


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_counted_figure_is_within_tolerance(name: str) -> None:
    profile = PROFILES[name]
    off = []
    for figure, simulated in simulate_figures(profile, profile.calibrated_figures()).items():
        if not abs(simulated / figure.value - 1) <= TOLERANCE:
            off.append(
                f"{figure.cell} x{figure.users} {figure.metric} [{figure.source}]: "
                f"published {figure.value}, simulated {simulated:.3f}"
            )
    assert not off, "\n".join(off)


def test_figures_left_out_of_the_count_say_why_and_are_few() -> None:
    for profile in PROFILES.values():
        left_out = [f for f in profile.figures if not f.calibrated]
        assert all(len(f.excluded) > 40 for f in left_out)
        assert len(left_out) <= 0.1 * len(profile.figures), profile.name
    # every profile is held to its open-loop runs too, not only to closed-loop cells
    for profile in PROFILES.values():
        assert {f.cell for f in profile.calibrated_figures() if f.open_loop} == set(OPEN_RUNS)


def test_a_broken_coefficient_is_caught() -> None:
    from dataclasses import replace

    profile = PROFILES["gemma4-26b-a4b-nvfp4"]
    slow_prefill = replace(
        profile, cost=replace(profile.cost, per_prefill_token_s=profile.cost.per_prefill_token_s * 1.5)
    )
    figures = [f for f in profile.calibrated_figures() if f.metric == "ttft_s" and f.users == 10]
    simulated = simulate_figures(slow_prefill, figures)
    assert any(abs(v / f.value - 1) > TOLERANCE for f, v in simulated.items())


def test_llama_benchy_figures_from_request_times() -> None:
    # two lockstep batches of two users: (start, first token, end, prompt, output)
    batches = [
        [(0.0, 1.0, 11.0, 1000, 101), (0.0, 2.0, 12.0, 1000, 101)],
        [(20.0, 21.0, 31.0, 1000, 101), (20.0, 22.0, 32.0, 1000, 101)],
    ]
    cell = closed_figures(batches, latency_s=0.1)
    assert cell.ttft_s == pytest.approx(1.5)
    assert cell.decode_per_user == pytest.approx(10.0)  # 100 tokens in 10 s each
    assert cell.decode_total == pytest.approx(200 / 11)  # last end - first first token
    assert cell.prefill_tps == pytest.approx(2000 / 2.0)  # batch prompt / last first token
    # one user: per request, prompt / (TTFT - latency probe)
    single = closed_figures([[(0.0, 0.6, 5.6, 1000, 51)]], latency_s=0.1)
    assert single.prefill_tps == pytest.approx(2000.0)
    assert single.decode_total == pytest.approx(single.decode_per_user)


def test_vllm_bench_serve_figures_from_request_times() -> None:
    timings = [Timing(float(i), i + 0.5, i + 10.5, 100, 11) for i in range(10)]
    figures = open_figures(timings)
    assert figures["request_rate"] == pytest.approx(10 / 19.5)
    assert figures["total_tps"] == pytest.approx(1110 / 19.5)
    assert figures["peak_concurrency"] == 10  # every interval overlaps [9, 10.5)
    assert figures["ttft_p99_ms"] == pytest.approx(500.0)
    assert figures["tpot_p50_ms"] == pytest.approx(1000.0)
    assert figures["e2el_p50_ms"] == pytest.approx(10500.0)


def test_peak_concurrency_counts_one_second_buckets_as_the_published_tool_did() -> None:
    # one request after the other within the same second: never two in flight, but two in a bucket
    back_to_back = [Timing(0.0, 0.1, 0.4, 10, 5), Timing(0.6, 0.7, 0.9, 10, 5)]
    assert peak_concurrency(back_to_back) == 2
    apart = [Timing(0.0, 0.1, 0.4, 10, 5), Timing(1.6, 1.7, 1.9, 10, 5)]
    assert peak_concurrency(apart) == 1


def test_open_loops_draw_the_requests_the_load_generator_draws() -> None:
    stage = open_stage("H")
    requests = open_loop_requests(stage)
    assert len(requests) == stage.num_prompts
    low, high = arrivals.length_range(stage.input_len, stage.range_ratio)
    assert all(low <= prompt <= high for _, prompt, _ in requests)
    assert requests[-1][0] == pytest.approx(stage.num_prompts / stage.rate)
    assert requests == open_loop_requests(stage)  # seeded, repeatable
    conversations = open_loop_requests(open_stage("I"))
    assert 150 < sum(p for _, p, _ in conversations) / len(conversations) < 350


def test_closed_loop_prompts_are_what_the_server_counted() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    cell = simulate_cell(p, "C", 10)
    plain = run_closed_loop(p, round(PROMPT_TOKEN_RATIO * 1024), 1024, 10)
    assert cell.ttft_s == pytest.approx(plain.ttft_s)


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


def test_speculative_decoding_wins_at_few_users_and_loses_its_lead_for_slow_replies_under_load() -> None:
    plain, mtp = PROFILES["gemma4-26b-a4b-bf16"], PROFILES["gemma4-26b-a4b-mtp"]
    one = (
        run_closed_loop(mtp, 1024, 512, 1).decode_per_user
        / run_closed_loop(plain, 1024, 512, 1).decode_per_user
    )
    assert one > 1.25
    # a few users at a time (I): even the least predictable replies gain from the drafts
    assert simulate_run(mtp, "I")["tpot_p95_ms"] < 0.9 * simulate_run(plain, "I")["tpot_p95_ms"]
    # 25 at a time (J): drafting for the whole batch makes them slower than no drafts at all
    assert simulate_run(mtp, "J")["tpot_p95_ms"] > simulate_run(plain, "J")["tpot_p95_ms"]


def test_the_latency_probe_is_a_one_token_reply_on_a_warm_server() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    latency = probe_latency(p)
    assert p.request_overhead_s < latency < run_closed_loop(p, 256, 2, 1).ttft_s


def test_the_suites_first_cell_pays_the_cold_start_once_in_three_runs() -> None:
    p = PROFILES["gemma4-26b-a4b-bf16"]
    pp = round(PROMPT_TOKEN_RATIO * 4096)
    warm = run_closed_loop(p, pp, 256, 1)
    cold = run_closed_loop(p, pp, 256, 1, cold=True)
    assert cold.ttft_s - warm.ttft_s == pytest.approx(p.cold_start_s)
    assert simulate_cell(p, "A-4k", 1).ttft_s == pytest.approx(warm.ttft_s + p.cold_start_s / 3)
    assert simulate_cell(p, "A-4k", 10).ttft_s == pytest.approx(run_closed_loop(p, pp, 256, 10).ttft_s)


def test_every_figure_has_a_simulated_value() -> None:
    for profile in PROFILES.values():
        values = simulate_figures(profile, [f for f in profile.figures if f.open_loop][:3])
        assert all(math.isfinite(v) and v > 0 for v in values.values())
        assert all(isinstance(f, Figure) for f in values)
