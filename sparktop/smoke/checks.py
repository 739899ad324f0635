"""A smoke run's checks, its verdict, and the three ways it is written: a table, JSON and JUnit XML.

Every check has a name, the value measured, the limit it was held to (with a unit) and a status:
``pass``, ``fail`` or ``skip`` (the figure could not be measured; the reason says why, and a
skipped check never counts as passed). The verdict fails when any check fails.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sparktop import fmt

Status = Literal["pass", "fail", "skip"]
Verdict = Literal["pass", "fail"]

STAGES = ("launch", "api", "workload", "slo", "baseline")
"""The order checks run in; a JUnit test suite each."""


@dataclass(frozen=True, slots=True)
class Check:
    stage: str
    name: str
    status: Status
    value: float | str | None = None
    limit: float | str | None = None
    unit: str = ""
    reason: str = ""
    seconds: float = 0.0
    """How long the check took (JUnit's ``time``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "pass": None if self.status == "skip" else self.status == "pass",
            "status": self.status,
            "reason": self.reason,
        }


def verdict(checks: Sequence[Check]) -> Verdict:
    return "fail" if any(c.status == "fail" for c in checks) or not checks else "pass"


def _cell(value: float | str | None, unit: str) -> str:
    if value is None:
        return fmt.DASH
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit and unit != "%" else f"{text}{unit}"


def render_table(checks: Sequence[Check], title: str) -> str:
    """The verdict table: one row per check, then the verdict line."""
    mark = {"pass": "pass", "fail": "FAIL", "skip": "skip"}
    rows = [
        (c.stage, fmt.clean(c.name), mark[c.status], _cell(c.value, c.unit), _cell(c.limit, c.unit), c.reason)
        for c in checks
    ]
    headers = ("stage", "check", "result", "value", "limit", "why")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [title, ""]
    for row in (headers, *rows):
        cells = [row[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join([*cells, fmt.clean(row[5])]).rstrip())
        if row is headers:
            lines.append("  ".join("-" * w for w in widths[:5]) + "  " + "-" * 3)
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "fail", "skip")}
    word = verdict(checks).upper()
    lines += [
        "",
        f"verdict: {word} ({counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped)",
    ]
    return "\n".join(lines)


def to_junit(checks: Sequence[Check], name: str = "sparktop smoke") -> bytes:
    """JUnit XML: a test suite per stage, a test case per check; a failed check is a ``failure``
    with the reason, a skipped one is ``skipped`` with the reason."""
    root = ET.Element("testsuites", name=name)
    total = {"tests": 0, "failures": 0, "skipped": 0}
    seconds = 0.0
    for stage in [s for s in STAGES if any(c.stage == s for c in checks)]:
        mine = [c for c in checks if c.stage == stage]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{name}: {stage}",
            tests=str(len(mine)),
            failures=str(sum(c.status == "fail" for c in mine)),
            errors="0",
            skipped=str(sum(c.status == "skip" for c in mine)),
            time=f"{sum(c.seconds for c in mine):.3f}",
        )
        for check in mine:
            case = ET.SubElement(
                suite,
                "testcase",
                name=_xml_text(check.name),
                classname=f"smoke.{stage}",
                time=f"{check.seconds:.3f}",
            )
            value, limit = _cell(check.value, check.unit), _cell(check.limit, check.unit)
            detail = f"value {value}, limit {limit}: {check.reason}"
            if check.status == "fail":
                failure = ET.SubElement(case, "failure", message=_xml_text(check.reason), type="smoke")
                failure.text = _xml_text(detail)
            elif check.status == "skip":
                ET.SubElement(case, "skipped", message=_xml_text(check.reason))
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text(detail)
        total["tests"] += len(mine)
        total["failures"] += sum(c.status == "fail" for c in mine)
        total["skipped"] += sum(c.status == "skip" for c in mine)
        seconds += sum(c.seconds for c in mine)
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(total["skipped"]))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _xml_text(text: str) -> str:
    """Text safe in XML 1.0: control characters (from a server's answer) replaced."""
    return fmt.clean(text)
