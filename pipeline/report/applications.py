"""Checks per Day-1 application (T/CSAE 53: FCW ... EVW): which messages each uses and the rate,
latency and range it needs, from the profile's ``applications`` list.

An application is graded when the run declares it (``applications`` in the scenario, recorded
in the manifest, or ``v2x report --application``), or, if the run declares none, when the
profile lets it be inferred (``infer: true``) and the run carries every message it uses.  Each
message of a graded application gives three checks:

* ``<APP>.<TYPE>.rate``: the slowest sender of the type sends at least 95 % of the
  application's frequency (msgCnt-based, so loss does not lower it);
* ``<APP>.<TYPE>.latency_p99``: p99 latency of the application's messages sent within its range
  of a receiver (BSM) or of all of them (RSU messages) is within its maximum latency;
* ``<APP>.BSM.pdr_in_range``: PDR of those BSMs is at least the profile's ``pdr_in_range``
  (0.90, commonly cited, not confirmed: WARN).

A ``supporting`` message (MAP for RLVW, GLOSA, ICW ...: static, 1 Hz) must be present but gets no
checks of its own here; its type's checks cover it.  An application not graded gives one N/A
check saying why.
"""

from __future__ import annotations

from pipeline.report.model import ApplicationGrade, Check, CheckSpec, MessageTypeMetrics, Overall, SliceMetrics
from pipeline.report.profile import ApplicationMessage, ApplicationSpec, PdrInRange
from pipeline.report.slices import POSITIONED, Slice
from pipeline.report.verdicts import judge

RATE_TOLERANCE = 0.95  # policy: the 5 % the per-type rate checks allow too


def _slice(msg: ApplicationMessage, app: ApplicationSpec) -> Slice:
    ranged = msg.type in POSITIONED
    return Slice(msg.type, msg.where, float(app.range_m) if ranged else None)


def slices_needed(applications: list[ApplicationSpec]) -> tuple[list[Slice], list[Slice]]:
    """(the slices the applications' checks are computed on, the unranged ones whose message
    count decides whether the run carries an application's messages)."""
    checked: list[Slice] = []
    present: list[Slice] = []
    for app in applications:
        for msg in app.messages:
            if not msg.supporting and (sl := _slice(msg, app)) not in checked:
                checked.append(sl)
            if (sl := Slice(msg.type, msg.where)) not in present:
                present.append(sl)
    return checked, present


def _describe(msg: ApplicationMessage) -> str:
    return msg.type + (f" where {msg.where}" if msg.where else "")


def _why_not_graded(app: ApplicationSpec, present: list[bool]) -> str:
    if not app.infer:
        return "graded only when a run declares it"
    if not app.messages:
        return "no messages defined"
    return "the run carries no " + ", no ".join(_describe(m) for m, p in zip(app.messages, present) if not p)


def _message_checks(
    app: ApplicationSpec,
    msg: ApplicationMessage,
    by_type: dict[str, MessageTypeMetrics | Overall],
    metrics: SliceMetrics,
    pdr_in_range: PdrInRange | None,
) -> list[Check]:
    """Rate, p99 latency and (for a positioned type) PDR in range of one message an application uses."""
    t, ranged = msg.type, _slice(msg, app).range_m is not None
    scope = f" ({_describe(msg)}" + (f", within {app.range_m} m of a receiver)" if ranged else ")")

    def spec(suffix: str, metric: str, op: str, threshold: float, **more: object) -> CheckSpec:
        return CheckSpec.model_validate(
            {
                "id": f"{app.id}.{t}.{suffix}",
                "msg_type": t,
                "metric": metric,
                "op": op,
                "threshold": threshold,
                "basis": app.basis,
                "source": app.source,
                "kind": "application",
                "application": app.id,
                **more,
            }
        )

    typed = by_type.get(t)
    checks = [
        judge(spec("rate", "rate_hz_min", ">=", round(RATE_TOLERANCE * app.rate_hz, 3)), getattr(typed, "rate_hz_min", None)),
        judge(spec("latency_p99", "latency_p99_ms", "<=", app.latency_ms, note="p99 latency" + scope), metrics.latency_p99_ms),
    ]
    if ranged:
        if pdr_in_range is None:
            raise ValueError("the profile's applications need pdr_in_range")
        checks.append(
            judge(
                spec(
                    "pdr_in_range",
                    "pdr",
                    ">=",
                    pdr_in_range.threshold,
                    basis=pdr_in_range.basis,
                    source=pdr_in_range.source,
                    note="PDR" + scope,
                ),
                metrics.pdr,
            )
        )
    return checks


def application_checks(
    applications: list[ApplicationSpec],
    declared: list[str] | None,
    by_type: dict[str, MessageTypeMetrics | Overall],
    sliced: dict[Slice, SliceMetrics],
    counts: dict[Slice, int],
    pdr_in_range: PdrInRange | None,
) -> tuple[list[Check], list[ApplicationGrade]]:
    """(checks, one summary entry per application) for the profile's ``applications``, from the
    metrics of the checked slices and the counts of the present ones (:func:`slices_needed`)."""
    checks: list[Check] = []
    summary: list[ApplicationGrade] = []
    known = {app.id for app in applications}
    for name in declared or []:
        if name not in known:
            raise ValueError(f"unknown application {name!r}; the profile defines {', '.join(sorted(known))}")
    for app in applications:
        present = [counts[Slice(m.type, m.where)] > 0 for m in app.messages]
        if declared is not None:
            graded, why = app.id in declared, "not declared by the run"
        else:
            graded = bool(app.messages) and app.infer and all(present)
            why = _why_not_graded(app, present)
        entry = {
            "id": app.id,
            "name": app.name,
            "graded": graded,
            "messages": [_describe(m) for m in app.messages],
            "rate_hz": app.rate_hz,
            "latency_ms": app.latency_ms,
            "range_m": app.range_m,
        }
        if not graded:
            not_graded = CheckSpec(
                id=app.id,
                msg_type="ALL",
                metric="graded",
                op=">=",
                threshold=1,
                basis=app.basis,
                source=app.source,
                kind="application",
                application=app.id,
                note=why,
            )
            checks.append(judge(not_graded, None))
            summary.append(ApplicationGrade.model_validate({**entry, "verdict": "N/A", "note": why}))
            continue
        mine = [
            check
            for msg in app.messages
            if not msg.supporting
            for check in _message_checks(app, msg, by_type, sliced[_slice(msg, app)], pdr_in_range)
        ]
        verdicts = [c.verdict for c in mine]
        worst = next((v for v in ("FAIL", "WARN", "N/A") if v in verdicts), "PASS")
        checks += mine
        summary.append(ApplicationGrade.model_validate({**entry, "verdict": worst}))
    return checks, summary
