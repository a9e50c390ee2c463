"""PSM, PersonalSafetyMessage: a vulnerable road user's own broadcast (T/CSAE 157-2020, PSM;
the VRUSP application), with the road-worker extension for people working on the road."""

from __future__ import annotations

from typing import Any

from v2x import messages
from v2x.dayii import bits

PERSON_KINDS = ("unavailable", "aPEDESTRIAN", "aPEDALCYCLIST", "aROADWORKER", "anANIMAL")  # PersonalDeviceUserType


def psm(
    *,
    msg_cnt: int,
    person_id: bytes,
    sec_mark: int,
    lat_deg: float,
    lon_deg: float,
    speed_mps: float,
    heading_deg: float,
    kind: str = "aPEDESTRIAN",
    radius_m: float = 0.5,
    accuracy_m: float = 1.0,
    worker_type: str | None = None,
    activities: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A PersonalSafetyMessage.  A road worker (``kind`` aROADWORKER) carries RoadWorkerExtensions
    with ``worker_type`` (RoadWorkerType) and ``activities`` (RoadWorkerActivityType bits)."""
    if kind not in PERSON_KINDS:
        raise ValueError(f"person kind {kind!r} is not one of {', '.join(PERSON_KINDS)}")
    non_motor: dict[str, Any] = {"basicType": kind}
    if kind == "aPEDESTRIAN" or kind == "aROADWORKER":
        non_motor["propulsion"] = ("human", "onFoot")
    if worker_type is not None or activities:
        worker: dict[str, Any] = {}
        if worker_type is not None:
            worker["workerType"] = worker_type
        if activities:
            worker["activityType"] = bits("RoadWorkerActivityType", activities)
        non_motor["roadWorkerExt"] = worker
    semi = min(254, round(accuracy_m / 0.05))
    return {
        "msgCnt": msg_cnt,
        "id": person_id,
        "secMark": sec_mark,
        "timeConfidence": "time-000-010",
        "pos": messages.position3d(lat_deg, lon_deg),
        "posAccuracy": {"semiMajor": semi, "semiMinor": semi, "orientation": 0},
        "speed": messages.speed_units(speed_mps),
        "heading": messages.heading_units(heading_deg),
        "overallRadius": max(0, min(200, round(radius_m * 10))),
        "non-motorData": non_motor,
    }
