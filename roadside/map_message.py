"""MapData for one intersection, built from the scenario's corridor geometry (YD/T 3709 Map*).

Each intersection is a Node with four inbound Links (two along the corridor, two on the cross
street).  A link carries its width, two RoadPoints (upstream end, stop line), a speed limit, the
through Movement with the phase that serves it, and one Lane per lane with its maneuvers and
connection.  Links from outside the scenario start at virtual nodes numbered 60000 and up.
With ``map_day_ii`` the node also carries the Day-II ``inLinks-ex`` (T/CSAE 157-2020 Map): each
link by sections, with a bus lane and a left-turn waiting area on the corridor approaches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from v2x import messages
from v2x.dayii import bits
from v2x.scenario import roads
from v2x.scenario.model import Intersection, Scenario
from v2x.scenario.roads import CROSS_PHASE, LANE_WIDTH_M, MAIN_PHASE, STOP_LINE_SETBACK_M, Corridor

CROSS_ARM_M = 150.0
CORRIDOR_SPEED_LIMIT_MPS = 50 / 3.6
CROSS_SPEED_LIMIT_MPS = 40 / 3.6
VIRTUAL_NODE_BASE = 60000

_STRAIGHT_LEFT = (bytes([0b11000000, 0]), 12)  # maneuverStraightAllowed, maneuverLeftAllowed
_STRAIGHT_RIGHT = (bytes([0b10100000, 0]), 12)  # maneuverStraightAllowed, maneuverRightAllowed
_VEHICLE_LANE = {"laneType": ("vehicle", (b"\x00", 8))}


def neighbour_node(scenario: Scenario, index: int, k: int, arm: int) -> dict[str, int]:
    """The NodeReferenceID at the far end of arm ``arm`` of intersection ``index``: intersection
    ``k`` where the scenario has it, else a virtual node (60000 and up)."""
    if 0 <= k < len(scenario.intersections):
        other = scenario.intersections[k]
        return _node_ref(other.region, other.id)
    inter = scenario.intersections[index]
    return _node_ref(inter.region, VIRTUAL_NODE_BASE + (index * 4 + arm) % 5000)


def _node_ref(region: int, node_id: int) -> dict[str, int]:
    return {"region": region, "id": node_id}


def _offset(corr: Corridor, ref_lat: float, ref_lon: float, xy: np.ndarray) -> dict[str, Any]:
    lat, lon = corr.frame.to_latlon(xy[0], xy[1])
    return {"posOffset": {"offsetLL": messages.offset_ll(float(lat) - ref_lat, float(lon) - ref_lon)}}


def map_data(scenario: Scenario, corr: Corridor, index: int, msg_cnt: int, moy: int) -> dict[str, Any]:
    """The MapData an RSU at intersection ``index`` broadcasts."""
    inter = scenario.intersections[index]
    centre, along, normal = roads.intersection_axes(corr, index)
    prev_pt, next_pt = corr.points[index], corr.points[index + 2]

    def neighbour(k: int, arm: int) -> dict[str, int]:
        return neighbour_node(scenario, index, k, arm)

    # (arm number, unit vector from centre to the upstream end, arm length, upstream node, downstream node, phase, limit)
    arms = [
        (
            0,
            -along,
            float(np.linalg.norm(centre - prev_pt)),
            neighbour(index - 1, 0),
            neighbour(index + 1, 1),
            MAIN_PHASE,
            CORRIDOR_SPEED_LIMIT_MPS,
        ),
        (
            1,
            along,
            float(np.linalg.norm(next_pt - centre)),
            neighbour(index + 1, 1),
            neighbour(index - 1, 0),
            MAIN_PHASE,
            CORRIDOR_SPEED_LIMIT_MPS,
        ),
        (2, normal, CROSS_ARM_M, neighbour(-1, 2), neighbour(-1, 3), CROSS_PHASE, CROSS_SPEED_LIMIT_MPS),
        (3, -normal, CROSS_ARM_M, neighbour(-1, 3), neighbour(-1, 2), CROSS_PHASE, CROSS_SPEED_LIMIT_MPS),
    ]
    lanes_n = inter.lanes_per_direction
    links = []
    for arm, out, length, upstream, downstream, phase, limit in arms:
        right = np.array([out[1], -out[0]]) * -1  # inbound traffic drives towards the centre; keep right
        lanes = []
        for j in range(lanes_n):
            lanes.append(
                {
                    "laneID": arm * 10 + j + 1,
                    "laneWidth": int(LANE_WIDTH_M * 100),
                    "laneAttributes": _VEHICLE_LANE,
                    "maneuvers": _STRAIGHT_LEFT if j == 0 and lanes_n > 1 else _STRAIGHT_RIGHT,
                    "connectsTo": [{"remoteIntersection": downstream, "phaseId": phase}],
                }
            )
        lateral = right * (LANE_WIDTH_M * lanes_n / 2)
        links.append(
            {
                "upstreamNodeId": upstream,
                "speedLimits": [{"type": "vehicleMaxSpeed", "speed": messages.speed_units(limit)}],
                "linkWidth": int(LANE_WIDTH_M * 100 * lanes_n),
                "points": [
                    _offset(corr, inter.lat, inter.lon, centre + out * length + lateral),
                    _offset(corr, inter.lat, inter.lon, centre + out * STOP_LINE_SETBACK_M + lateral),
                ],
                "movements": [{"remoteIntersection": downstream, "phaseId": phase}],
                "lanes": lanes,
            }
        )
    node = {
        "name": inter.name,
        "id": _node_ref(inter.region, inter.id),
        "refPos": messages.position3d(inter.lat, inter.lon),
        "inLinks": links,
    }
    if inter.map_day_ii is not None:
        left_of = {0: neighbour(-1, 2), 1: neighbour(-1, 3)}  # where a left turn from each corridor arm goes
        node["inLinks-ex"] = [
            _link_ex(corr, inter, centre, out, length, upstream, downstream, phase, limit, left_of.get(arm))
            for arm, out, length, upstream, downstream, phase, limit in arms
        ]
    return {"msgCnt": msg_cnt, "timeStamp": moy, "nodes": [node]}


def _link_ex(
    corr: Corridor,
    inter: Intersection,
    centre: np.ndarray,
    out: np.ndarray,
    length: float,
    upstream: dict[str, int],
    downstream: dict[str, int],
    phase: int,
    limit: float,
    left_turn_to: dict[str, int] | None,
) -> dict[str, Any]:
    """The LinkEx of one inbound link (T/CSAE 157-2020 Map): its reference line along the median
    edge from the upstream end to the stop line, lanes -1 (median) .. -n (kerb) to its right, and on
    a corridor arm (``left_turn_to`` given) the bus lane and the left-turn waiting area of
    ``inter.map_day_ii``.  A lane's st-points give where it runs: s along the reference line
    (0.1 m), t across it (0.01 m, negative to the right)."""
    additions = inter.map_day_ii
    assert additions is not None
    n = inter.lanes_per_direction
    right = np.array([out[1], -out[0]]) * -1
    ref_line = [centre + out * length, centre + out * STOP_LINE_SETBACK_M]
    stop_s = length - STOP_LINE_SETBACK_M
    corridor = left_turn_to is not None
    bus_m = min(additions.bus_lane_m, stop_s - 1.0) if corridor else 0.0
    extents = [(0.0, stop_s - bus_m), (stop_s - bus_m, stop_s)] if bus_m > 0 else [(0.0, stop_s)]

    def lane(j: int, s_from: float, s_to: float, bus: bool) -> dict[str, Any]:
        t = -round((j + 0.5) * LANE_WIDTH_M * 100)
        median, kerb = j == 0, j == n - 1 + int(bus)
        attributes: dict[str, Any] = {
            "laneType": ("vehicle", bits("LaneAttributes-Vehicle", ("restrictedToBusUse",) if bus else ()))
        }
        if bus:
            attributes["shareWith"] = bits("LaneSharing", ("busVehicleTraffic",))
        connections: list[dict[str, Any]] = [
            {"remoteIntersection": downstream, "phaseId": phase, "turn-direction": "maneuverStraight"}
        ]
        if median and corridor and additions.waiting_area_m > 0 and s_to == stop_s:
            assert left_turn_to is not None
            stop = centre + out * STOP_LINE_SETBACK_M + right * (LANE_WIDTH_M * 0.5)
            swl = {
                "laneWidth": int(LANE_WIDTH_M * 100),
                "points": [_offset(corr, inter.lat, inter.lon, stop - out * d) for d in (0.0, additions.waiting_area_m)],
                "allowedPhaseIds": [phase],
            }
            connections.append(
                {"remoteIntersection": left_turn_to, "swl": swl, "phaseId": phase, "turn-direction": "maneuverLeftTurn"}
            )
        return {
            "laneRefID": -(j + 1),
            "laneWidth": int(LANE_WIDTH_M * 100),
            "laneAttributes": attributes,
            "maneuvers": _STRAIGHT_LEFT if median and n > 1 else _STRAIGHT_RIGHT,
            "connectsTo-ex": connections,
            "st-points": [{"s-axis": round(s * 10), "t-axis": t} for s in (s_from, s_to)],
            "laneLineType": {
                "leftLaneLine": "yellowSolidLine" if median else "yellowDottedLine" if bus else "whiteDottedLine",
                "rightLaneLine": "whiteSolidLine" if kerb else "whiteDottedLine",
            },
        }

    sections = []
    for k, (s_from, s_to) in enumerate(extents):
        with_bus = k == 1
        lanes = [lane(j, s_from, s_to, bus=False) for j in range(n)]
        if with_bus:
            lanes.append(lane(n, s_from, s_to, bus=True))
        sections.append({"secId": k + 1, "lanes": lanes})
    movements = [{"remoteIntersection": downstream, "phaseId": phase, "turn-direction": "maneuverStraight"}]
    if corridor and additions.waiting_area_m > 0:
        assert left_turn_to is not None
        movements.append({"remoteIntersection": left_turn_to, "phaseId": phase, "turn-direction": "maneuverLeftTurn"})
    return {
        "upstreamNodeId": upstream,
        "speedLimits": [{"type": "vehicleMaxSpeed", "speed": messages.speed_units(limit)}],
        "linkWidth": int(LANE_WIDTH_M * 100 * n),
        "refLine": [_offset(corr, inter.lat, inter.lon, p) for p in ref_line],
        "movements-ex": movements,
        "sections": sections,
    }
