"""Declared expectations (v2x.scenario.expectations) and their evaluation (pipeline.report.expectations), on
generated runs; the suite's JUnit (pipeline.harness.suite)."""

from __future__ import annotations

import pytest
from junitparser import Error, Failure, JUnitXml
from pydantic import ValidationError

from v2x.scenario.expectations import Expectation
from v2x.scenario.model import ScenarioError, parse_scenario

from pipeline.harness.suite import ScenarioResult, SuiteResult, load_suite, suite_junit
from pipeline.report.build import build_report
from pipeline.report.expectations import Outcome, evaluate, unknown_subjects
from pipeline.report.profile import load_profile

from tests.test_gate import generated_run
from tests.test_scenario import GOOD


def test_the_forms_of_an_expectation():
    e = Expectation.model_validate("BSM.latency_p99_ms <= 100")
    assert (e.subject, e.metric, e.op, e.value) == ("metric", "BSM.latency_p99_ms", "<=", 100.0)
    assert e.label() == "BSM.latency_p99_ms <= 100" and e.holds(99.9) and not e.holds(100.1)
    e = Expectation.model_validate({"metric": "BSM.pdr", ">=": 0.95})
    assert (e.op, e.value) == (">=", 0.95)
    assert Expectation.model_validate({"check": "BSM.rate"}).expected_verdict == "PASS"
    assert Expectation.model_validate({"application": "RLVW", "verdict": "FAIL"}).label() == "application RLVW is FAIL"
    assert Expectation.model_validate({"sql": "SELECT 1", "name": "one"}).label() == "one"


@pytest.mark.parametrize(
    "given,needle",
    [
        ("BSM latency p99 <= 100 ms", "METRIC OP NUMBER"),
        ({"metric": "BSM.pdr"}, "give a comparison"),
        ({"metric": "BSM.pdr", ">=": 1, "<=": 2}, "one comparison per expectation"),
        ({"check": "BSM.rate", "application": "RLVW"}, "exactly one of"),
        ({"check": "BSM.rate", "<=": 3}, "takes a verdict"),
        ({"gate": "MAYBE"}, "gate"),
        ({"sql": "SELECT 1", "verdict": "PASS"}, "verdict applies to a check or an application"),
        ({"application": "rlvw"}, "application"),
    ],
)
def test_bad_expectations_say_what_is_wrong(given, needle):
    with pytest.raises(ValidationError, match=needle):
        Expectation.model_validate(given)


def test_a_scenario_file_names_the_bad_expectation_and_an_attack_it_does_not_inject():
    with pytest.raises(ScenarioError, match=r"expect\.1"):
        parse_scenario(GOOD + "expect:\n  - BSM.pdr >= 0.9\n  - {metric: BSM.pdr}\n")
    with pytest.raises(ScenarioError, match="attack 'replay' is not among the scenario's attacks"):
        parse_scenario(GOOD + "expect:\n  - {attack: replay}\n")
    assert len(parse_scenario(GOOD + "expect:\n  - BSM.pdr >= 0.9\n").expect) == 1


def test_names_are_checked_against_the_profile_before_anything_runs(tmp_path):
    profile = load_profile()
    good = [
        Expectation.model_validate(x)
        for x in (
            "BSM.pdr >= 0.9",
            "ALL.received >= 1",
            "BSM.pdr_within_100m >= 0.9",
            {"check": "RLVW.SPAT.latency_p99"},
            {"check": "BSM.speed_range"},
            {"application": "EVW"},
        )
    ]
    assert unknown_subjects(good, profile) == []
    bad = [Expectation.model_validate(x) for x in ("BSM.latency_p99x <= 100", {"check": "BSM.speed"}, {"application": "XYZ"})]
    problems = unknown_subjects(bad, profile)
    assert len(problems) == 3 and "unknown metric 'BSM.latency_p99x'" in problems[0] and "no check 'BSM.speed'" in problems[1]
    (tmp_path / "a.yaml").write_text(GOOD + "expect:\n  - {check: BSM.speed}\n")
    with pytest.raises(ScenarioError, match=r"a\.yaml: expect: check BSM\.speed is PASS: the profile xiqing v\d+ has no check"):
        load_suite([str(tmp_path)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="no \\*.yaml scenario files"):
        load_suite([str(tmp_path / "empty")])


def _outcomes(run, *given):
    return evaluate([Expectation.model_validate(g) for g in given], build_report(run), run)


def test_evaluation_on_a_clean_and_an_impaired_run(pki, tmp_path):
    clean = generated_run(tmp_path / "clean", pki)
    impaired = generated_run(tmp_path / "impaired", pki, latency_ms=180.0, lose_every=10)
    given = (
        "BSM.latency_p99_ms <= 100",
        {"metric": "BSM.pdr", ">=": 0.95},
        {"check": "BSM.latency_p99"},
        {"gate": "PASS"},
        {"name": "40 BSMs", "sql": "SELECT count(*) FROM messages WHERE msg_type = 'BSM'", ">": 36},
        {"application": "FCW", "verdict": "N/A"},
    )  # no receivers in a generated run: ranged checks N/A
    ok = _outcomes(clean, *given)
    assert [o.held for o in ok] == [True] * 6, ok
    assert ok[0].detail.startswith("BSM.latency_p99_ms of the run = 2") and ok[4].value == 40
    bad = _outcomes(impaired, *given)
    assert [o.held for o in bad] == [False, False, False, False, False, True], bad
    assert bad[1].value < 0.95 and bad[2].value == "FAIL" and "BSM.latency_p99 is FAIL" in bad[2].detail
    assert bad[4].value == 36 and bad[5].detail == "FCW is N/A"
    assert [o.held for o in _outcomes(impaired, {"check": "BSM.latency_p99", "verdict": "FAIL"}, {"gate": "FAIL"})] == [
        True,
        True,
    ]


def test_what_cannot_be_judged_does_not_hold(pki, tmp_path):
    run = generated_run(tmp_path / "run", pki)
    out = _outcomes(
        run,
        "SPAT.latency_p99_ms <= 100",
        "BSM.nonsense >= 1",
        {"sql": "SELECT * FROM nowhere", "==": 0},
        {"sql": "SELECT 1, 2", "==": 1},
        {"sql": "SELECT 'x'", ">": 0},
        {"sql": "SELECT NULL"},
        {"sql": "SELECT true"},
        {"check": "BSM.nothing"},
    )
    assert [o.held for o in out] == [False, False, False, False, False, False, True, False]
    assert "the run has no SPAT messages" in out[0].detail and "unknown metric" in out[1].detail
    assert "query failed: Catalog Error" in out[2].detail and "one value" in out[3].detail and "not a number" in out[4].detail
    assert "NULL" in out[5].detail and "no check 'BSM.nothing'" in out[7].detail


def test_suite_junit_has_a_testsuite_per_scenario_and_an_error_for_a_run_that_failed(tmp_path):
    ok = ScenarioResult(
        "a", "a.yaml", tmp_path, "PASS", [Outcome("x <= 1", "metric", True, 0.5, "x = 0.5, expected <= 1")], seconds=3
    )
    bad = ScenarioResult(
        "b",
        "b.yaml",
        tmp_path,
        "FAIL",
        [Outcome("gate is PASS", "gate", False, "FAIL", "the gate is FAIL"), Outcome("y > 0", "metric", True, 1, "")],
    )
    broken = ScenarioResult("c", "c.yaml", error="RunError: ingest did not become ready")
    suite = SuiteResult([ok, bad, broken])
    assert not suite.passed and ok.passed and not bad.passed and not broken.passed
    path = tmp_path / "suite.xml"
    path.write_text(suite_junit(suite))
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert list(suites) == ["a", "b", "c"] and (xml.tests, xml.failures, xml.errors) == (4, 1, 1)
    cases = {c.name: c for c in suites["b"]}
    assert isinstance(cases["gate is PASS"].result[0], Failure) and cases["gate is PASS"].result[0].message == "the gate is FAIL"
    assert isinstance(next(iter(suites["c"])).result[0], Error)
