"""Signed frames for the benchmarks, produced by the project's own simulators.

A batch of ``n`` frames is built from a smaller set of distinct signed frames repeated, since
signing 100,000 frames would take longer than decoding them; decoding cost does not depend on
the frames being distinct.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from v2x import clock
from v2x.messages import MessageType
from v2x.scenario import load_scenario, obu_id
from v2x.security import DeviceRequest, Signer, create_pki, load_credential

from vehicles.simulator import bsm_stream
from vehicles.traffic import Traffic

BSM_PER_VEHICLE = 50


def bench_pki(directory: Path, vehicles: int) -> Path:
    create_pki(directory, [DeviceRequest(obu_id(i), [111, 112]) for i in range(vehicles)], valid_from_unix_s=time.time())
    return directory


def signed_bsms(pki: Path, vehicles: int = 20) -> list[bytes]:
    """Typical BSMs of the demo scenario (path history, brakes, accuracies), signed at 10 Hz.

    Certificate and digest signers alternate as on the air (full certificate every 450 ms).
    """
    scenario = load_scenario("demo")
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    t0 = clock.time64_from_unix_us(clock.now_unix_us())
    count = min(vehicles, len(traffic))
    signers = [Signer(load_credential(pki, obu_id(i))) for i in range(count)]
    streams = [bsm_stream(traffic, i) for i in range(count)]
    frames = []
    for k in range(BSM_PER_VEHICLE):  # the fleet advances tick by tick
        for signer, stream in zip(signers, streams):
            frames.append(signer.sign(stream.build(k + 30), MessageType.BSM.aid, t0 + k * 100_000))
    return frames


def repeat_to(frames: list[bytes], n: int) -> list[bytes]:
    return [frames[k % len(frames)] for k in range(n)]

