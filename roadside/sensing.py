"""The roadside sensors of one RSU and the RSM they feed (YD/T 3709 RSM, T/CSAE 159-2020).

The world is the scenario's: connected vehicles come from the same seeded traffic model the
vehicle simulator runs (so an RSM entry with source ``v2x`` carries the vehicle's BSM id);
pedestrians walk to and fro across the four crosswalks at 1.3 m/s, cyclists ride along the
corridor's kerb at 4 m/s, unconnected vehicles cross on the cross street at 8 m/s.  Every
participant within ``range_m`` of the RSU is reported, nearest first, up to 15; the RSU's own
entry (ptcType rsu, ptcId 0, source selfinfo) comes first.  Detected participants keep their
ptcId (1..255, unique within the RSU) while they stay in view.  Sensor-detected positions get
Gaussian noise of ``position_noise_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from v2x import messages
from v2x.dayii import ssm
from v2x.device.identity import rsu_octets
from v2x.messages import VEHICLE_CLASSES
from v2x.scenario import roads
from v2x.scenario.model import Scenario
from v2x.scenario.roads import EARTH_RADIUS_M, LANE_WIDTH_M, STOP_LINE_SETBACK_M, Corridor

from vehicles import road_workers
from vehicles.traffic import TICK_S, Traffic

MAX_DETECTED = 15
WALK_MPS, CYCLE_MPS, CROSS_TRAFFIC_MPS = 1.3, 4.0, 8.0
CROSS_TRAFFIC_SPAN_M = 300.0


@dataclass(frozen=True)
class Participant:
    key: str  # stable identity of the object, for ptcId assignment
    ptc_type: str  # ParticipantType
    source: str  # SourceType
    x: float  # local metres (corridor frame)
    y: float
    speed_mps: float
    heading_deg: float
    width_m: float
    length_m: float
    vehicle_id: bytes | None = None
    vehicle_class: int | None = None


def _heading(dx: float, dy: float) -> float:
    return float(np.degrees(np.arctan2(dx, dy)) % 360.0)


def _shuttle(t_s: float, span_m: float, speed: float, phase: float) -> tuple[float, float]:
    """Position in [0, span] and direction (+1/-1) of something going to and fro."""
    d = (phase * 2 * span_m + speed * t_s) % (2 * span_m)
    return (d, 1.0) if d <= span_m else (2 * span_m - d, -1.0)


class RoadsideSensing:
    """Everything the sensors of the RSU at intersection ``index`` see, tick by tick."""

    def __init__(self, scenario: Scenario, index: int, traffic: Traffic, rng: np.random.Generator):
        self.scenario = scenario
        self.index = index
        self.inter = scenario.intersections[index]
        self.corr: Corridor = traffic.corridor
        self.traffic = traffic
        self.rng = rng
        self.centre, self.along, self.normal = roads.intersection_axes(self.corr, index)
        s = self.inter.sensors
        self.ped_phase = rng.uniform(0, 1, s.pedestrians)
        self.ped_crossing = rng.integers(0, 4, s.pedestrians)
        self.bike_phase = rng.uniform(0, 1, s.cyclists)
        self.car_phase = rng.uniform(0, 1, s.unconnected_vehicles)
        self._ptc_ids: dict[str, int] = {}
        self._next_id = 1
        self._workers = [w for w in road_workers.road_workers(scenario) if w.intersection == index]

    def _world(self, t_s: float) -> list[Participant]:
        s = self.inter.sensors
        half_road = LANE_WIDTH_M * self.inter.lanes_per_direction
        out: list[Participant] = []
        for k in range(s.pedestrians):
            crossing = int(self.ped_crossing[k])
            axis, across = (self.along, self.normal) if crossing < 2 else (self.normal, self.along)
            side = 1.0 if crossing % 2 == 0 else -1.0
            d, sign = _shuttle(t_s, 2 * half_road, WALK_MPS, self.ped_phase[k])
            xy = self.centre + axis * side * (STOP_LINE_SETBACK_M - 4.0) + across * (d - half_road)
            v = across * sign
            out.append(Participant(f"ped{k}", "pedestrian", "video", *xy, WALK_MPS, _heading(*v), 0.5, 0.5))
        for k in range(s.cyclists):
            d, sign = _shuttle(t_s, 2 * s.range_m, CYCLE_MPS, self.bike_phase[k])
            xy = self.centre + self.along * (d - s.range_m) - self.normal * (half_road + 1.0)
            out.append(Participant(f"bike{k}", "non-motor", "lidar", *xy, CYCLE_MPS, _heading(*(self.along * sign)), 0.6, 1.8))
        for k in range(s.unconnected_vehicles):
            d, sign = _shuttle(t_s, CROSS_TRAFFIC_SPAN_M, CROSS_TRAFFIC_MPS, self.car_phase[k])
            lane = (LANE_WIDTH_M / 2) * (1 if sign > 0 else -1)
            xy = self.centre + self.normal * (d - CROSS_TRAFFIC_SPAN_M / 2) + self.along * lane
            out.append(
                Participant(
                    f"car{k}",
                    "motor",
                    "microwaveRadar",
                    *xy,
                    CROSS_TRAFFIC_MPS,
                    _heading(*(self.normal * sign)),
                    1.8,
                    4.6,
                    vehicle_class=VEHICLE_CLASSES[self.scenario.vehicle_classes]["car"],
                )
            )
        for w in self._workers:
            x, y, heading, speed = road_workers.position(self.scenario, self.corr, w, t_s)
            out.append(Participant(f"worker{w.k}", "pedestrian", "video", x, y, speed, heading, 0.6, 0.6))
        snap = self.traffic.snapshot(round(t_s / TICK_S))
        for i in self._vehicles_near(snap.lat, snap.lon).tolist():
            x, y = self.corr.frame.to_local(float(snap.lat[i]), float(snap.lon[i]))
            out.append(
                Participant(
                    f"obu{i}",
                    "motor",
                    "v2x",
                    x,
                    y,
                    float(snap.speed[i]),
                    float(snap.heading[i]),
                    float(self.traffic.width[i]),
                    float(self.traffic.length[i]),
                    snap.ids[i],
                    int(self.traffic.vehicle_class[i]),
                )
            )
        return out

    def _vehicles_near(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Indices of the vehicles that may be in sensor range (a cheap vectorised test with a
        metre of margin; :meth:`detect` applies the exact range)."""
        frame = self.corr.frame
        x = np.radians(lon - frame.lon0) * EARTH_RADIUS_M * math.cos(math.radians(frame.lat0))
        y = np.radians(lat - frame.lat0) * EARTH_RADIUS_M
        return np.flatnonzero(np.hypot(x - self.centre[0], y - self.centre[1]) <= self.inter.sensors.range_m + 1.0)

    def _ptc_id(self, key: str, in_use: set[int]) -> int:
        """A ptcId in 1..255 kept while the object stays in view (T/CSAE 159)."""
        pid = self._ptc_ids.get(key)
        if pid is None or pid in in_use:
            while self._next_id in in_use or self._next_id in self._ptc_ids.values():
                self._next_id = self._next_id % 255 + 1
            pid = self._ptc_ids[key] = self._next_id
            self._next_id = self._next_id % 255 + 1
        return pid

    def detect(self, t_s: float) -> list[tuple[int, Participant]]:
        """(ptcId, participant) of what is in range at ``t_s``, nearest first."""
        rng_m = self.inter.sensors.range_m
        seen = [(float(np.hypot(p.x - self.centre[0], p.y - self.centre[1])), p) for p in self._world(t_s)]
        seen = sorted(((d, p) for d, p in seen if d <= rng_m), key=lambda dp: dp[0])[:MAX_DETECTED]
        keys = {p.key for _, p in seen}
        for key in [k for k in self._ptc_ids if k not in keys]:
            del self._ptc_ids[key]  # out of view: its ptcId may be reused later
        in_use: set[int] = set()
        out = []
        for _, p in seen:
            pid = self._ptc_id(p.key, in_use)
            in_use.add(pid)
            out.append((pid, p))
        return out

    def rsm(self, t_s: float, msg_cnt: int, dsecond: int) -> dict[str, Any]:
        """The RSM at ``t_s`` seconds since the run start."""
        inter = self.inter
        noise = inter.sensors.position_noise_m

        def entry(pid: int, p: Participant | None) -> dict[str, Any]:
            if p is None:  # the RSU itself
                return {
                    "ptcType": "rsu",
                    "ptcId": 0,
                    "source": "selfinfo",
                    "secMark": dsecond,
                    "pos": {"offsetLL": messages.offset_ll(0.0, 0.0)},
                    "posConfidence": {"pos": "a1m"},
                    "speed": 0,
                    "heading": 0,
                    "size": {"width": 50, "length": 50},
                }
            x, y = p.x, p.y
            if p.source != "v2x" and noise > 0:
                x, y = x + self.rng.normal(0, noise), y + self.rng.normal(0, noise)
            lat, lon = self.corr.frame.to_latlon(x, y)
            e: dict[str, Any] = {
                "ptcType": p.ptc_type,
                "ptcId": pid,
                "source": p.source,
                "secMark": dsecond,
                "pos": {"offsetLL": messages.offset_ll(float(lat) - inter.lat, float(lon) - inter.lon)},
                "posConfidence": {"pos": "a1m" if p.source == "v2x" else "a2m"},
                "speed": messages.speed_units(p.speed_mps),
                "heading": messages.heading_units(p.heading_deg),
                "size": {"width": round(p.width_m * 100), "length": round(p.length_m * 100)},
            }
            if p.vehicle_id is not None:
                e["id"] = p.vehicle_id
            if p.vehicle_class is not None:
                e["vehicleClass"] = {"classification": p.vehicle_class}
            return e

        seen = self.detect(t_s - inter.sensors.latency_ms / 1000)
        self_entry = entry(0, None)
        dsecond = (dsecond - inter.sensors.latency_ms) % 60000
        participants = [self_entry] + [entry(pid, p) for pid, p in seen]
        return {
            "msgCnt": msg_cnt,
            "id": rsu_octets(inter.rsu_id),
            "refPos": messages.position3d(inter.lat, inter.lon),
            "participants": participants,
        }

    def ssm(self, t_s: float, msg_cnt: int, dsecond: int) -> dict[str, Any]:
        """The SSM at ``t_s``: what the RSM would report (the RSU's own entry left out: the SSM's
        sensorPos says where the RSU is), each object with a DetectedPTCType, and the square of
        ``range_m`` around the RSU as the region watched (T/CSAE 157-2020 SensorSharing)."""
        inter = self.inter
        reported = self.rsm(t_s, msg_cnt, dsecond)
        dlat = inter.sensors.range_m / METRES_PER_DEGREE
        dlon = dlat / math.cos(math.radians(inter.lat))
        region = [
            (inter.lat - dlat, inter.lon - dlon),
            (inter.lat - dlat, inter.lon + dlon),
            (inter.lat + dlat, inter.lon + dlon),
            (inter.lat + dlat, inter.lon - dlon),
        ]
        return ssm.ssm(
            msg_cnt=msg_cnt,
            sender_id=reported["id"],
            sec_mark=(dsecond - inter.sensors.latency_ms) % 60000,
            lat_deg=inter.lat,
            lon_deg=inter.lon,
            region=region,
            participants=[ssm.Detected(p, detected_type(p)) for p in reported["participants"][1:]],
        )


METRES_PER_DEGREE = 111_320.0


def detected_type(participant: dict[str, Any]) -> str:
    """The DetectedPTCType of an RSM participant: its ParticipantType, and for a motor vehicle
    its BasicVehicleClass (public bus: T/CSAE 53 54, GB/T 45315 70-78; trucks and special-purpose
    vehicles: 26, 30-46; light trucks and vans 20-29; otherwise a car)."""
    kind = participant["ptcType"]
    if kind == "pedestrian":
        return "pedestrian"
    if kind == "non-motor":
        return "cyclist"
    vehicle_class = participant.get("vehicleClass", {}).get("classification")
    if vehicle_class is None:
        return "unknown-movable"
    if vehicle_class == 54 or 70 <= vehicle_class <= 78:
        return "bus"
    if vehicle_class == 26 or 30 <= vehicle_class <= 46:
        return "truck"
    if 20 <= vehicle_class <= 29:
        return "van"
    return "car"
