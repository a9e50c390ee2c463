"""The JSON report against its published schema (pipeline/report/report.schema.json)."""

from __future__ import annotations

import copy
import json
import typing
from importlib import resources

import jsonschema
import pytest

from v2x.messages import MessageType
from v2x.security import Verdict

from pipeline.report.build import REPORT_VERSION, build_report, to_json
from pipeline.sql.field_checks import CHECKS, FieldCheck

from tests.test_gate import generated_run

SCHEMA = json.loads((resources.files("pipeline.report") / "report.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def reports(pki, tmp_path) -> list[dict]:
    clean = generated_run(tmp_path / "clean", pki)
    impaired = generated_run(tmp_path / "impaired", pki, lose_every=8, late_every=20, late_ms=150.0)
    return [json.loads(to_json(build_report(run))) for run in (clean, impaired)]


def test_reports_validate_against_the_schema(reports):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for report in reports:
        jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert [r["verdict"] for r in reports] == ["PASS", "FAIL"]


@pytest.mark.parametrize("change", ["pdr above 1", "unknown verdict", "no checks", "old version", "unknown basis"])
def test_the_schema_rejects_a_report_that_breaks_it(reports, change):
    report = copy.deepcopy(reports[1])
    if change == "pdr above 1":
        report["message_types"][0]["pdr"] = 1.2
    elif change == "unknown verdict":
        report["checks"][0]["verdict"] = "MAYBE"
    elif change == "no checks":
        del report["checks"]
    elif change == "old version":
        report["report_version"] = REPORT_VERSION - 1
    else:
        report["checks"][0]["basis"] = "folklore"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_the_schema_names_every_value_the_code_can_produce():
    defs = SCHEMA["$defs"]
    assert SCHEMA["properties"]["report_version"]["const"] == REPORT_VERSION
    assert set(defs["verdict_code"]["enum"]) == {v.value for v in Verdict} | {"not_verified"}
    assert set(defs["message_type"]["properties"]["msg_type"]["enum"]) == {t.value for t in MessageType} | {"UNKNOWN"}
    check = defs["check"]["properties"]
    assert set(check["scope"]["enum"]) == set(typing.get_args(typing.get_type_hints(FieldCheck)["scope"]))
    assert {c.basis for c in CHECKS} <= set(check["basis"]["enum"])
