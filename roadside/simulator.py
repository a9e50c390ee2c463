"""The RSUs of a scenario: one per intersection, MAP 1 Hz, SPAT 10 Hz, RSM 10 Hz, RSI 1 or 10 Hz;
RSC where the intersection offers buses signal priority or guides valet parking (20 Hz) or manages
lanes (2 Hz) (:mod:`roadside.coordination`); SSM 10 Hz, beside or instead of RSM, where its sensors
share in it; PAM 2 Hz and RTCM 1 Hz where it has a car park (:mod:`roadside.car_park`).

Rates (compliance.md 7 and 8): SPAT 10 Hz serves RLVW and RSM 10 Hz VRUCW (100 ms, T/CSAE 53);
RSI goes out at 10 Hz when it carries a hazard event (HLW) and 1 Hz otherwise (SLW/IVS); MAP
1 Hz is deployment practice.  An RSU without traffic events or signs sends no RSI.  Streams
start at a seeded offset inside their period so that RSUs do not all transmit at the same
instant.
"""

from __future__ import annotations

import random

import numpy as np

from v2x import clock, editions, messages
from v2x.device import faults
from v2x.device.attacks import AttackPlan
from v2x.device.platform import PlatformRelay
from v2x.device.uplink import Device, Stream, Uplink
from v2x.messages import MessageType
from v2x.rundir import RunDir
from v2x.scenario.model import Scenario
from v2x.scenario.network import device_link
from v2x.security import Signer, load_credential

from roadside.car_park import car_park_streams
from roadside.coordination import rsc_stream
from roadside.map_message import map_data
from roadside.rsi_message import rsi
from roadside.sensing import RoadsideSensing
from roadside.spat_message import spat
from vehicles.traffic import TICK_S, Traffic

MAP_PERIOD_S = 1.0
SPAT_PERIOD_S = 0.1
RSM_PERIOD_S = 0.1
RSI_PERIOD_S = 1.0
RSI_HAZARD_PERIOD_S = 0.1


def rsu_streams(scenario: Scenario, index: int, rng: random.Random, traffic: Traffic) -> list[Stream]:
    """MAP, SPAT, RSM and RSI streams of the RSU at intersection ``index``; msgCnt starts at
    random.  ``traffic``: the vehicles' world model and the corridor, shared by the RSUs of a process."""
    corr = traffic.corridor  # computed once per run, by the world model
    inter = scenario.intersections[index]
    map_cnt0, spat_cnt0, rsm_cnt0, rsi_cnt0 = (rng.randrange(128) for _ in range(4))
    map_offset, spat_offset, rsm_offset = (
        rng.uniform(0, MAP_PERIOD_S),
        rng.uniform(0, SPAT_PERIOD_S),
        rng.uniform(0, RSM_PERIOD_S),
    )
    rsi_period = RSI_HAZARD_PERIOD_S if any(item.hazard for item in inter.traffic_info) else RSI_PERIOD_S
    rsi_offset = rng.uniform(0, rsi_period)
    sensing = RoadsideSensing(scenario, index, traffic, np.random.default_rng([scenario.seed, index]))
    start_moy = clock.minute_of_the_year(clock.now_unix_us())
    end_moy = min(527039, start_moy + int(scenario.duration_s // 60) + 1)

    def encoded(msg_type: MessageType, k: int, content: dict) -> bytes:
        injected = faults.due(scenario.faults, msg_type, index, k)
        if injected:
            content = faults.inject(scenario.faults, msg_type, index, k, content)
        if inter.edition is not editions.CURRENT:  # an RSU of an older edition of the message set
            return editions.encode(msg_type, content, inter.edition)
        # builders held to the constraints by tests/test_asn1_conformance.py; injected faults are checked
        return messages.encode(msg_type, content, checked=injected)

    def build_map(k: int, now: int) -> bytes:
        moy = clock.minute_of_the_year(now)
        return encoded(MessageType.MAP, k, map_data(scenario, corr, index, (map_cnt0 + k) % 128, moy))

    def build_spat(k: int, now: int) -> bytes:
        t_s = spat_offset + k * SPAT_PERIOD_S
        traffic.advance_to(round(t_s / TICK_S))  # bus priority depends on where the buses are
        content = spat(
            inter,
            traffic.signal_time_s(index, t_s),
            (spat_cnt0 + k) % 128,
            clock.minute_of_the_year(now),
            clock.dsecond(now),
            traffic.priority_active(index, t_s),
        )
        return encoded(MessageType.SPAT, k, content)

    def build_rsm(k: int, now: int) -> bytes:
        dsecond = clock.dsecond(now)
        return encoded(MessageType.RSM, k, sensing.rsm(rsm_offset + k * RSM_PERIOD_S, (rsm_cnt0 + k) % 128, dsecond))

    ssm_offset = (rsm_offset + RSM_PERIOD_S / 2) % RSM_PERIOD_S  # beside RSM: half a period apart

    def build_ssm(k: int, now: int) -> bytes:
        dsecond = clock.dsecond(now)
        return encoded(MessageType.SSM, k, sensing.ssm(ssm_offset + k * RSM_PERIOD_S, (rsm_cnt0 + 64 + k) % 128, dsecond))

    def build_rsi(k: int, now: int) -> bytes:
        moy = clock.minute_of_the_year(now)
        return encoded(MessageType.RSI, k, rsi(scenario, corr, index, (rsi_cnt0 + k) % 128, moy, start_moy, end_moy))

    streams = [
        Stream(MessageType.MAP, MAP_PERIOD_S, map_offset, build_map),
        Stream(MessageType.SPAT, SPAT_PERIOD_S, spat_offset, build_spat),
    ]
    if inter.sensors.share in ("rsm", "both"):
        streams.append(Stream(MessageType.RSM, RSM_PERIOD_S, rsm_offset, build_rsm))
    if inter.sensors.share in ("ssm", "both"):
        streams.append(Stream(MessageType.SSM, RSM_PERIOD_S, ssm_offset, build_ssm))
    if inter.traffic_info:
        streams.append(Stream(MessageType.RSI, rsi_period, rsi_offset, build_rsi))
    if index in scenario.rsc_senders():
        streams.append(rsc_stream(scenario, traffic, index))
    if index == traffic.valet.index:
        streams += car_park_streams(scenario, traffic, index, np.random.default_rng([scenario.seed, index, 14]))
    return streams


def _relay(scenario: Scenario) -> PlatformRelay | None:
    """The scenario's platform, republishing every RSU message (v2x.device.platform)."""
    p = scenario.platform
    if p is None:
        return None
    return PlatformRelay(p.name, scenario.platform_topic_prefix(), p.latency_ms / 1000, tuple(p.defects))


def build_rsus(scenario: Scenario, run: RunDir) -> list[Device]:
    """One uplink per RSU, signing with the RSU's application certificate from the run PKI."""
    rng = random.Random(f"{scenario.seed}/roadside")
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))  # the vehicles' own world model, seen by every RSU
    devices: list[Device] = []
    for index, inter in enumerate(scenario.intersections):
        signer = Signer(load_credential(run.pki, inter.rsu_id))
        uplink = Uplink(
            "RSU",
            inter.rsu_id,
            signer,
            scenario.zone.topic_prefix,
            attack=AttackPlan.for_device(scenario.attacks, "rsu", index, run.pki, run.root),
            network=device_link(scenario.network, "rsus", scenario.seed, inter.rsu_id),
            framing=inter.uplink,
            relay=_relay(scenario),
        )
        devices.append((uplink, rsu_streams(scenario, index, rng, traffic)))
    return devices
