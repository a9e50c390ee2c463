"""Content rows of the Day-II messages (T/CSAE 157-2020), from the asn1tools decode.

One table per message and one per list inside it that a flow check or an analyst asks about:

``vir`` / ``vir_requests``       a vehicle's VIR, and each DriveRequest in it (reqID, status, what is asked)
``rsc`` / ``rsc_vehicles`` / ``rsc_lanes``
                                 an RSU's RSC, each VehicleCoordination (the answer to a vehicle)
                                 and each LaneCoordination (a lane reserved or restricted)
``pam`` / ``pam_slots`` / ``pam_guidance``
                                 a car park's PAM, each slot with its status, each vehicle's guidance
``psm``                          a person's PSM, with the road-worker extension
``ssm`` / ``ssm_objects``        shared perception, and each participant or obstacle in it
``rtcm``                         each RTCM message relayed in RTCMcorrections
``clpmm``                        a platoon member's CLPMM
``map_sections``                 the Day-II additions to MAP (Node inLinks-ex): each lane of each section of a link
``map_waiting_areas``            each waiting area (SignalWaitingLane) of a lane's connection

Integers are the raw ASN.1 values (the views add physical units); positions are absolute
Latitude/Longitude in 1e-7 degree (an offset added to its reference position); enumerations are
their names and named BIT STRINGs lists of the names of the bits set, so that SQL reads them as
the standard writes them.  Octet-string ids are hex, as the BSM's ``vehicle_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from v2x.dayii import names_of, rtcm

from pipeline.decode.psm import PROPULSION_KINDS, C
from pipeline.decode.uper import ABSENT

Record = dict[str, Any]
LAT_LON = "position-LatLon"  # PositionOffsetLL alternative that is a position, not an offset

_I, _S, _B = pa.int64(), pa.string(), pa.bool_()
_LS, _LI = pa.list_(pa.string()), pa.list_(pa.int64())


def _absolute(ref: dict[str, int], offset: dict[str, Any]) -> tuple[int, int]:
    """(lat, lon) in 1e-7 degree of a PositionOffsetLLV from the reference position ``ref``."""
    kind, ll = offset["offsetLL"]
    if kind == LAT_LON:
        return ll["lat"], ll["lon"]
    return ref["lat"] + ll["lat"], ref["long"] + ll["lon"]


def _bits(type_name: str, value: tuple[bytes, int] | None) -> list[str] | None:
    return None if value is None else names_of(type_name, value)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _node(node: dict[str, int] | None) -> tuple[int | None, int | None]:
    return (None, None) if node is None else (node.get("region"), node["id"])


def vir_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record]]:
    """(vir record, vir_requests records) of one VehIntentionAndRequest."""
    iar = m["intAndReq"]
    now = iar.get("currentPos", {})
    vehicle = m["id"].hex()
    head = {
        "vehicle_id": vehicle,
        "sec_mark": m["secMark"],
        "lat": m["refPos"]["lat"],
        "lon": m["refPos"]["long"],
        "speed": now.get("speed"),
        "heading": now.get("heading"),
        "behavior": _bits("DriveBehavior", iar.get("currentBehavior")),
        "path_points": len(iar.get("path-Planning", [])),
        "requests": len(iar.get("reqs", [])),
    }
    requests = []
    for r in iar.get("reqs", []):
        kind, info = r.get("info", (None, {}))
        info = info or {}
        intersection = _node(info.get("intersectionId"))
        movement = info.get("requiredMov", {})
        upstream, downstream = _node(info.get("upstreamNode")), _node(info.get("downstreamNode"))
        priority = r.get("reqPriority")
        requests.append(
            {
                "vehicle_id": vehicle,
                "sec_mark": m["secMark"],
                "req_id": r["reqID"],
                "status": r["status"],  # None: a status added by a later edition
                "priority": priority[0] >> 5 if priority else None,
                "target_vehicle": _hex(r.get("targetVeh")),
                "target_rsu": _hex(r.get("targetRSU")),
                "life_time": r.get("lifeTime"),
                "kind": kind,
                "intersection_region": intersection[0],
                "intersection_id": intersection[1],
                "phase_id": movement.get("phaseId"),
                "turn": movement.get("turn-direction"),
                "eta": info.get("estimatedArrivalTime"),
                "distance": info.get("distance2Intersection"),
                "parking": _bits("ParkingRequest", info.get("req")),
                "parking_type": _bits("ParkingType", info.get("parkingType")),
                "slot_id": info.get("expectedParkingSlotID"),
                "vehicle_class": info.get("vehicleClass", {}).get("classification"),
                "upstream_id": upstream[1],
                "downstream_id": downstream[1],
                "target_lane": info.get("targetLane"),
            }
        )
    return [head], requests


def rsc_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record], list[Record]]:
    """(rsc record, rsc_vehicles records, rsc_lanes records) of one RoadsideCoordination."""
    rsu, ref = m["id"].hex(), m["refPos"]
    head = {
        "rsu_id": rsu,
        "sec_mark": m["secMark"],
        "lat": ref["lat"],
        "lon": ref["long"],
        "vehicles": len(m.get("coordinates", [])),
        "lanes": len(m.get("laneCoordinates", [])),
    }
    vehicles = []
    for c in m.get("coordinates", []):
        suggestion = c.get("driveSuggestion", {})
        path = [_absolute(ref, point["pos"]) for point in c.get("pathGuidance", [])]
        vehicles.append(
            {
                "rsu_id": rsu,
                "sec_mark": m["secMark"],
                "vehicle_id": c["vehId"].hex(),
                "suggestion": _bits("DriveBehavior", suggestion.get("suggestion")),
                "life_time": suggestion.get("lifeTime"),
                "info": _bits("CoordinationInfo", c.get("info")),
                "path_points": len(path),
                "path_end_lat": path[-1][0] if path else None,
                "path_end_lon": path[-1][1] if path else None,
            }
        )
    lanes = []
    for c in m.get("laneCoordinates", []):
        link = c["targetLane"]
        up, down = _node(link["upstreamNodeId"]), _node(link["downstreamNodeId"])
        numbers = _bits("ReferenceLanes", link.get("referenceLanes"))
        kind, text = c.get("description", (None, None))
        lanes.append(
            {
                "rsu_id": rsu,
                "sec_mark": m["secMark"],
                "upstream_region": up[0],
                "upstream_id": up[1],
                "downstream_region": down[0],
                "downstream_id": down[1],
                "lanes": None if numbers is None else [int(n[4:]) for n in numbers if n.startswith("lane")],
                "info": _bits("CoordinationInfo", c.get("info")),
                "recommended_speed": c.get("recommendedSpeed"),
                "recommended_behavior": _bits("DriveBehavior", c.get("recommendedBehavior")),
                "description": text if kind == "textString" else None,
            }
        )
    return [head], vehicles, lanes


def pam_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record], list[Record]]:
    """(pam record, pam_slots records, pam_guidance records) of one PAMData.  A slot's position
    is the centre of its rectangle (midway between the top-right and bottom-left corners)."""
    info = m["parkingLotInfo"]
    lot = info.get("id")
    slots = []
    for node in m["pamNodes"]:
        ref = node["refPos"]
        for drive in node.get("inDrives", []):
            for s in drive.get("parkingSlots", []):
                centre: tuple[int | None, int | None] = (None, None)
                if "position" in s:
                    (lat1, lon1), (lat2, lon2) = (_absolute(ref, s["position"][k]) for k in ("topRight", "bottomLeft"))
                    centre = ((lat1 + lat2) // 2, (lon1 + lon2) // 2)
                slots.append(
                    {
                        "lot_id": lot,
                        "node_id": node["id"],
                        "floor": node.get("floor"),
                        "upstream_node_id": drive["upstreamPAMNodeId"],
                        "slot_id": s["slotID"],
                        "sign": s.get("sign"),
                        "status": s["status"],
                        "parking_type": _bits("ParkingType", s["parkingType"]),
                        "theta": s["parkingSpaceTheta"],
                        "lock": s["parkingLock"],
                        "lat": centre[0],
                        "lon": centre[1],
                    }
                )
    guidance = [
        {"lot_id": lot, "vehicle_id": g["vehId"].hex(), "path": list(g["drivePath"]), "target_slot": g.get("targetParkingSlot")}
        for g in m.get("parkingAreaGuidance", [])
    ]
    head = {
        "lot_id": lot,
        "name": info.get("name"),
        "time_stamp": m.get("timeStamp"),
        "slots_declared": info.get("number"),
        "slots": len(slots),
        "floors": info.get("buildingLayerNum"),
        "avp_type": info.get("avpType"),
        "nodes": len(m["pamNodes"]),
        "guidance": len(guidance),
    }
    return [head], slots, guidance


def psm_rows(m: dict[str, Any]) -> list[Record]:
    """The psm record of one PersonalSafetyMessage."""
    person = m["non-motorData"]
    worker = person.get("roadWorkerExt", {})
    propulsion = person.get("propulsion")
    return [
        {
            "person_id": m["id"].hex(),
            "sec_mark": m["secMark"],
            "lat": m["pos"]["lat"],
            "lon": m["pos"]["long"],
            "speed": m["speed"],
            "heading": m["heading"],
            "semi_major": m["posAccuracy"]["semiMajor"],
            "radius": m["overallRadius"],
            "basic_type": person["basicType"],
            "propulsion": None if propulsion is None else f"{propulsion[0]}:{propulsion[1]}",
            "worker_type": worker.get("workerType"),
            "activities": _bits("RoadWorkerActivityType", worker.get("activityType")),
            "crossing": person.get("personalReq", {}).get("crossing"),
            "path_points": len(m.get("path-Planning", [])),
        }
    ]


def ssm_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record]]:
    """(ssm record, ssm_objects records) of one SensorSharingMsg: participants and obstacles
    in one table, ``object`` saying which."""
    ref, device = m["sensorPos"], m["id"].hex()

    def seen(
        what: str, body: dict[str, Any], object_id: int, kind: str | None, ptc_type: str | None, tracking: int | None
    ) -> Record:
        lat, lon = _absolute(ref, body["pos"])
        return {
            "device_id": device,
            "object": what,
            "object_id": object_id,
            "type": kind,
            "ptc_type": ptc_type,
            "source": body["source"],
            "lat": lat,
            "lon": lon,
            "speed": body["speed"],
            "heading": body["heading"],
            "width": body["size"]["width"],
            "length": body["size"]["length"],
            "tracking": tracking,
        }

    objects = [
        seen("participant", d["ptc"], d["ptc"]["ptcId"], d.get("detectedPTCType"), d["ptc"]["ptcType"], d.get("tracking"))
        for d in m.get("participants", [])
    ]
    objects += [seen("obstacle", o, o["obsId"], o["obsType"], None, o.get("tracking")) for o in m.get("obstacles", [])]
    region = m.get("detectedRegion", [])
    head = {
        "device_id": device,
        "equipment_type": m["equipmentType"],
        "sec_mark": m["secMark"],
        "lat": ref["lat"],
        "lon": ref["long"],
        "regions": len(region),
        "participants": len(m.get("participants", [])),
        "obstacles": len(m.get("obstacles", [])),
        "events": len(m.get("rtes", [])),
    }
    return [head], objects


def _rtcm3(c: dict[str, Any]) -> bool:
    return str(c.get("rev", "")).startswith("rtcmRev3")


def rtcm_rows(m: dict[str, Any]) -> list[Record]:
    """One rtcm record per RTCMmsg of one RTCMcorrections; an RTCM 3 payload is checked to be one
    whole transport frame (RTCM 10403.3, 4) and its message number read."""
    return [
        {
            "correction": k,
            "revision": c.get("rev"),
            "rtcm_id": c.get("rtcmID"),
            "payload_octets": len(c["payload"]),
            "message_number": rtcm.rtcm3_number(c["payload"]) if _rtcm3(c) else None,
            "frame_problem": rtcm.rtcm3_problem(c["payload"]) if _rtcm3(c) else None,
        }
        for k, c in enumerate(m["corrections"])
    ]


def clpmm_rows(m: dict[str, Any]) -> list[Record]:
    """The clpmm record of one CLPMM."""
    lead = m.get("leadingExt", {})
    return [
        {
            "vehicle_id": m["id"].hex(),
            "sec_mark": m["secMark"],
            "platoon_id": m["pid"].hex(),
            "role": m["role"],
            "status": m["status"],
            "members": len(lead["memberList"]) if lead else None,
            "capacity": lead.get("capacity"),
            "open_to_join": lead.get("openToJoin"),
        }
    ]


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([("rx_seq", _I), *fields])


# A lane of a MAP's Day-II inLinks-ex: its node, the link (index and upstream node), its section and laneRefID.
_MAP_LANE_KEY = tuple(
    (name, _I) for name in ("node_region", "node_id", "link", "upstream_region", "upstream_id", "section_id", "lane_ref")
)
SCHEMAS: dict[str, pa.Schema] = {
    "vir": _schema(
        ("vehicle_id", _S),
        ("sec_mark", _I),
        ("lat", _I),
        ("lon", _I),
        ("speed", _I),
        ("heading", _I),
        ("behavior", _LS),
        ("path_points", _I),
        ("requests", _I),
    ),
    "vir_requests": _schema(
        ("vehicle_id", _S),
        ("sec_mark", _I),
        ("req_id", _I),
        ("status", _S),
        ("priority", _I),
        ("target_vehicle", _S),
        ("target_rsu", _S),
        ("life_time", _I),
        ("kind", _S),
        ("intersection_region", _I),
        ("intersection_id", _I),
        ("phase_id", _I),
        ("turn", _S),
        ("eta", _I),
        ("distance", _I),
        ("parking", _LS),
        ("parking_type", _LS),
        ("slot_id", _I),
        ("vehicle_class", _I),
        ("upstream_id", _I),
        ("downstream_id", _I),
        ("target_lane", _I),
    ),
    "rsc": _schema(("rsu_id", _S), ("sec_mark", _I), ("lat", _I), ("lon", _I), ("vehicles", _I), ("lanes", _I)),
    "rsc_vehicles": _schema(
        ("rsu_id", _S),
        ("sec_mark", _I),
        ("vehicle_id", _S),
        ("suggestion", _LS),
        ("life_time", _I),
        ("info", _LS),
        ("path_points", _I),
        ("path_end_lat", _I),
        ("path_end_lon", _I),
    ),
    "rsc_lanes": _schema(
        ("rsu_id", _S),
        ("sec_mark", _I),
        ("upstream_region", _I),
        ("upstream_id", _I),
        ("downstream_region", _I),
        ("downstream_id", _I),
        ("lanes", _LI),
        ("info", _LS),
        ("recommended_speed", _I),
        ("recommended_behavior", _LS),
        ("description", _S),
    ),
    "pam": _schema(
        ("lot_id", _I),
        ("name", _S),
        ("time_stamp", _I),
        ("slots_declared", _I),
        ("slots", _I),
        ("floors", _I),
        ("avp_type", _S),
        ("nodes", _I),
        ("guidance", _I),
    ),
    "pam_slots": _schema(
        ("lot_id", _I),
        ("node_id", _I),
        ("floor", _I),
        ("upstream_node_id", _I),
        ("slot_id", _I),
        ("sign", _S),
        ("status", _S),
        ("parking_type", _LS),
        ("theta", _S),
        ("lock", _S),
        ("lat", _I),
        ("lon", _I),
    ),
    "pam_guidance": _schema(("lot_id", _I), ("vehicle_id", _S), ("path", _LI), ("target_slot", _I)),
    "psm": _schema(
        ("person_id", _S),
        ("sec_mark", _I),
        ("lat", _I),
        ("lon", _I),
        ("speed", _I),
        ("heading", _I),
        ("semi_major", _I),
        ("radius", _I),
        ("basic_type", _S),
        ("propulsion", _S),
        ("worker_type", _S),
        ("activities", _LS),
        ("crossing", _S),
        ("path_points", _I),
    ),
    "ssm": _schema(
        ("device_id", _S),
        ("equipment_type", _S),
        ("sec_mark", _I),
        ("lat", _I),
        ("lon", _I),
        ("regions", _I),
        ("participants", _I),
        ("obstacles", _I),
        ("events", _I),
    ),
    "ssm_objects": _schema(
        ("device_id", _S),
        ("object", _S),
        ("object_id", _I),
        ("type", _S),
        ("ptc_type", _S),
        ("source", _S),
        ("lat", _I),
        ("lon", _I),
        ("speed", _I),
        ("heading", _I),
        ("width", _I),
        ("length", _I),
        ("tracking", _I),
    ),
    "map_sections": _schema(
        *_MAP_LANE_KEY,
        ("lane_width", _I),
        ("lane_type", _S),
        ("vehicle_attributes", _LS),
        ("shared_with", _LS),
        ("maneuvers", _LS),
        ("left_line", _S),
        ("right_line", _S),
        ("s_from", _I),
        ("s_to", _I),
        ("connections", _I),
    ),
    "map_waiting_areas": _schema(
        *_MAP_LANE_KEY,
        ("remote_region", _I),
        ("remote_id", _I),
        ("phase_id", _I),
        ("turn", _S),
        ("width", _I),
        ("allowed_phases", _LI),
        ("point_lat", _LI),
        ("point_lon", _LI),
    ),
    "rtcm": _schema(
        ("correction", _I),
        ("revision", _S),
        ("rtcm_id", _I),
        ("payload_octets", _I),
        ("message_number", _I),
        ("frame_problem", _S),
    ),
    "clpmm": _schema(
        ("vehicle_id", _S),
        ("sec_mark", _I),
        ("platoon_id", _S),
        ("role", _S),
        ("status", _S),
        ("members", _I),
        ("capacity", _I),
        ("open_to_join", _B),
    ),
}


def map_addition_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record]]:
    """(map_sections records, map_waiting_areas records) of one MapData's Day-II additions: the
    ``inLinks-ex`` of each node (T/CSAE 157-2020 Map: LinkEx, Section, LaneEx, SignalWaitingLane).
    A lane's ``s_from``/``s_to`` are the first and last s-axis of its st-points (0.1 m along the
    link's reference line); a waiting area's points are absolute, as a link's in ``map_links``."""
    sections: list[Record] = []
    waiting: list[Record] = []
    for node in m["nodes"]:
        region, node_id = _node(node["id"])
        ref = node["refPos"]
        for k, link in enumerate(node.get("inLinks-ex", [])):
            up_region, up_id = _node(link["upstreamNodeId"])
            base = {"node_region": region, "node_id": node_id, "link": k, "upstream_region": up_region, "upstream_id": up_id}
            for section in link["sections"]:
                for lane in section["lanes"]:
                    attributes = lane.get("laneAttributes")
                    kind, kind_bits = attributes["laneType"] if attributes else (None, None)
                    lines = lane.get("laneLineType", {})
                    st = lane.get("st-points", [])
                    sections.append(
                        {
                            **base,
                            "section_id": section["secId"],
                            "lane_ref": lane["laneRefID"],
                            "lane_width": lane.get("laneWidth"),
                            "lane_type": kind,
                            "vehicle_attributes": _bits("LaneAttributes-Vehicle", kind_bits) if kind == "vehicle" else None,
                            "shared_with": _bits("LaneSharing", attributes.get("shareWith")) if attributes else None,
                            "maneuvers": _bits("AllowedManeuvers", lane.get("maneuvers")),
                            "left_line": lines.get("leftLaneLine"),
                            "right_line": lines.get("rightLaneLine"),
                            "s_from": st[0]["s-axis"] if st else None,
                            "s_to": st[-1]["s-axis"] if st else None,
                            "connections": len(lane.get("connectsTo-ex", [])),
                        }
                    )
                    for c in lane.get("connectsTo-ex", []):
                        swl = c.get("swl")
                        if swl is None:
                            continue
                        points = [_absolute(ref, p["posOffset"]) for p in swl["points"]]
                        remote_region, remote_id = _node(c["remoteIntersection"])
                        waiting.append(
                            {
                                **base,
                                "section_id": section["secId"],
                                "lane_ref": lane["laneRefID"],
                                "remote_region": remote_region,
                                "remote_id": remote_id,
                                "phase_id": c.get("phaseId"),
                                "turn": c.get("turn-direction"),
                                "width": swl["laneWidth"],
                                "allowed_phases": swl.get("allowedPhaseIds"),
                                "point_lat": [lat for lat, _ in points],
                                "point_lon": [lon for _, lon in points],
                            }
                        )
    return sections, waiting


# Per Day-II message type: the function of its decode and the tables its records go to, in order.
ROWS: dict[str, tuple[Callable[[dict[str, Any]], Any], tuple[str, ...]]] = {
    "VIR": (vir_rows, ("vir", "vir_requests")),
    "RSC": (rsc_rows, ("rsc", "rsc_vehicles", "rsc_lanes")),
    "PAM": (pam_rows, ("pam", "pam_slots", "pam_guidance")),
    "PSM": (lambda m: (psm_rows(m),), ("psm",)),
    "SSM": (ssm_rows, ("ssm", "ssm_objects")),
    "RTCM": (lambda m: (rtcm_rows(m),), ("rtcm",)),
    "CLPMM": (lambda m: (clpmm_rows(m),), ("clpmm",)),
}
MAP_ADDITION_TABLES = ("map_sections", "map_waiting_areas")  # of MAP, a Day-I message: map_addition_rows
TABLES = (*(name for _, names in ROWS.values() for name in names), *MAP_ADDITION_TABLES)


def rows_of(msg_type: str, message: dict[str, Any]) -> dict[str, list[Record]]:
    """The records of one decoded Day-II message, by table."""
    make, names = ROWS[msg_type]
    return dict(zip(names, make(message), strict=True))


def _enum_names(type_name: str) -> list[str]:
    from v2x import messages

    compiled = messages.message_set().types[type_name].type
    return [compiled.root_index_to_data[k] for k in range(len(compiled.root_index_to_data))]


def _names_column(type_name: str, index: np.ndarray) -> pa.Array:
    """Enumeration root indices as their names (ABSENT: NULL)."""
    names = _enum_names(type_name)
    return pa.array([None if v == ABSENT else names[v] for v in index.tolist()], pa.string())


def _bits_column(type_name: str, size: int, values: np.ndarray) -> pa.Array:
    """BIT STRINGs as integers (bit 0 the most significant; ABSENT: NULL) as lists of the names of the bits set."""
    cache: dict[int, list[str]] = {}
    out: list[list[str] | None] = []
    for v in values.tolist():
        if v == ABSENT:
            out.append(None)
        elif v in cache:
            out.append(cache[v])
        else:
            cache[v] = names_of(type_name, (int(v << (-size % 8)).to_bytes((size + 7) // 8, "big"), size))
            out.append(cache[v])
    return pa.array(out, _LS)


def psm_table(rows: np.ndarray, rx_seq: np.ndarray) -> pa.Table:
    """The ``psm`` table of the numba decoder's rows (:mod:`pipeline.decode.psm`): what
    :func:`psm_rows` makes of the asn1tools decode of the same messages."""

    def col(name: str) -> np.ndarray:
        return rows[:, C[name]]

    kinds = ("HumanPropelledType", "AnimalPropelledType", "MotorizedPropelledType")
    propulsion = [
        None if kind == ABSENT else f"{PROPULSION_KINDS[kind]}:{_enum_names(kinds[kind])[value]}"
        for kind, value in zip(col("propulsion_kind").tolist(), col("propulsion").tolist())
    ]
    ids = (col("id_hi").astype(np.uint64) << np.uint64(32)) | (col("id_lo").astype(np.uint64) & np.uint64(0xFFFFFFFF))
    columns = {
        "rx_seq": pa.array(rx_seq, _I),
        "person_id": pa.array([f"{v:016x}" for v in ids.tolist()], _S),
        **{name: pa.array(col(name), _I) for name in ("sec_mark", "lat", "lon", "speed", "heading", "semi_major", "radius")},
        "basic_type": _names_column("PersonalDeviceUserType", col("basic_type")),
        "propulsion": pa.array(propulsion, _S),
        "worker_type": _names_column("RoadWorkerType", col("worker_type")),
        "activities": _bits_column("RoadWorkerActivityType", 6, col("activities")),
        "crossing": _names_column("PersonalCrossing", col("crossing")),
        "path_points": pa.array(np.zeros(len(rows), np.int64), _I),  # a PSM with a path plan is asn1tools'
    }
    return pa.table(columns, schema=SCHEMAS["psm"])


def _hex_ids(hi: np.ndarray, lo: np.ndarray) -> list[str]:
    ids = (hi.astype(np.uint64) << np.uint64(32)) | (lo.astype(np.uint64) & np.uint64(0xFFFFFFFF))
    return [f"{v:016x}" for v in ids.tolist()]


def ssm_tables(rows: np.ndarray, objects: np.ndarray, rx_seq: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """The ``ssm`` and ``ssm_objects`` tables of the numba decoder's rows and objects
    (:mod:`pipeline.decode.ssm`; only OK messages, ``objects[:, 0]`` indexing ``rows``): what
    :func:`ssm_rows` makes of the asn1tools decode of the same messages."""
    from pipeline.decode.ssm import OBJECT, SSM_COLUMNS

    head = {name: rows[:, k] for k, name in enumerate(SSM_COLUMNS)}
    devices = _hex_ids(head["id_hi"], head["id_lo"])
    ssm = pa.table(
        {
            "rx_seq": pa.array(rx_seq, _I),
            "device_id": pa.array(devices, _S),
            "equipment_type": _names_column("EquipmentType", head["equipment_type"]),
            **{name: pa.array(head[name], _I) for name in ("sec_mark", "lat", "lon", "regions", "participants", "obstacles")},
            "events": pa.array(np.zeros(len(rows), np.int64), _I),  # an SSM carrying events is asn1tools'
        },
        schema=SCHEMAS["ssm"],
    )
    parent = objects[:, 0]

    def col(name: str) -> np.ndarray:
        return objects[:, OBJECT[name]]

    obstacle = objects[:, 1] >= 512
    ptc_types, obstacle_types = _enum_names("DetectedPTCType"), _enum_names("ObstacleType")
    kinds = [
        None if t == ABSENT else (obstacle_types if o else ptc_types)[t]
        for t, o in zip(col("detected_type").tolist(), obstacle.tolist())
    ]
    kind, dlon, dlat = col("offset_kind"), col("offset_lon"), col("offset_lat")
    absolute = kind == 6  # position-LatLon
    lat = np.where(absolute, dlat, head["lat"][parent] + dlat)
    lon = np.where(absolute, dlon, head["lon"][parent] + dlon)
    table = pa.table(
        {
            "rx_seq": pa.array(rx_seq[parent], _I),
            "device_id": pa.array([devices[k] for k in parent.tolist()], _S),
            "object": pa.array(np.where(obstacle, "obstacle", "participant").tolist(), _S),
            "object_id": pa.array(col("ptc_id"), _I),
            "type": pa.array(kinds, _S),
            "ptc_type": _names_column("ParticipantType", col("ptc_type")),
            "source": _names_column("SourceType", col("source")),
            "lat": pa.array(lat, _I),
            "lon": pa.array(lon, _I),
            **{name: pa.array(col(name), _I) for name in ("speed", "heading", "width", "length")},
            "tracking": pa.array(col("tracking"), _I, mask=col("tracking") == ABSENT),
        },
        schema=SCHEMAS["ssm_objects"],
    )
    return ssm, table


def vir_tables(rows: np.ndarray, reqs: np.ndarray, rx_seq: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """The ``vir`` and ``vir_requests`` tables of the numba decoder's rows and requests
    (:mod:`pipeline.decode.vir`; only OK messages, ``reqs[:, 0]`` indexing ``rows``): what
    :func:`vir_rows` makes of the asn1tools decode of the same messages."""
    from pipeline.decode.vir import KINDS, REQUEST, VIR_COLUMNS

    head = {name: rows[:, k] for k, name in enumerate(VIR_COLUMNS)}
    vehicles = _hex_ids(head["id_hi"], head["id_lo"])

    def nullable(values: np.ndarray) -> pa.Array:
        return pa.array(values, _I, mask=values == ABSENT)

    vir = pa.table(
        {
            "rx_seq": pa.array(rx_seq, _I),
            "vehicle_id": pa.array(vehicles, _S),
            **{name: nullable(head[name]) for name in ("sec_mark", "lat", "lon", "speed", "heading")},
            "behavior": _bits_column("DriveBehavior", 14, head["behavior"]),
            "path_points": pa.array(np.zeros(len(rows), np.int64), _I),  # a VIR with a path plan is asn1tools'
            "requests": pa.array(head["requests"], _I),
        },
        schema=SCHEMAS["vir"],
    )
    parent = reqs[:, 0]

    def col(name: str) -> np.ndarray:
        return reqs[:, REQUEST[name]]

    def hex_or_null(hi: str, lo: str) -> pa.Array:
        ids = _hex_ids(col(hi), col(lo))
        return pa.array([None if a else v for v, a in zip(ids, (col(hi) == ABSENT).tolist())], _S)

    requests = pa.table(
        {
            "rx_seq": pa.array(rx_seq[parent], _I),
            "vehicle_id": pa.array([vehicles[k] for k in parent.tolist()], _S),
            "sec_mark": pa.array(head["sec_mark"][parent], _I),
            "req_id": pa.array(col("req_id"), _I),
            "status": _names_column("ReqStatus", col("status")),
            "priority": nullable(col("priority")),
            "target_vehicle": hex_or_null("target_vehicle_hi", "target_vehicle_lo"),
            "target_rsu": hex_or_null("target_rsu_hi", "target_rsu_lo"),
            "life_time": nullable(col("life_time")),
            "kind": pa.array([None if k == ABSENT else KINDS[k] for k in col("kind").tolist()], _S),
            **{name: nullable(col(name)) for name in ("intersection_region", "intersection_id", "phase_id", "eta", "distance")},
            "turn": _names_column("Maneuver", col("turn")),
            "parking": _bits_column("ParkingRequest", 12, col("parking")),
            "parking_type": _bits_column("ParkingType", 10, col("parking_type")),
            **{name: nullable(col(name)) for name in ("slot_id", "vehicle_class", "upstream_id", "downstream_id", "target_lane")},
        },
        schema=SCHEMAS["vir_requests"],
    )
    return vir, requests
