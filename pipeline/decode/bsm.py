"""numba decoder of the BasicSafetyMessage (YD/T 3709-2020 / T/CSAE 53-2020 BSM), every field.

One int64 row per message in ``BSM_COLUMNS`` (raw ASN.1 values, ``ABSENT`` for optional fields
not sent; enumerations as their index, BIT STRINGs as integers, MSB = bit 0) and one row per
path-history point in ``PATH_POINT_COLUMNS``.  :func:`pipeline.decode.reference.bsm_rows` produces the
same rows from an asn1tools decode; the tests require equality.
"""

from __future__ import annotations

import numba as nb

from pipeline.decode import uper
from pipeline.decode.uper import (
    ABSENT,
    FALLBACK,
    acceleration4way,
    bits,
    count,
    ended,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    motion_confidence,
    no_extension,
    octets8,
    offset_llv,
    optional,
    position3d,
    position_confidence,
    status_of,
    vehicle_class,
    vehicle_size,
)

# PathHistory.initialPosition (FullPositionVector), prefixed: utcTime (DDateTime), pos, heading,
# transmission, speed, posAccuracy (a PositionConfidenceSet), timeConfidence, motionCfd
INITIAL_POSITION_COLUMNS = tuple(
    "initial_" + c
    for c in (
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "offset",
        *uper.POSITION3D_COLUMNS,
        "heading",
        "transmission",
        "speed",
        *uper.POSITION_CONFIDENCE_COLUMNS,
        "time_confidence",
        *uper.MOTION_CONFIDENCE_COLUMNS,
    )
)

BSM_COLUMNS = (
    "msg_cnt",
    "id_hi",
    "id_lo",
    "sec_mark",
    "time_confidence",
    *uper.POSITION3D_COLUMNS,
    "semi_major",
    "semi_minor",
    "orientation",
    *uper.POSITION_CONFIDENCE_COLUMNS,
    "transmission",
    "speed",
    "heading",
    "angle",
    *uper.MOTION_CONFIDENCE_COLUMNS,
    *uper.ACCELERATION_COLUMNS,
    "brake_pedal",
    "wheel_brakes",
    "traction",
    "abs",
    "scs",
    "brake_boost",
    "aux_brakes",
    *uper.VEHICLE_SIZE_COLUMNS,
    *uper.VEHICLE_CLASS_COLUMNS,
    "safety_ext",
    "events",
    "path_points",
    "gnss_status",
    "radius_of_curve",
    "prediction_confidence",
    "lights",
    "emergency_ext",
    "response_type",
    "siren_use",
    "lights_use",
    *INITIAL_POSITION_COLUMNS,
)
PATH_POINT_COLUMNS = (
    "row",
    "point",
    *uper.OFFSET_LLV_COLUMNS,
    "time_offset",
    "speed",
    *uper.POSITION_CONFIDENCE_COLUMNS,
    "heading",
)

_C = uper.column_index(BSM_COLUMNS)
C_CNT, C_ID, C_SEC, C_TCONF, C_POS = _C["msg_cnt"], _C["id_hi"], _C["sec_mark"], _C["time_confidence"], _C["lat"]
C_ACC, C_PCONF, C_TRANS, C_ANGLE = _C["semi_major"], _C["pos_confidence"], _C["transmission"], _C["angle"]
C_MCONF, C_ACCEL, C_BRAKES, C_SIZE, C_CLASS = (
    _C["speed_confidence"],
    _C["accel_long"],
    _C["brake_pedal"],
    _C["width"],
    _C["vehicle_class"],
)
C_SAFETY, C_EMERGENCY = _C["safety_ext"], _C["emergency_ext"]
C_SPEED, C_HEADING = _C["speed"], _C["heading"]
C_INITIAL = _C["initial_year"]
P_ROW, P_OFFSET, P_TIME = 0, 2, 7

# BrakeSystemStatus components: (bits, number of root values; 0 = a BIT STRING of that many bits)
_BRAKE_BITS = (2, 5, 2, 2, 2, 2, 2)
_BRAKE_VALUES = (3, 0, 4, 4, 4, 3, 4)
MAX_POINTS = 23  # PathHistoryPointList SIZE(1..23)


# DDateTime components (YD/T 3709 DefTime): (bits, lower bound, upper bound)
_DATE_TIME = ((12, 0, 4095), (4, 0, 12), (5, 0, 31), (5, 0, 31), (6, 0, 60), (16, 0, 65535), (11, -840, 840))


@nb.njit(cache=True)
def full_position_vector(buf, base, limit, pos, out, i, c):
    """FullPositionVector (YD/T 3709 DefPosition) into the 19 columns from c."""
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 7)
    if opt & 64:
        dopt, pos = bits(buf, base, limit, pos, 7)
        for k in range(7):
            out[i, c + k] = ABSENT
            if (dopt >> (6 - k)) & 1:
                out[i, c + k], pos = integer(buf, base, limit, pos, _DATE_TIME[k][0], _DATE_TIME[k][1], _DATE_TIME[k][2])
    else:
        for k in range(7):
            out[i, c + k] = ABSENT
    pos = position3d(buf, base, limit, pos, out, i, c + 7)
    out[i, c + 10] = ABSENT
    if opt & 32:
        out[i, c + 10], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    out[i, c + 11], pos = optional(buf, base, limit, pos, opt & 16, 3)
    out[i, c + 12], pos = optional(buf, base, limit, pos, opt & 8, 13)
    if opt & 4:
        pos = position_confidence(buf, base, limit, pos, out, i, c + 13)
    else:
        out[i, c + 13] = out[i, c + 14] = ABSENT
    out[i, c + 15] = ABSENT
    if opt & 2:
        out[i, c + 15], pos = enumerated(buf, base, limit, pos, 6, 40)
    if opt & 1:
        pos = motion_confidence(buf, base, limit, pos, out, i, c + 16)
    else:
        out[i, c + 16] = out[i, c + 17] = out[i, c + 18] = ABSENT
    return pos


@nb.njit(cache=True)
def _bsm(buf, base, limit, out, i, points, n_points):
    """Decode one BSM into out[i] and points[n_points:]; returns (pos, n_points)."""
    ext, pos = flag(buf, base, limit, 4)  # after the MessageFrame extension bit and choice index
    if ext:
        return fail(pos, FALLBACK), n_points  # extension additions of the BSM root
    opt, pos = bits(buf, base, limit, pos, 7)
    out[i, C_CNT], pos = bits(buf, base, limit, pos, 7)
    pos = octets8(buf, base, limit, pos, out, i, C_ID)
    out[i, C_SEC], pos = bits(buf, base, limit, pos, 16)
    out[i, C_TCONF] = ABSENT
    if opt & 64:
        out[i, C_TCONF], pos = enumerated(buf, base, limit, pos, 6, 40)
    pos = position3d(buf, base, limit, pos, out, i, C_POS)
    out[i, C_ACC], pos = optional(buf, base, limit, pos, opt & 32, 8)
    out[i, C_ACC + 1], pos = optional(buf, base, limit, pos, opt & 32, 8)
    out[i, C_ACC + 2], pos = optional(buf, base, limit, pos, opt & 32, 16)
    if opt & 16:
        pos = position_confidence(buf, base, limit, pos, out, i, C_PCONF)
    else:
        out[i, C_PCONF] = out[i, C_PCONF + 1] = ABSENT
    out[i, C_TRANS], pos = bits(buf, base, limit, pos, 3)
    out[i, C_SPEED], pos = bits(buf, base, limit, pos, 13)
    out[i, C_HEADING], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    out[i, C_ANGLE] = ABSENT
    if opt & 8:
        out[i, C_ANGLE], pos = integer(buf, base, limit, pos, 8, -126, 127)
    if opt & 4:
        pos = motion_confidence(buf, base, limit, pos, out, i, C_MCONF)
    else:
        out[i, C_MCONF] = out[i, C_MCONF + 1] = out[i, C_MCONF + 2] = ABSENT
    pos = acceleration4way(buf, base, limit, pos, out, i, C_ACCEL)
    bopt, pos = bits(buf, base, limit, pos, 7)
    for k in range(7):
        out[i, C_BRAKES + k] = ABSENT
        if (bopt >> (6 - k)) & 1:
            if _BRAKE_VALUES[k]:
                out[i, C_BRAKES + k], pos = enumerated(buf, base, limit, pos, _BRAKE_BITS[k], _BRAKE_VALUES[k])
            else:
                out[i, C_BRAKES + k], pos = bits(buf, base, limit, pos, _BRAKE_BITS[k])
    pos = vehicle_size(buf, base, limit, pos, out, i, C_SIZE)
    pos = vehicle_class(buf, base, limit, pos, out, i, C_CLASS)
    for k in range(C_SAFETY, C_INITIAL + len(INITIAL_POSITION_COLUMNS)):
        out[i, k] = ABSENT
    out[i, C_SAFETY] = 0
    out[i, C_EMERGENCY] = 0
    if opt & 2:
        out[i, C_SAFETY] = 1
        pos = no_extension(buf, base, limit, pos)
        sopt, pos = bits(buf, base, limit, pos, 4)
        if sopt & 8:
            pos = no_extension(buf, base, limit, pos)  # VehicleEventFlags SIZE(13, ...)
            out[i, C_SAFETY + 1], pos = bits(buf, base, limit, pos, 13)
        if sopt & 4:
            pos = no_extension(buf, base, limit, pos)
            hopt, pos = bits(buf, base, limit, pos, 2)
            if hopt & 2:
                pos = full_position_vector(buf, base, limit, pos, out, i, C_INITIAL)
            if hopt & 1:
                out[i, C_SAFETY + 3], pos = bits(buf, base, limit, pos, 8)
            n, pos = count(buf, base, limit, pos, 5, 1, 23)
            out[i, C_SAFETY + 2] = n
            if pos >= uper.ERR:
                return pos, n_points
            for k in range(n):
                j = n_points
                pos = no_extension(buf, base, limit, pos)
                popt, pos = bits(buf, base, limit, pos, 3)
                points[j, P_ROW] = i
                points[j, P_ROW + 1] = k
                pos = offset_llv(buf, base, limit, pos, points, j, P_OFFSET)
                points[j, P_TIME], pos = integer(buf, base, limit, pos, 16, 1, 65535)
                points[j, P_TIME + 1], pos = optional(buf, base, limit, pos, popt & 4, 13)
                if popt & 2:
                    pos = position_confidence(buf, base, limit, pos, points, j, P_TIME + 2)
                else:
                    points[j, P_TIME + 2] = points[j, P_TIME + 3] = ABSENT
                points[j, P_TIME + 4] = ABSENT
                if popt & 1:
                    points[j, P_TIME + 4], pos = integer(buf, base, limit, pos, 8, 0, 240)
                n_points += 1
        if sopt & 2:
            pos = no_extension(buf, base, limit, pos)
            out[i, C_SAFETY + 4], pos = integer(buf, base, limit, pos, 16, -32767, 32767)
            out[i, C_SAFETY + 5], pos = integer(buf, base, limit, pos, 8, 0, 200)
        if sopt & 1:
            pos = no_extension(buf, base, limit, pos)  # ExteriorLights SIZE(9, ...)
            out[i, C_SAFETY + 6], pos = bits(buf, base, limit, pos, 9)
    if opt & 1:
        out[i, C_EMERGENCY] = 1
        pos = no_extension(buf, base, limit, pos)
        eopt, pos = bits(buf, base, limit, pos, 3)
        if eopt & 4:
            out[i, C_EMERGENCY + 1], pos = extensible_enumerated(buf, base, limit, pos, 3, 7)
        if eopt & 2:
            out[i, C_EMERGENCY + 2], pos = enumerated(buf, base, limit, pos, 2, 4)
        if eopt & 1:
            out[i, C_EMERGENCY + 3], pos = enumerated(buf, base, limit, pos, 3, 8)
    return pos, n_points


@nb.njit(cache=True)
def decode_bsm(buf, starts, ends, out, status, points):
    """Decode the bsmFrame MessageFrames buf[starts[i]:ends[i]] (buf padded, see
    :func:`pipeline.decode.uper.padded`) into ``out``, ``status`` and ``points``; returns the number of
    path points, which may exceed ``points``' capacity (then the caller enlarges it and calls
    again)."""
    n_points = 0
    spare = points.shape[0] - MAX_POINTS  # past this, write into a scratch tail and only count
    for i in range(starts.size):
        if n_points <= spare:
            pos, n_points = _bsm(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, points, n_points)
        else:
            pos, extra = _bsm(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, points, spare)
            n_points += extra - spare
        status[i] = status_of(ended(pos, (ends[i] - starts[i]) * 8))
    return n_points
