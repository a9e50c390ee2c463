"""RSC, RoadsideCoordination: what the roadside tells vehicles (T/CSAE 157-2020, RSC).

Per vehicle (VehicleCoordination: a suggested DriveBehavior with its lifeTime, a guidance path,
what the coordination is for) and per lane (LaneCoordination: a lane reserved or restricted, with
a recommended speed and behaviour).  RSC carries no reqID: the answer to a VIR request is the
coordination addressed to the requesting vehicle's id with the request's purpose in ``info``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v2x import messages
from v2x.dayii import bits, offset_llv, time_offset


@dataclass(frozen=True)
class VehicleCoordination:
    """A coordination for one vehicle; ``path`` is (lat, lon) points of a guidance path."""

    vehicle_id: bytes
    suggestion: tuple[str, ...] = ()  # DriveBehavior bits
    life_time_s: float | None = None
    path: tuple[tuple[float, float], ...] = ()
    info: tuple[str, ...] = ()  # CoordinationInfo bits

    def value(self, ref_lat_deg: float, ref_lon_deg: float) -> dict[str, Any]:
        out: dict[str, Any] = {"vehId": self.vehicle_id}
        if self.suggestion or self.life_time_s is not None:
            suggestion: dict[str, Any] = {"suggestion": bits("DriveBehavior", self.suggestion)}
            if self.life_time_s is not None:
                suggestion["lifeTime"] = time_offset(self.life_time_s)
            out["driveSuggestion"] = suggestion
        if self.path:
            if len(self.path) > 100:
                raise ValueError(f"a guidance path has at most 100 points, not {len(self.path)}")
            out["pathGuidance"] = [{"pos": offset_llv(ref_lat_deg, ref_lon_deg, lat, lon)} for lat, lon in self.path]
        if self.info:
            out["info"] = bits("CoordinationInfo", self.info)
        return out


@dataclass(frozen=True)
class LaneCoordination:
    """A coordination of lanes of the link from ``upstream`` to ``downstream`` (lanes 1..15)."""

    upstream: int
    downstream: int
    lanes: tuple[int, ...] = ()
    region: int | None = None
    info: tuple[str, ...] = ()  # CoordinationInfo bits: laneReservation, laneRestriction …
    speed_mps: float | None = None
    behavior: tuple[str, ...] = ()
    note: str | None = None

    def value(self) -> dict[str, Any]:
        def node(i: int) -> dict[str, int]:
            return {"id": i} if self.region is None else {"region": self.region, "id": i}

        link: dict[str, Any] = {"upstreamNodeId": node(self.upstream), "downstreamNodeId": node(self.downstream)}
        if self.lanes:
            link["referenceLanes"] = bits("ReferenceLanes", tuple(f"lane{k}" for k in self.lanes))
        out: dict[str, Any] = {"targetLane": link}
        if self.speed_mps is not None:
            out["recommendedSpeed"] = messages.speed_units(self.speed_mps)
        if self.behavior:
            out["recommendedBehavior"] = bits("DriveBehavior", self.behavior)
        if self.info:
            out["info"] = bits("CoordinationInfo", self.info)
        if self.note:
            out["description"] = ("textString", self.note)
        return out


def rsc(
    *,
    msg_cnt: int,
    rsu_id: bytes,
    sec_mark: int,
    lat_deg: float,
    lon_deg: float,
    vehicles: Sequence[VehicleCoordination] = (),
    lanes: Sequence[LaneCoordination] = (),
) -> dict[str, Any]:
    """A RoadsideCoordination from the RSU at (lat, lon): up to 16 vehicles and 8 lane coordinations."""
    if len(vehicles) > 16 or len(lanes) > 8:
        raise ValueError(f"an RSC carries at most 16 vehicle and 8 lane coordinations, not {len(vehicles)} and {len(lanes)}")
    out: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "id": rsu_id,
        "secMark": sec_mark,
        "refPos": messages.position3d(lat_deg, lon_deg),
    }
    if vehicles:
        out["coordinates"] = [v.value(lat_deg, lon_deg) for v in vehicles]
    if lanes:
        out["laneCoordinates"] = [lane.value() for lane in lanes]
    return out
