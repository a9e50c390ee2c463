"""Vehicle motion along the corridor, all vehicles' state in numpy arrays.

The model advances in fixed 100 ms ticks (the BSM period, GB/T 45315 7.3.1) and is a pure
function of the seed and the tick number, so a scenario replays identically.  Each vehicle
tracks its desired speed, slows for a leader in its lane (1.5 s headway) and stops at the stop
line when its phase is not green; at the end of the corridor it turns round.

The model also carries what the OBU's identity depends on, so that the vehicle simulator and
the roadside sensors (which report the vehicle's temporary id in RSM) agree on it:

* event flags (VehicleEventFlags): hazard lights for groups that drive with them, hard braking
  when the deceleration reaches 0.4 g (SAE J2735's threshold; no GB value read);
* pseudonyms (GB/T 45315 7.4.5): a random one of the vehicle's certificates at boot; a change
  once one has been used ``max_s`` unless the vehicle is within ``min_distance_m`` of where it
  took it or an event flag is set; on a change a new random temporary id and msgCnt, and the
  path history starts again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from v2x.messages import VEHICLE_CLASSES
from v2x.scenario import roads
from v2x.scenario.model import Scenario
from v2x.scenario.roads import LANE_WIDTH_M, MAIN_PHASE, STOP_LINE_SETBACK_M

from vehicles.signal_priority import SignalPriority
from vehicles.valet_parking import ValetParking

TICK_S = 0.1
MAX_ACCEL = 2.0  # m/s^2
MAX_DECEL = 4.0
COMFORT_DECEL = 2.5
HEADWAY_S = 1.5
STANDSTILL_GAP_M = 4.0
HISTORY_EVERY_TICKS = 10
HISTORY_POINTS = 10
HARD_BRAKING_MPS2 = 0.4 * 9.80665
EVENT_HAZARD_LIGHTS = 0  # VehicleEventFlags bit numbers (YD/T 3709)
EVENT_HARD_BRAKING = 7
METRES_PER_DEGREE = 111_320.0

# kind: desired speed m/s, width m, length m
KINDS = {
    "car": (13.0, 1.8, 4.7),
    "bus": (11.0, 2.5, 12.0),
    "sanitation_truck": (3.0, 2.3, 8.0),
    "logistics_van": (9.0, 2.0, 5.5),
    "ambulance": (16.0, 2.1, 5.6),
}
BUS_STOP_LEAVE_M = 20.0  # a bus may serve a stop again once this far from it


@dataclass(frozen=True)
class Snapshot:
    """What an observer of the road sees of every vehicle at one tick."""

    tick: int
    lat: np.ndarray
    lon: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    ids: tuple[bytes, ...]


SNAPSHOT_TICKS = 4  # ticks kept for observers a little behind the model (roadside sensors' latency)


@dataclass(frozen=True)
class VehicleState:
    lat_deg: float
    lon_deg: float
    heading_deg: float
    speed_mps: float
    accel_mps2: float
    yaw_rate_dps: float
    braking: bool


class Traffic:
    """The fleet of a scenario; :meth:`advance_to` moves it to a tick."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator):
        self.scenario = scenario
        self.corridor = roads.corridor(scenario)
        kinds = [g.kind for g in scenario.fleet for _ in range(g.count)]
        n = len(kinds)
        self.kinds = kinds
        self.ids = [bytes(rng.integers(0, 256, 8, dtype=np.uint8)) for _ in range(n)]
        self.msg_cnt0 = rng.integers(0, 128, n)
        self.phase_offset_s = rng.uniform(0.0, TICK_S, n)
        groups = [g for g in scenario.fleet for _ in range(g.count)]
        spec = np.array([KINDS[k] for k in kinds]).reshape(n, 3)
        self.desired = spec[:, 0] * rng.uniform(0.85, 1.1, n)
        chosen = np.array([g.speed_kmh / 3.6 if g.speed_kmh else np.nan for g in groups]).reshape(n)
        self.desired = np.where(np.isnan(chosen), self.desired, chosen * rng.uniform(0.9, 1.0, n))
        self.width, self.length = spec[:, 1], spec[:, 2]
        numbering = VEHICLE_CLASSES[scenario.vehicle_classes]
        self.vehicle_class = np.array([numbering[k] for k in kinds], dtype=int)
        self.emergency = np.array([k == "ambulance" for k in kinds], dtype=bool).reshape(n)
        self.bus = np.array([k == "bus" for k in kinds], dtype=bool).reshape(n)
        self.direction = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        lanes = max(1, min(i.lanes_per_direction for i in scenario.intersections))
        self.lane = rng.integers(0, lanes, n)
        fixed_lane = {"kerb": lanes - 1, "median": 0}
        self.lane = np.array([fixed_lane.get(g.lane, lane) for g, lane in zip(groups, self.lane)], dtype=int).reshape(n)
        self.s = rng.uniform(0.0, self.corridor.length, n)
        self.v = self.desired * rng.uniform(0.3, 1.0, n)
        self.a = np.zeros(n)
        self.tick = 0
        self.priority = SignalPriority(  # the buses' requests and the RSUs' answers (VIR / RSC)
            kinds,
            self.phase_offset_s,
            [i.signal.bus_priority.detect_m if i.signal.bus_priority else None for i in scenario.intersections],
            TICK_S,
            np.random.default_rng([scenario.seed, 157]),
        )
        self.valet = ValetParking(  # the valet cars' requests and their car park RSU's answers (VIR / RSC, PAM)
            scenario, self.phase_offset_s, TICK_S, self.priority.rsc_offset_s, np.random.default_rng([scenario.seed, 156])
        )
        self.in_car_park = np.isin(np.arange(n), self.valet.cars)  # valet cars: moved by self.valet, not the corridor
        for i in self.valet.cars:
            self.v[i] = self.valet.v[i]
        lat, lon, self.heading = self._locate()
        self._positions, self._positions_tick = (lat, lon, self.heading), 0
        self._snapshots: list[Snapshot] = []
        self._keep_snapshot()
        self.prev_heading = self.heading.copy()
        self.history: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        self.hazard_lights = np.array([g.hazard_lights for g in scenario.fleet for _ in range(g.count)], dtype=bool).reshape(n)
        self.events = self._events()

        # Bus stops (stations along the corridor) and the dwell of each bus; signal priority.
        self.stop_stations = np.array([self.corridor.intersection_stations[0] + b.distance_m for b in scenario.bus_stops])
        self.stop_served = np.zeros((n, len(self.stop_stations)), dtype=bool)
        self.dwell_until_tick = np.zeros(n, dtype=int)
        self.stops_made = np.zeros(n, dtype=int)
        self.signal_delay_s = np.zeros(len(scenario.intersections))  # green extensions granted so far
        self.priority_until_s = np.full(len(scenario.intersections), -1.0)  # run time the extension ends
        self._priority_cycle = np.full(len(scenario.intersections), np.iinfo(np.int64).min)  # cycle of the last grant
        self._update_requests()

        # Pseudonyms: a generator of their own, so that changes do not disturb the motion draws.
        policy = scenario.security.pseudonyms
        self._privacy = np.random.default_rng([scenario.seed, 745])
        self.pseudonym = self._privacy.integers(0, policy.certificates, n)  # certificate index in use
        self.pseudonym_changes = np.zeros(n, dtype=int)
        self.pseudonym_since_tick = np.zeros(n, dtype=int)
        self.change_lat, self.change_lon = lat.copy(), lon.copy()

    def __len__(self) -> int:
        return len(self.kinds)

    def vir_senders(self) -> list[int]:
        """The vehicles that send VIR: the buses where some intersection offers priority, and the valet cars."""
        return sorted({*self.priority.senders(), *self.valet.cars})

    def _lane_offset(self) -> np.ndarray:
        return LANE_WIDTH_M * (self.lane + 0.5)

    def _locate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lat, lon, heading = self.corridor.locate(self.s, self.direction, self._lane_offset())
        self.valet.place(lat, lon, heading)
        return lat, lon, heading

    def _signal_limit(self, t_s: float) -> np.ndarray:
        """Speed that still allows stopping at the next stop line where the light is not green."""
        limit = np.full(len(self), np.inf)
        for k, inter in enumerate(self.corridor.intersections):
            light, _ = roads.light_at(inter.signal, MAIN_PHASE, self.signal_time_s(k, t_s))
            if light == "protected-green":
                continue
            stop = self.corridor.intersection_stations[k] - self.direction * STOP_LINE_SETBACK_M
            d = (stop - self.s) * self.direction
            ahead = (d > 0) & (d < 120.0)
            # Amber: go on if the stop line cannot be reached comfortably.
            can_stop = d > self.v**2 / (2 * MAX_DECEL) if light == "yellow" else np.ones(len(self), bool)
            hold = ahead & can_stop
            v_stop = np.sqrt(np.maximum(0.0, 2 * COMFORT_DECEL * (d - 1.0)))
            limit = np.where(hold, np.minimum(limit, v_stop), limit)
        return limit

    def _leader_limit(self) -> np.ndarray:
        limit = np.full(len(self), np.inf)
        key = self.direction * 10 + self.lane
        pos = self.s * self.direction
        for group in np.unique(key[~self.in_car_park]):
            idx = np.flatnonzero((key == group) & ~self.in_car_park)
            order = idx[np.argsort(pos[idx])]
            gaps = pos[order[1:]] - pos[order[:-1]] - self.length[order[1:]]
            limit[order[:-1]] = np.maximum(0.0, (gaps - STANDSTILL_GAP_M) / HEADWAY_S)
        return limit

    def signal_time_s(self, k: int, t_s: float) -> float:
        """Time on intersection ``k``'s fixed-time plan at run time ``t_s``: behind the run
        clock by the green extensions granted so far."""
        return t_s - float(self.signal_delay_s[k])

    def priority_active(self, k: int, t_s: float) -> bool:
        """Whether a bus priority green extension of intersection ``k`` is running at ``t_s``."""
        return bool(t_s < self.priority_until_s[k])

    def stop_line_distances(self) -> np.ndarray:
        """Distance of every vehicle (rows) to every intersection's stop line (columns) along
        its direction of travel, m; negative once passed."""
        stations = np.asarray(self.corridor.intersection_stations, dtype=float)
        stop = stations[None, :] - self.direction[:, None] * STOP_LINE_SETBACK_M
        return (stop - self.s[:, None]) * self.direction[:, None]

    def _grant_bus_priority(self, t_s: float) -> None:
        """Extend the corridor green of each priority intersection whose green ends within this tick while
        a bus it granted priority approaches its stop line within ``detect_m`` (once per cycle)."""
        if not self.bus.any():
            return
        d = self.stop_line_distances()
        for k, inter in enumerate(self.corridor.intersections):
            priority = inter.signal.bus_priority
            if priority is None:
                continue
            plan_t = self.signal_time_s(k, t_s)
            light, remaining = roads.light_at(inter.signal, MAIN_PHASE, plan_t)
            cycle = int((plan_t - inter.signal.offset_s) // inter.signal.cycle_s)
            if light != "protected-green" or remaining > TICK_S + 1e-6 or self._priority_cycle[k] == cycle:
                continue
            if self.priority.granted_near(k, t_s, d, priority.detect_m):
                self.signal_delay_s[k] += priority.extend_s
                self.priority_until_s[k] = t_s + remaining + priority.extend_s
                self._priority_cycle[k] = cycle

    def _bus_stop_limit(self) -> np.ndarray:
        """Speed that lets a bus stop at the next unserved stop ahead; zero while it dwells."""
        limit = np.full(len(self), np.inf)
        if not len(self.stop_stations) or not self.bus.any():
            return limit
        d = (self.stop_stations[None, :] - self.s[:, None]) * self.direction[:, None]
        self.stop_served &= np.abs(d) < BUS_STOP_LEAVE_M  # passed and gone: may serve it again later
        arriving = self.bus[:, None] & ~self.stop_served & (d > -0.5) & (d < 120.0)
        v_stop = np.sqrt(np.maximum(0.0, 2 * COMFORT_DECEL * np.maximum(d, 0.0)))
        limit = np.min(np.where(arriving, v_stop, np.inf), axis=1)
        at_stop = arriving & (np.abs(d) < 0.5) & (self.v[:, None] < 0.3)
        for i, j in zip(*np.nonzero(at_stop)):
            self.stop_served[i, j] = True
            self.stops_made[i] += 1
            self.dwell_until_tick[i] = self.tick + round(self.scenario.bus_stops[j].dwell_s / TICK_S)
        return np.where(self.tick < self.dwell_until_tick, 0.0, limit)

    def step(self) -> None:
        t_s = self.tick * TICK_S
        self._grant_bus_priority(t_s)
        limits = np.minimum(self._signal_limit(t_s), self._leader_limit())
        target = np.minimum(self.desired, np.minimum(limits, self._bus_stop_limit()))
        self.a = np.clip((target - self.v) / TICK_S, -MAX_DECEL, MAX_ACCEL)
        self.v = np.maximum(0.0, self.v + self.a * TICK_S)
        self.s = self.s + self.direction * self.v * TICK_S
        turn = (self.s <= 0.0) | (self.s >= self.corridor.length)
        self.s = np.clip(self.s, 0.0, self.corridor.length)
        self.direction = np.where(turn, -self.direction, self.direction)
        self.tick += 1
        self.valet.step(self.tick)
        for i in self.valet.cars:
            self.v[i], self.a[i] = self.valet.v[i], self.valet.a[i]
        self.prev_heading = self.heading
        lat, lon, self.heading = self._locate()
        self._positions, self._positions_tick = (lat, lon, self.heading), self.tick
        if self.tick % HISTORY_EVERY_TICKS == 0:
            self.history.append((lat, lon, self.v.copy(), self.tick * TICK_S))
            del self.history[:-HISTORY_POINTS]
        self.events = self._events()
        self._change_pseudonyms(lat, lon)
        self._keep_snapshot()
        self._update_requests()

    def _update_requests(self) -> None:
        """The buses' priority requests at this tick (:mod:`vehicles.signal_priority`): a request
        opened now is in the VIR of this tick."""
        if self.bus.any():
            self.priority.update(self.tick, self.stop_line_distances(), self.v)

    def _events(self) -> np.ndarray:
        """VehicleEventFlags of every vehicle now, as bit masks (bit k = flag k)."""
        return (self.hazard_lights.astype(int) << EVENT_HAZARD_LIGHTS) | (
            (self.a <= -HARD_BRAKING_MPS2).astype(int) << EVENT_HARD_BRAKING
        )

    def _change_pseudonyms(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """GB/T 45315 7.4.5: change the pseudonym of every vehicle whose rule says so, now."""
        policy = self.scenario.security.pseudonyms
        if policy.certificates < 2:
            return  # nothing to change to
        used_s = (self.tick - self.pseudonym_since_tick) * TICK_S
        dy = (lat - self.change_lat) * METRES_PER_DEGREE
        dx = (lon - self.change_lon) * METRES_PER_DEGREE * np.cos(np.radians(lat))
        due = (used_s >= policy.max_s) & (np.hypot(dx, dy) >= policy.min_distance_m) & (self.events == 0) & ~self.emergency
        for i in np.flatnonzero(due):
            step = int(self._privacy.integers(1, policy.certificates))
            self.pseudonym[i] = (self.pseudonym[i] + step) % policy.certificates
            self.ids[i] = bytes(self._privacy.integers(0, 256, 8, dtype=np.uint8))
            self.msg_cnt0[i] = (int(self._privacy.integers(0, 128)) - self.tick) % 128
            self.pseudonym_changes[i] += 1
            self.pseudonym_since_tick[i] = self.tick
            self.change_lat[i], self.change_lon[i] = lat[i], lon[i]

    def advance_to(self, tick: int) -> None:
        while self.tick < tick:
            self.step()

    def positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude and heading of every vehicle now (computed once per tick)."""
        if self._positions_tick != self.tick:
            self._positions = self._locate()
            self._positions_tick = self.tick
        return self._positions

    def snapshot(self, tick: int) -> Snapshot:
        """The fleet at ``tick``: the model advances to it, and a tick up to
        :data:`SNAPSHOT_TICKS` behind the model is served from the ones kept, so that the
        RSUs of one process can share the model (older ticks get the oldest kept)."""
        self.advance_to(tick)
        return next(snap for snap in self._snapshots if snap.tick >= tick)

    def _keep_snapshot(self) -> None:
        lat, lon, heading = self.positions()
        self._snapshots.append(Snapshot(self.tick, lat, lon, heading, self.v, tuple(self.ids)))
        del self._snapshots[:-SNAPSHOT_TICKS]

    def state(self, i: int) -> VehicleState:
        lat, lon, heading = self.positions()
        dh = (self.heading[i] - self.prev_heading[i] + 180.0) % 360.0 - 180.0
        return VehicleState(
            lat_deg=float(lat[i]),
            lon_deg=float(lon[i]),
            heading_deg=float(heading[i]),
            speed_mps=float(self.v[i]),
            accel_mps2=float(self.a[i]),
            yaw_rate_dps=float(np.clip(dh / TICK_S, -300, 300)),
            braking=bool(self.a[i] < -0.5),
        )

    def path_history(self, i: int, lat: float, lon: float) -> list[tuple[float, float, float, float]]:
        """Crumbs (dlat, dlon, age s, speed) newest first, relative to the current position;
        none from before the vehicle's last pseudonym change (GB/T 45315 7.4.5)."""
        now = self.tick * TICK_S
        since = self.pseudonym_since_tick[i] * TICK_S
        return [
            (float(h[0][i]) - lat, float(h[1][i]) - lon, now - h[3], float(h[2][i]))
            for h in reversed(self.history)
            if h[3] > since
        ]
