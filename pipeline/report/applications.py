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

from typing import Any

from pipeline.report.slices import POSITIONED, Slice
from pipeline.report.verdicts import judge

RATE_TOLERANCE = 0.95  # policy: the 5 % the per-type rate checks allow too


def _slice(msg: dict[str, Any], app: dict[str, Any]) -> Slice:
    ranged = msg["type"] in POSITIONED
    return Slice(msg["type"], msg.get("where"), float(app["range_m"]) if ranged else None)


def slices_needed(applications: list[dict[str, Any]]) -> tuple[list[Slice], list[Slice]]:
    """(the slices the applications' checks are computed on, the unranged ones whose message
    count decides whether the run carries an application's messages)."""
    checked: list[Slice] = []
    present: list[Slice] = []
    for app in applications:
        for msg in app["messages"]:
            if not msg.get("supporting") and (sl := _slice(msg, app)) not in checked:
                checked.append(sl)
            if (sl := Slice(msg["type"], msg.get("where"))) not in present:
                present.append(sl)
    return checked, present


def _describe(msg: dict[str, Any]) -> str:
    return msg["type"] + (f" where {msg['where']}" if msg.get("where") else "")


def application_checks(
    applications: list[dict[str, Any]],
    declared: list[str] | None,
    by_type: dict[str, dict[str, Any]],
    sliced: dict[Slice, dict[str, Any]],
    counts: dict[Slice, int],
    pdr_in_range: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(checks, one summary entry per application) for the profile's ``applications``, from the
    metrics of the checked slices and the counts of the present ones (:func:`slices_needed`)."""
    checks: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    known = {app["id"] for app in applications}
    for name in declared or []:
        if name not in known:
            raise ValueError(f"unknown application {name!r}; the profile defines {', '.join(sorted(known))}")
    for app in applications:
        present = [counts[Slice(m["type"], m.get("where"))] > 0 for m in app["messages"]]
        if declared is not None:
            graded, why = app["id"] in declared, "not declared by the run"
        else:
            graded = bool(app["messages"]) and app.get("infer", True) and all(present)
            why = (
                "graded only when a run declares it"
                if not app.get("infer", True)
                else "no messages defined"
                if not app["messages"]
                else "the run carries no " + ", no ".join(_describe(m) for m, p in zip(app["messages"], present) if not p)
            )
        base = {"application": app["id"], "basis": app["basis"], "source": app["source"], "kind": "application"}
        entry = {
            "id": app["id"],
            "name": app["name"],
            "graded": graded,
            "messages": [_describe(m) for m in app["messages"]],
            "rate_hz": app["rate_hz"],
            "latency_ms": app["latency_ms"],
            "range_m": app["range_m"],
        }
        if not graded:
            checks.append(
                judge(
                    {**base, "id": app["id"], "msg_type": "ALL", "metric": "graded", "op": ">=", "threshold": 1, "note": why},
                    None,
                )
            )
            summary.append({**entry, "verdict": "N/A", "note": why})
            continue
        mine = []
        for msg in (m for m in app["messages"] if not m.get("supporting")):
            t, sl = msg["type"], _slice(msg, app)
            metrics = sliced[sl]
            scope = f" ({_describe(msg)}" + (f", within {app['range_m']} m of a receiver)" if sl.range_m is not None else ")")
            mine.append(
                judge(
                    {
                        **base,
                        "id": f"{app['id']}.{t}.rate",
                        "msg_type": t,
                        "metric": "rate_hz_min",
                        "op": ">=",
                        "threshold": round(RATE_TOLERANCE * app["rate_hz"], 3),
                    },
                    by_type.get(t, {}).get("rate_hz_min"),
                )
            )
            mine.append(
                judge(
                    {
                        **base,
                        "id": f"{app['id']}.{t}.latency_p99",
                        "msg_type": t,
                        "metric": "latency_p99_ms",
                        "op": "<=",
                        "threshold": app["latency_ms"],
                        "note": "p99 latency" + scope,
                    },
                    metrics["latency_p99_ms"],
                )
            )
            if sl.range_m is not None:
                mine.append(
                    judge(
                        {
                            **base,
                            "id": f"{app['id']}.{t}.pdr_in_range",
                            "msg_type": t,
                            "metric": "pdr",
                            "op": ">=",
                            "threshold": pdr_in_range["threshold"],
                            "basis": pdr_in_range["basis"],
                            "source": pdr_in_range["source"],
                            "note": "PDR" + scope,
                        },
                        metrics["pdr"],
                    )
                )
        verdicts = [c["verdict"] for c in mine]
        worst = next((v for v in ("FAIL", "WARN", "N/A") if v in verdicts), "PASS")
        checks += mine
        summary.append({**entry, "verdict": worst})
    return checks, summary
