"""PAM, PAMData: a car park's map, its slots and their status, and guidance for vehicles
(T/CSAE 157-2020, PAM; the GSPA application).

A car park is a graph of PAMNodes (junctions, entrances, exits, ramps between floors); each node
lists the drives that enter it, and a drive lists the slots along it.  Positions inside a node
(slot corners) are offsets from the node's refPos, as for MAP.  ``parkingAreaGuidance`` gives a
vehicle a path of node ids and, when it is to park, the slot "by the last drive" of the path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from v2x import messages
from v2x.dayii import bits, offset_llv

SLOT_STATUSES = ("unknown", "available", "occupied", "reserved")  # SlotStatus root values


@dataclass(frozen=True)
class ParkingSlot:
    """A slot: its corners (top-left, top-right, bottom-left; the top edge is where a car enters)."""

    slot_id: int
    sign: str
    corners: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    parking_type: tuple[str, ...] = ("ordinary",)
    theta: str = "vertical"  # ParkingSpaceTheta

    def value(self, ref: tuple[float, float], status: str) -> dict[str, Any]:
        top_left, top_right, bottom_left = (offset_llv(*ref, lat, lon) for lat, lon in self.corners)
        return {
            "slotID": self.slot_id,
            "position": {"topLeft": top_left, "topRight": top_right, "bottomLeft": bottom_left},
            "sign": self.sign,
            "parkingType": bits("ParkingType", self.parking_type),
            "status": status,
            "parkingSpaceTheta": self.theta,
            "parkingLock": "nolock",
        }


@dataclass(frozen=True)
class Drive:
    """A drive from node ``upstream`` into the node that lists it, with the slots along it."""

    upstream: int
    width_m: float
    slots: tuple[ParkingSlot, ...] = ()
    speed_limit_mps: float | None = None


@dataclass(frozen=True)
class PamNode:
    node_id: int
    lat_deg: float
    lon_deg: float
    floor: int | None = None
    attributes: tuple[str, ...] = ()  # PAMNodeAttributes: entrance, exit, toUpstair …
    drives: tuple[Drive, ...] = ()


@dataclass(frozen=True)
class ParkingLot:
    lot_id: int
    name: str
    nodes: tuple[PamNode, ...]
    avp_type: str = "p4"  # AVPType: p4 = roadside infrastructure and V2X
    floors: int = 1

    def slots(self) -> Iterator[tuple[PamNode, Drive, ParkingSlot]]:
        for node in self.nodes:
            for drive in node.drives:
                for slot in drive.slots:
                    yield node, drive, slot


@dataclass(frozen=True)
class ParkingGuide:
    """Guidance for one vehicle: the node ids from where it is to where it goes, and its slot."""

    vehicle_id: bytes
    path: tuple[int, ...]
    slot_id: int | None = None

    def value(self) -> dict[str, Any]:
        if not 1 <= len(self.path) <= 32:
            raise ValueError(f"a guidance path has 1 to 32 nodes, not {len(self.path)}")
        out: dict[str, Any] = {"vehId": self.vehicle_id, "drivePath": list(self.path)}
        if self.slot_id is not None:
            out["targetParkingSlot"] = self.slot_id
        return out


def pam(
    *,
    msg_cnt: int,
    lot: ParkingLot,
    moy: int,
    status: Mapping[int, str],
    guidance: Sequence[ParkingGuide] = (),
) -> dict[str, Any]:
    """PAMData of ``lot`` with each slot's status (``status`` by slot id; a slot not in it is
    ``unknown``) and up to 16 vehicles' guidance."""
    if len(guidance) > 16:
        raise ValueError(f"a PAM carries guidance for at most 16 vehicles, not {len(guidance)}")
    slots = sum(1 for _ in lot.slots())
    nodes = []
    for node in lot.nodes:
        entry: dict[str, Any] = {"id": node.node_id, "refPos": messages.position3d(node.lat_deg, node.lon_deg)}
        if node.floor is not None:
            entry["floor"] = node.floor
        if node.attributes:
            entry["attributes"] = bits("PAMNodeAttributes", node.attributes)
        drives = []
        for drive in node.drives:
            d: dict[str, Any] = {"upstreamPAMNodeId": drive.upstream, "driveWidth": round(drive.width_m * 100)}
            if drive.speed_limit_mps is not None:
                d["speedLimit"] = messages.speed_units(drive.speed_limit_mps)
            if drive.slots:
                ref = (node.lat_deg, node.lon_deg)
                d["parkingSlots"] = [s.value(ref, status.get(s.slot_id, "unknown")) for s in drive.slots]
            drives.append(d)
        if drives:
            entry["inDrives"] = drives
        nodes.append(entry)
    out: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "timeStamp": moy,
        "parkingLotInfo": {
            "id": lot.lot_id,
            "name": lot.name,
            "number": slots,
            "buildingLayerNum": lot.floors,
            "avpType": lot.avp_type,
        },
        "pamNodes": nodes,
    }
    if guidance:
        out["parkingAreaGuidance"] = [g.value() for g in guidance]
    return out
