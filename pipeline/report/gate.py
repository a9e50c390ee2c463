"""What CI decides on: the gate of one run and the comparison of two.

Both work on the :class:`~pipeline.report.model.Report` of :func:`pipeline.report.build.build_report`.  A check FAILs only on a
``std`` or ``derived`` basis (the profile's rule); WARN and N/A never close the gate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.report.model import Check, Report

VERDICT_RANK = {"PASS": 0, "N/A": 0, "WARN": 1, "FAIL": 2}

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2  # v2x gate / v2x diff exit codes


def failures(report: Report) -> list[Check]:
    """The checks of a report that FAIL, in report order."""
    return report.failed()


def failure_line(check: Check) -> str:
    """One line saying why a check failed: value, requirement, basis and the clause it comes from."""
    value = check.value
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{check.id}: {check.metric} = {shown}, required {check.op} {check.threshold} ({check.basis}: {check.source})"


@dataclass(frozen=True)
class CheckChange:
    """One check in two runs.  ``change``: ``regression`` (FAIL in B, not in A), ``new_warning``
    (PASS in A, WARN in B), ``fixed`` (verdict better in B), ``worse``/``better`` (same verdict,
    value moved by more than the tolerance), ``same``, ``new`` (only in B), ``gone`` (only in A),
    ``no_data`` (A had data, B has none)."""

    id: str
    metric: str | None
    verdict_a: str | None
    verdict_b: str | None
    value_a: float | None
    value_b: float | None
    change: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value_change(check: Check, a: float | None, b: float | None, tolerance: float) -> str:
    if a is None or b is None or a == b:
        return "same"
    scale = max(abs(a), abs(b), 1e-12)
    if abs(b - a) / scale <= tolerance:
        return "same"
    higher_is_better = check.op in (">=", ">")
    return "better" if (b > a) == higher_is_better else "worse"


def _change(ca: Check | None, cb: Check | None, tolerance: float) -> str:
    if ca is None:
        return "new"
    if cb is None:
        return "gone"
    if VERDICT_RANK[cb.verdict] > VERDICT_RANK[ca.verdict]:
        return "regression" if cb.verdict == "FAIL" else "new_warning"
    if VERDICT_RANK[cb.verdict] < VERDICT_RANK[ca.verdict]:
        return "fixed"
    if ca.verdict != "N/A" and cb.verdict == "N/A":
        return "no_data"
    return _value_change(cb, ca.value, cb.value, tolerance)


def diff_reports(a: Report, b: Report, tolerance: float = 0.05) -> list[CheckChange]:
    """Check-by-check comparison of run A (before) and run B (after).  A value that moved by
    more than ``tolerance`` (relative) in the direction the threshold disfavours is ``worse``."""
    before = {c.id: c for c in a.checks}
    after = {c.id: c for c in b.checks}
    out = []
    for check_id in list(before) + [i for i in after if i not in before]:
        ca, cb = before.get(check_id), after.get(check_id)
        either = cb or ca
        out.append(
            CheckChange(
                check_id,
                either.metric if either else None,
                ca.verdict if ca else None,
                cb.verdict if cb else None,
                ca.value if ca else None,
                cb.value if cb else None,
                _change(ca, cb, tolerance),
            )
        )
    return out


def regressions(changes: list[CheckChange]) -> list[CheckChange]:
    """The changes that close a diff gate: a check that FAILs in B and did not in A (or is new in B)."""
    return [c for c in changes if c.change == "regression" or (c.change == "new" and c.verdict_b == "FAIL")]
