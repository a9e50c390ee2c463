"""A corpus of Day-I messages of all five types, built with the project's builders."""

from __future__ import annotations

from typing import Any

from v2x import messages
from v2x.messages import MessageType, PathPoint
from v2x.scenario import roads
from v2x.scenario.model import parse_scenario

from roadside.map_message import map_data
from roadside.spat_message import spat

SCENARIO = parse_scenario(
    """
name: corpus
duration_s: 5
intersections:
  - {id: 1101, region: 1201, name: Xiqing Rd / Jinjing Hwy, lat: 39.0850, lon: 117.0560, rsu_id: RSU-1}
  - {id: 1102, region: 1201, name: Xiqing Rd / Sai Da Ave, lat: 39.0852, lon: 117.0620, rsu_id: RSU-2, lanes_per_direction: 3}
fleet: [{kind: car, count: 2}]
"""
)


def bsm_variants() -> list[dict[str, Any]]:
    base = {
        "msg_cnt": 17,
        "vehicle_id": b"TJ000001",
        "sec_mark": 42123,
        "lat_deg": 39.0851234,
        "lon_deg": 117.0712345,
        "speed_mps": 13.9,
        "heading_deg": 87.5,
        "width_m": 1.8,
        "length_m": 4.7,
        "vehicle_class": 10,
    }
    full = messages.bsm(
        **base,
        path_history=[PathPoint(0.0001 * k, -0.0002 * k, 0.5 * k, 10.0) for k in range(1, 6)],
        radius_of_curve_m=150.0,
        brake_pedal_on=True,
        accel_long_mps2=-3.2,
        yaw_rate_dps=4.5,
    )
    minimal = {
        "msgCnt": 127,
        "id": b"\xff" * 8,
        "secMark": 60999,
        "pos": {"lat": -900000000, "long": 1800000001, "elevation": -4096},
        "transmission": "unavailable",
        "speed": 8191,
        "heading": 28800,
        "accelSet": {"long": 2001, "lat": -2000, "vert": -127, "yaw": 32767},
        "brakes": {},
        "size": {"width": 0, "length": 4095, "height": 127},
        "vehicleClass": {"classification": 255, "fuelType": 15},
    }
    emergency = dict(
        messages.bsm(**{**base, "vehicle_class": 62}),
        emergencyExt={"responseType": "emergency", "sirenUse": "inUse", "lightsUse": "inUse"},
    )
    # PathHistory.initialPosition: every field at a bound, and the position alone
    initial = messages.bsm(**base, path_history=[PathPoint(0.0001, 0.0, 0.5, 10.0)])
    initial["safetyExt"]["pathHistory"]["initialPosition"] = {
        "utcTime": {"year": 4095, "month": 12, "day": 31, "hour": 31, "minute": 60, "second": 65535, "offset": -840},
        "pos": {"lat": 390851234, "long": 1170712345, "elevation": 61439},
        "heading": 28800,
        "transmission": "reverseGears",
        "speed": 0,
        "posAccuracy": {"pos": "a1cm", "elevation": "elev-000-01"},
        "timeConfidence": "time-000-000-000-000-01",
        "motionCfd": {"speedCfd": "prec0-01ms", "headingCfd": "prec0-0125deg", "steerCfd": "prec0-02deg"},
    }
    bare_initial = messages.bsm(**base, path_history=[PathPoint(0.0001, 0.0, 0.5, 10.0)])
    bare_initial["safetyExt"]["pathHistory"]["initialPosition"] = {
        "utcTime": {"offset": 840},
        "pos": {"lat": -900000000, "long": -1799999999},
    }
    return [messages.bsm(**base), full, minimal, emergency, initial, bare_initial]


def rsi() -> dict[str, Any]:
    path = [{"offsetLL": messages.offset_ll(0.0001 * k, 0.0003 * k)} for k in range(3)]
    return {
        "msgCnt": 3,
        "moy": 470000,
        "id": b"RSU-0001",
        "refPos": messages.position3d(39.085, 117.056),
        "rtes": [
            {
                "rteId": 1,
                "eventType": 401,
                "eventSource": "police",
                "eventPos": path[1],
                "eventRadius": 500,
                "description": ("textString", "road works"),
                "timeDetails": {"startTime": 470000, "endTime": 470600},
                "priority": b"\xe0",
                "referencePaths": [{"activePath": path, "pathRadius": 60}],
                "eventConfidence": 180,
            }
        ],
        "rtss": [
            {
                "rtsId": 2,
                "signType": 38,
                "signPos": path[2],
                "description": ("textGB2312", "施工".encode("gb2312")),
                "referenceLinks": [
                    {
                        "upstreamNodeId": {"id": 1101},
                        "downstreamNodeId": {"region": 1201, "id": 1102},
                        "referenceLanes": (b"\x60\x00", 16),
                    }
                ],
            }
        ],
    }


def rsm() -> dict[str, Any]:
    def participant(ptc_id: int, kind: str, source: str) -> dict[str, Any]:
        return {
            "ptcType": kind,
            "ptcId": ptc_id,
            "source": source,
            "secMark": 1200,
            "pos": {"offsetLL": messages.offset_ll(0.0002 * ptc_id, -0.0001), "offsetV": ("offset1", -3)},
            "posConfidence": {"pos": "a1m"},
            "speed": 70,
            "heading": 14400,
            "size": {"width": 60, "length": 50},
        }

    self_entry = participant(0, "rsu", "selfinfo")
    return {
        "msgCnt": 9,
        "id": b"RSU-0001",
        "refPos": messages.position3d(39.085, 117.056),
        "participants": [
            self_entry,
            participant(1, "pedestrian", "lidar"),
            participant(2, "non-motor", "video"),
            dict(participant(3, "motor", "v2x"), id=b"TJ000001", vehicleClass={"classification": 10}),
        ],
    }


def corpus() -> list[tuple[MessageType, dict[str, Any]]]:
    """(type, content) pairs covering all five Day-I messages."""
    corr = roads.corridor(SCENARIO)
    items: list[tuple[MessageType, dict[str, Any]]] = [(MessageType.BSM, b) for b in bsm_variants()]
    items += [(MessageType.MAP, map_data(SCENARIO, corr, i, 5, 470000)) for i in range(2)]
    items += [(MessageType.SPAT, spat(SCENARIO.intersections[0], t, 9, 470000, 1234)) for t in (0.0, 21.5, 44.9)]
    items += [(MessageType.RSI, rsi()), (MessageType.RSM, rsm())]
    return items
