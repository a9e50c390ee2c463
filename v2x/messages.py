"""The message set as UPER MessageFrames: Day-I (YD/T 3709-2020 / T/CSAE 53-2020) and Day-II
(T/CSAE 157-2020).

Builders take physical units (degrees, m/s, metres) and return the asn1tools value of the
message; :func:`encode` wraps it in a MessageFrame.  A Day-I message is an alternative of the
MessageFrame CHOICE; a Day-II message travels in the extension alternative ``msgFrameExt`` as
``{messageId, value}``, ``value`` holding the message's own UPER encoding (T/CSAE 157-2020,
MsgDayII), which :func:`encode` and :func:`decode` build and open.  The schema is our own
modules ``asn1/XiqingDayI.asn`` and ``asn1/XiqingDayII.asn``.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import asn1tools

from v2x.asn1 import MESSAGE_SET, compile_module, decode_uper_whole


class MessageType(str, enum.Enum):
    """Message types with their MessageFrame alternative, AID and topic segment: the five of
    Day-I, then the Day-II ones in the order of their messageId."""

    BSM = "BSM"
    MAP = "MAP"
    SPAT = "SPAT"
    RSI = "RSI"
    RSM = "RSM"
    RTCM = "RTCM"
    RSC = "RSC"
    SSM = "SSM"
    VIR = "VIR"
    PAM = "PAM"
    PSM = "PSM"
    CLPMM = "CLPMM"

    @property
    def frame_choice(self) -> str:
        """The MessageFrame alternative: the message's own for Day-I, ``msgFrameExt`` for Day-II."""
        return _FRAME_CHOICE.get(self, DAY_II_CHOICE)

    @property
    def day_ii(self) -> bool:
        return self in DAY_II_IDS

    @property
    def ext_id(self) -> int | None:
        """The Day-II messageId (ExtMsgID, T/CSAE 157-2020 MsgDayII); None for Day-I."""
        return DAY_II_IDS.get(self)

    @property
    def asn1_type(self) -> str:
        """The ASN.1 type of the message (``BasicSafetyMessage``, ``VehIntentionAndRequest`` …)."""
        return _ASN1_TYPE[self]

    @property
    def aid(self) -> int:
        """AID of the regular (non-event) message: GB/T 45315 table 7 for BSM; MAP, SPAT,
        RSI and RSM values as used by deployed stacks (compliance.md 3.8); the Day-II defaults of
        :data:`DAY_II_AIDS` (policy defaults: no standard we hold fixes them; :data:`DAY_II_AIDS_ENV`)."""
        return _AID[self]

    @property
    def frame_index(self) -> int:
        """The ingest's number of the type: the index of the alternative in the MessageFrame
        CHOICE (UPER) for Day-I, 5 onwards in messageId order for Day-II."""
        return _FRAME_INDEX[self]


_FRAME_CHOICE = {
    MessageType.BSM: "bsmFrame",
    MessageType.MAP: "mapFrame",
    MessageType.RSM: "rsmFrame",
    MessageType.SPAT: "spatFrame",
    MessageType.RSI: "rsiFrame",
}
DAY_II_CHOICE = "msgFrameExt"
# ExtMsgID of each Day-II message (T/CSAE 157-2020, MsgDayII; VPM 17 and TestMsg 0 not carried).
DAY_II_IDS = {
    MessageType.RTCM: 10,
    MessageType.RSC: 11,
    MessageType.SSM: 12,
    MessageType.VIR: 13,
    MessageType.PAM: 14,
    MessageType.PSM: 15,
    MessageType.CLPMM: 16,
}
DAY_II_BY_ID = {v: k for k, v in DAY_II_IDS.items()}
DAY_I = tuple(_FRAME_CHOICE)
DAY_II = tuple(DAY_II_IDS)
_ASN1_TYPE = {
    MessageType.BSM: "BasicSafetyMessage",
    MessageType.MAP: "MapData",
    MessageType.RSM: "RoadsideSafetyMessage",
    MessageType.SPAT: "SPAT",
    MessageType.RSI: "RoadSideInformation",
    MessageType.RTCM: "RTCMcorrections",
    MessageType.RSC: "RoadsideCoordination",
    MessageType.SSM: "SensorSharingMsg",
    MessageType.VIR: "VehIntentionAndRequest",
    MessageType.PAM: "PAMData",
    MessageType.PSM: "PersonalSafetyMessage",
    MessageType.CLPMM: "CLPMM",
}
_FRAME_INDEX = {t: i for i, t in enumerate((*DAY_I, *DAY_II))}
_BY_CHOICE = {v: k for k, v in _FRAME_CHOICE.items()}
# The Day-II AIDs.  The standards we hold do not fix them (compliance.md 3.8: "Phase-2 AIDs: not
# found"), so these defaults are policy: the numbers after the CRL's 3628, in messageId order,
# chosen so that none collides with an AID the Day-I stacks use.  A zone that assigns others sets
# them in the environment of every process, devices and ingest alike (docs/day-ii.md):
# V2X_DAY_II_AIDS="VIR=4001,RSC=4002".
DAY_II_AIDS_ENV = "V2X_DAY_II_AIDS"
DAY_II_DEFAULT_AIDS = {
    MessageType.RTCM: 3629,
    MessageType.RSC: 3630,
    MessageType.SSM: 3631,
    MessageType.VIR: 3632,
    MessageType.PAM: 3633,
    MessageType.PSM: 3634,
    MessageType.CLPMM: 3635,
}
_DAY_I_AIDS = (111, 112, 113, 114, 3618, 3619, 3620, 3621, 3622, 3623, 3628)  # BSM, MAP, SPAT, RSI, RSM, CRL


def day_ii_aids(setting: str | None) -> dict[MessageType, int]:
    """The Day-II AIDs: the defaults with the assignments of ``setting`` (``TYPE=AID,...``, the
    value of :data:`DAY_II_AIDS_ENV`) in place.  A malformed entry, an unknown type, an AID out of
    range or one already taken raises ValueError saying which."""
    aids = dict(DAY_II_DEFAULT_AIDS)
    for entry in (setting or "").split(","):
        if not entry.strip():
            continue
        name, _, number = entry.partition("=")
        msg_type = next((t for t in DAY_II_DEFAULT_AIDS if t.value == name.strip().upper()), None)
        if msg_type is None or not number.strip().isdigit():
            raise ValueError(
                f"{DAY_II_AIDS_ENV}: {entry.strip()!r} is not TYPE=AID with TYPE one of {', '.join(t.value for t in DAY_II_DEFAULT_AIDS)}"
            )
        aid = int(number)
        if not 1 <= aid <= 2**32 - 1:
            raise ValueError(f"{DAY_II_AIDS_ENV}: AID {aid} of {msg_type.value} is outside 1..4294967295")
        aids[msg_type] = aid
    taken = [a for a in aids.values() if a in _DAY_I_AIDS or list(aids.values()).count(a) > 1]
    if taken:
        raise ValueError(f"{DAY_II_AIDS_ENV}: AID {taken[0]} would be used by two messages")
    return aids


DAY_II_AIDS = day_ii_aids(os.environ.get(DAY_II_AIDS_ENV))
_AID = {
    MessageType.BSM: 111,
    MessageType.MAP: 3618,
    MessageType.SPAT: 3619,
    MessageType.RSI: 3620,
    MessageType.RSM: 3623,
    **DAY_II_AIDS,
}
BSM_EVENT_AID = 112
BSM_EMERGENCY_AID = 113  # GB/T 45315: emergency vehicle, regular BSM
BSM_EMERGENCY_EVENT_AID = 114  # emergency vehicle, event BSM
RSI_AIDS = (3620, 3621, 3622)  # RSI sub-types 1..3 (compliance.md 3.8: which sub-type is which is unverified); ours send 3620
# The AIDs each kind of device is granted: the one list the PKI, `v2x run`, `v2x pki issue`,
# the attacks and the benchmarks use (GB/T 45315 7.4.3.2 for BSM; MAP/SPAT/RSI/RSM compliance.md 3.8).
VEHICLE_AIDS = (_AID[MessageType.BSM], BSM_EVENT_AID)
EMERGENCY_VEHICLE_AIDS = (BSM_EMERGENCY_AID, BSM_EMERGENCY_EVENT_AID)
RSU_AIDS = (_AID[MessageType.MAP], _AID[MessageType.SPAT], *RSI_AIDS, _AID[MessageType.RSM])
# Day-II: what an RSU sends (RTCM, RSC, SSM, PAM), a vehicle (VIR, CLPMM) and a person's device (PSM).
DAY_II_RSU_AIDS = tuple(DAY_II_AIDS[t] for t in (MessageType.RTCM, MessageType.RSC, MessageType.SSM, MessageType.PAM))
DAY_II_VEHICLE_AIDS = tuple(DAY_II_AIDS[t] for t in (MessageType.VIR, MessageType.CLPMM))
VRU_AIDS = (DAY_II_AIDS[MessageType.PSM],)
MESSAGE_TYPE_BY_INDEX = {i: t for t, i in _FRAME_INDEX.items()}
# The AIDs a signed message of each type may carry in its header (GB/T 45315 table 7 for BSM,
# std; the roadside messages' values are second-hand, compliance.md 3.8).
AIDS_OF_TYPE: dict[MessageType, tuple[int, ...]] = {
    MessageType.BSM: (*VEHICLE_AIDS, *EMERGENCY_VEHICLE_AIDS),
    MessageType.MAP: (_AID[MessageType.MAP],),
    MessageType.SPAT: (_AID[MessageType.SPAT],),
    MessageType.RSI: RSI_AIDS,
    MessageType.RSM: (_AID[MessageType.RSM],),
    **{t: (aid,) for t, aid in DAY_II_AIDS.items()},
}


def aid_misfit(msg_type: MessageType, aid: int) -> str | None:
    """Why a signed ``msg_type`` may not carry header AID ``aid`` (None when it may): the header
    says which application the SPDU belongs to (YD/T 3957 6.1.9.3), and a message under another
    application's AID is not that message (an IEEE 1609.2 SPDU of a US BSM carries PSID 32)."""
    allowed = AIDS_OF_TYPE[msg_type]
    if aid in allowed:
        return None
    owner = next((t for t, aids in AIDS_OF_TYPE.items() if aid in aids), None)
    which = f"the {owner.value} AID" if owner is not None else "no message's AID"
    listed = ", ".join(str(a) for a in allowed)
    if msg_type is MessageType.BSM:
        source = "GB/T 45315 table 7"
    elif msg_type.day_ii:
        source = "policy default, T/CSAE 157-2020 fixes none"
    else:
        source = "compliance.md 3.8, second-hand"
    return f"header AID {aid} is {which}, but the frame is a {msg_type.value} (AIDs {listed}: {source})"


# Unit scales of YD/T 3709 data elements.
LATLON_UNIT = 1e-7  # Latitude / Longitude: 1e-7 degree
SPEED_UNIT = 0.02  # Speed: 0.02 m/s
HEADING_UNIT = 0.0125  # Heading: 0.0125 degree
ACCEL_UNIT = 0.01  # Acceleration: 0.01 m/s^2
YAW_UNIT = 0.01  # YawRate: 0.01 degree/s
SPEED_UNAVAILABLE = 8191

# BasicVehicleClass codes of T/CSAE 53 (J2735 numbering) for the fleet kinds we simulate.
VEHICLE_CLASS_CSAE53 = {
    "car": 10,  # passenger-Vehicle-TypeUnknown
    "bus": 54,  # transit-LocalBus
    "sanitation_truck": 26,  # truck-Vehicle-TypeOther
    "logistics_van": 20,  # lightTruck-Vehicle-TypeUnknown
    "ambulance": 65,  # emergency-Fire-Ambulance-Vehicle
}

# The same kinds in the GB/T 45315 Annex D numbering (compliance.md: 9-13 passenger, 20-25
# trucks, 40-46 special-purpose vehicles incl. sanitation, 60-64 emergency, 70-78 public bus).
# Only the ranges were read, not each sub-code's meaning: the code taken is one in its range.
VEHICLE_CLASS_GBT45315 = {
    "car": 10,
    "bus": 70,
    "sanitation_truck": 40,
    "logistics_van": 20,
    "ambulance": 60,
}
VEHICLE_CLASSES = {"csae53": VEHICLE_CLASS_CSAE53, "gbt45315": VEHICLE_CLASS_GBT45315}


@cache
def message_set() -> asn1tools.compiler.Specification:
    """The compiled message set, Day-I and Day-II (UPER)."""
    return compile_module(MESSAGE_SET, "uper")


def encode(msg_type: MessageType, content: dict[str, Any], *, checked: bool = True) -> bytes:
    """UPER-encode ``content`` as the ``msg_type`` alternative of a MessageFrame (a Day-II
    message inside ``msgFrameExt``).  ``checked`` False skips asn1tools' type and constraint
    checks (about 45 % of the time), for content builders the conformance tests already hold to
    the ASN.1 constraints."""
    spec = message_set()
    if msg_type.day_ii:
        inner = spec.encode(msg_type.asn1_type, content, check_types=checked, check_constraints=checked)
        content = {"messageId": msg_type.ext_id, "value": inner}
    return spec.encode("MessageFrame", (msg_type.frame_choice, content), check_types=checked, check_constraints=checked)


class UnknownMessage(ValueError):
    """A MessageFrame that decodes but carries no message of the set: an extension alternative
    after msgFrameExt, or a Day-II messageId this harness does not carry (VPM, TestMsg, a later one)."""


def decode(frame: bytes, *, check_constraints: bool = False) -> tuple[MessageType, dict[str, Any]]:
    """Decode a UPER MessageFrame into its type and content.  The frame must end in its last
    octet (:func:`v2x.asn1.decode_uper_whole` raises :class:`v2x.asn1.TrailingOctets` when it
    does not: bytes of another edition or standard that happened to decode in part)."""
    spec = message_set()
    choice, content = decode_uper_whole(spec, "MessageFrame", frame, check_constraints=check_constraints)
    if choice == DAY_II_CHOICE:
        ext_id = content["messageId"]
        msg_type = DAY_II_BY_ID.get(ext_id)
        if msg_type is None:
            raise UnknownMessage(f"msgFrameExt messageId {ext_id} is not a Day-II message this harness carries ({DAY_II_NAMES})")
        return msg_type, decode_uper_whole(spec, msg_type.asn1_type, content["value"], check_constraints=check_constraints)
    if choice not in _BY_CHOICE:
        raise UnknownMessage("MessageFrame carries an extension alternative after msgFrameExt, unknown to T/CSAE 157-2020")
    return _BY_CHOICE[choice], content


DAY_II_NAMES = ", ".join(f"{t.value} {i}" for t, i in DAY_II_IDS.items())


def latlon(deg: float) -> int:
    """Degrees to Latitude/Longitude units (1e-7 degree)."""
    return round(deg / LATLON_UNIT)


def speed_units(mps: float) -> int:
    """m/s to Speed units (0.02 m/s), clamped to 0..8190 (8191 = unavailable)."""
    return max(0, min(8190, round(mps / SPEED_UNIT)))


def heading_units(deg: float) -> int:
    """Degrees clockwise from north to Heading units (0.0125 degree), 0..28799."""
    return round((deg % 360.0) / HEADING_UNIT) % 28800


def position3d(lat_deg: float, lon_deg: float) -> dict[str, int]:
    """A Position3D without elevation (GB/T 45315 forbids elevation in BSM)."""
    return {"lat": latlon(lat_deg), "long": latlon(lon_deg)}


def offset_ll(dlat_deg: float, dlon_deg: float) -> tuple[str, dict[str, int]]:
    """The smallest PositionOffsetLL alternative that holds the offset (units 1e-7 degree)."""
    dlat, dlon = latlon(dlat_deg), latlon(dlon_deg)
    biggest = max(abs(dlat), abs(dlon))
    for name, bits in (
        ("position-LL1", 12),
        ("position-LL2", 14),
        ("position-LL3", 16),
        ("position-LL4", 18),
        ("position-LL5", 22),
        ("position-LL6", 24),
    ):
        if biggest < 2 ** (bits - 1):
            return name, {"lon": dlon, "lat": dlat}
    return "position-LatLon", {"lon": latlon(dlon_deg), "lat": latlon(dlat_deg)}


@dataclass(frozen=True)
class PathPoint:
    """One PathHistory crumb: offset from the current position and time before now."""

    dlat_deg: float
    dlon_deg: float
    age_s: float
    speed_mps: float | None = None


EVENT_FLAG_BITS = 13  # VehicleEventFlags SIZE(13, ...)


def event_flag_bits(mask: int) -> bytes:
    """The BIT STRING octets of a VehicleEventFlags mask (bit 0 is the first, most significant bit)."""
    value = 0
    for k in range(EVENT_FLAG_BITS):
        if mask >> k & 1:
            value |= 1 << (15 - k)
    return value.to_bytes(2, "big")


def bsm(
    *,
    msg_cnt: int,
    vehicle_id: bytes,
    sec_mark: int,
    lat_deg: float,
    lon_deg: float,
    speed_mps: float,
    heading_deg: float,
    width_m: float,
    length_m: float,
    vehicle_class: int,
    accel_long_mps2: float = 0.0,
    accel_lat_mps2: float = 0.0,
    yaw_rate_dps: float = 0.0,
    steering_deg: float = 0.0,
    brake_pedal_on: bool = False,
    transmission: str = "forwardGears",
    semi_major_m: float = 1.0,
    semi_minor_m: float = 0.8,
    path_history: list[PathPoint] | None = None,
    radius_of_curve_m: float | None = None,
    events: int = 0,
    emergency: bool = False,
) -> dict[str, Any]:
    """A BasicSafetyMessage carrying the GB/T 45315 table 6 mandatory fields.

    ``emergency``: an emergency vehicle on a call, siren and lightbar in use, so the BSM carries
    VehicleEmergencyExtensions (sent only while the siren or lightbar is in use, GB/T 45315).

    ``events`` is a mask of VehicleEventFlags bit numbers (bit k set = flag k, e.g. 1 << 7 for
    eventHardBraking); when non-zero safetyExt.events carries them (13 bits, YD/T 3709).

    Elevation and elevation confidence are left out (GB/T 45315 "不选").  Path prediction is
    always present; a straight path (or speed < 1 m/s) is radius 32767 with confidence 200
    (GB/T 45315 7.3.2.17).
    """
    if radius_of_curve_m is None or speed_mps < 1.0 or abs(radius_of_curve_m) > 2500:
        prediction = {"radiusOfCurve": 32767, "confidence": 200}
    else:
        prediction = {"radiusOfCurve": round(radius_of_curve_m * 10), "confidence": 160}
    safety: dict[str, Any] = {"pathPrediction": prediction}
    if events:
        safety["events"] = (event_flag_bits(events), EVENT_FLAG_BITS)
    if path_history:
        crumbs = []
        for p in path_history:
            crumb: dict[str, Any] = {
                "llvOffset": {"offsetLL": offset_ll(p.dlat_deg, p.dlon_deg)},
                "timeOffset": max(1, min(65535, round(p.age_s * 100))),
            }
            if p.speed_mps is not None:
                crumb["speed"] = speed_units(p.speed_mps)
            crumbs.append(crumb)
        safety["pathHistory"] = {"crumbData": crumbs}
    wheel_bits = 0b01111000 if brake_pedal_on else 0
    emergency_ext = (
        {"emergencyExt": {"responseType": "emergency", "sirenUse": "inUse", "lightsUse": "inUse"}} if emergency else {}
    )
    return {
        "msgCnt": msg_cnt,
        "id": vehicle_id,
        "secMark": sec_mark,
        "timeConfidence": "time-000-001",
        "pos": position3d(lat_deg, lon_deg),
        "posAccuracy": {
            "semiMajor": min(254, round(semi_major_m / 0.05)),
            "semiMinor": min(254, round(semi_minor_m / 0.05)),
            "orientation": 0,
        },
        "posConfidence": {"pos": "a1m"},
        "transmission": transmission,
        "speed": speed_units(speed_mps),
        "heading": heading_units(heading_deg),
        "angle": max(-126, min(126, round(steering_deg / 1.5))),
        "motionCfd": {"speedCfd": "prec0-1ms", "headingCfd": "prec01deg", "steerCfd": "prec1deg"},
        "accelSet": {
            "long": max(-2000, min(2000, round(accel_long_mps2 / ACCEL_UNIT))),
            "lat": max(-2000, min(2000, round(accel_lat_mps2 / ACCEL_UNIT))),
            "vert": 0,
            "yaw": max(-32767, min(32767, round(yaw_rate_dps / YAW_UNIT))),
        },
        "brakes": {
            "brakePadel": "on" if brake_pedal_on else "off",
            "wheelBrakes": (bytes([wheel_bits]), 5),
            "traction": "on",
            "abs": "on",
            "scs": "on",
            "brakeBoost": "off",
            "auxBrakes": "off",
        },
        "size": {"width": round(width_m * 100), "length": round(length_m * 100)},
        "vehicleClass": {"classification": vehicle_class},
        "safetyExt": safety,
        **emergency_ext,
    }


def msg_cnt_of(content: dict[str, Any]) -> int:
    """msgCnt of any message of the set (every one carries it)."""
    return int(content["msgCnt"])


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (spherical Earth, R = 6371008.8 m)."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
