"""A car park RSU's PAM and RTCM streams (T/CSAE 157-2020; GSPA and DDS).

PAM at 2 Hz (GSPA's rate): the lot's nodes, drives and slots (:mod:`vehicles.car_park`), each
slot's status as the RSU knows it at that moment, and a ParkingGuide (node path, target slot) for
every valet car whose request it has answered (:mod:`vehicles.valet_parking`).  RTCMcorrections at
1 Hz (DDS's rate): the reference station's 1005 and MSM4 frames (:mod:`roadside.reference_station`),
for the positions to 0.5 m GSPA needs."""

from __future__ import annotations

import numpy as np

from v2x import clock
from v2x.dayii import pam, rtcm
from v2x.device import faults
from v2x.device.uplink import Payload, Stream
from v2x.messages import MessageType
from v2x.scenario.model import Scenario

from roadside.reference_station import ReferenceStation
from vehicles.traffic import TICK_S, Traffic

PAM_PERIOD_S = 0.5  # GSPA: at least 2 Hz
RTCM_PERIOD_S = 1.0  # DDS: at least 1 Hz
STATION_HEIGHT_M = 5.0  # policy: the antenna on the RSU's pole


def pam_content(traffic: Traffic, t_s: float, msg_cnt: int, moy: int) -> dict:
    """The PAM of the car park at run time ``t_s``."""
    traffic.advance_to(round(t_s / TICK_S))
    valet = traffic.valet
    assert valet.layout is not None
    guidance = [
        pam.ParkingGuide(traffic.ids[r.vehicle], r.path_nodes, r.slot_id if r.purpose == "park" else None)
        for r in valet.answers(t_s)
        if r.slot_id is not None
    ]
    return pam.pam(msg_cnt=msg_cnt, lot=valet.layout.lot, moy=moy, status=valet.statuses(t_s), guidance=guidance)


def car_park_streams(scenario: Scenario, traffic: Traffic, index: int, rng: np.random.Generator) -> list[Stream]:
    """PAM and RTCM of the RSU at intersection ``index``, which has the car park; msgCnt starts at random."""
    pam_cnt0, rtcm_cnt0 = (int(c) for c in rng.integers(0, 128, 2))
    pam_offset, rtcm_offset = float(rng.uniform(0, PAM_PERIOD_S)), float(rng.uniform(0, RTCM_PERIOD_S))
    inter = scenario.intersections[index]
    station = ReferenceStation(inter.id, inter.lat, inter.lon, STATION_HEIGHT_M, rng)

    def encoded(msg_type: MessageType, k: int, content: dict) -> Payload:
        # the only PAM and RTCM sender of a scenario (one car park): device 0 for the faults
        return Payload(faults.encoded(scenario.faults, msg_type, 0, k, content, checked=False))

    def build_pam(k: int, now: int) -> Payload:
        content = pam_content(traffic, pam_offset + k * PAM_PERIOD_S, (pam_cnt0 + k) % 128, clock.minute_of_the_year(now))
        return encoded(MessageType.PAM, k, content)

    def build_rtcm(k: int, now: int) -> Payload:
        corrections = station.corrections(now // 1000, rtcm_offset + k * RTCM_PERIOD_S)
        return encoded(MessageType.RTCM, k, rtcm.rtcm(msg_cnt=(rtcm_cnt0 + k) % 128, corrections=corrections))

    return [
        Stream(MessageType.PAM, PAM_PERIOD_S, pam_offset, build_pam),
        Stream(MessageType.RTCM, RTCM_PERIOD_S, rtcm_offset, build_rtcm),
    ]
