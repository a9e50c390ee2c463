"""The numba decoders' rows, produced from an asn1tools decode instead.

Used where the fast path steps aside (extension additions of a later edition) so that such frames
land in the same tables, and by the tests as the oracle the numba decoders must equal: same
columns, raw ASN.1 values, ``ABSENT`` for optional fields not sent, enumerations as their root
index, BIT STRINGs as integers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from v2x.messages import message_set

from pipeline.decode.bsm import BSM_COLUMNS, PATH_POINT_COLUMNS
from pipeline.decode.rsm import PARTICIPANT_COLUMNS, RSM_COLUMNS
from pipeline.decode.spat import PHASE_STATE_COLUMNS, SPAT_COLUMNS
from pipeline.decode.uper import ABSENT

Row = list[int]

_OFFSET_KINDS = (
    "position-LL1",
    "position-LL2",
    "position-LL3",
    "position-LL4",
    "position-LL5",
    "position-LL6",
    "position-LatLon",
)
_VERT_KINDS = ("offset1", "offset2", "offset3", "offset4", "offset5", "offset6", "elevation")


@cache
def _enum_index(type_name: str) -> dict[str, int]:
    return dict(message_set().types[type_name].type.root_data_to_index)


EXTENSION_VALUE = -1  # an enumeration value added by a later edition: asn1tools decodes it as None


def enum(type_name: str, value: str | None) -> int:
    """Root index of an enumeration value; EXTENSION_VALUE for a value beyond our edition."""
    return EXTENSION_VALUE if value is None else _enum_index(type_name)[value]


def bit_string(value: tuple[bytes, int]) -> int:
    data, n = value
    return int.from_bytes(data, "big") >> (8 * len(data) - n) if data else 0


def _opt(d: dict[str, Any], key: str, convert=lambda v: v) -> int:
    return convert(d[key]) if key in d else ABSENT


def _id(value: bytes) -> Row:
    return [int.from_bytes(value[:4], "big"), int.from_bytes(value[4:], "big")]


def position3d(p: dict[str, Any]) -> Row:
    return [p["lat"], p["long"], _opt(p, "elevation")]


def offset_llv(o: dict[str, Any]) -> Row:
    kind, ll = o["offsetLL"]
    row = [_OFFSET_KINDS.index(kind), ll["lon"], ll["lat"]]
    if "offsetV" in o:
        vkind, v = o["offsetV"]
        return [*row, _VERT_KINDS.index(vkind), v]
    return [*row, ABSENT, ABSENT]


def position_confidence(c: dict[str, Any] | None) -> Row:
    if c is None:
        return [ABSENT, ABSENT]
    return [enum("PositionConfidence", c["pos"]), _opt(c, "elevation", lambda v: enum("ElevationConfidence", v))]


def motion_confidence(m: dict[str, Any] | None) -> Row:
    m = m or {}
    return [
        _opt(m, "speedCfd", lambda v: enum("SpeedConfidence", v)),
        _opt(m, "headingCfd", lambda v: enum("HeadingConfidence", v)),
        _opt(m, "steerCfd", lambda v: enum("SteeringWheelAngleConfidence", v)),
    ]


def acceleration4way(a: dict[str, Any] | None) -> Row:
    return [a["long"], a["lat"], a["vert"], a["yaw"]] if a else [ABSENT] * 4


def vehicle_size(s: dict[str, Any]) -> Row:
    return [s["width"], s["length"], _opt(s, "height")]


def vehicle_class(c: dict[str, Any] | None) -> Row:
    return [c["classification"], _opt(c, "fuelType")] if c else [ABSENT, ABSENT]


_DATE_TIME = ("year", "month", "day", "hour", "minute", "second", "offset")


def full_position_vector(f: dict[str, Any] | None) -> Row:
    if f is None:
        return [ABSENT] * 19
    utc = f.get("utcTime", {})
    return [
        *(_opt(utc, k) for k in _DATE_TIME),
        *position3d(f["pos"]),
        _opt(f, "heading"),
        _opt(f, "transmission", lambda v: enum("TransmissionState", v)),
        _opt(f, "speed"),
        *position_confidence(f.get("posAccuracy")),
        _opt(f, "timeConfidence", lambda v: enum("TimeConfidence", v)),
        *motion_confidence(f.get("motionCfd")),
    ]


_BRAKES = (
    ("brakePadel", "BrakePedalStatus"),
    ("wheelBrakes", None),
    ("traction", "TractionControlStatus"),
    ("abs", "AntiLockBrakeStatus"),
    ("scs", "StabilityControlStatus"),
    ("brakeBoost", "BrakeBoostApplied"),
    ("auxBrakes", "AuxiliaryBrakeStatus"),
)


def bsm_rows(b: dict[str, Any]) -> tuple[Row, list[Row]]:
    """(message row in BSM_COLUMNS, path points in PATH_POINT_COLUMNS with row 0)."""
    acc = b.get("posAccuracy")
    row = [b["msgCnt"], *_id(b["id"]), b["secMark"], _opt(b, "timeConfidence", lambda v: enum("TimeConfidence", v))]
    row += position3d(b["pos"])
    row += [acc["semiMajor"], acc["semiMinor"], acc["orientation"]] if acc else [ABSENT] * 3
    row += position_confidence(b.get("posConfidence"))
    row += [enum("TransmissionState", b["transmission"]), b["speed"], b["heading"], _opt(b, "angle")]
    row += motion_confidence(b.get("motionCfd"))
    row += acceleration4way(b["accelSet"])
    brakes = b["brakes"]
    row += [_opt(brakes, key, (lambda v, t=t: enum(t, v)) if t else bit_string) for key, t in _BRAKES]
    row += vehicle_size(b["size"]) + vehicle_class(b["vehicleClass"])
    points: list[Row] = []
    s = b.get("safetyExt")
    if s is None:
        row += [0] + [ABSENT] * 6
    else:
        ph = s.get("pathHistory")
        pred = s.get("pathPrediction")
        row += [1, _opt(s, "events", bit_string)]
        row += [len(ph["crumbData"]), _opt(ph, "currGNSSstatus", bit_string)] if ph else [ABSENT, ABSENT]
        row += [pred["radiusOfCurve"], pred["confidence"]] if pred else [ABSENT, ABSENT]
        row += [_opt(s, "lights", bit_string)]
        for k, p in enumerate(ph["crumbData"] if ph else []):
            points.append(
                [
                    0,
                    k,
                    *offset_llv(p["llvOffset"]),
                    p["timeOffset"],
                    _opt(p, "speed"),
                    *position_confidence(p.get("posAccuracy")),
                    _opt(p, "heading"),
                ]
            )
    e = b.get("emergencyExt")
    if e is None:
        row += [0, ABSENT, ABSENT, ABSENT]
    else:
        row += [
            1,
            _opt(e, "responseType", lambda v: enum("ResponseType", v)),
            _opt(e, "sirenUse", lambda v: enum("SirenInUse", v)),
            _opt(e, "lightsUse", lambda v: enum("LightbarInUse", v)),
        ]
    initial = (s or {}).get("pathHistory", {}).get("initialPosition")
    row += full_position_vector(initial)
    assert len(row) == len(BSM_COLUMNS) and all(len(p) == len(PATH_POINT_COLUMNS) for p in points)
    return row, points


def _timing(t: tuple[str, dict[str, Any]] | None) -> Row:
    if t is None:
        return [ABSENT] * 8
    kind, v = t
    if kind == "counting":
        keys = ("startTime", "minEndTime", "maxEndTime", "likelyEndTime", "timeConfidence", "nextStartTime", "nextDuration")
    else:
        keys = (
            "startUTCTime",
            "minEndUTCTime",
            "maxEndUTCTime",
            "likelyEndUTCTime",
            "timeConfidence",
            "nextStartUTCTime",
            "nextEndUTCTime",
        )
    return [0 if kind == "counting" else 1, *(_opt(v, k) for k in keys)]


def spat_rows(s: dict[str, Any]) -> tuple[Row, list[Row]]:
    """(message row in SPAT_COLUMNS, phase states in PHASE_STATE_COLUMNS with row 0)."""
    row = [s["msgCnt"], _opt(s, "moy"), _opt(s, "timeStamp"), 1 if "name" in s else 0, len(s["intersections"])]
    states: list[Row] = []
    for x, inter in enumerate(s["intersections"]):
        head = [
            0,
            x,
            _opt(inter["intersectionId"], "region"),
            inter["intersectionId"]["id"],
            bit_string(inter["status"]),
            _opt(inter, "moy"),
            _opt(inter, "timeStamp"),
            _opt(inter, "timeConfidence", lambda v: enum("TimeConfidence", v)),
        ]
        for p, phase in enumerate(inter["phases"]):
            for k, state in enumerate(phase["phaseStates"]):
                states.append([*head, p, phase["id"], k, enum("LightState", state["light"]), *_timing(state.get("timing"))])
    assert len(row) == len(SPAT_COLUMNS) and all(len(r) == len(PHASE_STATE_COLUMNS) for r in states)
    return row, states


def rsm_rows(r: dict[str, Any]) -> tuple[Row, list[Row]]:
    """(message row in RSM_COLUMNS, participants in PARTICIPANT_COLUMNS with row 0)."""
    row = [r["msgCnt"], *_id(r["id"]), *position3d(r["refPos"]), len(r["participants"])]
    participants: list[Row] = []
    for k, p in enumerate(r["participants"]):
        participants.append(
            [
                0,
                k,
                enum("ParticipantType", p["ptcType"]),
                p["ptcId"],
                enum("SourceType", p["source"]),
                *(_id(p["id"]) if "id" in p else [ABSENT, ABSENT]),
                p["secMark"],
                *offset_llv(p["pos"]),
                *position_confidence(p["posConfidence"]),
                _opt(p, "transmission", lambda v: enum("TransmissionState", v)),
                p["speed"],
                p["heading"],
                _opt(p, "angle"),
                *motion_confidence(p.get("motionCfd")),
                *acceleration4way(p.get("accelSet")),
                *vehicle_size(p["size"]),
                *vehicle_class(p.get("vehicleClass")),
            ]
        )
    assert len(row) == len(RSM_COLUMNS) and all(len(p) == len(PARTICIPANT_COLUMNS) for p in participants)
    return row, participants
