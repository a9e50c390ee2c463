"""The compliance report as JUnit XML, for CI systems: one testcase per check.

FAIL is a ``<failure>`` (message: value, requirement and source), N/A is ``<skipped>`` (no data
to judge), WARN passes with the warning in ``<system-out>``.  Testsuites group the checks by
kind: the profile's metric checks, the field checks, the security checks, the application checks.  Every testcase
carries the check's basis, source, value and threshold as properties.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipeline.report.gate import failure_line
from pipeline.report.model import Check, Report

SUITE_NAMES = {
    "metric": "metric checks",
    "field": "field checks",
    "security": "security checks",
    "application": "Day-1 application checks",
}


def _testcase(suite: ET.Element, check: Check, profile: str) -> None:
    case = ET.SubElement(suite, "testcase", {"classname": f"{profile}.{check.msg_type}", "name": check.id, "time": "0"})
    props = ET.SubElement(case, "properties")
    for key in ("metric", "op", "threshold", "value", "basis", "source"):
        value = getattr(check, key)
        ET.SubElement(props, "property", {"name": key, "value": "" if value is None else str(value)})
    if check.verdict == "FAIL":
        failure = ET.SubElement(case, "failure", {"message": failure_line(check), "type": check.basis})
        failure.text = check.example or ""
    elif check.verdict == "N/A":
        ET.SubElement(case, "skipped", {"message": "no data for this check in the run"})
    elif check.verdict == "WARN":
        ET.SubElement(case, "system-out").text = f"WARN ({check.basis} basis, cannot fail): {failure_line(check)}"


def to_junit(report: Report) -> str:
    """JUnit XML (the common Ant/Jenkins schema) of a report from :func:`pipeline.report.build.build_report`."""
    profile = f"{report.profile.name}-v{report.profile.version}"
    root = ET.Element("testsuites", {"name": f"xiqing-v2x compliance {report.scenario or ''}".strip()})
    by_kind: dict[str, list[Check]] = {}
    for check in report.checks:
        by_kind.setdefault(check.kind or "metric", []).append(check)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for kind, checks in by_kind.items():
        counts = {
            "tests": len(checks),
            "failures": sum(c.verdict == "FAIL" for c in checks),
            "skipped": sum(c.verdict == "N/A" for c in checks),
        }
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": f"{profile} {SUITE_NAMES.get(kind, kind)}",
                "errors": "0",
                "time": "0",
                **{k: str(v) for k, v in counts.items()},
            },
        )
        for check in checks:
            _testcase(suite, check, profile)
        for k, v in counts.items():
            totals[k] += v
    root.attrib.update({k: str(v) for k, v in totals.items()} | {"errors": "0"})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
