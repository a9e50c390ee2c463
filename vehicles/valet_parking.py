"""Automated valet parking as a conversation (T/CSAE 157-2020 VIR, RSC and PAM; the GSPA application).

Like bus priority (:mod:`vehicles.signal_priority`), the conversation is part of the world model,
so that the cars (vehicle simulator) and the car park's RSU (roadside simulator) agree on every
step without talking to each other; the ingest sees only their frames.

* An arriving car (``valet: arrive``) queues on the access road south of the entrance.  Within
  :data:`REQUEST_M` of the entrance it opens a request: a new reqID, status ``request``, Req-ParkingArea
  ``enter`` and ``park`` for an ordinary slot, and a lifeTime of its drive plus
  :data:`LIFETIME_MARGIN_S`.  Until it is answered it may not pass the entrance (the barrier).
* The RSU hears the first VIR carrying it :data:`AIR_S` later and, at its next RSC (20 Hz),
  reserves the free slot nearest the entrance and answers: a VehicleCoordination with the
  suggestion ``parking`` and the path to the slot (pathGuidance), and from its next PAM a
  ParkingGuide with the node path and the slot (``targetParkingSlot``).  A car whose request
  finds no free slot is denied: the suggestion ``stop``, no path.
* The car hears the answer :data:`AIR_S` later, says ``comfirmed`` with the slot in
  ``expectedParkingSlotID``, drives the path at the car park's speed and stops in the slot: the
  request is ``complete`` for :data:`COMPLETE_S`, then dropped.  The RSU's sensors see the car in
  its slot :data:`DETECT_S` after it stopped: the slot is ``occupied`` in the PAMs from then.
* A departing car (``valet: depart``) starts parked and, :data:`DEPART_FIRST_S` +
  :data:`DEPART_EVERY_S` x its rank into the run, asks to ``exit``; it is answered with the path
  out, drives it and is ``complete`` once past the exit.  Its slot is ``available`` from
  :data:`DETECT_S` after the car left it.

Times are run times in seconds; a car's VIR at tick ``n`` is sent at ``phase_offset_s + n * TICK_S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from v2x.scenario.model import Scenario

from vehicles.car_park import ENTRANCE, EXIT, CarParkLayout, path_length
from vehicles.signal_priority import AIR_S, COMPLETE_S, RSC_PERIOD_S, next_tick_at, status_at

REQUEST_M = 15.0  # policy: a car asks this far before the entrance
QUEUE_GAP_M = 8.0  # arriving cars queue this far apart (4.7 m cars)
DETECT_S = 0.3  # policy: from a car stopping in (leaving) a slot to the RSU's sensors seeing it
LIFETIME_MARGIN_S = 10.0  # policy: a request lives for its drive plus this
DEPART_FIRST_S = 0.5
DEPART_EVERY_S = 1.5
ACCEL_MPS2 = 1.0  # policy: gentle acceleration and braking of an automated car at walking pace
PARKED_M = 0.05  # within this of the end of its path, a stopped car is parked


@dataclass
class ValetRequest:
    """One parking request of car ``vehicle``: ``park`` (enter and park) or ``exit``."""

    vehicle: int
    purpose: str
    req_id: int
    sent_s: float
    answered_s: float
    slot_id: int | None  # the slot assigned (park) or left (exit); None: denied
    expires_s: float
    path_nodes: tuple[int, ...] = ()
    path_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    ended_s: float | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class ParkingView:
    """A request as a car's VIR at some time carries it."""

    req_id: int
    purpose: str
    status: str
    slot_id: int | None
    life_time_s: float


class ValetParking:
    """The valet cars of a scenario in its car park: where each is, and the requests, answers and slots."""

    def __init__(
        self, scenario: Scenario, phase_offset_s: np.ndarray, tick_s: float, rsc_offset_s: np.ndarray, rng: np.random.Generator
    ):
        """``rsc_offset_s``: each RSU's first RSC time (the RSC stream's offset), by intersection."""
        index = scenario.car_park_index()
        groups = scenario.obu_groups()
        self.tick_s = tick_s
        self.phase_offset_s = phase_offset_s
        self.cars = [i for i, g in enumerate(groups) if g.valet != "none"]
        self.layout: CarParkLayout | None = None
        self.index = -1  # the car park's intersection
        self.requests: dict[int, ValetRequest] = {}  # by vehicle: its open (or just ended) request
        self.history: list[ValetRequest] = []  # every request made, for the slots' story
        if index is None or not self.cars:
            return
        inter = scenario.intersections[index]
        assert inter.car_park is not None
        self.index = index
        self.layout = layout = CarParkLayout(inter.car_park, inter.lat, inter.lon)
        self.speed = inter.car_park.speed_kmh / 3.6
        self.rsc_offset_s = float(rsc_offset_s[index])
        self.next_req_id = {i: int(rng.integers(0, 256)) for i in self.cars}
        slots = sorted(layout.slots)
        taken = rng.permutation(slots)[: round(inter.car_park.occupied * len(slots))].tolist()
        departing = [i for i in self.cars if groups[i].valet == "depart"]
        arriving = [i for i in self.cars if groups[i].valet == "arrive"]
        self.occupied_at_start = frozenset(int(s) for s in taken)
        self.home: dict[int, int] = {i: int(s) for i, s in zip(departing, taken)}  # departing car -> its slot
        self.depart_at = {i: DEPART_FIRST_S + DEPART_EVERY_S * rank for rank, i in enumerate(departing)}
        entrance = layout.nodes[ENTRANCE]
        # Each car's polyline (local metres), the distance it has come along it, its speed and acceleration.
        self.path: dict[int, np.ndarray] = {}
        self.s = dict.fromkeys(self.cars, 0.0)
        self.v = dict.fromkeys(self.cars, 0.0)
        self.a = dict.fromkeys(self.cars, 0.0)
        for rank, i in enumerate(arriving):
            start = (entrance[0], entrance[1] - 6.0 - QUEUE_GAP_M * rank)
            self.path[i] = np.array([start, entrance])
            self.v[i] = self.speed
        for i in departing:
            centre = layout.slots[self.home[i]].centre
            self.path[i] = np.array([centre, centre])
        self.parked_s: dict[int, float] = {}  # slot -> when a car stopped in it
        self.left_s: dict[int, float] = {}  # slot -> when a car left it

    # --- the world's ticks ---------------------------------------------------------------

    def step(self, tick: int) -> None:
        """Advance the cars to ``tick`` (their motion over the last tick) and the requests at it."""
        if self.layout is None:
            return
        for i in self.cars:
            self._move(i)
        for i in self.cars:
            self._update(i, tick)

    def _vir_time(self, i: int, tick: int) -> float:
        return float(self.phase_offset_s[i]) + tick * self.tick_s

    def _move(self, i: int) -> None:
        """Drive car ``i`` along its path (the way to the entrance barrier until it is answered),
        braking to stop at its end."""
        length = path_length(self.path[i])
        remaining = max(0.0, length - self.s[i])
        target = min(self.speed, math.sqrt(2 * ACCEL_MPS2 * max(0.0, remaining - PARKED_M)))
        v = self.v[i]
        v_new = min(target, v + ACCEL_MPS2 * self.tick_s) if target > v else max(target, v - 2 * ACCEL_MPS2 * self.tick_s)
        self.a[i] = (v_new - v) / self.tick_s
        self.v[i] = v_new
        self.s[i] = min(self.s[i] + v_new * self.tick_s, length)

    def _update(self, i: int, tick: int) -> None:
        assert self.layout is not None
        now = self._vir_time(i, tick)
        r = self.requests.get(i)
        if r is not None:
            if r.ended_s is None and r.slot_id is None and now >= r.answered_s + AIR_S:
                r.ended_s, r.outcome = now, "cancel"  # denied: no free slot
            elif r.ended_s is None:
                if r.slot_id is not None and now >= r.answered_s + AIR_S and r.path_xy.size and self.path[i] is not r.path_xy:
                    self.path[i], self.s[i] = r.path_xy, 0.0  # the car hears the answer: off it goes
                if self._arrived(i, r):
                    r.ended_s, r.outcome = now, "complete"
                    if r.purpose == "park":
                        assert r.slot_id is not None
                        self.parked_s[r.slot_id] = now
                elif now >= r.expires_s:
                    r.ended_s, r.outcome = now, "cancel"
                if r.purpose == "exit" and r.slot_id is not None and r.slot_id not in self.left_s and self._left_slot(i, r):
                    self.left_s[r.slot_id] = now
            elif now >= r.ended_s + COMPLETE_S:
                del self.requests[i]
            return
        if any(h.vehicle == i and h.outcome == "complete" for h in self.history):
            return  # parked, or gone
        if i in self.home:
            if now >= self.depart_at[i]:
                self._open(i, tick, "exit")
        elif path_length(self.path[i]) - self.s[i] <= REQUEST_M:
            self._open(i, tick, "park")

    def _arrived(self, i: int, r: ValetRequest) -> bool:
        if self.path[i] is not r.path_xy:
            return False
        if r.purpose == "park":
            return self.v[i] == 0.0 and path_length(r.path_xy) - self.s[i] <= PARKED_M
        assert self.layout is not None
        exit_y = self.layout.nodes[EXIT][1]
        return self._xy(i)[1] <= exit_y  # past the exit

    def _left_slot(self, i: int, r: ValetRequest) -> bool:
        """Whether the departing car has left its slot (reached its entry edge)."""
        return self.path[i] is r.path_xy and self.s[i] >= float(np.linalg.norm(r.path_xy[1] - r.path_xy[0]))

    def _open(self, i: int, tick: int, purpose: str) -> None:
        assert self.layout is not None
        sent = self._vir_time(i, tick)
        answered = next_tick_at(self.rsc_offset_s, RSC_PERIOD_S, sent + AIR_S)
        if purpose == "park":
            slot = self._free_slot(answered)
            path_xy = self.layout.entry_points(slot, tuple(self._xy(i))) if slot is not None else np.zeros((0, 2))
            nodes = self.layout.entry_path(slot) if slot is not None else ()
        else:
            slot = self.home[i]
            path_xy, nodes = self.layout.exit_points(slot), self.layout.exit_path(slot)
        drive_s = path_length(path_xy) / self.speed
        r = ValetRequest(
            i, purpose, self.next_req_id[i], sent, answered, slot, sent + drive_s + LIFETIME_MARGIN_S, nodes, path_xy
        )
        self.next_req_id[i] = (self.next_req_id[i] + 1) % 256
        self.requests[i] = r
        self.history.append(r)

    def _free_slot(self, t_s: float) -> int | None:
        """The free slot nearest the entrance at ``t_s``: not occupied, not reserved, and not held
        by another open parking request (one the RSU answers later than ``t_s`` included)."""
        assert self.layout is not None
        held = {r.slot_id for r in self.requests.values() if r.purpose == "park" and r.ended_s is None}
        for slot in self.layout.by_distance():
            if slot not in held and self.status(slot, t_s) == "available":
                return slot
        return None

    # --- what the devices say ------------------------------------------------------------

    def _xy(self, i: int) -> np.ndarray:
        return _point_at(self.path[i], self.s[i])

    def place(self, lat: np.ndarray, lon: np.ndarray, heading: np.ndarray) -> None:
        """Put the valet cars' positions and headings into the fleet's arrays."""
        if self.layout is None:
            return
        for i in self.cars:
            xy = self._xy(i)
            lat[i], lon[i] = self.layout.latlon((float(xy[0]), float(xy[1])))
            heading[i] = _heading_at(self.path[i], self.s[i])

    def of_vehicle(self, i: int, tick: int) -> list[ParkingView]:
        """The request car ``i``'s VIR at ``tick`` carries (none, or one)."""
        r = self.requests.get(i)
        if r is None or self.layout is None:
            return []
        now = self._vir_time(i, tick)
        status = status_at(now, r.answered_s, r.ended_s, r.outcome)
        return [
            ParkingView(r.req_id, r.purpose, status, r.slot_id if status != "request" else None, max(0.01, r.expires_s - now))
        ]

    def answers(self, t_s: float) -> list[ValetRequest]:
        """The requests the RSU's RSC or PAM at ``t_s`` answers: answered, not yet heard to have ended (at most 16)."""
        out = [
            r
            for r in sorted(self.requests.values(), key=lambda r: r.vehicle)
            if r.answered_s <= t_s + 1e-9 and not (r.ended_s is not None and t_s >= r.ended_s + AIR_S)
        ]
        return out[:16]

    def status(self, slot_id: int, t_s: float) -> str:
        """The slot's status at ``t_s`` as the RSU knows it (SlotStatus)."""
        parked = self.parked_s.get(slot_id)
        left = self.left_s.get(slot_id)
        if parked is not None and t_s >= parked + DETECT_S:
            return "occupied"
        if slot_id in self.occupied_at_start and (left is None or t_s < left + DETECT_S):
            return "occupied"
        if any(
            r.purpose == "park"
            and r.slot_id == slot_id
            and r.answered_s <= t_s
            and not (r.outcome == "cancel" and t_s >= (r.ended_s or 0.0))
            for r in self.history
        ):
            return "reserved"
        return "available"

    def statuses(self, t_s: float) -> dict[int, str]:
        assert self.layout is not None
        return {slot: self.status(slot, t_s) for slot in self.layout.slots}


def _segment(points: np.ndarray, s: float) -> tuple[int, float]:
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    for k, seg in enumerate(lengths):
        if s <= seg or k == len(lengths) - 1:
            return k, min(s, seg)
        s -= seg
    return 0, 0.0


def _point_at(points: np.ndarray, s: float) -> np.ndarray:
    k, into = _segment(points, s)
    seg = points[k + 1] - points[k]
    n = float(np.linalg.norm(seg))
    return points[k] + (seg / n * into if n > 0 else 0.0)


def _heading_at(points: np.ndarray, s: float) -> float:
    """Degrees from north of the path's direction at ``s`` (of the last segment that has one)."""
    k, _ = _segment(points, s)
    for j in range(k, -1, -1):
        dx, dy = points[j + 1] - points[j]
        if dx or dy:
            return float(np.degrees(np.arctan2(dx, dy)) % 360.0)
    return 0.0
