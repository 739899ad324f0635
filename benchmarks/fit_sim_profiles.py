"""Fit the simulator's coefficients to every published figure of a profile (offline helper).

Runs the published workloads in virtual time (``sparktop.sim.calibration``: every closed-loop cell
and the H, I and J open loops, measured as llama-benchy and ``vllm bench serve`` measure them) and
minimises the squared log error over the calibrated figures, with a steep penalty beyond
``--target`` (default 15%, inside the 20% tolerance), by Nelder-Mead restarted from its best point.
Prints the fitted coefficients and the per-figure ratios; the numbers are then copied into
``sparktop/sim/profiles.py`` by hand. One evaluation takes about a second (a few hundred steps of
the engine per closed cell, a few thousand per open loop); a fit takes minutes.

    .venv/bin/python benchmarks/fit_sim_profiles.py gemma4-26b-a4b-bf16 [--iterations 400]
        [--fix base_s cold_start_s] [--restarts 2]

Fitted: the step cost (``StepCost``), the API server's overhead per request, the cold start of the
first long prefill, and with speculative decoding the typical acceptance (one scale on the
profile's per-position chances) and its spread between requests.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any

from sparktop.sim.calibration import metric_label, simulate_figures
from sparktop.sim.costmodel import StepCost
from sparktop.sim.engine import SPEC_MAX_ACCEPTANCE
from sparktop.sim.profiles import TOLERANCE, Profile, get_profile

COST_FIELDS = [f.name for f in fields(StepCost)]
SPEC_ONLY = {"draft_s", "draft_per_seq_s", "spec_scale", "spec_spread"}
PROFILE_FIELDS = ["request_overhead_s", "cold_start_s", "stall_chance", "stall_s", "stall_per_request_s"]
STALL_FIELDS = {"stall_chance", "stall_s", "stall_per_request_s"}
"""Fitted only for a profile that has stalls (``Profile.stall_chance`` > 0)."""
SPEC_FIELDS = ["spec_scale", "spec_spread"]
FRACTIONS = {"expert_hit", "stall_chance"}
"""Fitted on a logit scale (0..1); everything else on a log scale (> 0)."""


def _get(profile: Profile, name: str) -> float:
    if name in COST_FIELDS:
        value: float = getattr(profile.cost, name)
        return value
    if name == "spec_scale":
        return 1.0
    if name == "spec_spread":
        return profile.spec.spread if profile.spec else 0.0
    value = getattr(profile, name)
    return float(value)


def encode(profile: Profile, names: Sequence[str]) -> list[float]:
    out = []
    for name in names:
        value = _get(profile, name)
        if name in FRACTIONS:
            value = min(max(value, 1e-4), 1 - 1e-4)
            out.append(math.log(value / (1 - value)))
        else:
            out.append(math.log(max(value, 1e-9)))
    return out


def decode(profile: Profile, names: Sequence[str], x: Sequence[float]) -> Profile:
    cost_kw: dict[str, float] = {}
    prof_kw: dict[str, Any] = {}
    spec = profile.spec
    for name, v in zip(names, x, strict=True):
        value = 1 / (1 + math.exp(-v)) if name in FRACTIONS else math.exp(v)
        if name in COST_FIELDS:
            cost_kw[name] = value
        elif name == "spec_scale" and spec is not None:
            chances = tuple(min(SPEC_MAX_ACCEPTANCE, c * value) for c in spec.acceptance)
            spec = replace(spec, acceptance=chances)
        elif name == "spec_spread" and spec is not None:
            spec = replace(spec, spread=value)
        else:
            prof_kw[name] = value
    return replace(profile, cost=replace(profile.cost, **cost_kw), spec=spec, **prof_kw)


def errors(profile: Profile) -> list[tuple[str, float, float, float, bool]]:
    """(label, published, simulated, log ratio, calibrated) for every figure."""
    out = []
    for f, sim in simulate_figures(profile).items():
        err = math.log(sim / f.value) if sim > 0 and math.isfinite(sim) else math.log(1e3)
        label = f"{f.cell:6s} u{f.users:<3d} {metric_label(f.metric):20s} {f.source}"
        out.append((label, f.value, sim, err, f.calibrated))
    return out


def objective(profile: Profile, target: float, hinge: float = 50.0) -> float:
    total = 0.0
    edge = math.log(1 + target)
    for _, _, _, err, calibrated in errors(profile):
        if not calibrated:
            continue
        total += err * err
        if abs(err) > edge:
            total += hinge * (abs(err) - edge) ** 2
    return total


def nelder_mead(
    fn: Callable[[list[float]], float], x0: list[float], step: float, iterations: int
) -> tuple[list[float], float]:
    n = len(x0)
    simplex = [x0] + [[x + (step if i == j else 0.0) for j, x in enumerate(x0)] for i in range(n)]
    values = [fn(p) for p in simplex]
    for it in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if it % 25 == 0:
            print(f"  iter {it:4d} best {values[0]:.5f}", flush=True)
        centroid = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centroid, worst, strict=True)]
        fr = fn(reflected)
        if fr < values[0]:
            expanded = [c + 2 * (c - w) for c, w in zip(centroid, worst, strict=True)]
            fe = fn(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = [c + 0.5 * (w - c) for c, w in zip(centroid, worst, strict=True)]
            fc = fn(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [
                    [b + 0.5 * (x - b) for b, x in zip(best, p, strict=True)] for p in simplex[1:]
                ]
                values = [values[0]] + [fn(p) for p in simplex[1:]]
    i = min(range(n + 1), key=values.__getitem__)
    return simplex[i], values[i]


def report(profile: Profile) -> None:
    inside = total = 0
    for label, published, sim, err, calibrated in errors(profile):
        ratio = math.exp(err)
        ok = abs(ratio - 1) <= TOLERANCE
        if calibrated:
            total += 1
            inside += ok
        mark = ("ok " if ok else "OUT") if calibrated else " - "
        print(f"  {mark} {label} {published:10.3f} {sim:10.3f} {100 * (ratio - 1):+6.1f}%")
    print(f"  {inside}/{total} calibrated figures within {100 * TOLERANCE:.0f}%")


def print_profile(profile: Profile) -> None:
    cost = profile.cost
    print("    cost=StepCost(")
    for name in COST_FIELDS:
        print(f"        {name}={getattr(cost, name):.4g},")
    print("    ),")
    print(f"    request_overhead_s={profile.request_overhead_s:.4g}, cold_start_s={profile.cold_start_s:.4g}")
    if profile.stall_chance > 0:
        print(
            f"    stall_chance={profile.stall_chance:.4g}, stall_s={profile.stall_s:.4g},"
            f" stall_per_request_s={profile.stall_per_request_s:.4g}"
        )
    if profile.spec is not None:
        chances = ", ".join(f"{c:.3f}" for c in profile.spec.acceptance)
        print(f"    acceptance=({chances}), spread={profile.spec.spread:.4g}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile")
    parser.add_argument("--iterations", type=int, default=300, help="Nelder-Mead iterations per round")
    parser.add_argument("--restarts", type=int, default=1, help="rounds restarted from the best point")
    parser.add_argument("--target", type=float, default=0.15, help="errors beyond this are penalised hard")
    parser.add_argument("--hinge", type=float, default=50.0, help="how hard (weight of the penalty)")
    parser.add_argument("--fix", nargs="*", default=[], help="fields to keep as they are")
    parser.add_argument("--report", action="store_true", help="only print the current figures")
    args = parser.parse_args()
    profile = get_profile(args.profile)
    if args.report:
        report(profile)
        return
    names = [
        n
        for n in COST_FIELDS + PROFILE_FIELDS + SPEC_FIELDS
        if n not in args.fix
        and (profile.spec is not None or n not in SPEC_ONLY)
        and (profile.stall_chance > 0 or n not in STALL_FIELDS)
    ]
    t0 = time.perf_counter()
    start_value = objective(profile, args.target, args.hinge)
    print(f"{profile.name}: start {start_value:.5f} ({time.perf_counter() - t0:.1f} s)")
    best = profile
    for _ in range(1 + args.restarts):
        start = best

        def fn(x: list[float], start: Profile = start) -> float:
            return objective(decode(start, names, x), args.target, args.hinge)

        x, value = nelder_mead(fn, encode(start, names), 0.25, args.iterations)
        best = decode(start, names, x)
        print(f"{profile.name}: {value:.5f} after {time.perf_counter() - t0:.0f} s")
    print_profile(best)
    report(best)


if __name__ == "__main__":
    main()
