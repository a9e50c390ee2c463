"""An RSU's RSC (T/CSAE 157-2020 RSC): its answers to the buses' signal-priority requests (the
CHPVP application; who asked and what the RSU decided is the world model's,
:mod:`vehicles.signal_priority`), a car park RSU's answers to valet cars' parking requests with
the path to drive (GSPA; :mod:`vehicles.valet_parking`), and its lane management: the kerb lane of
the corridor's inbound links reserved or restricted for a slow vehicle kind (``lane_management``;
DLM).  20 Hz where the RSU answers requests (within CHPVP's and GSPA's 100 ms), else 2 Hz (DLM's rate)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from v2x import clock
from v2x.dayii import rsc
from v2x.device import faults
from v2x.device.identity import rsu_octets
from v2x.device.uplink import Payload, Stream
from v2x.messages import MessageType
from v2x.scenario.model import Scenario

from roadside.map_message import neighbour_node
from vehicles.signal_priority import RSC_PERIOD_S
from vehicles.traffic import TICK_S, Traffic

LANE_RSC_PERIOD_S = 0.5  # DLM: at least 2 Hz
GRANTED = ("intersectionStraightThrough",)  # DriveBehavior the answer suggests: go, the green is held
DENIED = ("stop-and-go",)  # policy: drive with the signal as it is
PARKING = ("parking",)  # DriveBehavior the answer to a parking request suggests, with the path to the slot
LEAVING = ("goStraightForward",)  # ... to an exit request, with the path out
PARKING_DENIED = ("stop",)  # policy: no free slot, wait at the entrance
PATH_STEP_M = 2.0  # policy: pathGuidance points every 2 m along the drives (GSPA positions to 0.5 m)


def rsc_content(scenario: Scenario, traffic: Traffic, index: int, t_s: float, msg_cnt: int, sec_mark: int) -> dict[str, Any]:
    """The RSC of the RSU at intersection ``index`` at run time ``t_s``: one VehicleCoordination
    per open request it has answered (info signalPriority; granted or not in the suggestion)."""
    traffic.advance_to(round(t_s / TICK_S))
    inter = scenario.intersections[index]
    answers = [
        rsc.VehicleCoordination(traffic.ids[a.vehicle], GRANTED if a.granted else DENIED, a.life_time_s, info=("signalPriority",))
        for a in traffic.priority.answers(index, t_s)
    ]
    if index == traffic.valet.index:
        answers += parking_answers(traffic, t_s)
    return rsc.rsc(
        msg_cnt=msg_cnt,
        rsu_id=rsu_octets(inter.rsu_id),
        sec_mark=sec_mark,
        lat_deg=inter.lat,
        lon_deg=inter.lon,
        vehicles=answers[:16],
        lanes=lane_coordinations(scenario, index),
    )


def parking_answers(traffic: Traffic, t_s: float) -> list[rsc.VehicleCoordination]:
    """The car park RSU's answers to the valet cars' requests (:mod:`vehicles.valet_parking`): the
    suggestion ``parking`` (or, leaving, go straight on) with the path to drive as pathGuidance;
    ``stop`` and no path for a car the car park has no slot for.  The path is sampled every
    :data:`PATH_STEP_M` along the drives (at most 100 points, PathPlanning)."""
    valet = traffic.valet
    assert valet.layout is not None
    out = []
    for r in valet.answers(t_s):
        life = max(0.01, r.expires_s - t_s)
        if r.slot_id is None:
            out.append(rsc.VehicleCoordination(traffic.ids[r.vehicle], PARKING_DENIED, life))
            continue
        path = tuple(valet.layout.latlon((float(x), float(y))) for x, y in sampled(r.path_xy, PATH_STEP_M)[:100])
        suggestion = PARKING if r.purpose == "park" else LEAVING
        out.append(rsc.VehicleCoordination(traffic.ids[r.vehicle], suggestion, life, path=path))
    return out


def sampled(points: np.ndarray, step_m: float) -> np.ndarray:
    """Points every ``step_m`` along a polyline, its corners and its end kept."""
    out = [points[0]]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(float(np.linalg.norm(b - a)) / step_m))
        out += [a + (b - a) * (k / n) for k in range(1, n + 1)]
    return np.array(out)


def lane_coordinations(scenario: Scenario, index: int) -> list[rsc.LaneCoordination]:
    """The kerb lane of both corridor links into intersection ``index``, as its ``lane_management`` says."""
    inter = scenario.intersections[index]
    managed = inter.lane_management
    if managed is None:
        return []
    node = inter.id
    return [
        rsc.LaneCoordination(
            upstream=neighbour_node(scenario, index, k, arm)["id"],
            downstream=node,
            lanes=(inter.lanes_per_direction,),
            region=inter.region,
            info=(managed.mode,),
            speed_mps=managed.speed_kmh / 3.6,
            behavior=("slow-down",),
            note=f"kerb lane for {managed.for_kind.replace('_', ' ')}",
        )
        for k, arm in ((index - 1, 0), (index + 1, 1))
    ]


def rsc_stream(scenario: Scenario, traffic: Traffic, index: int) -> Stream:
    """The RSC stream of the RSU at intersection ``index`` (its RSU number for faults)."""
    answering = index in traffic.priority.offering() or index == traffic.valet.index
    period = RSC_PERIOD_S if answering else LANE_RSC_PERIOD_S
    offset = float(traffic.priority.rsc_offset_s[index]) * period / RSC_PERIOD_S
    cnt0 = int(traffic.priority.rsc_cnt0[index])

    def build(k: int, now: int) -> Payload:
        content = rsc_content(scenario, traffic, index, offset + k * period, (cnt0 + k) % 128, clock.dsecond(now))
        return Payload(faults.encoded(scenario.faults, MessageType.RSC, index, k, content))

    return Stream(MessageType.RSC, period, offset, build)
