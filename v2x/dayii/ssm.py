"""SSM, SensorSharingMsg: perception shared by an RSU or a vehicle (T/CSAE 157-2020, SensorSharing;
the SDS application).  An RSU's SSM "can fully cover the information of an RSM" and adds what
RSM cannot say: the region it watched, a finer object type, and obstacles on the road."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v2x import messages
from v2x.dayii import offset_llv


@dataclass(frozen=True)
class Obstacle:
    """An obstacle on the road: ObstacleType ``kind`` (trafficcone, traffic-roadblock …)."""

    obs_id: int
    kind: str
    lat_deg: float
    lon_deg: float
    width_m: float
    length_m: float
    source: str = "lidar"  # SourceType


@dataclass(frozen=True)
class Detected:
    """A traffic participant: its RSM-style ParticipantData (offsets from the sender's position)
    and DetectedPTCType (car, bus, pedestrian …)."""

    participant: dict[str, Any]
    kind: str
    tracking_s: int | None = None


def ssm(
    *,
    msg_cnt: int,
    sender_id: bytes,
    sec_mark: int,
    lat_deg: float,
    lon_deg: float,
    equipment: str = "rsu",
    region: Sequence[tuple[float, float]] = (),
    participants: Sequence[Detected] = (),
    obstacles: Sequence[Obstacle] = (),
) -> dict[str, Any]:
    """A SensorSharingMsg from (lat, lon): the watched ``region`` (a polygon of 4 to 32 corners,
    or none), up to 512 participants and 64 obstacles."""
    if region and not 4 <= len(region) <= 32:
        raise ValueError(f"a detected region has 4 to 32 corners, not {len(region)}")
    if len(participants) > 512 or len(obstacles) > 64:
        raise ValueError(
            f"an SSM carries at most 512 participants and 64 obstacles, not {len(participants)} and {len(obstacles)}"
        )
    out: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "id": sender_id,
        "equipmentType": equipment,
        "secMark": sec_mark,
        "sensorPos": messages.position3d(lat_deg, lon_deg),
    }
    if region:
        out["detectedRegion"] = [[offset_llv(lat_deg, lon_deg, lat, lon) for lat, lon in region]]
    if participants:
        entries = []
        for d in participants:
            entry: dict[str, Any] = {"ptc": d.participant, "detectedPTCType": d.kind}
            if d.tracking_s is not None:
                entry["tracking"] = max(1, min(65535, d.tracking_s))
            entries.append(entry)
        out["participants"] = entries
    if obstacles:
        out["obstacles"] = [
            {
                "obsType": o.kind,
                "obsId": o.obs_id,
                "source": o.source,
                "secMark": sec_mark,
                "pos": offset_llv(lat_deg, lon_deg, o.lat_deg, o.lon_deg),
                "posConfidence": {"pos": "a1m"},
                "speed": 0,
                "heading": 0,
                "size": {"width": max(0, min(1023, round(o.width_m * 10))), "length": max(0, min(1023, round(o.length_m * 10)))},
            }
            for o in obstacles
        ]
    return out
