"""numba decoder of the BasicSafetyMessage (YD/T 3709-2020 / T/CSAE 53-2020 BSM), every field.

One int64 row per message in ``BSM_COLUMNS`` (raw ASN.1 values, ``ABSENT`` for optional fields
not sent; enumerations as their index, BIT STRINGs as integers, MSB = bit 0) and one row per
path-history point in ``PATH_POINT_COLUMNS``.  :func:`pipeline.reference.bsm_rows` produces the
same rows from an asn1tools decode; the tests require equality.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline import uper
from pipeline.uper import (
    ABSENT,
    FALLBACK,
    LIMIT,
    OK,
    POS,
    STATUS,
    acceleration4way,
    bits,
    count,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    motion_confidence,
    no_extension,
    octets8,
    offset_llv,
    position3d,
    position_confidence,
    vehicle_class,
    vehicle_size,
)

BSM_COLUMNS = (
    "msg_cnt", "id_hi", "id_lo", "sec_mark", "time_confidence",
    *uper.POSITION3D_COLUMNS,
    "semi_major", "semi_minor", "orientation",
    *uper.POSITION_CONFIDENCE_COLUMNS,
    "transmission", "speed", "heading", "angle",
    *uper.MOTION_CONFIDENCE_COLUMNS,
    *uper.ACCELERATION_COLUMNS,
    "brake_pedal", "wheel_brakes", "traction", "abs", "scs", "brake_boost", "aux_brakes",
    *uper.VEHICLE_SIZE_COLUMNS,
    *uper.VEHICLE_CLASS_COLUMNS,
    "safety_ext", "events", "path_points", "gnss_status", "radius_of_curve", "prediction_confidence", "lights",
    "emergency_ext", "response_type", "siren_use", "lights_use",
)
PATH_POINT_COLUMNS = ("row", "point", *uper.OFFSET_LLV_COLUMNS, "time_offset", "speed", *uper.POSITION_CONFIDENCE_COLUMNS, "heading")

_C = uper.column_index(BSM_COLUMNS)
C_CNT, C_ID, C_SEC, C_TCONF, C_POS = _C["msg_cnt"], _C["id_hi"], _C["sec_mark"], _C["time_confidence"], _C["lat"]
C_ACC, C_PCONF, C_TRANS, C_ANGLE = _C["semi_major"], _C["pos_confidence"], _C["transmission"], _C["angle"]
C_MCONF, C_ACCEL, C_BRAKES, C_SIZE, C_CLASS = _C["speed_confidence"], _C["accel_long"], _C["brake_pedal"], _C["width"], _C["vehicle_class"]
C_SAFETY, C_EMERGENCY = _C["safety_ext"], _C["emergency_ext"]
C_SPEED, C_HEADING = _C["speed"], _C["heading"]
P_ROW, P_OFFSET, P_TIME = 0, 2, 7

# BrakeSystemStatus components: (bits, number of root values; 0 = a BIT STRING of that many bits)
_BRAKE_BITS = (2, 5, 2, 2, 2, 2, 2)
_BRAKE_VALUES = (3, 0, 4, 4, 4, 3, 4)


@nb.njit(inline="always")
def _bit_string_ext(buf, base, st, n):
    """BIT STRING (SIZE(n, ...)): an extended size falls back to asn1tools."""
    no_extension(buf, base, st)
    return bits(buf, base, st, n)


@nb.njit(cache=True)
def _bsm(buf, base, st, out, i, points, n_points):
    if flag(buf, base, st):
        fail(st, FALLBACK)  # extension additions of the BSM root
        return n_points
    opt = bits(buf, base, st, 7)
    out[i, C_CNT] = bits(buf, base, st, 7)
    octets8(buf, base, st, out, i, C_ID)
    out[i, C_SEC] = bits(buf, base, st, 16)
    out[i, C_TCONF] = enumerated(buf, base, st, 6, 40) if opt & 64 else ABSENT
    position3d(buf, base, st, out, i, C_POS)
    if opt & 32:
        out[i, C_ACC] = bits(buf, base, st, 8)
        out[i, C_ACC + 1] = bits(buf, base, st, 8)
        out[i, C_ACC + 2] = bits(buf, base, st, 16)
    else:
        out[i, C_ACC] = out[i, C_ACC + 1] = out[i, C_ACC + 2] = ABSENT
    if opt & 16:
        position_confidence(buf, base, st, out, i, C_PCONF)
    else:
        out[i, C_PCONF] = out[i, C_PCONF + 1] = ABSENT
    out[i, C_TRANS] = bits(buf, base, st, 3)
    out[i, C_SPEED] = bits(buf, base, st, 13)
    out[i, C_HEADING] = integer(buf, base, st, 15, 0, 28800)
    out[i, C_ANGLE] = integer(buf, base, st, 8, -126, 127) if opt & 8 else ABSENT
    if opt & 4:
        motion_confidence(buf, base, st, out, i, C_MCONF)
    else:
        out[i, C_MCONF] = out[i, C_MCONF + 1] = out[i, C_MCONF + 2] = ABSENT
    acceleration4way(buf, base, st, out, i, C_ACCEL)
    bopt = bits(buf, base, st, 7)
    for k in range(7):
        if (bopt >> (6 - k)) & 1:
            if _BRAKE_VALUES[k]:
                out[i, C_BRAKES + k] = enumerated(buf, base, st, _BRAKE_BITS[k], _BRAKE_VALUES[k])
            else:
                out[i, C_BRAKES + k] = bits(buf, base, st, _BRAKE_BITS[k])
        else:
            out[i, C_BRAKES + k] = ABSENT
    vehicle_size(buf, base, st, out, i, C_SIZE)
    vehicle_class(buf, base, st, out, i, C_CLASS)
    for k in range(C_SAFETY, C_EMERGENCY):
        out[i, k] = ABSENT
    out[i, C_SAFETY] = 0
    if opt & 2:
        out[i, C_SAFETY] = 1
        no_extension(buf, base, st)
        sopt = bits(buf, base, st, 4)
        if sopt & 8:
            out[i, C_SAFETY + 1] = _bit_string_ext(buf, base, st, 13)
        if sopt & 4:
            no_extension(buf, base, st)
            hopt = bits(buf, base, st, 2)
            if hopt & 2:
                fail(st, FALLBACK)  # initialPosition (FullPositionVector) is left to asn1tools
                return n_points
            if hopt & 1:
                out[i, C_SAFETY + 3] = bits(buf, base, st, 8)
            n = count(buf, base, st, 5, 1, 23)
            out[i, C_SAFETY + 2] = n
            if st[STATUS] != OK:
                return n_points
            for k in range(n):
                no_extension(buf, base, st)
                popt = bits(buf, base, st, 3)
                j = n_points if n_points < points.shape[0] else points.shape[0] - 1
                points[j, P_ROW] = i
                points[j, P_ROW + 1] = k
                offset_llv(buf, base, st, points, j, P_OFFSET)
                points[j, P_TIME] = integer(buf, base, st, 16, 1, 65535)
                points[j, P_TIME + 1] = bits(buf, base, st, 13) if popt & 4 else ABSENT
                if popt & 2:
                    position_confidence(buf, base, st, points, j, P_TIME + 2)
                else:
                    points[j, P_TIME + 2] = points[j, P_TIME + 3] = ABSENT
                points[j, P_TIME + 4] = integer(buf, base, st, 8, 0, 240) if popt & 1 else ABSENT
                n_points += 1
        if sopt & 2:
            no_extension(buf, base, st)
            out[i, C_SAFETY + 4] = integer(buf, base, st, 16, -32767, 32767)
            out[i, C_SAFETY + 5] = integer(buf, base, st, 8, 0, 200)
        if sopt & 1:
            out[i, C_SAFETY + 6] = _bit_string_ext(buf, base, st, 9)
    for k in range(C_EMERGENCY, C_EMERGENCY + 4):
        out[i, k] = ABSENT
    out[i, C_EMERGENCY] = 0
    if opt & 1:
        out[i, C_EMERGENCY] = 1
        no_extension(buf, base, st)
        eopt = bits(buf, base, st, 3)
        if eopt & 4:
            out[i, C_EMERGENCY + 1] = extensible_enumerated(buf, base, st, 3, 7)
        if eopt & 2:
            out[i, C_EMERGENCY + 2] = enumerated(buf, base, st, 2, 4)
        if eopt & 1:
            out[i, C_EMERGENCY + 3] = enumerated(buf, base, st, 3, 8)
    return n_points


@nb.njit(cache=True)
def decode_bsm(buf, starts, ends, out, status, points):
    """Decode the MessageFrames buf[starts[i]:ends[i]] (all bsmFrame) into ``out`` and ``points``.

    Returns the number of path points found; if it exceeds ``points.shape[0]`` the caller
    enlarges ``points`` and decodes again.
    """
    st = np.zeros(3, dtype=np.int64)
    n_points = 0
    for i in range(starts.size):
        st[POS] = 4  # MessageFrame extension bit and choice index
        st[LIMIT] = (ends[i] - starts[i]) * 8
        st[STATUS] = OK
        n_points = _bsm(buf, starts[i], st, out, i, points, n_points)
        status[i] = st[STATUS]
    return n_points
