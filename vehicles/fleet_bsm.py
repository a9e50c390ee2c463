"""The BSMs of many vehicles at once, from the traffic model's arrays (the batch form of
:func:`vehicles.simulator.bsm_content`).

:func:`bsm_fields` turns the state of the chosen vehicles into rows of raw ASN.1 values for
:func:`vehicles.bsm_encoder.encode_bsms`, with the same unit conversions as
:func:`v2x.messages.bsm` (YD/T 3709 units: 1e-7 degree, 0.02 m/s, 0.0125 degree, 0.01 m/s^2,
0.01 degree/s, cm) and the same rounding, so the encoded frames are byte-identical to the ones
asn1tools makes from the per-vehicle content (the tests compare them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from v2x.messages import ACCEL_UNIT, EVENT_FLAG_BITS, HEADING_UNIT, LATLON_UNIT, SPEED_UNIT, YAW_UNIT

from vehicles.bsm_encoder import FIELDS, NO_EVENTS, POINT_FIELDS, encode_bsms, enum_index
from vehicles.traffic import TICK_S, Traffic

PATH_POINTS = 5  # crumbs per BSM (GB/T 45315 table 6 pathHistory; the newest five)
_F = {name: k for k, name in enumerate(FIELDS)}
_OFFSET_HALF_RANGES = np.array([2**11, 2**13, 2**15, 2**17, 2**21, 2**23])  # PositionOffsetLL LL1..LL6


def _units(values: np.ndarray, unit: float) -> np.ndarray:
    return np.rint(values / unit).astype(np.int64)


def event_flag_values(masks: np.ndarray) -> np.ndarray:
    """VehicleEventFlags as 13-bit integers (flag k is bit k from the most significant)."""
    out = np.zeros(masks.shape, dtype=np.int64)
    for k in range(EVENT_FLAG_BITS):
        out |= ((masks >> k) & 1).astype(np.int64) << (EVENT_FLAG_BITS - 1 - k)
    return out


def _constants() -> dict[str, int]:
    return {
        "time_confidence": enum_index("TimeConfidence", "time-000-001"),
        "semi_major": 20,
        "semi_minor": 16,
        "orientation": 0,  # 1.0 m and 0.8 m in 0.05 m
        "pos_confidence": enum_index("PositionConfidence", "a1m"),
        "transmission": enum_index("TransmissionState", "forwardGears"),
        "angle": 0,
        "speed_confidence": enum_index("SpeedConfidence", "prec0-1ms"),
        "heading_confidence": enum_index("HeadingConfidence", "prec01deg"),
        "steer_confidence": enum_index("SteeringWheelAngleConfidence", "prec1deg"),
        "accel_lat": 0,
        "accel_vert": 0,
        "traction": enum_index("TractionControlStatus", "on"),
        "abs": enum_index("AntiLockBrakeStatus", "on"),
        "scs": enum_index("StabilityControlStatus", "on"),
        "brake_boost": enum_index("BrakeBoostApplied", "off"),
        "aux_brakes": enum_index("AuxiliaryBrakeStatus", "off"),
        "radius_of_curve": 32767,
        "prediction_confidence": 200,  # straight path (GB/T 45315 7.3.2.17)
        "response_type": enum_index("ResponseType", "emergency"),
        "siren_use": enum_index("SirenInUse", "inUse"),
        "lights_use": enum_index("LightbarInUse", "inUse"),
    }


def offset_kinds(dlat: np.ndarray, dlon: np.ndarray) -> np.ndarray:
    """The smallest PositionOffsetLL alternative (0..5 LL1..LL6, 6 LatLon) for each offset."""
    biggest = np.maximum(np.abs(dlat), np.abs(dlon))
    return np.searchsorted(_OFFSET_HALF_RANGES, biggest, side="right")


def bsm_fields(
    traffic: Traffic, idx: np.ndarray, msg_cnt: np.ndarray, sec_mark: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fields, points, point_start) of the BSMs of vehicles ``idx`` at the model's current tick."""
    n = idx.size
    lat_all, lon_all, heading_all = traffic.positions()
    lat, lon = lat_all[idx], lon_all[idx]
    f = np.zeros((n, len(FIELDS)), dtype=np.int64)
    for name, value in _constants().items():
        f[:, _F[name]] = value
    ids = np.frombuffer(b"".join(traffic.ids[i] for i in idx), dtype=">u4").reshape(n, 2) if n else np.zeros((0, 2))
    f[:, _F["msg_cnt"]] = msg_cnt
    f[:, _F["id_hi"]], f[:, _F["id_lo"]] = ids[:, 0], ids[:, 1]
    f[:, _F["sec_mark"]] = sec_mark
    f[:, _F["lat"]], f[:, _F["lon"]] = _units(lat, LATLON_UNIT), _units(lon, LATLON_UNIT)
    speed = traffic.v[idx]
    f[:, _F["speed"]] = np.clip(_units(speed, SPEED_UNIT), 0, 8190)
    f[:, _F["heading"]] = _units(np.mod(heading_all[idx], 360.0), HEADING_UNIT) % 28800
    accel = traffic.a[idx]
    f[:, _F["accel_long"]] = np.clip(_units(accel, ACCEL_UNIT), -2000, 2000)
    dh = np.mod(traffic.heading[idx] - traffic.prev_heading[idx] + 180.0, 360.0) - 180.0
    f[:, _F["yaw_rate"]] = np.clip(_units(np.clip(dh / TICK_S, -300, 300), YAW_UNIT), -32767, 32767)
    braking = accel < -0.5
    f[:, _F["brake_pedal"]] = np.where(braking, enum_index("BrakePedalStatus", "on"), enum_index("BrakePedalStatus", "off"))
    f[:, _F["wheel_brakes"]] = np.where(braking, 0b01111, 0)  # all four wheels, not 'unavailable'
    f[:, _F["width"]] = _units(traffic.width[idx], 0.01)
    f[:, _F["length"]] = _units(traffic.length[idx], 0.01)
    f[:, _F["vehicle_class"]] = traffic.vehicle_class[idx]
    events = traffic.events[idx]
    f[:, _F["events"]] = np.where(events != 0, event_flag_values(events), NO_EVENTS)
    f[:, _F["emergency"]] = traffic.emergency[idx]

    # Path history: the newest crumbs taken after the vehicle's last pseudonym change.
    now = traffic.tick * TICK_S
    since = traffic.pseudonym_since_tick[idx] * TICK_S
    crumbs = list(reversed(traffic.history))
    counts = np.zeros(n, dtype=np.int64)
    rows: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    order: list[np.ndarray] = []
    for h_lat, h_lon, h_v, h_t in crumbs:
        take = (h_t > since) & (counts < PATH_POINTS)
        if not take.any():
            continue
        sel = np.flatnonzero(take)
        dlat = _units(h_lat[idx[sel]] - lat[sel], LATLON_UNIT)
        dlon = _units(h_lon[idx[sel]] - lon[sel], LATLON_UNIT)
        point = np.zeros((sel.size, len(POINT_FIELDS)), dtype=np.int64)
        point[:, 0] = offset_kinds(dlat, dlon)
        point[:, 1], point[:, 2] = dlon, dlat
        point[:, 3] = np.clip(np.rint(np.full(sel.size, now - h_t) * 100).astype(np.int64), 1, 65535)
        point[:, 4] = np.clip(_units(h_v[idx[sel]], SPEED_UNIT), 0, 8190)
        rows.append(point)
        owner.append(sel)
        order.append(counts[sel].copy())
        counts[sel] += 1
    point_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=point_start[1:])
    points = np.zeros((int(point_start[-1]), len(POINT_FIELDS)), dtype=np.int64)
    for point, sel, k in zip(rows, owner, order):
        points[point_start[sel] + k] = point
    return f, points, point_start


class EncodedBsm(NamedTuple):
    """A BSM's UPER MessageFrame, whether an event flag is set in it (AID 112/114 and the full
    certificate, GB/T 45315 7.4.3.5) and whether it is an emergency vehicle's (AID 113/114)."""

    frame: bytes
    event: bool
    emergency: bool


class FleetBsms:
    """The fleet's BSM fields computed once per tick for every vehicle; the BSMs due together
    are encoded in one call (:meth:`prepare`, the schedule's batch hook), any other one from
    its own row (:meth:`frame`), each with its msgCnt and secMark (:func:`encode_bsms`).

    A request for a tick the model has already passed (a late stream) gets the fields of the
    model's current tick, as the per-vehicle path did."""

    def __init__(self, traffic: Traffic):
        self.traffic = traffic
        self._tick = -1
        self._fields = self._points = self._start = np.zeros(0, dtype=np.int64)
        self._prepared: dict[tuple[int, int], bytes] = {}

    def _at_tick(self, k: int) -> None:
        traffic = self.traffic
        if k > self._tick or self._tick < 0:
            traffic.advance_to(k)
            n = len(traffic)
            self._fields, self._points, self._start = bsm_fields(
                traffic, np.arange(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
            )
            self._tick = traffic.tick

    def prepare(self, keys: np.ndarray, ks: np.ndarray, now_us: np.ndarray) -> None:
        """Encode BSM ``ks[j]`` of vehicle ``keys[j]`` stamped with the device clock
        ``now_us[j]``, all in one kernel call per tick; :meth:`frame` then returns them.  Frames
        prepared for an earlier slot and not asked for are dropped."""
        self._prepared = {}
        for k in np.unique(ks):
            sel = ks == k
            idx = keys[sel]
            self._at_tick(int(k))
            rows = self._fields[idx].copy()
            rows[:, _F["msg_cnt"]] = (self.traffic.msg_cnt0[idx] + k) % 128
            rows[:, _F["sec_mark"]] = (now_us[sel] // 1000) % 60_000  # DSecond (v2x.clock.dsecond)
            counts = self._start[idx + 1] - self._start[idx]
            start = np.zeros(idx.size + 1, dtype=np.int64)
            np.cumsum(counts, out=start[1:])
            take = np.repeat(self._start[idx] - start[:-1], counts) + np.arange(int(start[-1]))
            out, lengths = encode_bsms(rows, self._points[take], start)
            event = (rows[:, _F["events"]] != NO_EVENTS).tolist()
            emergency = (rows[:, _F["emergency"]] != 0).tolist()
            # one bytes object for the whole matrix, sliced: a numpy slice per frame costs more
            encoded, width, tick = out.tobytes(), out.shape[1], int(k)
            for j, (i, length) in enumerate(zip(idx.tolist(), lengths.tolist())):
                at = j * width
                self._prepared[(i, tick)] = EncodedBsm(encoded[at : at + length], event[j], emergency[j])

    def bsm(self, i: int, k: int, sec_mark: int) -> EncodedBsm:
        """Vehicle ``i``'s BSM k (describing tick k), stamped ``sec_mark``, with the flags of
        that same tick that decide how it is signed."""
        prepared = self._prepared.pop((i, k), None)
        if prepared is not None:
            return prepared
        traffic = self.traffic
        self._at_tick(k)
        row = self._fields[i : i + 1].copy()
        row[0, _F["msg_cnt"]] = (int(traffic.msg_cnt0[i]) + k) % 128
        row[0, _F["sec_mark"]] = sec_mark
        p0, p1 = int(self._start[i]), int(self._start[i + 1])
        out, lengths = encode_bsms(row, self._points[p0:p1], np.array([0, p1 - p0], dtype=np.int64))
        return EncodedBsm(out[0, : lengths[0]].tobytes(), bool(row[0, _F["events"]] != NO_EVENTS), bool(row[0, _F["emergency"]]))

    def frame(self, i: int, k: int, sec_mark: int) -> bytes:
        """The UPER MessageFrame of :meth:`bsm`."""
        return self.bsm(i, k, sec_mark).frame
