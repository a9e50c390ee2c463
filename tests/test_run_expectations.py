"""`v2x run` judges the scenario's expectations as `v2x suite` does: names are checked before
anything runs (exit 2), and a run whose expectations do not hold exits 1, never 0."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from v2x.scenario.model import parse_scenario

from pipeline.harness.suite import GATE_PASSES, scenario_expectations
from pipeline.report.build import build_report

SCENARIO = """
name: judged
duration_s: 2
intersections:
  - {{id: 1101, name: A, lat: 39.0850, lon: 117.0560, rsu_id: RSU-A}}
  - {{id: 1102, name: B, lat: 39.0852, lon: 117.0620, rsu_id: RSU-B}}
fleet: [{{kind: car, count: 2}}]
expect:
{expect}
"""


def test_the_gate_must_pass_unless_the_scenario_says_otherwise():
    plain = parse_scenario(SCENARIO.format(expect="  - BSM.pdr >= 0.9"))
    assert scenario_expectations(plain)[-1] == GATE_PASSES and len(scenario_expectations(plain)) == 2
    failing = parse_scenario(SCENARIO.format(expect="  - BSM.pdr >= 0.9\n  - {gate: FAIL}"))
    assert GATE_PASSES not in scenario_expectations(failing) and len(scenario_expectations(failing)) == 2


def test_a_misspelt_name_in_expect_stops_the_run_before_it_starts(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(SCENARIO.format(expect="  - BSM.latncy_p99 <= 100"))
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "run", str(path), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "expect:" in proc.stderr and "latncy_p99" in proc.stderr and not (tmp_path / "runs").exists()
    bad_override = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "run", "demo", "--duration", "0.5"], capture_output=True, text=True, timeout=120
    )
    assert bad_override.returncode == 2 and "--duration" in bad_override.stderr


@pytest.mark.slow  # a 2 s run through Mosquitto
@pytest.mark.broker
def test_a_run_whose_expectation_does_not_hold_exits_1_and_says_which(tmp_path):
    path = tmp_path / "unmet.yaml"
    path.write_text(SCENARIO.format(expect="  - BSM.pdr >= 0.9\n  - ALL.stored_over_published >= 2"))
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "run", str(path), "--runs-dir", str(tmp_path), "--no-report", "--seed", "11"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not held ALL.stored_over_published >= 2" in proc.stdout and "FAIL: 2 of 3 expectations of judged held" in proc.stdout
    [run] = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("judged-")]
    judged = json.loads((run / "expectations.json").read_text())
    assert [o["held"] for o in judged] == [True, False, True]  # the gate PASS was added and held
    assert "seed: 11" in (run / "scenario.yaml").read_text()
    about = build_report(run).about  # the sign-off facts come from the scenario as run
    assert about is not None and about.seed == 11
    assert about.scenario_sha256 == hashlib.sha256((run / "scenario.yaml").read_bytes()).hexdigest()
    assert [(g.kind, g.count, g.ids) for g in about.devices] == [
        ("RSU", 2, ["RSU-A", "RSU-B"]),
        ("car", 2, ["OBU-0001", "OBU-0002"]),
    ]
    assert about.run_started_at is not None and about.run_started_at.endswith("+08:00") and about.run_ended_at is not None
    logs = {name: (run / "logs" / f"{name}.log").read_text() for name in ("ingest", "roadside", "vehicles")}
    assert "ingest INFO subscribed at mqtt://127.0.0.1:" in logs["ingest"] and "INFO done (stopped): received" in logs["ingest"]
    for simulator in ("roadside", "vehicles"):  # the logs say what happened, not only what went wrong
        assert f"{simulator} INFO connected:" in logs[simulator] and f"{simulator} INFO done: generated" in logs[simulator]


def test_scenarios_list_as_json_and_show_one_to_copy(tmp_path):
    from v2x.scenario.model import builtin_scenarios, load_scenario

    listed = subprocess.run([sys.executable, "-m", "v2x.cli", "scenarios", "--format", "json"], capture_output=True, text=True)
    rows = json.loads(listed.stdout)
    assert listed.returncode == 0 and [r["name"] for r in rows] == sorted(builtin_scenarios())
    demo = next(r for r in rows if r["name"] == "demo")
    assert (demo["rsus"], demo["vehicles"]) == (2, load_scenario("demo").vehicle_count)
    copy = tmp_path / "my-demo.yaml"
    shown = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "scenarios", "show", "demo", "-o", str(copy)], capture_output=True, text=True
    )
    assert shown.returncode == 0 and load_scenario(copy) == load_scenario("demo")
    assert copy.read_text().startswith("# The built-in demo")  # the file itself, comments kept
    missing = subprocess.run([sys.executable, "-m", "v2x.cli", "scenarios", "show", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "built-in: attacks" in missing.stderr


def test_the_broker_url_comes_from_the_environment(tmp_path):
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"V2X_BROKER": f"mqtt://127.0.0.1:{port}"}
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "ingest", "--out", str(tmp_path / "o"), "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1 and f"never subscribed at the broker mqtt://127.0.0.1:{port}" in proc.stderr


def test_table_is_the_same_format_name_in_every_command():
    """One CLI grammar: --format table (for people) and json are accepted by every command that lists or reports."""
    from click.testing import CliRunner

    from v2x.cli import main

    runner = CliRunner()
    for command in (["report"], ["diff"], ["expect"], ["sql"], ["scenarios"], ["pki", "show"]):
        text = runner.invoke(main, [*command, "--help"]).output
        assert "table" in text and "json" in text, (command, text)
