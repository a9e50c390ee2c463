"""A check's verdict: PASS, FAIL or WARN by its basis, N/A without a value (compliance.md 8)."""

from __future__ import annotations

import operator

from pipeline.report.model import Check, CheckSpec, Verdict

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
FAILING_BASES = ("std", "derived", "harness")  # only these FAIL; policy and unverified checks WARN


def verdict_of(spec: CheckSpec, value: float | None) -> Verdict:
    """PASS, FAIL (std/derived/harness basis), WARN (policy/unverified) or N/A (no value)."""
    if value is None:
        return "N/A"
    if _OPS[spec.op](value, spec.threshold):
        return "PASS"
    return "FAIL" if spec.basis in FAILING_BASES else "WARN"


def judge(spec: CheckSpec, value: float | None) -> Check:
    """``spec`` (a profile entry, or a check the report makes) with ``value`` and its verdict."""
    fields = {name: getattr(spec, name) for name in CheckSpec.model_fields if name in spec.model_fields_set}
    return Check.model_validate({**fields, "value": value, "verdict": verdict_of(spec, value)})
