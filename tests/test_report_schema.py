"""The JSON report against its published schema (pipeline/report/report.schema.json), which is
generated from the typed model (pipeline/report/model.py)."""

from __future__ import annotations

import copy
import json
import re
import typing
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from v2x.messages import MessageType
from v2x.security import Verdict

from pipeline.report import model
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


def test_the_shipped_schema_is_the_one_the_model_generates():
    """Regenerate with: python -m pipeline.report.model > pipeline/report/report.schema.json"""
    assert json.loads(model.schema_text()) == SCHEMA


def test_a_report_reads_back_from_its_json_unchanged(pki, tmp_path):
    built = build_report(generated_run(tmp_path / "run", pki, lose_every=8, late_every=20, late_ms=150.0))
    again = model.Report.model_validate_json(to_json(built))
    assert again == built
    assert to_json(again) == to_json(built)
    data = json.loads(to_json(built))
    # fields a check does not have are left out, not null, as the schema says
    metric_check = next(c for c in data["checks"] if c["id"] == "BSM.pdr")
    assert "kind" not in metric_check and "range_m" not in metric_check
    assert data["summary"]["N/A"] == sum(c["verdict"] == "N/A" for c in data["checks"])
    assert {"class", "verdicts"} <= set(data["security"]["classes"][0])


def test_the_model_refuses_what_the_schema_refuses(reports):
    broken = copy.deepcopy(reports[1])
    broken["message_types"][0]["pdr"] = 1.2
    with pytest.raises(ValueError, match="pdr"):
        model.Report.model_validate(broken)
    broken = copy.deepcopy(reports[1])
    broken["checks"][0]["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        model.Report.model_validate(broken)


def _enum(schema: dict) -> set:
    return set(schema.get("enum") or [x for alt in schema["anyOf"] for x in alt.get("enum", [])])


def test_the_schema_names_every_value_the_code_can_produce():
    defs = SCHEMA["$defs"]
    assert SCHEMA["properties"]["report_version"]["const"] == REPORT_VERSION
    codes = set(typing.get_args(model.VerdictCode))
    assert codes == {v.value for v in Verdict} | {"not_verified"}
    assert _enum(defs["SecurityClass"]["properties"]["expected"]) == codes
    assert set(typing.get_args(model.MsgType)) == {t.value for t in MessageType} | {"UNKNOWN"}
    assert _enum(defs["MessageTypeMetrics"]["properties"]["msg_type"]) == set(typing.get_args(model.MsgType))
    check = defs["Check"]["properties"]
    assert _enum(check["scope"]) == set(typing.get_args(typing.get_type_hints(FieldCheck)["scope"]))
    assert {c.basis for c in CHECKS} <= _enum(check["basis"])


GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "user-guide.md").read_text(encoding="utf-8")
REPORT_SECTION = GUIDE.split("## The report", 1)[1].split("\n## ", 1)[0]


def test_the_user_guide_s_report_example_runs(pki, tmp_path, capsys, monkeypatch):
    [example] = re.findall(r"```python\n(.*?)```", REPORT_SECTION, re.S)
    run = generated_run(tmp_path / "run", pki, lose_every=8, late_every=20, late_ms=150.0)
    monkeypatch.setenv("RUN", str(run))
    exec(compile(example, "docs/user-guide.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("FAIL ") and "BSM.pdr" in out and "BSM PDR 0.89" in out
