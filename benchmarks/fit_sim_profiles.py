"""Fit the simulator's cost-model coefficients to the published figures (offline helper).

Runs the engine in virtual time for every published closed-loop cell of a profile and minimises the
squared log error (calibrated cells weigh 1, the others 0.25, and calibrated cells beyond 15% are
penalised hard) with a small Nelder-Mead. Prints the fitted ``StepCost`` and the per-figure ratios;
the numbers are then copied into ``sparktop/sim/profiles.py`` by hand.

    .venv/bin/python benchmarks/fit_sim_profiles.py gemma4-26b-a4b-bf16 [--iterations 400]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any

from sparktop.sim.calibration import simulate_cell
from sparktop.sim.costmodel import StepCost
from sparktop.sim.profiles import Profile, get_profile

COST_FIELDS = [f.name for f in fields(StepCost)]
EXTRA_FIELDS = ["request_overhead_s", "cold_start_s"]


def _encode(profile: Profile, names: Sequence[str]) -> list[float]:
    out = []
    for name in names:
        value = getattr(profile.cost, name) if name in COST_FIELDS else getattr(profile, name)
        if name == "expert_hit":
            value = min(max(value, 1e-4), 1 - 1e-4)
            out.append(math.log(value / (1 - value)))
        else:
            out.append(math.log(max(value, 1e-9)))
    return out


def _decode(profile: Profile, names: Sequence[str], x: Sequence[float]) -> Profile:
    cost_kw: dict[str, float] = {}
    prof_kw: dict[str, Any] = {}
    for name, v in zip(names, x, strict=True):
        value = 1 / (1 + math.exp(-v)) if name == "expert_hit" else math.exp(v)
        (cost_kw if name in COST_FIELDS else prof_kw)[name] = value
    return replace(profile, cost=replace(profile.cost, **cost_kw), **prof_kw)


def objective(profile: Profile) -> float:
    cells: dict[tuple[str, int], object] = {}
    total = 0.0
    for f in profile.figures:
        key = (f.cell, f.users)
        if key not in cells:
            cells[key] = simulate_cell(profile, f.cell, f.users)
        sim = cells[key].metric(f.metric)  # type: ignore[attr-defined]
        err = math.log(sim / f.value)
        total += (1.0 if f.calibrated else 0.25) * err * err
        if f.calibrated and abs(err) > math.log(1.15):
            total += 50 * (abs(err) - math.log(1.15)) ** 2
    return total


def nelder_mead(
    fn: Callable[[list[float]], float], x0: list[float], step: float, iterations: int
) -> list[float]:
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
    return simplex[min(range(n + 1), key=values.__getitem__)]


def report(profile: Profile) -> None:
    cells: dict[tuple[str, int], object] = {}
    for f in profile.figures:
        key = (f.cell, f.users)
        if key not in cells:
            cells[key] = simulate_cell(profile, f.cell, f.users)
        sim = cells[key].metric(f.metric)  # type: ignore[attr-defined]
        mark = ("ok " if abs(sim / f.value - 1) <= 0.2 else "OUT") if f.calibrated else "   "
        print(
            f"  {mark} {f.cell:6s} u{f.users:<3d} {f.metric:16s} "
            f"{f.value:8.3f} {sim:8.3f} {sim / f.value:6.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--fix", nargs="*", default=[], help="fields to keep as they are")
    args = parser.parse_args()
    profile = get_profile(args.profile)
    names = [n for n in COST_FIELDS + EXTRA_FIELDS if n not in args.fix]
    x0 = _encode(profile, names)
    print(f"{profile.name}: start {objective(profile):.5f}")
    best = nelder_mead(lambda x: objective(_decode(profile, names, x)), x0, 0.3, args.iterations)
    fitted = _decode(profile, names, best)
    print(f"{profile.name}: final {objective(fitted):.5f}")
    print(fitted.cost)
    print(f"request_overhead_s={fitted.request_overhead_s:.4g} cold_start_s={fitted.cold_start_s:.4g}")
    report(fitted)


if __name__ == "__main__":
    main()
