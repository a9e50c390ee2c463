"""numba decoder of the RoadsideSafetyMessage (YD/T 3709-2020 RSM), every field.

One int64 row per message in ``RSM_COLUMNS`` (RSU id as two 32-bit halves, refPos) and one row
per participant in ``PARTICIPANT_COLUMNS`` (position as a PositionOffsetLLV from refPos).  Rows
equal :func:`pipeline.reference_rows.rsm_rows`.
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

RSM_COLUMNS = ("msg_cnt", "id_hi", "id_lo", "ref_lat", "ref_lon", "ref_elevation", "participants")
PARTICIPANT_COLUMNS = (
    "row", "participant", "ptc_type", "ptc_id", "source", "id_hi", "id_lo", "sec_mark",
    *uper.OFFSET_LLV_COLUMNS,
    *uper.POSITION_CONFIDENCE_COLUMNS,
    "transmission", "speed", "heading", "angle",
    *uper.MOTION_CONFIDENCE_COLUMNS,
    *uper.ACCELERATION_COLUMNS,
    *uper.VEHICLE_SIZE_COLUMNS,
    *uper.VEHICLE_CLASS_COLUMNS,
)
_P = uper.column_index(PARTICIPANT_COLUMNS)
P_ID, P_SEC, P_OFFSET, P_PCONF, P_TRANS = _P["id_hi"], _P["sec_mark"], _P["offset_kind"], _P["pos_confidence"], _P["transmission"]
P_MCONF, P_ACCEL, P_SIZE, P_CLASS = _P["speed_confidence"], _P["accel_long"], _P["width"], _P["vehicle_class"]


@nb.njit(cache=True)
def _rsm(buf, base, st, out, i, parts, n_parts):
    if flag(buf, base, st):
        fail(st, FALLBACK)
        return n_parts
    out[i, 0] = bits(buf, base, st, 7)
    octets8(buf, base, st, out, i, 1)
    position3d(buf, base, st, out, i, 3)
    n = count(buf, base, st, 4, 1, 16)
    out[i, 6] = n
    if st[STATUS] != OK:
        return n_parts
    for k in range(n):
        j = n_parts if n_parts < parts.shape[0] else parts.shape[0] - 1
        no_extension(buf, base, st)
        opt = bits(buf, base, st, 6)  # id, transmission, angle, motionCfd, accelSet, vehicleClass
        parts[j, 0] = i
        parts[j, 1] = k
        parts[j, 2] = extensible_enumerated(buf, base, st, 3, 5)
        parts[j, 3] = bits(buf, base, st, 16)
        parts[j, 4] = extensible_enumerated(buf, base, st, 3, 8)
        if opt & 32:
            octets8(buf, base, st, parts, j, P_ID)
        else:
            parts[j, P_ID] = parts[j, P_ID + 1] = ABSENT
        parts[j, P_SEC] = bits(buf, base, st, 16)
        offset_llv(buf, base, st, parts, j, P_OFFSET)
        position_confidence(buf, base, st, parts, j, P_PCONF)
        parts[j, P_TRANS] = bits(buf, base, st, 3) if opt & 16 else ABSENT
        parts[j, P_TRANS + 1] = bits(buf, base, st, 13)
        parts[j, P_TRANS + 2] = integer(buf, base, st, 15, 0, 28800)
        parts[j, P_TRANS + 3] = integer(buf, base, st, 8, -126, 127) if opt & 8 else ABSENT
        if opt & 4:
            motion_confidence(buf, base, st, parts, j, P_MCONF)
        else:
            parts[j, P_MCONF] = parts[j, P_MCONF + 1] = parts[j, P_MCONF + 2] = ABSENT
        if opt & 2:
            acceleration4way(buf, base, st, parts, j, P_ACCEL)
        else:
            for c in range(4):
                parts[j, P_ACCEL + c] = ABSENT
        vehicle_size(buf, base, st, parts, j, P_SIZE)
        if opt & 1:
            vehicle_class(buf, base, st, parts, j, P_CLASS)
        else:
            parts[j, P_CLASS] = parts[j, P_CLASS + 1] = ABSENT
        n_parts += 1
    return n_parts


@nb.njit(cache=True)
def decode_rsm(buf, starts, ends, out, status, parts):
    """Decode the rsmFrame MessageFrames buf[starts[i]:ends[i]]; returns the participant count
    (the caller enlarges ``parts`` and decodes again if it exceeds the capacity)."""
    st = np.zeros(3, dtype=np.int64)
    n_parts = 0
    for i in range(starts.size):
        st[POS] = 4
        st[LIMIT] = (ends[i] - starts[i]) * 8
        st[STATUS] = OK
        n_parts = _rsm(buf, starts[i], st, out, i, parts, n_parts)
        status[i] = st[STATUS]
    return n_parts
