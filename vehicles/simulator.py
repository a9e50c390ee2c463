"""The vehicles of a scenario: one OBU each, BSM every 100 ms (GB/T 45315 7.3.1); a bus on a
route whose signals offer priority, and a valet car, also send VIR every 100 ms (:mod:`vehicles.priority_requests`),
and each road worker's device PSM every 100 ms (:mod:`vehicles.road_workers`).

msgCnt starts at a random value and increments by one modulo 128 per BSM (GB/T 45315 7.3.2.1).
Each OBU signs with one of its pseudonym certificates and changes it, with a new temporary id
and msgCnt, when the traffic model says (GB/T 45315 7.4.5, :mod:`vehicles.traffic`).  A BSM
with an event flag set goes out with AID 112 (event BSM) and the full certificate.  An emergency vehicle on a call (``ambulance``) sends AID 113 (114
with an event flag) and VehicleEmergencyExtensions, signed with its identification certificate.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from v2x import clock, messages
from v2x.device import faults
from v2x.device.attacks import AttackPlan
from v2x.device.uplink import Device, Payload, Stream, Uplink
from v2x.messages import BSM_EMERGENCY_AID, BSM_EMERGENCY_EVENT_AID, BSM_EVENT_AID, MessageType, PathPoint
from v2x.rundir import RunDir
from v2x.scenario.model import Scenario, obu_id
from v2x.scenario.network import device_link
from v2x.security import Credential, Signer, load_credentials

from vehicles import bsm_encoder
from vehicles.fleet_bsm import PATH_POINTS, FleetBsms
from vehicles.priority_requests import vir_stream
from vehicles.road_workers import psm_stream, road_workers
from vehicles.traffic import TICK_S, Traffic


def bsm_content(traffic: Traffic, i: int, msg_cnt: int, sec_mark: int) -> dict[str, Any]:
    """The BSM of vehicle ``i`` at the model's current tick (asn1tools value)."""
    st = traffic.state(i)
    crumbs = [PathPoint(dlat, dlon, age, spd) for dlat, dlon, age, spd in traffic.path_history(i, st.lat_deg, st.lon_deg)]
    return messages.bsm(
        msg_cnt=msg_cnt,
        vehicle_id=traffic.ids[i],
        sec_mark=sec_mark,
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
        path_history=crumbs[:PATH_POINTS],
        events=int(traffic.events[i]),
        emergency=bool(traffic.emergency[i]),
    )


def bsm_aid(event: bool, emergency: bool) -> int | None:
    """Header AID of a BSM: 112 with an event flag set, 113/114 for an emergency vehicle on a
    call (GB/T 45315 table 7); None: the regular BSM AID 111."""
    if emergency:
        return BSM_EMERGENCY_EVENT_AID if event else BSM_EMERGENCY_AID
    return BSM_EVENT_AID if event else None


def bsm_stream(fleet: FleetBsms, i: int, signer: Signer | None = None, pseudonyms: list[Credential] = ()) -> Stream:
    """The BSM stream of vehicle ``i``: message k describes the fleet at tick k.  With
    ``signer`` and the vehicle's ``pseudonyms``, the signer follows the vehicle's pseudonym.
    The frame comes from the fleet's batch encoder; a message carrying a deliberate field fault
    is built and encoded by asn1tools instead."""
    in_use = [-1]
    traffic = fleet.traffic
    scenario_faults = traffic.scenario.faults

    def build(k: int, now: int) -> Payload:
        sec_mark = clock.dsecond(now)
        if scenario_faults and faults.due(scenario_faults, MessageType.BSM, i, k):
            traffic.advance_to(k)
            content = bsm_content(traffic, i, int(traffic.msg_cnt0[i] + k) % 128, sec_mark)
            frame = messages.encode(MessageType.BSM, faults.inject(scenario_faults, MessageType.BSM, i, k, content))
            event, emergency = bool(traffic.events[i]), bool(traffic.emergency[i])
        else:
            # the frame's own flags: the model may be a tick further on when a late message is built
            frame, event, emergency = fleet.bsm(i, k, sec_mark)
        if signer is not None and pseudonyms and traffic.pseudonym[i] != in_use[0]:
            in_use[0] = int(traffic.pseudonym[i])
            signer.use(pseudonyms[in_use[0] % len(pseudonyms)])
        return Payload(frame, bsm_aid(event, emergency), event)

    return Stream(MessageType.BSM, TICK_S, float(traffic.phase_offset_s[i]), build, batch=fleet, batch_key=i)


def build_vehicles(scenario: Scenario, run: RunDir) -> list[Device]:
    """One uplink per vehicle, signing with its certificate from the run PKI."""
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    fleet = FleetBsms(traffic)
    bsm_encoder.warm_up()
    devices: list[Device] = []
    vir_senders = {i: n for n, i in enumerate(traffic.vir_senders())}
    for i in range(len(traffic)):
        pseudonyms = load_credentials(run.pki, obu_id(i))
        if len(pseudonyms) < scenario.security.pseudonyms.certificates:
            print(
                f"warning: {obu_id(i)} has {len(pseudonyms)} pseudonym certificates in the PKI, the scenario asks for "
                f"{scenario.security.pseudonyms.certificates}; it cycles through those it has",
                file=sys.stderr,
            )
        signer = Signer(pseudonyms[int(traffic.pseudonym[i]) % len(pseudonyms)])
        uplink = Uplink(
            "OBU",
            obu_id(i),
            signer,
            scenario.zone.topic_prefix,
            attack=AttackPlan.for_device(scenario.attacks, "vehicle", i, run.pki, run.root),
            network=device_link(scenario.network, traffic.kinds[i], scenario.seed, obu_id(i)),
        )
        streams = [bsm_stream(fleet, i, signer, pseudonyms)]
        if i in vir_senders:
            streams.append(vir_stream(traffic, i, vir_senders[i]))
        devices.append((uplink, streams))
    rng = np.random.default_rng([scenario.seed, 159])
    for worker in road_workers(scenario):
        person = Uplink(
            "OBU",
            worker.device_id,
            Signer(load_credentials(run.pki, worker.device_id)[0]),
            scenario.zone.topic_prefix,
            network=device_link(scenario.network, "road_workers", scenario.seed, worker.device_id),
        )
        devices.append((person, [psm_stream(scenario, traffic.corridor, worker, rng)]))
    return devices
