"""A vehicle's VIR, 10 Hz with its BSM (T/CSAE 157-2020 VIR): a bus's signal-priority requests
(CHPVP; the conversation is :mod:`vehicles.signal_priority`) and a valet car's parking requests
(GSPA; :mod:`vehicles.valet_parking`), as the world model has them.  Each request names the RSU it
asks (``targetRSU``), so that the answer can be matched to the RSU that gives it."""

from __future__ import annotations

from typing import Any

from v2x import clock
from v2x.dayii import vir
from v2x.device import faults
from v2x.device.identity import rsu_octets
from v2x.device.uplink import Payload, Stream
from v2x.messages import MessageType
from v2x.scenario.roads import MAIN_PHASE

from vehicles.traffic import TICK_S, Traffic

BUS_PRIORITY_LEVEL = 5  # policy: reqPriority of a scheduled bus (0 lowest .. 7 highest; an emergency vehicle would ask 7)
PARKING_LEVEL = 2  # policy: reqPriority of a valet car's parking request


def vir_content(traffic: Traffic, i: int, k: int, msg_cnt: int, sec_mark: int) -> dict[str, Any]:
    """The VIR of vehicle ``i`` at tick ``k``: where it is, that it goes straight on, and its open requests."""
    traffic.advance_to(k)
    st = traffic.state(i)
    intersections = traffic.scenario.intersections
    requests = []
    for r in traffic.priority.of_vehicle(i, k):
        inter = intersections[r.intersection]
        ask = vir.SignalPriority(inter.id, inter.region, MAIN_PHASE, "maneuverStraight", r.eta_s, r.distance_m)
        requests.append(
            vir.DriveRequest(
                r.req_id, r.status, ask, BUS_PRIORITY_LEVEL, target_rsu=rsu_octets(inter.rsu_id), life_time_s=r.life_time_s
            )
        )
    behavior = ("goStraightForward",)
    for p in traffic.valet.of_vehicle(i, k):
        wants = ("enter", "park") if p.purpose == "park" else ("exit",)
        ask_slot = vir.ParkingArea(int(traffic.vehicle_class[i]), wants, ("ordinary",), p.slot_id)
        rsu = rsu_octets(intersections[traffic.valet.index].rsu_id)
        requests.append(vir.DriveRequest(p.req_id, p.status, ask_slot, PARKING_LEVEL, target_rsu=rsu, life_time_s=p.life_time_s))
        behavior = ("parking",) if p.purpose == "park" else behavior
    return vir.vir(
        msg_cnt=msg_cnt,
        vehicle_id=traffic.ids[i],
        sec_mark=sec_mark,
        lat_deg=st.lat_deg,
        lon_deg=st.lon_deg,
        speed_mps=st.speed_mps,
        heading_deg=st.heading_deg,
        requests=requests[:8],
        behavior=behavior,
    )


def vir_stream(traffic: Traffic, i: int, sender_index: int) -> Stream:
    """The VIR stream of vehicle ``i``, the ``sender_index``-th VIR sender of the scenario (what
    its faults count): message k at the vehicle's BSM times, describing tick k."""
    cnt0 = int(traffic.priority.vir_cnt0[i])
    scenario_faults = traffic.scenario.faults

    def build(k: int, now: int) -> Payload:
        content = vir_content(traffic, i, k, (cnt0 + k) % 128, clock.dsecond(now))
        return Payload(faults.encoded(scenario_faults, MessageType.VIR, sender_index, k, content))

    return Stream(MessageType.VIR, TICK_S, float(traffic.phase_offset_s[i]), build)
