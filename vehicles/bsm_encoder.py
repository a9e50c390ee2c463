"""numba UPER encoder of the fleet's BSMs (YD/T 3709-2020 / T/CSAE 53-2020), a batch at a time.

The simulator sends ten BSMs per vehicle per second; asn1tools takes about 150 µs to encode one,
this kernel about 1 µs.  It writes exactly the BasicSafetyMessage that
:func:`v2x.messages.bsm` describes (the GB/T 45315 table 6 set: posAccuracy, posConfidence,
angle, motionCfd, every brake status, safetyExt with pathHistory and pathPrediction, events when
set, emergencyExt for an emergency vehicle on a call), bit for bit the same as asn1tools; the
tests require equality.  A message that is not of that shape (a deliberate field fault) is left to
asn1tools by the caller.

Input: one int64 row per message in ``FIELDS`` (raw ASN.1 values: enumerations as their root
index, BIT STRINGs as integers, ``NO_EVENTS`` when no event flag is set) and the path points of
message i in ``points[point_start[i]:point_start[i+1]]`` (``POINT_FIELDS``; speed ``NO_SPEED``
when not sent).  Output: MessageFrames in the rows of a byte matrix, with their lengths.
"""

from __future__ import annotations

from functools import cache

import numba as nb
import numpy as np

from v2x.messages import message_set

FIELDS = (
    "msg_cnt",
    "id_hi",
    "id_lo",
    "sec_mark",
    "time_confidence",
    "lat",
    "lon",
    "semi_major",
    "semi_minor",
    "orientation",
    "pos_confidence",
    "transmission",
    "speed",
    "heading",
    "angle",
    "speed_confidence",
    "heading_confidence",
    "steer_confidence",
    "accel_long",
    "accel_lat",
    "accel_vert",
    "yaw_rate",
    "brake_pedal",
    "wheel_brakes",
    "traction",
    "abs",
    "scs",
    "brake_boost",
    "aux_brakes",
    "width",
    "length",
    "vehicle_class",
    "events",
    "radius_of_curve",
    "prediction_confidence",
    "emergency",
    "response_type",
    "siren_use",
    "lights_use",
)
POINT_FIELDS = ("offset_kind", "offset_lon", "offset_lat", "time_offset", "speed")
F = {name: k for k, name in enumerate(FIELDS)}
NO_EVENTS = -1
NO_SPEED = -1
MAX_BYTES = 384  # the largest BSM of this shape (23 path points of LatLon, emergencyExt) is under 2,900 bits
MAX_POINTS = 23  # PathHistoryPointList SIZE(1..23)
_OFFSET_BITS = np.array([12, 14, 16, 18, 22, 24], dtype=np.int64)  # PositionOffsetLL LL1..LL6


@cache
def enum_index(type_name: str, value: str) -> int:
    """Root index of an ENUMERATED value, from the compiled message set."""
    return int(message_set().types[type_name].type.root_data_to_index[value])


@nb.njit(cache=True)
def _put(out, row, pos, value, n):
    """Write the n low bits of ``value`` MSB first at bit ``pos`` of ``out[row]`` (zeroed); returns the new pos."""
    while n > 0:
        byte = pos >> 3
        free = 8 - (pos & 7)
        take = free if free < n else n
        chunk = (value >> (n - take)) & ((1 << take) - 1)
        out[row, byte] |= np.uint8(chunk << (free - take))
        pos += take
        n -= take
    return pos


@nb.njit(cache=True)
def _bsm(out, i, f, points, p0, p1, offset_bits):
    pos = 0
    pos = _put(out, i, pos, 0, 1)  # MessageFrame: no extension
    pos = _put(out, i, pos, 0, 3)  # bsmFrame, alternative 0 of 5
    pos = _put(out, i, pos, 0, 1)  # BasicSafetyMessage: no extension
    # presence: timeConfidence, posAccuracy, posConfidence, angle, motionCfd, safetyExt, emergencyExt
    pos = _put(out, i, pos, 0b1111110 | (1 if f[35] else 0), 7)
    pos = _put(out, i, pos, f[0], 7)  # msgCnt
    pos = _put(out, i, pos, f[1], 32)  # id
    pos = _put(out, i, pos, f[2], 32)
    pos = _put(out, i, pos, f[3], 16)  # secMark
    pos = _put(out, i, pos, f[4], 6)  # timeConfidence
    pos = _put(out, i, pos, 0, 1)  # Position3D without elevation
    pos = _put(out, i, pos, f[5] + 900000000, 31)
    pos = _put(out, i, pos, f[6] + 1799999999, 32)
    pos = _put(out, i, pos, f[7], 8)  # PositionalAccuracy
    pos = _put(out, i, pos, f[8], 8)
    pos = _put(out, i, pos, f[9], 16)
    pos = _put(out, i, pos, 0, 1)  # PositionConfidenceSet without elevation
    pos = _put(out, i, pos, f[10], 4)
    pos = _put(out, i, pos, f[11], 3)  # transmission
    pos = _put(out, i, pos, f[12], 13)  # speed
    pos = _put(out, i, pos, f[13], 15)  # heading
    pos = _put(out, i, pos, f[14] + 126, 8)  # angle
    pos = _put(out, i, pos, 0b111, 3)  # MotionConfidenceSet: all three
    pos = _put(out, i, pos, f[15], 3)
    pos = _put(out, i, pos, f[16], 3)
    pos = _put(out, i, pos, f[17], 2)
    pos = _put(out, i, pos, f[18] + 2000, 12)  # AccelerationSet4Way
    pos = _put(out, i, pos, f[19] + 2000, 12)
    pos = _put(out, i, pos, f[20] + 127, 8)
    pos = _put(out, i, pos, f[21] + 32767, 16)
    pos = _put(out, i, pos, 0b1111111, 7)  # BrakeSystemStatus: all seven
    pos = _put(out, i, pos, f[22], 2)
    pos = _put(out, i, pos, f[23], 5)
    for k in range(24, 29):
        pos = _put(out, i, pos, f[k], 2)
    pos = _put(out, i, pos, 0, 1)  # VehicleSize without height
    pos = _put(out, i, pos, f[29], 10)
    pos = _put(out, i, pos, f[30], 12)
    pos = _put(out, i, pos, 0, 2)  # VehicleClassification: no extension, no fuelType
    pos = _put(out, i, pos, f[31], 8)
    # VehicleSafetyExtensions: events?, pathHistory?, pathPrediction, no lights
    has_events = f[32] >= 0
    has_history = p1 > p0
    pos = _put(out, i, pos, 0, 1)
    pos = _put(out, i, pos, (8 if has_events else 0) | (4 if has_history else 0) | 2, 4)
    if has_events:
        pos = _put(out, i, pos, 0, 1)  # VehicleEventFlags SIZE(13, ...): root size
        pos = _put(out, i, pos, f[32], 13)
    if has_history:
        pos = _put(out, i, pos, 0, 3)  # PathHistory: no extension, no initialPosition, no currGNSSstatus
        pos = _put(out, i, pos, p1 - p0 - 1, 5)
        for j in range(p0, p1):
            speed = points[j, 4]
            pos = _put(out, i, pos, 0, 1)  # PathHistoryPoint: no extension
            pos = _put(out, i, pos, 4 if speed >= 0 else 0, 3)  # speed?, no posAccuracy, no heading
            pos = _put(out, i, pos, 0, 1)  # PositionOffsetLLV without offsetV
            kind = points[j, 0]
            pos = _put(out, i, pos, kind, 3)
            if kind < 6:
                n = offset_bits[kind]
                half = np.int64(1) << (n - 1)
                pos = _put(out, i, pos, points[j, 1] + half, n)
                pos = _put(out, i, pos, points[j, 2] + half, n)
            else:  # position-LatLon
                pos = _put(out, i, pos, points[j, 1] + 1799999999, 32)
                pos = _put(out, i, pos, points[j, 2] + 900000000, 31)
            pos = _put(out, i, pos, points[j, 3] - 1, 16)  # timeOffset 1..65535
            if speed >= 0:
                pos = _put(out, i, pos, speed, 13)
    pos = _put(out, i, pos, 0, 1)  # PathPrediction
    pos = _put(out, i, pos, f[33] + 32767, 16)
    pos = _put(out, i, pos, f[34], 8)
    if f[35]:
        pos = _put(out, i, pos, 0, 1)  # VehicleEmergencyExtensions: no extension, all three
        pos = _put(out, i, pos, 0b111, 3)
        pos = _put(out, i, pos, 0, 1)  # ResponseType is extensible: root value
        pos = _put(out, i, pos, f[36], 3)
        pos = _put(out, i, pos, f[37], 2)
        pos = _put(out, i, pos, f[38], 3)
    return (pos + 7) >> 3


@nb.njit(cache=True)
def _encode(fields, points, point_start, out, lengths, offset_bits):
    for i in range(fields.shape[0]):
        lengths[i] = _bsm(out, i, fields[i], points, point_start[i], point_start[i + 1], offset_bits)


def encode_bsms(fields: np.ndarray, points: np.ndarray, point_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MessageFrames (bsmFrame) of the rows of ``fields``: (bytes matrix, lengths)."""
    n = fields.shape[0]
    if fields.shape[1] != len(FIELDS) or points.shape[1] != len(POINT_FIELDS) or point_start.shape != (n + 1,):
        raise ValueError("fields, points or point_start of the wrong shape")
    if np.any(np.diff(point_start) > MAX_POINTS):
        raise ValueError(f"more than {MAX_POINTS} path points in a BSM")
    out = np.zeros((n, MAX_BYTES), dtype=np.uint8)
    lengths = np.zeros(n, dtype=np.int64)
    _encode(
        fields.astype(np.int64, copy=False),
        points.astype(np.int64, copy=False),
        point_start.astype(np.int64, copy=False),
        out,
        lengths,
        _OFFSET_BITS,
    )
    return out, lengths


def frames(out: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """The encoded MessageFrames as bytes."""
    return [out[i, : lengths[i]].tobytes() for i in range(lengths.size)]


def warm_up() -> None:
    """Load (or compile) the kernel now, so that the first BSMs of a run do not wait for it."""
    encode_bsms(np.zeros((1, len(FIELDS)), dtype=np.int64), np.zeros((1, len(POINT_FIELDS)), dtype=np.int64), np.array([0, 1]))
