"""The Day-II additions to MAP (T/CSAE 157-2020 Map: inLinks-ex): the simulated RSU's links by
sections with a bus lane and a left-turn waiting area, the ``map_sections`` and
``map_waiting_areas`` tables, the ``MAP.section_ids`` check, and the scenario key."""

from __future__ import annotations

import copy

import pytest

from v2x import messages
from v2x.dayii import bits
from v2x.messages import MessageType
from v2x.scenario import roads
from v2x.scenario.model import ScenarioError, load_scenario, with_changes

from pipeline.sql import views
from roadside.map_message import map_data

from tests.test_validation import violations_of, write_run


def _bus_route_map(index: int = 0) -> dict:
    scenario = load_scenario("bus-route")
    return map_data(scenario, roads.corridor(scenario), index, 3, 470000)


def test_a_corridor_approach_gains_a_bus_lane_section_and_a_waiting_area():
    value = _bus_route_map()
    _, decoded = messages.decode(messages.encode(MessageType.MAP, value), check_constraints=True)
    node = decoded["nodes"][0]
    assert len(node["inLinks-ex"]) == len(node["inLinks"]) == 4
    corridor, cross = node["inLinks-ex"][0], node["inLinks-ex"][2]
    assert [s["secId"] for s in corridor["sections"]] == [1, 2] and [s["secId"] for s in cross["sections"]] == [1]
    first, second = corridor["sections"]
    assert [lane["laneRefID"] for lane in first["lanes"]] == [-1, -2]
    assert [lane["laneRefID"] for lane in second["lanes"]] == [-1, -2, -3]  # the lane count changes: a new section
    bus = second["lanes"][-1]
    assert bus["laneAttributes"]["laneType"] == ("vehicle", bits("LaneAttributes-Vehicle", ("restrictedToBusUse",)))
    assert bus["laneLineType"] == {"leftLaneLine": "yellowDottedLine", "rightLaneLine": "whiteSolidLine"}
    assert second["lanes"][0]["st-points"][0]["s-axis"] == first["lanes"][0]["st-points"][-1]["s-axis"]
    length_dm = second["lanes"][0]["st-points"][-1]["s-axis"] - second["lanes"][0]["st-points"][0]["s-axis"]
    assert length_dm == 800  # the scenario's bus_lane_m: 80
    waiting = [c for c in second["lanes"][0]["connectsTo-ex"] if "swl" in c]
    assert (
        len(waiting) == 1 and waiting[0]["turn-direction"] == "maneuverLeftTurn" and waiting[0]["swl"]["allowedPhaseIds"] == [1]
    )
    assert not any("swl" in c for lane in cross["sections"][0]["lanes"] for c in lane["connectsTo-ex"])


def test_the_map_tables_hold_the_sections_and_waiting_areas_in_units(tmp_path):
    con = views.connect(write_run(tmp_path, [(MessageType.MAP, _bus_route_map(0)), (MessageType.MAP, _bus_route_map(1))]))
    assert con.execute(
        "SELECT count(*), count(DISTINCT (node_id, link)), count(*) FILTER (WHERE list_contains(vehicle_attributes, 'restrictedToBusUse')) "
        "FROM map_sections"
    ).fetchone() == (2 * (2 * (2 + 3) + 2 * 2), 8, 4)
    bus = con.execute(
        "SELECT lane_ref, lane_width_m, s_to_m - s_from_m, shared_with, left_line FROM map_sections "
        "WHERE list_contains(vehicle_attributes, 'restrictedToBusUse') AND node_id = 1201 ORDER BY link"
    ).fetchall()
    assert bus == [(-3, 3.5, 80.0, ["busVehicleTraffic"], "yellowDottedLine")] * 2
    areas = con.execute(
        "SELECT node_id, lane_ref, turn, phase_id, allowed_phases, width_m, len(point_lat_deg) FROM map_waiting_areas ORDER BY node_id, link"
    ).fetchall()
    assert [a[0] for a in areas] == [1201, 1201, 1202, 1202]
    assert all(a[1:] == (-1, "maneuverLeftTurn", 1, [1], 3.5, 2) for a in areas), areas
    lat, lon = con.execute("SELECT point_lat_deg, point_lon_deg FROM map_waiting_areas LIMIT 1").fetchone()
    assert messages.distance_m(lat[0], lon[0], lat[1], lon[1]) == pytest.approx(15.0, abs=0.05)  # waiting_area_m


def test_sections_out_of_order_break_map_section_ids(tmp_path):
    value = _bus_route_map()
    assert violations_of([(MessageType.MAP, value)], tmp_path / "clean") == []
    broken = copy.deepcopy(value)
    broken["nodes"][0]["inLinks-ex"][0]["sections"][1]["secId"] = 3  # sections 1, 3
    overlapping = copy.deepcopy(value)
    for lane in overlapping["nodes"][0]["inLinks-ex"][1]["sections"][1]["lanes"]:
        lane["st-points"][0]["s-axis"] -= 100  # section 2 starts 10 m before section 1 ends
    found = violations_of([(MessageType.MAP, broken), (MessageType.MAP, overlapping)], tmp_path / "broken")
    assert [(v["check_name"], v["detail"]) for v in found] == [
        ("MAP.section_ids", "node 1201 link 0: sections numbered 1,3"),
        ("MAP.section_ids", "node 1201 link 1: a section starts before the one upstream of it ends"),
    ]


def test_map_additions_need_the_current_edition_and_a_binary_uplink():
    scenario = load_scenario("bus-route")
    inter = scenario.intersections[0].model_dump()
    with pytest.raises(ScenarioError, match="map_day_ii: the csae53-2019-07 edition's MAP has no Day-II additions"):
        with_changes(
            scenario, intersections=[inter | {"edition": "csae53-2019-07", "signal": inter["signal"] | {"bus_priority": None}}]
        )
    with pytest.raises(ScenarioError, match="map_day_ii: the RSU sends Day-II messages"):
        with_changes(
            scenario, intersections=[inter | {"uplink": "cloud-json", "signal": inter["signal"] | {"bus_priority": None}}]
        )
    plain = with_changes(scenario, intersections=[inter | {"map_day_ii": None}, scenario.intersections[1].model_dump()])
    assert "inLinks-ex" not in map_data(plain, roads.corridor(plain), 0, 0, 0)["nodes"][0]
