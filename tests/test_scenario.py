"""Scenario files: good ones load, bad ones get an error naming the field (never a traceback)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from v2x.scenario.model import ScenarioError, builtin_scenarios, load_scenario, parse_scenario

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
    assert proc.returncode == 2  # an input that cannot be used, as everywhere in v2x
    assert "fleet.0.count" in proc.stderr and "Traceback" not in proc.stderr
    missing = subprocess.run([sys.executable, "-m", "v2x.cli", "run", "no-such-scenario"], capture_output=True, text=True)
    assert missing.returncode == 2 and "built-in: attacks, bus-route, bus-route-broken, congestion, corridor" in missing.stderr


def test_the_reference_s_scenario_example_is_a_valid_scenario():
    from tests.conftest import REPO

    reference = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    example = reference.split("## A scenario file")[1].split("```yaml")[1].split("```")[0]
    scenario = parse_scenario(example)
    assert scenario.name == "my-corridor" and scenario.security.pseudonyms.max_s == 300
    assert scenario.fleet[2].hazard_lights and not scenario.broker.tls


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "name: x\nduration_s: 5\nintersections: [{id: 1101, name: A, lat: 39, lon: 117, rsu_id: R, signal: {offset_s: .inf}}]\n",
            "offset_s: Input should be a finite number",
        ),
        (
            "name: x\nduration_s: 5\nintersections: [{id: 1101, name: A, lat: .nan, lon: 117, rsu_id: R}]\n",
            "lat: Input should be a finite number",
        ),
        (
            "name: x\nduration_s: 5\nintersections: [{id: 1101, name: 西青路, lat: 39, lon: 117, rsu_id: R}]\n",
            "intersections.0.name",
        ),
        (
            "name: x\nduration_s: 5\nintersections: [{id: 1101, name: A, lat: 39, lon: 117, rsu_id: R}]\nfleet: ["
            + ", ".join(["{kind: car, count: 5000}"] * 2000)
            + "]\n",
            "fleet: List should have at most 64 items",
        ),
        (
            "name: x\nduration_s: 5\nintersections: [{id: 1101, name: A, lat: 39, lon: 117, rsu_id: R}]\nfleet: ["
            + ", ".join(["{kind: car, count: 5000}"] * 5)
            + "]\n",
            "25000 vehicles in the fleet; at most 20000",
        ),
        ("a: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("x" * (2 * 1024 * 1024), "a scenario file has at most"),
    ],
)
def test_hostile_scenarios_are_errors_naming_the_field(text, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(text)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_scenario_file_that_is_not_utf8_is_a_clear_error(tmp_path, encoding):
    path = tmp_path / "s.yaml"
    path.write_bytes("name: café\nduration_s: 5\n".encode(encoding))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(path)


CLUSTER_BASE = "name: c\nduration_s: 10\nintersections: [{id: 1, region: 1, name: X, lat: 39.08, lon: 117.05, rsu_id: RSU-1}]\n"


@pytest.mark.parametrize(
    ("broker", "message"),
    [
        ("{kind: nats-cluster, url: 'mqtt://a:1883'}", "no url, no tls"),
        ("{kind: nats-cluster, qos: 0}", "(qos: 1)"),
        ("{kind: nats-cluster, workers: 9, partitions: 8}", "workers"),
        ("{kind: nats-cluster, workers: 4, partitions: 2}", "4 workers for 2 partitions"),
        ("{kind: nats-cluster, nodes: 3, faults: [{at_s: 1, kill: node, index: 3}]}", "node 3 of 3"),
        ("{kind: nats-cluster, nodes: 1, faults: [{at_s: 1, kill: node}]}", "nodes: 3 or more"),
        ("{kind: nats-cluster, nodes: 3, faults: [{at_s: 1, kill: node}, {at_s: 2, kill: node, index: 1}]}", "at most 1 node"),
        ("{kind: nats-cluster, faults: [{at_s: 1, kill: worker, index: 1}]}", "worker 1 of 1"),
        ("{kind: nats-cluster, faults: [{at_s: 1, kill: worker, which: leader}]}", "a worker is chosen by index"),
        ("{kind: nats-cluster, faults: [{at_s: 1, kill: node, restart_after_s: 1}]}", "a killed node stays down"),
        (
            "{kind: nats-cluster, workers: 2, faults: [{at_s: 9, kill: worker, restart_after_s: 2}]}",
            "does not end within the run",
        ),
        ("{faults: [{at_s: 1, kill: worker}]}", "of a nats-cluster broker"),
    ],
)
def test_hostile_cluster_settings_are_errors_naming_the_problem(broker, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(CLUSTER_BASE + f"broker: {broker}\n")


def test_cluster_workers_share_the_partitions():
    scenario = parse_scenario(CLUSTER_BASE + "broker: {kind: nats-cluster, workers: 3, partitions: 8}\n")
    assert scenario.broker.worker_partitions() == [(0, 2), (3, 4), (5, 7)]
