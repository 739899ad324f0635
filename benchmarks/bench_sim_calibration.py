"""Simulated vs published, side by side, for every closed-loop figure each profile carries.

Runs the engine in virtual time (llama-benchy's closed loop: N users at once, mean TTFT, decode
tok/s per user) and prints the published figure, the simulated one and their ratio. Rows marked
``*`` are the cells the simulator is calibrated to (runs A at 4k and 25k, C, E and G at 1 and 10
users; within 20%); the others are shown for comparison. Takes a few seconds.

    .venv/bin/python benchmarks/bench_sim_calibration.py [--profile NAME]
"""

from __future__ import annotations

import argparse
import time

from sparktop.sim.calibration import CellResult, simulate_cell
from sparktop.sim.profiles import PROFILES, TOLERANCE


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), help="one profile only")
    args = parser.parse_args()
    profiles = [PROFILES[args.profile]] if args.profile else list(PROFILES.values())
    t0 = time.perf_counter()
    worst_calibrated = 0.0
    outside = 0
    for profile in profiles:
        print(f"\n{profile.name}: {profile.description}")
        header = (
            f"{'cell':6s} {'users':>5s}  {'metric':10s} {'published':>10s} {'simulated':>10s} {'ratio':>6s}"
        )
        print(f"    {header}  source")
        cells: dict[tuple[str, int], CellResult] = {}
        for f in profile.figures:
            key = (f.cell, f.users)
            if key not in cells:
                cells[key] = simulate_cell(profile, f.cell, f.users)
            sim = cells[key].metric(f.metric)
            ratio = sim / f.value
            mark = "*" if f.calibrated else " "
            if f.calibrated:
                worst_calibrated = max(worst_calibrated, abs(ratio - 1))
                outside += abs(ratio - 1) > TOLERANCE
            label = "d/u tok/s" if f.metric == "decode_per_user" else "TTFT s"
            row = f"{f.cell:6s} {f.users:5d}  {label:10s} {f.value:10.2f} {sim:10.2f} {ratio:6.2f}"
            print(f"  {mark} {row}  {f.source}")
    print(
        f"\ncalibrated cells: worst deviation {100 * worst_calibrated:.1f}% "
        f"(tolerance {100 * TOLERANCE:.0f}%), {outside} outside; {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
