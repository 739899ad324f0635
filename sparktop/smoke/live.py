"""The live SLO verdict: which objectives hold right now, which do not, and which cannot be told.

Judged on the window's figures (``figures.from_frame``): a server percentile is a histogram bucket,
so an objective whose limit lies inside that bucket is "uncertain", not passed; a figure the moment
cannot give (decode per user with several users running, a GPU temperature without a GPU) is
"unknown" with its reason. Broken objectives come first, with their value and limit; then the
uncertain ones; then the names of those that hold; the unknown last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sparktop.model import Frame, Unknown
from sparktop.smoke.figures import from_frame
from sparktop.smoke.slo import Judgement, Objective, judge, show

SHORT = {
    "ttft_p99_ms": "TTFT p99",
    "tpot_p99_ms": "TPOT p99",
    "itl_p99_ms": "ITL p99",
    "e2e_p99_ms": "E2E p99",
    "decode_per_user_min": "decode/user",
    "error_rate_max": "errors",
    "preemptions_max": "preemptions",
    "kv_cache_max_pct": "KV",
    "gpu_temp_max_c": "GPU temp",
}
LIVE = tuple(SHORT)
"""The objectives a moment can judge (time to healthy is judged once, at launch)."""


@dataclass(frozen=True, slots=True)
class LiveJudgement:
    objective: Objective
    judgement: Judgement
    text: str
    """``KV 93% > 90%``, ``ITL p99 250–500 ms ? 300 ms``, ``TTFT p99``, ``decode/user``."""
    reason: str


ORDER: dict[Judgement, int] = {"fail": 0, "uncertain": 1, "pass": 2, "skip": 3}


def live_verdict(frame: Frame, objectives: Sequence[Objective]) -> list[LiveJudgement]:
    observed = from_frame(frame)
    out = []
    for objective in objectives:
        name = objective.spec.name
        if name not in LIVE:
            continue
        value = observed.get(name, Unknown("not measured"))
        judgement, reason = judge(objective, value)
        label = SHORT[name]
        if name == "preemptions_max":
            label = f"preemptions/{frame.rate_window_s:g}s"
        limit = show(objective.spec, objective.limit)
        if judgement == "fail":
            sign = ">" if objective.spec.bound == "max" else "<"
            text = f"{label} {show(objective.spec, value)} {sign} {limit}"
        elif judgement == "uncertain":
            text = f"{label} {show(objective.spec, value)} ? {limit}"
        else:
            text = label
        out.append(LiveJudgement(objective, judgement, text, reason))
    out.sort(key=lambda j: ORDER[j.judgement])
    return out


def summary(judgements: Sequence[LiveJudgement]) -> str:
    """``2 of 7 SLOs broken`` / ``all 7 SLOs hold`` (the unknown ones counted apart)."""
    counts = {k: sum(1 for j in judgements if j.judgement == k) for k in ORDER}
    known = len(judgements) - counts["skip"]
    unknown = f", {counts['skip']} unknown" if counts["skip"] else ""
    if counts["fail"]:
        return f"{counts['fail']} of {known} broken{unknown}"
    if counts["uncertain"]:
        return f"{counts['uncertain']} of {known} uncertain{unknown}"
    if known:
        return f"all {known} hold{unknown}"
    return f"none known yet{unknown}"
