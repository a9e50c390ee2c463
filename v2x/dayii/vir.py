"""VIR, VehIntentionAndRequest: what a vehicle intends and what it asks of others (T/CSAE 157-2020, VIR).

A request carries a ``reqID`` that "same request in serial VIR messages should keep" and a
status that walks request -> comfirmed -> complete (or cancel); ``lifeTime`` is counted from the
message's secMark.  The standard spells the confirmed status ``comfirmed``; so does the value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v2x import messages
from v2x.dayii import bits, time_offset

REQ_STATUSES = ("unknown", "request", "comfirmed", "cancel", "complete")  # ReqStatus root values


@dataclass(frozen=True)
class SignalPriority:
    """Req-SignalPriority: a movement at an intersection's signal, and when the vehicle arrives."""

    intersection: int
    region: int | None = None
    phase_id: int | None = None
    turn: str = "maneuverStraight"  # Maneuver
    eta_s: float | None = None
    distance_m: float | None = None

    def value(self) -> tuple[str, dict[str, Any]]:
        node = _node(self.intersection, self.region)
        movement: dict[str, Any] = {"remoteIntersection": node, "turn-direction": self.turn}
        if self.phase_id is not None:
            movement["phaseId"] = self.phase_id
        out: dict[str, Any] = {"intersectionId": node, "requiredMov": movement}
        if self.eta_s is not None:
            out["estimatedArrivalTime"] = time_offset(self.eta_s)
        if self.distance_m is not None:
            out["distance2Intersection"] = max(0, min(10000, round(self.distance_m * 10)))
        return "signalPriority", out


@dataclass(frozen=True)
class ParkingArea:
    """Req-ParkingArea: enter, park, exit … (ParkingRequest bits) a car park."""

    vehicle_class: int
    requests: tuple[str, ...]
    parking_type: tuple[str, ...] = ()
    slot_id: int | None = None

    def value(self) -> tuple[str, dict[str, Any]]:
        out: dict[str, Any] = {
            "vehicleClass": {"classification": self.vehicle_class},
            "req": bits("ParkingRequest", self.requests),
        }
        if self.parking_type:
            out["parkingType"] = bits("ParkingType", self.parking_type)
        if self.slot_id is not None:
            out["expectedParkingSlotID"] = self.slot_id
        return "parking", out


@dataclass(frozen=True)
class LaneChange:
    """Req-LaneChange: the lane to move into on the link from ``upstream`` to ``downstream``."""

    upstream: int
    downstream: int
    target_lane: int
    region: int | None = None

    def value(self) -> tuple[str, dict[str, Any]]:
        return "laneChange", {
            "upstreamNode": _node(self.upstream, self.region),
            "downstreamNode": _node(self.downstream, self.region),
            "targetLane": self.target_lane,
        }


@dataclass(frozen=True)
class DriveRequest:
    """One DriveRequest of a VIR.  ``priority`` 0 (lowest) .. 7 (highest) goes in reqPriority's
    top three bits (the lower five are reserved, zero)."""

    req_id: int
    status: str
    info: SignalPriority | ParkingArea | LaneChange | None = None
    priority: int | None = None
    target_rsu: bytes | None = None
    life_time_s: float | None = None

    def value(self) -> dict[str, Any]:
        if self.status not in REQ_STATUSES:
            raise ValueError(f"request status {self.status!r} is not one of {', '.join(REQ_STATUSES)}")
        out: dict[str, Any] = {"reqID": self.req_id, "status": self.status}
        if self.priority is not None:
            out["reqPriority"] = bytes([(self.priority & 7) << 5])
        if self.target_rsu is not None:
            out["targetRSU"] = self.target_rsu
        if self.info is not None:
            out["info"] = self.info.value()
        if self.life_time_s is not None:
            out["lifeTime"] = time_offset(self.life_time_s)
        return out


def _node(node_id: int, region: int | None) -> dict[str, int]:
    return {"id": node_id} if region is None else {"region": region, "id": node_id}


def vir(
    *,
    msg_cnt: int,
    vehicle_id: bytes,
    sec_mark: int,
    lat_deg: float,
    lon_deg: float,
    speed_mps: float,
    heading_deg: float,
    requests: Sequence[DriveRequest] = (),
    behavior: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A VehIntentionAndRequest: the vehicle's position now (``currentPos``, offset 0 from
    ``refPos``, with speed and heading), its current DriveBehavior and up to 8 requests."""
    if len(requests) > 8:
        raise ValueError(f"a VIR carries at most 8 requests, not {len(requests)}")
    iar: dict[str, Any] = {
        "currentPos": {
            "pos": {"offsetLL": ("position-LL1", {"lon": 0, "lat": 0})},
            "speed": messages.speed_units(speed_mps),
            "heading": messages.heading_units(heading_deg),
        }
    }
    if behavior:
        iar["currentBehavior"] = bits("DriveBehavior", behavior)
    if requests:
        iar["reqs"] = [r.value() for r in requests]
    return {
        "msgCnt": msg_cnt,
        "id": vehicle_id,
        "secMark": sec_mark,
        "refPos": messages.position3d(lat_deg, lon_deg),
        "intAndReq": iar,
    }
