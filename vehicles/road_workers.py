"""Road workers on foot, each with a device of their own broadcasting PSM at 10 Hz with the
road-worker extension (T/CSAE 157-2020 PSM; the VRUSP application, 10 Hz, 100 ms).

They work in the corridor's kerb lane ``distance_m`` before their intersection, pacing ``span_m``
to and fro at walking pace.  Where they are is a function of the scenario and the run time only,
so that the RSU's sensors (:mod:`roadside.sensing`) see them where their own PSM says they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from v2x import clock, messages
from v2x.dayii import psm
from v2x.device.uplink import Payload, Stream
from v2x.messages import MessageType
from v2x.scenario import roads
from v2x.scenario.model import Scenario, worker_id
from v2x.scenario.roads import LANE_WIDTH_M, Corridor

WORKER_MPS = 0.5  # policy: pacing at work
PSM_PERIOD_S = 0.1  # VRUSP: 10 Hz


@dataclass(frozen=True)
class RoadWorker:
    device_id: str
    intersection: int  # index
    k: int  # the worker's number there


def road_workers(scenario: Scenario) -> list[RoadWorker]:
    return [
        RoadWorker(worker_id(inter.id, k), index, k)
        for index, inter in enumerate(scenario.intersections)
        if inter.road_workers
        for k in range(inter.road_workers.count)
    ]


def position(scenario: Scenario, corr: Corridor, w: RoadWorker, t_s: float) -> tuple[float, float, float, float]:
    """(x, y) in the corridor frame, heading (degrees) and speed of worker ``w`` at run time ``t_s``."""
    inter = scenario.intersections[w.intersection]
    crew = inter.road_workers
    assert crew is not None
    centre, along, normal = roads.intersection_axes(corr, w.intersection)
    half_road = LANE_WIDTH_M * inter.lanes_per_direction
    span = max(crew.span_m, 1e-6)
    d = ((w.k / crew.count) * 2 * span + WORKER_MPS * t_s) % (2 * span)
    forward = d <= span
    along_m = d if forward else 2 * span - d
    xy = centre - along * (crew.distance_m - along_m) - normal * (half_road - LANE_WIDTH_M / 2 + 0.4 * (w.k % 3))
    direction = along if forward else -along
    heading = float(np.degrees(np.arctan2(direction[0], direction[1])) % 360.0)
    return float(xy[0]), float(xy[1]), heading, WORKER_MPS if crew.span_m > 0 else 0.0


def psm_stream(scenario: Scenario, corr: Corridor, w: RoadWorker, rng: np.random.Generator) -> Stream:
    """The PSM stream of worker ``w``: a random temporary id and first msgCnt, an offset within the period."""
    crew = scenario.intersections[w.intersection].road_workers
    assert crew is not None
    person_id = bytes(rng.integers(0, 256, 8, dtype=np.uint8))
    cnt0 = int(rng.integers(0, 128))
    offset = float(rng.uniform(0.0, PSM_PERIOD_S))

    def build(k: int, now: int) -> Payload:
        x, y, heading, speed = position(scenario, corr, w, offset + k * PSM_PERIOD_S)
        lat, lon = corr.frame.to_latlon(x, y)
        content = psm.psm(
            msg_cnt=(cnt0 + k) % 128,
            person_id=person_id,
            sec_mark=clock.dsecond(now),
            lat_deg=float(lat),
            lon_deg=float(lon),
            speed_mps=speed,
            heading_deg=heading,
            kind="aROADWORKER",
            worker_type=crew.worker_type,
            activities=tuple(crew.activities),
        )
        return Payload(messages.encode(MessageType.PSM, content))

    return Stream(MessageType.PSM, PSM_PERIOD_S, offset, build)
