"""Road geometry and signal timing shared by the RSU and vehicle simulators.

The scenario's intersections, in order, form a corridor.  Each intersection has four arms: two
along the corridor and two on the cross street.  Positions use a local east/north plane (metres)
around the first intersection; the error of that flat approximation is far below 1 m over a few
kilometres.  Traffic drives on the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2x.scenario.model import Intersection, Scenario, SignalPlan

LANE_WIDTH_M = 3.5
STOP_LINE_SETBACK_M = 12.0
EARTH_RADIUS_M = 6371008.8

MAIN_PHASE = 1  # corridor through movements
CROSS_PHASE = 2  # cross-street movements


@dataclass(frozen=True)
class LocalFrame:
    """Equirectangular projection around an origin: (lat, lon) <-> (east, north) metres."""

    lat0: float
    lon0: float

    def to_local(self, lat: float, lon: float) -> tuple[float, float]:
        x = math.radians(lon - self.lon0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        y = math.radians(lat - self.lat0) * EARTH_RADIUS_M
        return x, y

    def to_latlon(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        lat = self.lat0 + np.degrees(np.asarray(y) / EARTH_RADIUS_M)
        lon = self.lon0 + np.degrees(np.asarray(x) / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon


@dataclass(frozen=True)
class Corridor:
    """The polyline vehicles drive along: approach, each intersection, exit."""

    frame: LocalFrame
    points: np.ndarray  # (n, 2) east/north metres
    stations: np.ndarray  # cumulative distance at each point
    intersection_stations: np.ndarray  # station of each intersection centre
    intersections: tuple[Intersection, ...]

    @property
    def length(self) -> float:
        return float(self.stations[-1])

    def locate(
        self, s: np.ndarray, direction: np.ndarray, lane_offset_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude and heading (degrees from north) at stations ``s``.

        ``direction`` is +1 (towards the last intersection) or -1; vehicles keep right, so the
        lane offset is applied to the right of the direction of travel.
        """
        s = np.clip(s, 0.0, self.length)
        seg = np.clip(np.searchsorted(self.stations, s, side="right") - 1, 0, len(self.points) - 2)
        p0, p1 = self.points[seg], self.points[seg + 1]
        seg_len = self.stations[seg + 1] - self.stations[seg]
        t = (s - self.stations[seg]) / seg_len
        along = (p1 - p0) / seg_len[:, None]
        xy = p0 + along * (t * seg_len)[:, None]
        right = np.stack([along[:, 1], -along[:, 0]], axis=1) * direction[:, None]
        xy = xy + right * lane_offset_m[:, None]
        lat, lon = self.frame.to_latlon(xy[:, 0], xy[:, 1])
        heading = np.degrees(np.arctan2(along[:, 0], along[:, 1]))
        heading = np.where(direction > 0, heading, heading + 180.0) % 360.0
        return lat, lon, heading


def intersection_axes(corr: Corridor, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (local metres) of intersection ``index``, unit vector along the corridor, and the
    unit normal pointing along the cross street (left of the corridor direction)."""
    centre = corr.points[index + 1]
    prev_pt, next_pt = corr.points[index], corr.points[index + 2]
    along = (next_pt - prev_pt) / np.linalg.norm(next_pt - prev_pt)
    return centre, along, np.array([-along[1], along[0]])


def corridor(scenario: Scenario) -> Corridor:
    """Build the corridor through the scenario's intersections, extended at both ends."""
    first = scenario.intersections[0]
    frame = LocalFrame(first.lat, first.lon)
    centres = np.array([frame.to_local(i.lat, i.lon) for i in scenario.intersections], dtype=float)
    if len(centres) == 1:
        direction = np.array([1.0, 0.0])
        start, end = direction, direction
    else:
        start = centres[1] - centres[0]
        end = centres[-1] - centres[-2]
    ext = scenario.approach_length_m
    points = np.vstack([centres[0] - start / np.linalg.norm(start) * ext, centres, centres[-1] + end / np.linalg.norm(end) * ext])
    stations = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    return Corridor(frame, points, stations, stations[1:-1].copy(), tuple(scenario.intersections))


@dataclass(frozen=True)
class PhaseTiming:
    """One light state of a phase in TimeMark-relative terms (seconds from now)."""

    light: str  # LightState name
    start_in_s: float  # 0 when the state is active now
    end_in_s: float


def phase_states(plan: SignalPlan, phase_id: int, t_s: float) -> list[PhaseTiming]:
    """Current and next two light states of ``phase_id`` at ``t_s`` seconds since the run start.

    Cycle: main green, yellow, all red, cross green, yellow, all red.
    """
    cycle = plan.cycle_s
    green = plan.main_green_s if phase_id == MAIN_PHASE else plan.cross_green_s
    green_start = 0.0 if phase_id == MAIN_PHASE else plan.main_green_s + plan.yellow_s + plan.all_red_s
    states = [
        ("protected-green", green_start, green_start + green),
        ("yellow", green_start + green, green_start + green + plan.yellow_s),
        ("red", green_start + green + plan.yellow_s, green_start + cycle),
    ]
    pos = (t_s - plan.offset_s) % cycle
    timeline = [(light, a + shift, b + shift) for shift in (-cycle, 0.0, cycle) for light, a, b in states]
    for idx, (_, a, b) in enumerate(timeline):
        if a <= pos < b:
            return [PhaseTiming(light, max(0.0, a2 - pos), b2 - pos) for light, a2, b2 in timeline[idx : idx + 3]]
    raise AssertionError("signal timeline does not cover the cycle")


def light_at(plan: SignalPlan, phase_id: int, t_s: float) -> tuple[str, float]:
    """The light state of a phase now and the seconds until it ends."""
    current = phase_states(plan, phase_id, t_s)[0]
    return current.light, current.end_in_s
