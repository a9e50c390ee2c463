"""Scenario files: good ones load, bad ones get an error naming the field (never a traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from v2x.scenario import ScenarioError, builtin_scenarios, load_scenario, parse_scenario

GOOD = """
name: t
duration_s: 3
intersections:
  - {id: 1101, name: A, lat: 39.0850, lon: 117.0560, rsu_id: RSU-A}
  - {id: 1102, name: B, lat: 39.0852, lon: 117.0620, rsu_id: RSU-B}
fleet: [{kind: car, count: 2}]
"""


def test_builtin_demo_meets_issue_minimums():
    demo = load_scenario("demo")
    assert "demo" in builtin_scenarios()
    assert len(demo.intersections) >= 2 and demo.vehicle_count >= 20 and demo.duration_s >= 10


@pytest.mark.parametrize(
    "text,needle",
    [
        (GOOD.replace("duration_s: 3", "duration_s: -1"), "duration_s"),
        (GOOD.replace("kind: car", "kind: tank"), "fleet.0.kind"),
        (GOOD.replace("rsu_id: RSU-B", "rsu_id: RSU-A"), "rsu_id must be unique"),
        (GOOD.replace("lat: 39.0852", "lat: 95"), "intersections.1.lat"),
        (GOOD + "colour: red\n", "colour"),
        (GOOD.replace("name: t\n", ""), "name"),
        ("name: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_scenarios_name_the_problem(text, needle):
    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        parse_scenario(text)


def test_cli_reports_bad_scenario_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("count: 2", "count: zero"))
    proc = subprocess.run([sys.executable, "-m", "v2x.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "fleet.0.count" in proc.stderr and "Traceback" not in proc.stderr
    missing = subprocess.run([sys.executable, "-m", "v2x.cli", "run", "no-such-scenario"], capture_output=True, text=True)
    assert missing.returncode == 1 and "built-in: attacks, bus-route, congestion, corridor" in missing.stderr


def test_readme_scenario_example_is_a_valid_scenario():
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("### A scenario file")[1].split("```yaml")[1].split("```")[0]
    scenario = parse_scenario(example)
    assert scenario.name == "my-corridor" and scenario.security.pseudonyms.max_s == 300
    assert scenario.fleet[2].hazard_lights and not scenario.broker.tls
