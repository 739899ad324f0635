"""The smoke's figures held to an earlier recording of the same workload.

A figure regresses when it is worse than the baseline's by more than the tolerance (relative):
a latency higher, a speed lower. Both figures come from the same code (``figures.from_report`` on
each recording), so a difference is the servers', not the arithmetic's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sparktop.model import Num, Unknown
from sparktop.smoke.checks import Check
from sparktop.smoke.slo import SLOS, show

COMPARED = ("ttft_p99_ms", "tpot_p99_ms", "itl_p99_ms", "e2e_p99_ms", "decode_per_user_min")
"""The figures compared: the latencies and the single-user speed (counts such as errors and
preemptions are held to absolute limits instead: a relative change from zero means nothing)."""


def same_workload(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> Check:
    """Are the two recordings' workloads the same (name and stages)?"""
    mine, theirs = current.get("workload"), baseline.get("workload")
    name = theirs.get("name") if isinstance(theirs, dict) else None
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return Check(
            "baseline", "same workload", "fail", None, None, "", "the baseline recording has no workload"
        )
    if mine.get("stages") != theirs.get("stages"):
        reason = f"the baseline ran {name!r} with other stages: figures are not comparable"
        return Check("baseline", "same workload", "fail", str(name), str(mine.get("name")), "", reason)
    return Check("baseline", "same workload", "pass", str(name), str(mine.get("name")), "", "same stages")


def compare(
    current: Mapping[str, Num], baseline: Mapping[str, Num], tolerance: float, names: Sequence[str] = COMPARED
) -> list[Check]:
    """One check per figure: fail when worse than the baseline by more than ``tolerance``."""
    checks = []
    for name in names:
        spec = SLOS[name]
        label = f"{spec.title} vs baseline"
        now, then = (
            current.get(name, Unknown("not measured")),
            baseline.get(name, Unknown("not in the baseline")),
        )
        if isinstance(then, Unknown):
            checks.append(Check("baseline", label, "skip", None, None, spec.unit, f"baseline: {then.reason}"))
            continue
        if isinstance(now, Unknown):
            checks.append(
                Check("baseline", label, "skip", None, then, spec.unit, f"not measured: {now.reason}")
            )
            continue
        if then <= 0:
            checks.append(
                Check("baseline", label, "skip", now, then, spec.unit, "the baseline's figure is 0")
            )
            continue
        change = now / then - 1.0
        worse = change if spec.bound == "max" else -change
        limit = then * (1 + tolerance) if spec.bound == "max" else then * (1 - tolerance)
        direction = "higher" if change > 0 else "lower"
        said = f"{show(spec, now)} vs {show(spec, then)}: {abs(change):.1%} {direction}"
        if worse > tolerance:
            reason = f"{said}, worse by more than the {tolerance:.0%} tolerance"
            checks.append(Check("baseline", label, "fail", now, limit, spec.unit, reason))
        else:
            checks.append(
                Check("baseline", label, "pass", now, limit, spec.unit, f"{said} (tolerance {tolerance:.0%})")
            )
    return checks
