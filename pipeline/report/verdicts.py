"""A check's verdict: PASS, FAIL or WARN by its basis, N/A without a value (compliance.md 8)."""

from __future__ import annotations

import operator
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
FAILING_BASES = ("std", "derived", "harness")  # only these FAIL; policy and unverified checks WARN


def judge(check: dict[str, Any], value: float | None) -> dict[str, Any]:
    """``check`` (a profile entry) with ``value`` and its verdict: PASS, FAIL (std/derived/harness basis),
    WARN (policy/unverified) or N/A (no value)."""
    if value is None:
        verdict = "N/A"
    elif _OPS[check["op"]](value, check["threshold"]):
        verdict = "PASS"
    else:
        verdict = "FAIL" if check["basis"] in FAILING_BASES else "WARN"
    return {**check, "value": value, "verdict": verdict}
