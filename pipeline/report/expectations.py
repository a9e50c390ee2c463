"""Evaluating a scenario's declared expectations (:mod:`v2x.scenario.expectations`) after its run.

Every expectation gives an :class:`Outcome`: held or not, the value it was judged on and a
sentence saying why.  An expectation that cannot be judged (unknown metric, no data, a query
that fails) does not hold; the reason says which.  :func:`unknown_subjects` checks names against
the compliance profile before anything runs, so a typo fails in a second, not after the run.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from v2x.scenario.expectations import Expectation

from pipeline.report.build import METRIC_FIELDS, RUN_FIELDS
from pipeline.report.model import Report
from pipeline.report.profile import Profile
from pipeline.sql.field_checks import CHECKS_BY_NAME
from pipeline.sql.views import connect

MESSAGE_TYPES = ("BSM", "MAP", "SPAT", "RSI", "RSM", "ALL")
APPLICATION_CHECKS = ("rate", "latency_p99", "pdr_in_range")


@dataclass(frozen=True)
class Outcome:
    """One expectation judged on one run."""

    expectation: str  # its label
    subject: str  # metric, check, application, attack, gate or sql
    held: bool
    value: Any
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_ids(profile: Profile) -> set[str]:
    ids = profile.check_ids() | set(CHECKS_BY_NAME)
    for app in profile.applications:
        ids |= {f"{app.id}.{m.type}.{k}" for m in app.messages for k in APPLICATION_CHECKS}
    return ids


def unknown_subjects(expectations: list[Expectation], profile: Profile, attacks: Set[str] = frozenset()) -> list[str]:
    """Problems with the names the expectations use, against ``profile``; empty when all are known."""
    checks = _check_ids(profile) | {f"security.{a}" for a in attacks}
    apps = profile.application_ids()
    problems = []
    for e in expectations:
        if e.metric is not None:
            msg_type, _, field = e.metric.partition(".")
            if (
                e.metric not in checks
                and not (msg_type in MESSAGE_TYPES and field in METRIC_FIELDS)
                and not (msg_type == "ALL" and field in RUN_FIELDS)
            ):
                problems.append(
                    f"{e.label()}: unknown metric {e.metric!r}; use TYPE.field with TYPE one of {', '.join(MESSAGE_TYPES)} "
                    f"and field one of {', '.join(METRIC_FIELDS)} (ALL also {', '.join(RUN_FIELDS)}), or a check id"
                )
        elif e.check is not None and e.check not in checks:
            problems.append(f"{e.label()}: the profile {profile.profile} v{profile.version} has no check {e.check!r}")
        elif e.application is not None and e.application not in apps:
            problems.append(f"{e.label()}: unknown application {e.application!r}; the profile defines {', '.join(sorted(apps))}")
    return problems


def metric_value(report: Report, name: str) -> tuple[Any, str]:
    """(value, what it is) or (None, why there is none)."""
    msg_type, _, field = name.partition(".")
    row = report.metrics_of(msg_type)
    if row is not None and field in type(row).model_fields:
        value = getattr(row, field)
        return value, f"{name} of the run" if value is not None else f"no data for {name}"
    check = report.check(name)
    if check is not None:
        return check.value, f"value of check {name}" if check.value is not None else f"no data for check {name}"
    if msg_type in MESSAGE_TYPES and field in METRIC_FIELDS:
        return None, f"the run has no {msg_type} messages"
    return None, f"unknown metric {name!r}"


def _query(con: duckdb.DuckDBPyConnection | None, sql: str) -> tuple[Any, str]:
    """(value, what it is) or (None, why there is none)."""
    if con is None:
        return None, "the run has no telemetry to query"
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        return None, f"query failed: {str(exc).splitlines()[0]}"
    if len(rows) != 1 or len(rows[0]) != 1:
        return None, f"query must return one value, returned {len(rows)} rows of {len(rows[0]) if rows else 0} columns"
    return rows[0][0], "query result" if rows[0][0] is not None else "query result is NULL"


def _judge(e: Expectation, report: Report, con: duckdb.DuckDBPyConnection | None) -> tuple[bool, Any, str]:
    s = e.subject
    if s in ("metric", "sql"):
        value, where = metric_value(report, e.metric or "") if s == "metric" else _query(con, e.sql or "")
        if value is None:
            return False, None, f"cannot judge: {where}"
        if e.op is None:
            return bool(value), value, f"{where} is {value!r}"
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False, value, f"{where} is {value!r}, not a number"
        held = e.holds(number)
        return held, value, f"{where} = {number:.6g}, expected {e.op} {e.value:g}"
    if s == "check":
        check = report.check(e.check or "")
        if check is None:
            return False, None, f"the report has no check {e.check!r}"
        shown = f"{check.value:.6g}" if isinstance(check.value, float) else str(check.value)
        return (
            check.verdict == e.expected_verdict,
            check.verdict,
            f"{e.check} is {check.verdict} ({check.metric} = {shown}, required {check.op} {check.threshold})",
        )
    if s == "application":
        app = next((a for a in report.applications.graded if a.id == e.application), None)
        if app is None:
            return False, None, f"the profile has no application {e.application!r}"
        note = f": {app.note}" if app.note else ""
        return app.verdict == e.expected_verdict, app.verdict, f"{e.application} is {app.verdict}{note}"
    if s == "attack":
        check = report.check(f"security.{e.attack}")
        if check is None:
            return False, None, f"no {e.attack} frames reached the ingest"
        entry = next((x for x in report.security.classes if x.class_ == e.attack), None)
        frames = (entry.injected or 0) if entry else 0
        right = entry.as_expected if entry else 0
        return (
            check.verdict == "PASS",
            check.value,
            f"{right} of {frames} injected {e.attack} frames got {entry.expected if entry else 'their verdict'}",
        )
    return report.verdict == e.gate, report.verdict, f"the gate is {report.verdict}"


def evaluate(expectations: list[Expectation], report: Report, run_dir: Path | None = None) -> list[Outcome]:
    """Judge each expectation on a report of :func:`pipeline.report.build.build_report`; SQL
    expectations run on the views of ``run_dir`` (default: the report's run)."""
    con = None
    if any(e.sql is not None for e in expectations):
        try:
            con = connect(Path(run_dir or report.run), sandboxed=True)
        except FileNotFoundError:
            con = None
    out = []
    for e in expectations:
        held, value, detail = _judge(e, report, con)
        out.append(Outcome(e.label(), e.subject, held, value, detail))
    return out
