"""An RSU's RSC (T/CSAE 157-2020 RSC): its answers to the buses' signal-priority requests (the
CHPVP application; who asked and what the RSU decided is the world model's,
:mod:`vehicles.signal_priority`), and its lane management: the kerb lane of the corridor's inbound
links reserved or restricted for a slow vehicle kind (``lane_management``; DLM).  20 Hz where the
intersection offers priority (an answer within CHPVP's 100 ms), else 2 Hz (DLM's rate)."""

from __future__ import annotations

from typing import Any

from v2x import clock, messages
from v2x.dayii import rsc
from v2x.device import faults
from v2x.device.uplink import Payload, Stream
from v2x.messages import MessageType
from v2x.scenario.model import Scenario

from roadside.identity import rsu_octets
from roadside.map_message import neighbour_node
from vehicles.signal_priority import RSC_PERIOD_S
from vehicles.traffic import TICK_S, Traffic

LANE_RSC_PERIOD_S = 0.5  # DLM: at least 2 Hz
GRANTED = ("intersectionStraightThrough",)  # DriveBehavior the answer suggests: go, the green is held
DENIED = ("stop-and-go",)  # policy: drive with the signal as it is


def rsc_content(scenario: Scenario, traffic: Traffic, index: int, t_s: float, msg_cnt: int, sec_mark: int) -> dict[str, Any]:
    """The RSC of the RSU at intersection ``index`` at run time ``t_s``: one VehicleCoordination
    per open request it has answered (info signalPriority; granted or not in the suggestion)."""
    traffic.advance_to(round(t_s / TICK_S))
    inter = scenario.intersections[index]
    answers = [
        rsc.VehicleCoordination(traffic.ids[a.vehicle], GRANTED if a.granted else DENIED, a.life_time_s, info=("signalPriority",))
        for a in traffic.priority.answers(index, t_s)
    ]
    return rsc.rsc(
        msg_cnt=msg_cnt,
        rsu_id=rsu_octets(inter.rsu_id),
        sec_mark=sec_mark,
        lat_deg=inter.lat,
        lon_deg=inter.lon,
        vehicles=answers,
        lanes=lane_coordinations(scenario, index),
    )


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
    period = RSC_PERIOD_S if index in traffic.priority.offering() else LANE_RSC_PERIOD_S
    offset = float(traffic.priority.rsc_offset_s[index]) * period / RSC_PERIOD_S
    cnt0 = int(traffic.priority.rsc_cnt0[index])

    def build(k: int, now: int) -> Payload:
        content = rsc_content(scenario, traffic, index, offset + k * period, (cnt0 + k) % 128, clock.dsecond(now))
        if faults.due(scenario.faults, MessageType.RSC, index, k):
            content = faults.inject(scenario.faults, MessageType.RSC, index, k, content)
        return Payload(messages.encode(MessageType.RSC, content))

    return Stream(MessageType.RSC, period, offset, build)
