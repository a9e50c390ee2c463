"""Failing checks grouped by cause: checks that judge the same measurement fail together.

A profile judges one measurement in several checks: the BSM latency p99 of the whole run, and
again for each Day-1 application that uses BSM (FCW, ICW, EBW ...), each with its own threshold.
When that one value is too high, a report listing fourteen FAILs hides that there are two
things to fix.  A cause is one measurement (message type, metric, range and message condition)
with its value, and the failing checks that judged it; a check that measures something of its
own (a field check, a harness check) is a cause of its own.
"""

from __future__ import annotations

from pipeline.report.model import Check, FailureCause, Report


def _key(check: Check) -> tuple[object, ...]:
    if check.kind in (None, "application"):
        return (check.msg_type, check.metric, check.range_m, check.where)
    return (check.id,)


def _measurement(check: Check) -> str:
    if check.kind not in (None, "application"):
        return check.id
    where = f" within {check.range_m:g} m" if check.range_m is not None else ""
    only = f" where {check.where}" if check.where else ""
    return f"{check.msg_type} {check.metric}{where}{only}"


def failure_causes(report: Report) -> list[FailureCause]:
    """The FAILing checks of ``report`` grouped by the measurement they judged, the cause that
    fails the most checks first."""
    groups: dict[tuple[object, ...], list[Check]] = {}
    for check in report.checks:
        if check.verdict == "FAIL":
            groups.setdefault(_key(check), []).append(check)
    causes = [
        FailureCause(measurement=_measurement(checks[0]), value=checks[0].value, checks=[c.id for c in checks])
        for checks in groups.values()
    ]
    return sorted(causes, key=lambda c: -len(c.checks))
