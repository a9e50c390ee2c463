"""The vehicles of a scenario: one OBU each, BSM every 100 ms (GB/T 45315 7.3.1).

msgCnt starts at a random value and increments by one modulo 128 per BSM (GB/T 45315 7.3.2.1);
the temporary id is random and constant for the run (one certificate per vehicle for now).
"""

from __future__ import annotations

import numpy as np

from v2x import clock, faults, messages
from v2x.messages import MessageType, PathPoint
from v2x.rundir import RunDir
from v2x.scenario import Scenario, obu_id
from v2x.attacks import AttackPlan
from v2x.security import Signer, load_credential
from v2x.uplink import Device, Stream, Uplink

from vehicles.traffic import TICK_S, Traffic


def bsm_stream(traffic: Traffic, i: int) -> Stream:
    """The BSM stream of vehicle ``i``: message k describes the fleet at tick k."""

    def build(k: int) -> bytes:
        traffic.advance_to(k)
        st = traffic.state(i)
        now = clock.now_unix_us()
        crumbs = [PathPoint(dlat, dlon, age, spd) for dlat, dlon, age, spd in traffic.path_history(i, st.lat_deg, st.lon_deg)]
        content = messages.bsm(
            msg_cnt=int(traffic.msg_cnt0[i] + k) % 128,
            vehicle_id=traffic.ids[i],
            sec_mark=clock.dsecond(now),
            lat_deg=st.lat_deg,
            lon_deg=st.lon_deg,
            speed_mps=st.speed_mps,
            heading_deg=st.heading_deg,
            width_m=float(traffic.width[i]),
            length_m=float(traffic.length[i]),
            vehicle_class=int(traffic.vehicle_class[i]),
            accel_long_mps2=st.accel_mps2,
            yaw_rate_dps=st.yaw_rate_dps,
            brake_pedal_on=st.braking,
            path_history=crumbs[:5],
        )
        return messages.encode(MessageType.BSM, faults.inject(traffic.scenario.faults, MessageType.BSM, i, k, content))

    return Stream(MessageType.BSM, TICK_S, float(traffic.phase_offset_s[i]), build)


def build_vehicles(scenario: Scenario, run: RunDir) -> list[Device]:
    """One uplink per vehicle, signing with its certificate from the run PKI."""
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    devices: list[Device] = []
    for i in range(len(traffic)):
        signer = Signer(load_credential(run.pki, obu_id(i)))
        uplink = Uplink("OBU", obu_id(i), signer, scenario.zone.topic_prefix, scenario.broker.qos,
                        attack=AttackPlan.for_device(scenario.attacks, "vehicle", i, run.pki, run.root))
        devices.append((uplink, [bsm_stream(traffic, i)]))
    return devices
