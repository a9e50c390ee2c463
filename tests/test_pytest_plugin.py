"""The pytest plugin shipped with the package, used the way a test engineer would: a test file of
their own, run by pytest with the plugin loaded from the package's ``pytest11`` entry point."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.broker

USER_TESTS = """
import pytest
from v2x.scenario.model import ScenarioError

SMALL = dict(duration_s=4, fleet=[{"kind": "car", "count": 5}, {"kind": "bus", "count": 1, "lane": "kerb"}],
             security={"suite": "ecdsa-p256-sha256"},
             expect=["BSM.pdr >= 0.95", {"check": "SPAT.rate"},
                     {"name": "six vehicles", "sql": "SELECT count(DISTINCT sender_id) FROM bsm", "==": 6}])


def test_run_and_report(v2x_zone):
    run = v2x_zone.run("corridor", **SMALL)
    run.assert_expectations()
    assert run.passed and [o.subject for o in run.outcomes] == ["metric", "check", "sql", "gate"]  # the gate PASS added
    assert run.sql("SELECT count(DISTINCT sender_id) FROM spat")[0][0] == 3
    assert run.metric("BSM.senders") == 6
    assert run.metric("BSM.published") >= 6 * 35
    assert run.check("SPAT.rate")["verdict"] == "PASS"
    run.assert_expectations("MAP.pdr >= 0.9", {"application": "RLVW", "verdict": "PASS"})
    with pytest.raises(ValueError, match="unknown metric"):
        run.judge("BSM.speediness <= 3")
    assert (run.run_dir / "report.json").exists() and (run.run_dir / "expectations.json").exists()
    assert str(run.run_dir).startswith(str(v2x_zone.runs_dir))


@pytest.mark.v2x_scenario("corridor", **SMALL)
def test_marker_run_with_an_expectation_that_cannot_hold(v2x_scenario_run):
    assert v2x_scenario_run.scenario.name == "corridor"
    v2x_scenario_run.assert_expectations("BSM.pdr >= 1.5")


def test_a_bad_change_is_refused_before_running(v2x_zone):
    with pytest.raises(ScenarioError, match="duration_s"):
        v2x_zone.run("corridor", duration_s=-1)


def test_marker_is_required(v2x_scenario_run):
    pass
"""


def test_the_plugin_is_registered_from_the_entry_point(pytester: pytest.Pytester):
    config = pytester.parseconfig()
    assert config.pluginmanager.has_plugin("xiqing_v2x")
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["v2x_broker *session scope*", "v2x_zone *session scope*", "v2x_scenario_run *"])


@pytest.mark.slow  # two scenario runs in a pytest of its own (about 30 s): in CI's slow stage
def test_scenario_tests_written_with_the_plugin_run_through_the_broker(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    runs = tmp_path / "runs"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--v2x-runs-dir", str(runs), "-rA", timeout=300)
    result.assert_outcomes(passed=2, failed=1, errors=1)
    # The failing expectation is named in the failure, with the value it was judged on.
    result.stdout.fnmatch_lines(
        ["*corridor: 1 of 1 expectations did not hold*", "*BSM.pdr >= 1.5: BSM.pdr of the run = *, expected >= 1.5*"]
    )
    result.stdout.fnmatch_lines(["*v2x_scenario_run needs @pytest.mark.v2x_scenario*"])
    # Both runs share the session's zone PKI: one root for the session.
    assert len(list((runs / "zone-pki").iterdir())) == 1
    assert len([d for d in runs.iterdir() if d.name.startswith("corridor-")]) == 2
