"""The layout of a scenario's valet car park (:class:`v2x.scenario.model.CarPark`), shared by the
cars that drive in it and the RSU that describes it in PAM (T/CSAE 157-2020 PAM).

In a local east/north plane around the intersection (metres)::

      J3 ---- aisle 3 ----> K3          J: junctions on the main drive (north)
      ^                     |           K: aisle ends on the return drive (south)
      J2 ---- aisle 2 ----> K2          slots on both sides of each aisle, 2.5 m wide and 5 m deep
      ^                     |
      J1 ---- aisle 1 ----> K1
      ^                     v
      E (entrance)          X (exit)    E is ``distance_m`` north of the intersection

Node ids: E 1, X 2, J_a 10 + a, K_a 20 + a.  A PAMNode lists the drives *into* it, so a slot on
aisle a sits on the drive J_a -> K_a, which node K_a lists; a guidance path to it ends
``..., J_a, K_a`` ("targetParkingSlot: beside the path's last drive").  Slot ids: 100 a + k,
k 1.. on the north side, 51.. on the south side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from v2x.dayii import pam
from v2x.scenario.model import CarPark
from v2x.scenario.roads import LocalFrame

ENTRANCE, EXIT = 1, 2
SLOT_WIDTH_M = 2.5
SLOT_DEPTH_M = 5.0
AISLE_WIDTH_M = 6.0  # the drive between two rows of slots
AISLE_PITCH_M = AISLE_WIDTH_M + 2 * SLOT_DEPTH_M  # one aisle to the next
FIRST_AISLE_M = 10.0  # entrance to the first junction
SLOTS_FROM_M = 4.0  # junction to the first slot's edge
DRIVE_WIDTH_M = 6.0


def junction(a: int) -> int:
    return 10 + a


def aisle_end(a: int) -> int:
    return 20 + a


@dataclass(frozen=True)
class Slot:
    """A slot: its id, aisle, side (+1 north, -1 south) and, in local metres, the middle of its
    entry edge (on the aisle's edge) and its centre."""

    slot_id: int
    aisle: int
    side: int
    index: int
    entry: tuple[float, float]
    centre: tuple[float, float]


class CarParkLayout:
    """Nodes, drives and slots of ``park`` beside the intersection at (lat, lon)."""

    def __init__(self, park: CarPark, lat: float, lon: float):
        self.park = park
        self.frame = LocalFrame(lat, lon)
        n = park.slots_per_side
        self.length_m = SLOTS_FROM_M + n * SLOT_WIDTH_M + SLOTS_FROM_M  # junction to aisle end
        d = park.distance_m
        self.nodes: dict[int, tuple[float, float]] = {ENTRANCE: (0.0, d), EXIT: (self.length_m, d)}
        for a in range(1, park.aisles + 1):
            y = self.aisle_y(a)
            self.nodes[junction(a)] = (0.0, y)
            self.nodes[aisle_end(a)] = (self.length_m, y)
        self.slots: dict[int, Slot] = {}
        for a in range(1, park.aisles + 1):
            y = self.aisle_y(a)
            for side, first_id in ((1, 1), (-1, 51)):
                edge = y + side * AISLE_WIDTH_M / 2
                for k in range(n):
                    x = SLOTS_FROM_M + (k + 0.5) * SLOT_WIDTH_M
                    slot_id = 100 * a + first_id + k
                    self.slots[slot_id] = Slot(slot_id, a, side, k, (x, edge), (x, edge + side * SLOT_DEPTH_M / 2))

    def aisle_y(self, a: int) -> float:
        return self.park.distance_m + FIRST_AISLE_M + (a - 1) * AISLE_PITCH_M

    def entry_path(self, slot_id: int) -> tuple[int, ...]:
        """PAM node ids from the entrance to the end of the slot's aisle."""
        a = self.slots[slot_id].aisle
        return (ENTRANCE, *(junction(b) for b in range(1, a + 1)), aisle_end(a))

    def exit_path(self, slot_id: int) -> tuple[int, ...]:
        """PAM node ids from the drive the slot is on to the exit."""
        a = self.slots[slot_id].aisle
        return (junction(a), *(aisle_end(b) for b in range(a, 0, -1)), EXIT)

    def entry_points(self, slot_id: int, start: tuple[float, float]) -> np.ndarray:
        """The polyline (local metres) a car drives from ``start`` through the entrance into the slot."""
        slot = self.slots[slot_id]
        nodes = [self.nodes[i] for i in self.entry_path(slot_id)[:-1]]
        return np.array([start, *nodes, (slot.entry[0], self.aisle_y(slot.aisle)), slot.entry, slot.centre])

    def exit_points(self, slot_id: int, beyond_m: float = 30.0) -> np.ndarray:
        """The polyline from the slot's centre out of it, to the aisle's end, south to the exit and beyond."""
        slot = self.slots[slot_id]
        nodes = [self.nodes[i] for i in self.exit_path(slot_id)[1:]]
        exit_x, exit_y = self.nodes[EXIT]
        return np.array([slot.centre, slot.entry, (slot.entry[0], self.aisle_y(slot.aisle)), *nodes, (exit_x, exit_y - beyond_m)])

    def by_distance(self) -> list[int]:
        """Slot ids nearest the entrance (along the drives) first."""
        return sorted(self.slots, key=lambda s: (path_length(self.entry_points(s, self.nodes[ENTRANCE])), s))

    def latlon(self, xy: tuple[float, float]) -> tuple[float, float]:
        lat, lon = self.frame.to_latlon(xy[0], xy[1])
        return float(lat), float(lon)

    @cached_property
    def lot(self) -> pam.ParkingLot:
        """The car park as PAM describes it (:class:`v2x.dayii.pam.ParkingLot`)."""
        speed = self.park.speed_kmh / 3.6
        drives: dict[int, list[pam.Drive]] = {node: [] for node in self.nodes}
        aisles = self.park.aisles
        for a in range(1, aisles + 1):
            drives[junction(a)].append(pam.Drive(ENTRANCE if a == 1 else junction(a - 1), DRIVE_WIDTH_M, speed_limit_mps=speed))
            slots = tuple(self._pam_slot(s) for s in self.slots.values() if s.aisle == a)
            drives[aisle_end(a)].append(pam.Drive(junction(a), AISLE_WIDTH_M, slots, speed_limit_mps=speed))
            if a < aisles:
                drives[aisle_end(a)].append(pam.Drive(aisle_end(a + 1), DRIVE_WIDTH_M, speed_limit_mps=speed))
        drives[EXIT].append(pam.Drive(aisle_end(1), DRIVE_WIDTH_M, speed_limit_mps=speed))
        attributes = {ENTRANCE: ("entrance",), EXIT: ("exit",)}
        nodes = tuple(
            pam.PamNode(node, *self.latlon(xy), floor=1, attributes=attributes.get(node, ()), drives=tuple(drives[node]))
            for node, xy in sorted(self.nodes.items())
        )
        return pam.ParkingLot(self.park.lot_id, self.park.name, nodes)

    def _pam_slot(self, slot: Slot) -> pam.ParkingSlot:
        """The slot's corners: top-left and top-right on the entry edge (left and right as a car
        entering sees them), bottom-left at the back."""
        x, y = slot.entry
        half = SLOT_WIDTH_M / 2
        depth = slot.side * SLOT_DEPTH_M
        left, right = (x - half, x + half) if slot.side > 0 else (x + half, x - half)
        corners = (self.latlon((left, y)), self.latlon((right, y)), self.latlon((left, y + depth)))
        side = "N" if slot.side > 0 else "S"
        return pam.ParkingSlot(slot.slot_id, f"A{slot.aisle}-{side}{slot.index + 1:02d}", corners)


def path_length(points: np.ndarray) -> float:
    """Length of a polyline (local metres); 0 for a single point or none."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) > 1 else 0.0
