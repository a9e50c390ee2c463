"""The compliance report, and the comparison of two runs, as Markdown for a pull-request comment:
the verdict first, then what failed and why, then the metrics; every check folded below."""

from __future__ import annotations

from typing import Any

from pipeline.render.terminal import PLATFORM_COLUMNS, platform_row, schedule_line, stall_lines
from pipeline.report.gate import CheckChange, regressions
from pipeline.report.model import Check, Report


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _required(c: Check) -> str:
    return f"{c.op} {c.threshold}"


def to_markdown(report: Report) -> str:
    """Markdown of a report from :func:`pipeline.report.build.build_report`."""
    s = report.summary
    title = f"{report.scenario or 'run'}, profile {report.profile.name} v{report.profile.version}"
    lines = [
        f"## Compliance: **{report.verdict}** ({title})",
        "",
        f"{s.PASS} pass · {s.FAIL} fail · {s.WARN} warn · {s.NA} n/a",
        "",
    ]
    if (line := schedule_line(report.schedule)) is not None:
        lines += [line, ""]
    lines += [f"**receiver stalled** {line}\n" for line in stall_lines(report)]
    failed = [c for c in report.checks if c.verdict == "FAIL"]
    warned = [c for c in report.checks if c.verdict == "WARN"]
    for heading, checks in (("Failing checks", failed), ("Warnings (policy or unverified basis: cannot fail)", warned)):
        if checks:
            lines += [f"### {heading}", ""]
            lines += _table(
                ["check", "value", "required", "basis", "source"],
                [[c.id, c.value, _required(c), c.basis, c.source] for c in checks],
            )
            lines.append("")
    lines += ["### Per message type", ""]
    lines += _table(
        ["type", "stored", "senders", "rate Hz min", "latency p95 ms", "latency p99 ms", "PDR", "auth ok"],
        [
            [m.msg_type, m.stored, m.senders, m.rate_hz_min, m.latency_p95_ms, m.latency_p99_ms, m.pdr, m.auth_success_rate]
            for m in report.message_types
        ],
    )
    if report.platform:
        lines += ["", "### Platform fidelity", ""]
        lines += _table(list(PLATFORM_COLUMNS), [platform_row(x) for x in report.platform])
    lines += ["", "<details><summary>All checks</summary>", ""]
    lines += _table(
        ["check", "verdict", "value", "required", "basis", "source"],
        [[c.id, c.verdict, c.value, _required(c), c.basis, c.source] for c in report.checks],
    )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def diff_to_markdown(changes: list[CheckChange], run_a: str, run_b: str) -> str:
    """Markdown of :func:`pipeline.report.gate.diff_reports`: regressions first, then other changes."""
    bad = regressions(changes)
    lines = [f"## Run comparison: **{'REGRESSION' if bad else 'no regression'}**", "", f"A = `{run_a}`, B = `{run_b}`", ""]
    moved = [c for c in changes if c.change != "same"]
    if moved:
        order = {"regression": 0, "new": 1, "new_warning": 2, "worse": 3, "no_data": 4, "gone": 5, "better": 6, "fixed": 7}
        lines += _table(
            ["check", "change", "A", "B", "value A", "value B"],
            [
                [c.id, c.change, c.verdict_a, c.verdict_b, c.value_a, c.value_b]
                for c in sorted(moved, key=lambda c: order.get(c.change, 9))
            ],
        )
    else:
        lines.append("Every check has the same verdict and a value within tolerance.")
    return "\n".join(lines) + "\n"
