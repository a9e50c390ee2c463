"""Signed frames for the benchmarks, produced by the project's own simulators.

A batch of ``n`` frames is built from a smaller set of distinct signed frames repeated, since
signing 100,000 frames would take longer than decoding them; decoding cost does not depend on
the frames being distinct.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from v2x import clock, messages
from v2x.messages import RSU_AIDS, VEHICLE_AIDS, MessageType
from v2x.scenario.model import load_scenario, obu_id
from v2x.security import DEFAULT_SUITE, DeviceRequest, Signer, create_pki, load_credential

from roadside.sensing import RoadsideSensing
from roadside.spat_message import spat
from vehicles.fleet_bsm import FleetBsms
from vehicles.simulator import bsm_stream
from vehicles.traffic import Traffic

FRAMES_PER_DEVICE = 50
RSU = "RSU-BENCH"


def bench_pki(directory: Path, vehicles: int, suite: str = DEFAULT_SUITE) -> Path:
    devices = [DeviceRequest(obu_id(i), list(VEHICLE_AIDS)) for i in range(vehicles)] + [
        DeviceRequest(RSU, list(RSU_AIDS), kind="rsu")
    ]
    create_pki(directory, devices, suite=suite, valid_from_unix_s=time.time() - 60)
    return directory


def signed_bsms(
    pki: Path,
    vehicles: int = 20,
    per_vehicle: int = FRAMES_PER_DEVICE,
    start_unix_us: int | None = None,
    period_us: int = 100_000,
) -> list[bytes]:
    """Typical BSMs of the demo scenario (path history, brakes, accuracies), signed every
    ``period_us`` (10 Hz) per vehicle from ``start_unix_us`` (default: now), vehicle by vehicle
    within a tick.

    Certificate and digest signers alternate as on the air (full certificate every 450 ms).
    """
    scenario = load_scenario("demo")
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    t0 = clock.time64_from_unix_us(clock.now_unix_us() if start_unix_us is None else start_unix_us)
    count = min(vehicles, len(traffic))
    signers = [Signer(load_credential(pki, obu_id(i))) for i in range(count)]
    fleet = FleetBsms(traffic)
    streams = [bsm_stream(fleet, i) for i in range(count)]
    frames = []
    for k in range(per_vehicle):  # the fleet advances tick by tick
        for signer, stream in zip(signers, streams):
            frames.append(
                signer.sign(
                    stream.build(k + 30, clock.unix_us_from_time64(t0) + k * period_us).frame,
                    MessageType.BSM.aid,
                    t0 + k * period_us,
                )
            )
    return frames


def signed_rsu_frames(pki: Path, msg_type: MessageType, count: int = 200) -> list[bytes]:
    """SPAT or RSM of the demo scenario's first RSU at 10 Hz, signed."""
    scenario = load_scenario("demo")
    inter = scenario.intersections[0]
    signer = Signer(load_credential(pki, RSU))
    sensing = RoadsideSensing(scenario, 0, Traffic(scenario, np.random.default_rng(scenario.seed)), np.random.default_rng(1))
    t0 = clock.time64_from_unix_us(clock.now_unix_us())
    frames = []
    for k in range(count):
        t_s = 3.0 + 0.1 * k
        if msg_type is MessageType.SPAT:
            content = spat(inter, t_s, k % 128, 470000, (k * 100) % 60000)
        else:
            content = sensing.rsm(t_s, k % 128, (k * 100) % 60000)
        frames.append(signer.sign(messages.encode(msg_type, content), msg_type.aid, t0 + k * 100_000))
    return frames


def signed_psms(pki: Path, count: int = 200) -> list[bytes]:
    """The sanitation scenario's road workers' PSM (position, accuracy, the road-worker
    extension) at 10 Hz, signed: what the VRUSP application carries."""
    from vehicles.road_workers import psm_stream, road_workers

    scenario = load_scenario("sanitation")
    corridor = Traffic(scenario, np.random.default_rng(scenario.seed)).corridor
    streams = [psm_stream(scenario, corridor, w, np.random.default_rng(k)) for k, w in enumerate(road_workers(scenario))]
    signer = Signer(load_credential(pki, obu_id(0)))
    t0 = clock.time64_from_unix_us(clock.now_unix_us())
    frames = []
    for k in range(count // len(streams)):
        for stream in streams:
            built = stream.build(k, clock.unix_us_from_time64(t0) + k * 100_000)
            frames.append(signer.sign(built.frame, MessageType.PSM.aid, t0 + k * 100_000))
    return frames


def signed_ssms(pki: Path, count: int = 200) -> list[bytes]:
    """The sanitation scenario's RSU sharing what its sensors see in SSM (the region watched,
    up to 15 participants with their DetectedPTCType) at 10 Hz, signed: what SDS carries."""
    scenario = load_scenario("sanitation")
    sensing = RoadsideSensing(scenario, 0, Traffic(scenario, np.random.default_rng(scenario.seed)), np.random.default_rng(1))
    signer = Signer(load_credential(pki, RSU))
    t0 = clock.time64_from_unix_us(clock.now_unix_us())
    frames = []
    for k in range(count):
        content = sensing.ssm(3.0 + 0.1 * k, k % 128, (k * 100) % 60000)
        frames.append(signer.sign(messages.encode(MessageType.SSM, content), MessageType.SSM.aid, t0 + k * 100_000))
    return frames


def signed_virs(pki: Path, count: int = 200) -> list[bytes]:
    """The bus-route scenario's buses' VIR (where they are, their behaviour, an open
    signal-priority request) at 10 Hz, signed: what CHPVP carries."""
    from vehicles.priority_requests import vir_stream

    scenario = load_scenario("bus-route")
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    streams = [vir_stream(traffic, i, n) for n, i in enumerate(traffic.priority.senders())]
    signer = Signer(load_credential(pki, obu_id(0)))
    t0 = clock.time64_from_unix_us(clock.now_unix_us())
    frames = []
    for k in range(30, 30 + count // len(streams)):  # from 3 s on: the buses have asked
        for stream in streams:
            built = stream.build(k, clock.unix_us_from_time64(t0) + k * 100_000)
            frames.append(signer.sign(built.frame, MessageType.VIR.aid, t0 + k * 100_000))
    return frames


def repeat_to(frames: list[bytes], n: int) -> list[bytes]:
    return [frames[k % len(frames)] for k in range(n)]
