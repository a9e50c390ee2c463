"""The built-in scenario library through Mosquitto: `v2x suite` over all of it passes, and a
deliberately broken variant of each scenario fails the expectation the break is aimed at."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from click.testing import CliRunner
from junitparser import JUnitXml

from v2x.cli import main as v2x
from v2x.scenario.model import Scenario, builtin_scenarios, load_scenario

from pipeline.harness.suite import SuiteEntry, run_entry

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_v2x_suite_over_the_whole_builtin_library_passes(tmp_path):
    result = CliRunner().invoke(v2x, ["suite", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    xml = JUnitXml.fromfile(str(tmp_path / "suite.xml"))
    suites = {s.name: s for s in xml}
    assert sorted(suites) == sorted(load_scenario(n).name for n in builtin_scenarios())
    assert xml.failures == 0 and xml.errors == 0
    for name, suite in suites.items():
        assert suite.tests >= 4, f"{name} declares only {suite.tests} expectations"
    assert f"PASS: {len(suites)} of {len(suites)} scenarios met their expectations" in result.output


def _edit(scenario: Scenario, **changes: Any) -> Scenario:
    return Scenario.model_validate(scenario.model_dump() | {"duration_s": 5.0} | changes)


def _fleet(scenario: Scenario, kind: str, **changes: Any) -> list[dict[str, Any]]:
    return [g.model_dump() | (changes if g.kind == kind else {}) for g in scenario.fleet]


def _inter(scenario: Scenario, k: int, **changes: Any) -> list[dict[str, Any]]:
    return [i.model_dump() | (changes if n == k else {}) for n, i in enumerate(scenario.intersections)]


def _no_priority(s: Scenario) -> list[dict[str, Any]]:
    return [i.model_dump() | {"signal": i.signal.model_dump() | {"bus_priority": None}} for i in s.intersections]


def _sensors(s: Scenario, **changes: Any) -> list[dict[str, Any]]:
    return [i.model_dump() | {"sensors": i.sensors.model_dump() | changes} for i in s.intersections]


def _no_hazard(s: Scenario) -> list[dict[str, Any]]:
    return [
        i.model_dump() | {"traffic_info": [t.model_dump() | {"hazard": False} for t in i.traffic_info]} for i in s.intersections
    ]


# scenario -> (how to break it, the expectation that must then not hold)
BROKEN: dict[str, tuple[Callable[[Scenario], Scenario], str]] = {
    "attacks": (
        lambda s: _edit(s, network=[{"devices": "vehicles", "clock": {"offset_ms": 2000}}]),
        "no honest frame gets anything but success",
    ),
    "bus-route": (
        lambda s: _edit(s, intersections=_no_priority(s)),
        "both intersections granted transit priority (SPAT signalPriorityIsActive)",
    ),
    "bus-route-broken": (
        lambda s: Scenario.model_validate(
            s.model_dump() | {"faults": [f.model_dump() for f in s.faults if f.kind != "rsc_no_answer"]}
        ),
        "check VIR.request_answered is FAIL",
    ),
    "congestion": (lambda s: _edit(s, intersections=_inter(s, 0, traffic_info=[])), "application TJW is PASS"),
    "corridor": (
        lambda s: _edit(s, network=[{"devices": "rsus", "msg_types": ["SPAT"], "latency": {"ms": 150}}]),
        "application RLVW is PASS",
    ),
    "crossing": (lambda s: _edit(s, intersections=_sensors(s, pedestrians=0)), "the RSU reports the six pedestrians"),
    "demo": (lambda s: _edit(s, network=[{"devices": "vehicles", "loss": {"rate": 0.1}}]), "check BSM.pdr is PASS"),
    "emergency-vehicle": (
        lambda s: _edit(s, network=[{"devices": "ambulance", "latency": {"ms": 150}}]),
        "application EVW is PASS",
    ),
    "faults": (
        lambda s: _edit(s, faults=[f.model_dump() for f in s.faults if f.kind != "bsm_speed_unavailable"]),
        "check BSM.speed_range is FAIL",
    ),
    "logistics-campus": (
        lambda s: _edit(s, fleet=_fleet(s, "logistics_van", speed_kmh=40)),
        "no van above the 20 km/h campus limit",
    ),
    "platform-uplinks": (
        lambda s: _edit(s, intersections=[i.model_dump() | {"uplink": "envelope"} for i in s.intersections]),
        "each RSU's messages arrive in its own framing, under its own id",
    ),
    "roadworks": (lambda s: _edit(s, intersections=_no_hazard(s)), "application HLW is PASS"),
    "sanitation": (
        lambda s: _edit(s, fleet=_fleet(s, "sanitation_truck", hazard_lights=False)),
        "every sanitation-truck BSM carries eventHazardLights (special-purpose class 40-46)",
    ),
    "sanitation-broken": (lambda s: _edit(s, faults=[]), "check SSM.covers_rsm is FAIL"),
    "valet-parking": (lambda s: _edit(s, fleet=_fleet(s, "car", speed_kmh=25)), "no car above 10 km/h in the car park"),
    "valet-parking-broken": (
        lambda s: Scenario.model_validate(
            s.model_dump() | {"faults": [f.model_dump() for f in s.faults if f.kind != "pam_occupancy_lost"]}
        ),
        "check PAM.slot_status_parked is FAIL",
    ),
}


def test_every_builtin_scenario_has_a_broken_variant():
    assert sorted(BROKEN) == sorted(builtin_scenarios())


def test_a_broken_variant_of_each_scenario_fails_the_expectation_aimed_at(tmp_path):
    """Three variants run at a time: only the aimed-at expectation is asserted, and extra load can
    only make more expectations fail, never this one hold."""
    entries = []
    for name, (breaking, target) in BROKEN.items():
        scenario = load_scenario(name)
        assert target in [e.label() for e in scenario.expect], f"{name}: no expectation {target!r}"
        entries.append((SuiteEntry(f"{name} (broken)", breaking(scenario)), target))
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda et: run_entry(et[0], tmp_path), entries))
    for (entry, target), result in zip(entries, results):
        assert result.error is None, f"{entry.source}: {result.error}"
        outcome = next(o for o in result.outcomes if o.expectation == target)
        assert not outcome.held, f"{entry.source}: {target} still holds ({outcome.detail})"
        assert not result.passed
