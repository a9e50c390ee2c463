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


def _msm4_frame() -> bytes:
    """A GPS MSM4 frame of the simulated reference station at a fixed time (the 1005 beside it is a published one)."""
    import numpy as np

    from roadside.reference_station import ReferenceStation

    station = ReferenceStation(1601, 39.0851, 117.0561, 5.0, np.random.default_rng(4))
    return dict(station.corrections(1_780_000_000_000, 0.0))[1074]


def day_ii_corpus() -> list[tuple[MessageType, dict[str, Any]]]:
    """(type, content) pairs of every Day-II message the harness carries, built with the
    project's builders (v2x.dayii) where one exists, and a MAP with the Day-II node additions."""
    from v2x.dayii import pam, psm, rsc, rtcm, ssm, vir

    lat, lon = 39.0851, 117.0561
    bus_request = vir.DriveRequest(
        7,
        "request",
        vir.SignalPriority(1101, region=1201, phase_id=2, turn="maneuverLeftTurn", eta_s=12.4, distance_m=96.3),
        priority=5,
        target_rsu=b"RSU-0001",
        life_time_s=20.0,
    )
    parking = vir.DriveRequest(1, "comfirmed", vir.ParkingArea(10, ("enter", "park"), ("ordinary", "charging"), 17))
    lane_change = vir.DriveRequest(255, "complete", vir.LaneChange(1101, 1102, 2, region=1201), life_time_s=655.35)
    slots = tuple(
        pam.ParkingSlot(
            k,
            f"B1{k:02d}",
            ((lat + 1e-5 * k, lon), (lat + 1e-5 * k, lon + 2.5e-5), (lat + 1e-5 * k + 5e-5, lon)),
            ("ordinary",) if k % 2 else ("charging", "mini"),
        )
        for k in range(1, 5)
    )
    lot = pam.ParkingLot(
        3,
        "Xiqing P+R",
        (
            pam.PamNode(1, lat, lon, floor=-1, attributes=("entrance",)),
            pam.PamNode(2, lat + 2e-4, lon, floor=-1, drives=(pam.Drive(1, 6.0, slots, speed_limit_mps=2.8),)),
            pam.PamNode(3, lat + 4e-4, lon, floor=-2, attributes=("exit", "toDownstair")),
        ),
        floors=2,
    )
    worker = psm.psm(
        msg_cnt=0,
        person_id=b"PSM-0001",
        sec_mark=59999,
        lat_deg=lat,
        lon_deg=lon,
        speed_mps=0.8,
        heading_deg=271.0,
        kind="aROADWORKER",
        worker_type="constructionPersonnel",
        activities=("workingOnRoad", "settingUpClosures"),
    )
    pedestrian = dict(
        psm.psm(msg_cnt=127, person_id=b"\x00" * 8, sec_mark=0, lat_deg=lat, lon_deg=lon, speed_mps=1.4, heading_deg=0.0),
        accelSet={"long": 10, "lat": 0, "vert": 0, "yaw": 0},
        pathHistory={"crumbData": [{"llvOffset": {"offsetLL": messages.offset_ll(1e-5, 0)}, "timeOffset": 100}] * 2},
    )
    shared = ssm.ssm(
        msg_cnt=12,
        sender_id=b"RSU-0001",
        sec_mark=30000,
        lat_deg=lat,
        lon_deg=lon,
        region=((lat - 5e-4, lon - 5e-4), (lat - 5e-4, lon + 5e-4), (lat + 5e-4, lon + 5e-4), (lat + 5e-4, lon - 5e-4)),
        participants=[
            ssm.Detected(p, kind, tracking_s=30) for p, kind in zip(rsm()["participants"][1:], ("pedestrian", "cyclist", "bus"))
        ],
        obstacles=[
            ssm.Obstacle(1, "trafficcone", lat + 1e-4, lon, 0.4, 0.4),
            ssm.Obstacle(2, "traffic-roadblock", lat, lon + 1e-4, 2.0, 0.5),
        ],
    )
    map_ext = {
        "msgCnt": 4,
        "nodes": [
            {
                "id": {"region": 1201, "id": 1101},
                "refPos": messages.position3d(lat, lon),
                "inLinks-ex": [
                    {
                        "upstreamNodeId": {"region": 1201, "id": 1102},
                        "linkWidth": 1050,
                        "refLine": [{"posOffset": {"offsetLL": messages.offset_ll(0, 1e-3 * k)}} for k in range(3)],
                        "movements-ex": [
                            {"remoteIntersection": {"id": 1103}, "phaseId": 2, "turn-direction": "maneuverLeftTurn"}
                        ],
                        "sections": [
                            {
                                "secId": 1,
                                "lanes": [
                                    {
                                        "laneRefID": -1,
                                        "laneWidth": 350,
                                        "laneAttributes": {"laneType": ("vehicle", (b"\x10", 8))},  # restrictedToBusUse
                                        "laneLineType": {"leftLaneLine": "yellowSolidLine", "rightLaneLine": "whiteDottedLine"},
                                        "connectsTo-ex": [
                                            {
                                                "remoteIntersection": {"id": 1103},
                                                "swl": {
                                                    "laneWidth": 350,
                                                    "points": [
                                                        {"posOffset": {"offsetLL": messages.offset_ll(0, 1e-4 * k)}}
                                                        for k in (1, 2)
                                                    ],
                                                    "allowedPhaseIds": [2],
                                                },
                                                "connectingLane": [
                                                    {"target-section": 2, "target-lane": -2, "isolatedConnectingLane": True}
                                                ],
                                                "phaseId": 2,
                                            }
                                        ],
                                    },
                                    {
                                        "laneRefID": 1,
                                        "st-points": [{"s-axis": -1024, "t-axis": 175}, {"s-axis": 65535, "t-axis": -32768}],
                                    },
                                ],
                            },
                            {"secId": 2, "lanes": [{"laneRefID": -2}, {"laneRefID": -1}, {"laneRefID": 1}]},
                        ],
                    }
                ],
                "prohibitedzone": {
                    "centralCircleProhibitedZone": [{"offsetLL": messages.offset_ll(1e-5 * k, 1e-5 * (k % 2))} for k in range(4)]
                },
            }
        ],
    }
    return [
        (
            MessageType.VIR,
            vir.vir(
                msg_cnt=5,
                vehicle_id=b"BUS00001",
                sec_mark=42123,
                lat_deg=lat,
                lon_deg=lon,
                speed_mps=9.7,
                heading_deg=90.0,
                requests=[bus_request],
                behavior=("intersectionTurnLeft",),
            ),
        ),
        (
            MessageType.VIR,
            vir.vir(
                msg_cnt=6,
                vehicle_id=b"TJ000001",
                sec_mark=1,
                lat_deg=lat,
                lon_deg=lon,
                speed_mps=1.2,
                heading_deg=0.0,
                requests=[parking, lane_change],
            ),
        ),
        (
            MessageType.VIR,
            {"msgCnt": 0, "id": b"TJ000002", "secMark": 65535, "refPos": messages.position3d(lat, lon), "intAndReq": {}},
        ),
        (
            MessageType.RSC,
            rsc.rsc(
                msg_cnt=9,
                rsu_id=b"RSU-0001",
                sec_mark=42200,
                lat_deg=lat,
                lon_deg=lon,
                vehicles=[
                    rsc.VehicleCoordination(b"BUS00001", ("intersectionTurnLeft",), 20.0, info=("signalPriority",)),
                    rsc.VehicleCoordination(
                        b"TJ000001", ("parking",), path=((lat, lon), (lat + 1e-4, lon), (lat + 1e-4, lon + 1e-4))
                    ),
                ],
                lanes=[
                    rsc.LaneCoordination(
                        1102,
                        1101,
                        (1, 2),
                        region=1201,
                        info=("laneReservation",),
                        speed_mps=5.0,
                        behavior=("slow-down",),
                        note="sanitation",
                    )
                ],
            ),
        ),
        (
            MessageType.PAM,
            pam.pam(
                msg_cnt=1,
                lot=lot,
                moy=470000,
                status={1: "available", 2: "occupied", 3: "reserved"},
                guidance=[pam.ParkingGuide(b"TJ000001", (1, 2), 1)],
            ),
        ),
        (MessageType.PSM, worker),
        (MessageType.PSM, pedestrian),
        (MessageType.SSM, shared),
        (
            MessageType.SSM,
            {"msgCnt": 1, "id": b"OBU-0001", "equipmentType": "obu", "secMark": 10, "sensorPos": messages.position3d(lat, lon)},
        ),
        (
            MessageType.RTCM,
            rtcm.rtcm(
                msg_cnt=3,
                corrections=[
                    (1005, bytes.fromhex("d300133ed7d30202980edeef34b4bd62ac0941986f33360b98")),
                    (1074, _msm4_frame()),
                ],
            ),
        ),
        (
            MessageType.CLPMM,
            {
                "msgCnt": 2,
                "id": b"TRK00001",
                "secMark": 500,
                "pid": b"PLATOON-000000001",
                "role": "leader",
                "status": "navigating",
                "leadingExt": {"memberList": [{"vid": b"TRK00001"}, {"vid": b"TRK00002"}], "capacity": 4, "openToJoin": True},
            },
        ),
        (MessageType.MAP, map_ext),
    ]
