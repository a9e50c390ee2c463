"""The RSUs of a scenario: one per intersection, MAP at 1 Hz and SPAT at 10 Hz.

Rates: SPAT 10 Hz serves RLVW (100 ms, T/CSAE 53 table via compliance.md 7); MAP 1 Hz is
deployment practice.  Streams start at a seeded offset inside their period so that RSUs do not
all transmit at the same instant.
"""

from __future__ import annotations

import random

from v2x import clock, messages, roads
from v2x.messages import MessageType
from v2x.rundir import RunDir
from v2x.scenario import Scenario
from v2x.security import BACKENDS, Signer, load_credential
from v2x.uplink import Device, Stream, Uplink

from roadside.map_message import map_data
from roadside.spat_message import spat

MAP_PERIOD_S = 1.0
SPAT_PERIOD_S = 0.1


def rsu_streams(scenario: Scenario, index: int, rng: random.Random) -> list[Stream]:
    """MAP and SPAT streams of the RSU at intersection ``index``; msgCnt starts at random."""
    corr = roads.corridor(scenario)
    inter = scenario.intersections[index]
    map_cnt0, spat_cnt0 = rng.randrange(128), rng.randrange(128)
    map_offset, spat_offset = rng.uniform(0, MAP_PERIOD_S), rng.uniform(0, SPAT_PERIOD_S)

    def build_map(k: int) -> bytes:
        now = clock.now_unix_us()
        return messages.encode(MessageType.MAP, map_data(scenario, corr, index, (map_cnt0 + k) % 128, clock.minute_of_the_year(now)))

    def build_spat(k: int) -> bytes:
        now = clock.now_unix_us()
        t_s = spat_offset + k * SPAT_PERIOD_S
        content = spat(inter, t_s, (spat_cnt0 + k) % 128, clock.minute_of_the_year(now), clock.dsecond(now))
        return messages.encode(MessageType.SPAT, content)

    return [
        Stream(MessageType.MAP, MAP_PERIOD_S, map_offset, build_map),
        Stream(MessageType.SPAT, SPAT_PERIOD_S, spat_offset, build_spat),
    ]


def build_rsus(scenario: Scenario, run: RunDir) -> list[Device]:
    """One uplink per RSU, signing with the RSU's application certificate from the run PKI."""
    rng = random.Random(f"{scenario.seed}/roadside")
    backend = BACKENDS[scenario.security.suite]
    devices: list[Device] = []
    for index, inter in enumerate(scenario.intersections):
        signer = Signer(load_credential(run.pki, inter.rsu_id, backend))
        uplink = Uplink("RSU", inter.rsu_id, signer, scenario.zone.topic_prefix, scenario.broker.qos)
        devices.append((uplink, rsu_streams(scenario, index, rng)))
    return devices
