"""Transit signal priority as a conversation: a bus asks in VIR, the RSU answers in RSC, and the
signal holds its green for a granted bus (T/CSAE 157-2020 VIR and RSC; the CHPVP application).

The conversation is part of the world model (:class:`vehicles.traffic.Traffic`), so that the bus
(vehicle simulator) and the RSU (roadside simulator), each running the model from the seed, agree
on every step of it without talking to each other; what the ingest sees are only their frames.

* A bus within ``detect_m`` of the stop line of an intersection that offers priority
  (``signal.bus_priority``) opens a request: a new reqID (one more than its last, mod 256), status
  ``request``, the corridor movement (phase 1, straight on), its estimated arrival and distance,
  and a lifeTime of the estimated arrival plus :data:`LIFETIME_MARGIN_S`.  The request is in every
  VIR the bus sends from then on, with the same reqID (the rule of the VIR module: "same request in
  serial VIR messages should keep the same reqID").
* The RSU hears the first VIR carrying it :data:`AIR_S` after it was sent and answers in its next
  RSC (20 Hz, :data:`RSC_PERIOD_S`): a VehicleCoordination for the bus with info signalPriority and
  the suggestion intersectionStraightThrough when it grants, stop-and-go (drive with the signal as
  it is) when it denies.  It grants vehicles whose kind may have priority (:data:`PRIORITY_KINDS`).
  The answer is repeated in every RSC while the request is open.
* The bus hears the answer :data:`AIR_S` after it was sent; its later VIRs say ``comfirmed``
  (the standard's spelling).  Having passed the stop line it says ``complete`` for
  :data:`COMPLETE_S`, then drops the request; one whose lifeTime runs out first is sent as
  ``cancel`` for :data:`COMPLETE_S` and dropped.
* The signal extends its corridor green (:meth:`SignalPriority.granted_near`) only for a bus whose
  request it granted and answered.

Times are run times in seconds; a message of a vehicle's stream at tick ``n`` is sent at
``phase_offset_s + n * TICK_S``, an RSU's RSC ``m`` at ``rsc_offset_s + m * RSC_PERIOD_S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2x.scenario.model import PRIORITY_REQUESTERS

AIR_S = 0.02  # policy: from a message's generation to its use by the other side (PC5, well under 100 ms)
RSC_PERIOD_S = 0.05  # policy: 20 Hz, so that an answer follows its request within CHPVP's 100 ms
LIFETIME_MARGIN_S = 10.0  # policy: a request lives for the estimated arrival plus this
COMPLETE_S = 1.0  # policy: how long complete / cancel is repeated before the request is dropped
MAX_ETA_S = 300.0
PRIORITY_KINDS = frozenset({"bus", "ambulance"})  # policy: transit and emergency vehicles may have priority


@dataclass
class PriorityRequest:
    """One request of vehicle ``vehicle`` at intersection ``intersection`` (indices)."""

    vehicle: int
    intersection: int
    req_id: int
    opened_tick: int
    sent_s: float  # the first VIR carrying it
    answered_s: float  # the first RSC carrying the answer
    granted: bool
    eta_s: float
    distance_m: float
    expires_s: float
    ended_s: float | None = None  # passed the stop line (complete) or expired (cancel)
    outcome: str | None = None  # complete or cancel


@dataclass(frozen=True)
class RequestView:
    """A request as a VIR of the bus at run time ``t_s`` carries it."""

    req_id: int
    status: str
    intersection: int
    eta_s: float
    distance_m: float
    life_time_s: float


@dataclass(frozen=True)
class AnswerView:
    """An answer as an RSC at run time ``t_s`` carries it."""

    vehicle: int
    granted: bool
    life_time_s: float


def status_at(now_s: float, answered_s: float, ended_s: float | None, outcome: str | None) -> str:
    """The status a request's VIR at ``now_s`` gives it: ``request`` until the vehicle hears the
    answer (:data:`AIR_S` after it was sent), then ``comfirmed``; from its end, its outcome."""
    if ended_s is not None and now_s >= ended_s:
        return outcome or "complete"
    return "comfirmed" if now_s >= answered_s + AIR_S else "request"


def next_tick_at(offset_s: float, period_s: float, t_s: float) -> float:
    """The first time ``offset_s + m * period_s`` (m >= 0) at or after ``t_s``."""
    m = max(0, math.ceil((t_s - offset_s) / period_s - 1e-9))
    return offset_s + m * period_s


class SignalPriority:
    """The requests of every vehicle at every intersection, advanced with the world's ticks."""

    def __init__(
        self,
        kinds: list[str],
        phase_offset_s: np.ndarray,
        detect_m: list[float | None],
        tick_s: float,
        rng: np.random.Generator,
    ):
        self.kinds = kinds
        self.phase_offset_s = phase_offset_s
        self.detect_m = detect_m  # per intersection; None: it offers no priority
        self.tick_s = tick_s
        self.rsc_offset_s = rng.uniform(0.0, RSC_PERIOD_S, len(detect_m))
        self.next_req_id = rng.integers(0, 256, len(kinds))
        self.vir_cnt0 = rng.integers(0, 128, len(kinds))  # each VIR sender's first msgCnt
        self.rsc_cnt0 = rng.integers(0, 128, len(detect_m))  # each RSU's first RSC msgCnt
        self.requests: dict[tuple[int, int], PriorityRequest] = {}
        self.asking = np.array([k in PRIORITY_REQUESTERS for k in kinds], dtype=bool)

    def senders(self) -> list[int]:
        """The vehicles that send VIR: those that ask, where some intersection offers priority."""
        if all(d is None for d in self.detect_m):
            return []
        return np.flatnonzero(self.asking).tolist()

    def offering(self) -> list[int]:
        """The intersections that offer priority (their RSUs send RSC)."""
        return [k for k, d in enumerate(self.detect_m) if d is not None]

    def update(self, tick: int, distance_m: np.ndarray, speed_mps: np.ndarray) -> None:
        """Advance to ``tick``: ``distance_m[i, k]`` is vehicle i's distance to intersection k's
        stop line along its direction (negative once passed)."""
        if not self.asking.any():
            return
        for key, r in list(self.requests.items()):
            now = self._vir_time(r.vehicle, tick)
            if r.ended_s is None:
                if distance_m[r.vehicle, r.intersection] <= 0:
                    r.ended_s, r.outcome = now, "complete"
                elif now >= r.expires_s:
                    r.ended_s, r.outcome = now, "cancel"
            elif now >= r.ended_s + COMPLETE_S:
                del self.requests[key]
        for k, detect in enumerate(self.detect_m):
            if detect is None:
                continue
            near = np.flatnonzero(self.asking & (distance_m[:, k] > 0) & (distance_m[:, k] < detect))
            for i in near.tolist():
                if (i, k) not in self.requests:
                    self._open(i, k, tick, float(distance_m[i, k]), float(speed_mps[i]))

    def _vir_time(self, i: int, tick: int) -> float:
        return float(self.phase_offset_s[i]) + tick * self.tick_s

    def _open(self, i: int, k: int, tick: int, distance: float, speed: float) -> None:
        sent = self._vir_time(i, tick)
        eta = min(MAX_ETA_S, distance / max(speed, 1.0))
        answered = next_tick_at(float(self.rsc_offset_s[k]), RSC_PERIOD_S, sent + AIR_S)
        self.requests[(i, k)] = PriorityRequest(
            vehicle=i,
            intersection=k,
            req_id=int(self.next_req_id[i]),
            opened_tick=tick,
            sent_s=sent,
            answered_s=answered,
            granted=self.kinds[i] in PRIORITY_KINDS,
            eta_s=eta,
            distance_m=distance,
            expires_s=sent + eta + LIFETIME_MARGIN_S,
        )
        self.next_req_id[i] = (self.next_req_id[i] + 1) % 256

    def of_vehicle(self, i: int, tick: int) -> list[RequestView]:
        """The requests vehicle ``i``'s VIR at ``tick`` carries, by intersection."""
        now = self._vir_time(i, tick)
        out = []
        for (vehicle, k), r in sorted(self.requests.items(), key=lambda item: item[0][1]):
            if vehicle != i or r.opened_tick > tick:
                continue
            status = status_at(now, r.answered_s, r.ended_s, r.outcome)
            life = max(0.01, r.expires_s - now)
            out.append(RequestView(r.req_id, status, k, r.eta_s, r.distance_m, life))
        return out

    def answers(self, k: int, t_s: float) -> list[AnswerView]:
        """The answers intersection ``k``'s RSC at run time ``t_s`` carries (at most 16)."""
        out = []
        for (i, kk), r in sorted(self.requests.items()):
            if kk != k or r.answered_s > t_s + 1e-9:
                continue
            if r.ended_s is not None and t_s >= r.ended_s + AIR_S:
                continue  # the RSU heard complete or cancel: no more answers
            out.append(AnswerView(i, r.granted, max(0.01, r.expires_s - t_s)))
        return out[:16]

    def granted_near(self, k: int, t_s: float, distance_m: np.ndarray, detect: float) -> bool:
        """Whether intersection ``k`` has answered a granted request of a vehicle now within ``detect`` of its stop line."""
        return any(
            kk == k and r.granted and r.ended_s is None and r.answered_s <= t_s and 0 < distance_m[i, k] < detect
            for (i, kk), r in self.requests.items()
        )
