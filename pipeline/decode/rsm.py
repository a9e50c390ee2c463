"""numba decoder of the RoadsideSafetyMessage (YD/T 3709-2020 RSM), every field.

One int64 row per message in ``RSM_COLUMNS`` (RSU id as two 32-bit halves, refPos) and one row
per participant in ``PARTICIPANT_COLUMNS`` (position as a PositionOffsetLLV from refPos).  Rows
equal :func:`pipeline.decode.reference_rows.rsm_rows`.
"""

from __future__ import annotations

import numba as nb

from pipeline.decode import uper
from pipeline.decode.uper import (
    ABSENT,
    ERR,
    FALLBACK,
    acceleration4way,
    bits,
    count,
    ended,
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

RSM_COLUMNS = ("msg_cnt", "id_hi", "id_lo", "ref_lat", "ref_lon", "ref_elevation", "participants")
PARTICIPANT_COLUMNS = (
    "row",
    "participant",
    "ptc_type",
    "ptc_id",
    "source",
    "id_hi",
    "id_lo",
    "sec_mark",
    *uper.OFFSET_LLV_COLUMNS,
    *uper.POSITION_CONFIDENCE_COLUMNS,
    "transmission",
    "speed",
    "heading",
    "angle",
    *uper.MOTION_CONFIDENCE_COLUMNS,
    *uper.ACCELERATION_COLUMNS,
    *uper.VEHICLE_SIZE_COLUMNS,
    *uper.VEHICLE_CLASS_COLUMNS,
)
_P = uper.column_index(PARTICIPANT_COLUMNS)
P_ID, P_SEC, P_OFFSET, P_PCONF, P_TRANS = _P["id_hi"], _P["sec_mark"], _P["offset_kind"], _P["pos_confidence"], _P["transmission"]
P_MCONF, P_ACCEL, P_SIZE, P_CLASS = _P["speed_confidence"], _P["accel_long"], _P["width"], _P["vehicle_class"]


MAX_PARTICIPANTS = 16


@nb.njit(cache=True)
def participant(buf, base, limit, pos, parts, j, c):
    """One ParticipantData into parts[j, c:]: the columns of PARTICIPANT_COLUMNS from ``ptc_type`` on
    (shared with the SSM decoder, whose DetectedPTCData starts with one)."""
    d = c - 2  # PARTICIPANT_COLUMNS puts ptc_type in column 2
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 6)  # id, transmission, angle, motionCfd, accelSet, vehicleClass
    parts[j, c], pos = extensible_enumerated(buf, base, limit, pos, 3, 5)
    parts[j, c + 1], pos = bits(buf, base, limit, pos, 16)
    parts[j, c + 2], pos = extensible_enumerated(buf, base, limit, pos, 3, 8)
    if opt & 32:
        pos = octets8(buf, base, limit, pos, parts, j, P_ID + d)
    else:
        parts[j, P_ID + d] = parts[j, P_ID + d + 1] = ABSENT
    parts[j, P_SEC + d], pos = bits(buf, base, limit, pos, 16)
    pos = offset_llv(buf, base, limit, pos, parts, j, P_OFFSET + d)
    pos = position_confidence(buf, base, limit, pos, parts, j, P_PCONF + d)
    parts[j, P_TRANS + d], pos = optional(buf, base, limit, pos, opt & 16, 3)
    parts[j, P_TRANS + d + 1], pos = bits(buf, base, limit, pos, 13)
    parts[j, P_TRANS + d + 2], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    parts[j, P_TRANS + d + 3] = ABSENT
    if opt & 8:
        parts[j, P_TRANS + d + 3], pos = integer(buf, base, limit, pos, 8, -126, 127)
    if opt & 4:
        pos = motion_confidence(buf, base, limit, pos, parts, j, P_MCONF + d)
    else:
        parts[j, P_MCONF + d] = parts[j, P_MCONF + d + 1] = parts[j, P_MCONF + d + 2] = ABSENT
    if opt & 2:
        pos = acceleration4way(buf, base, limit, pos, parts, j, P_ACCEL + d)
    else:
        for a in range(4):
            parts[j, P_ACCEL + d + a] = ABSENT
    pos = vehicle_size(buf, base, limit, pos, parts, j, P_SIZE + d)
    if opt & 1:
        pos = vehicle_class(buf, base, limit, pos, parts, j, P_CLASS + d)
    else:
        parts[j, P_CLASS + d] = parts[j, P_CLASS + d + 1] = ABSENT
    return pos


@nb.njit(cache=True)
def _rsm(buf, base, limit, out, i, parts, n_parts):
    """Decode one RSM into out[i] and parts[n_parts:]; returns (pos, n_parts)."""
    ext, pos = flag(buf, base, limit, 4)
    if ext:
        return fail(pos, FALLBACK), n_parts
    out[i, 0], pos = bits(buf, base, limit, pos, 7)
    pos = octets8(buf, base, limit, pos, out, i, 1)
    pos = position3d(buf, base, limit, pos, out, i, 3)
    n, pos = count(buf, base, limit, pos, 4, 1, 16)
    out[i, 6] = n
    if pos >= ERR:
        return pos, n_parts
    for k in range(n):
        j = n_parts
        parts[j, 0] = i
        parts[j, 1] = k
        pos = participant(buf, base, limit, pos, parts, j, 2)
        n_parts += 1
    return pos, n_parts


@nb.njit(cache=True)
def decode_rsm(buf, starts, ends, out, status, parts):
    """Decode the rsmFrame MessageFrames buf[starts[i]:ends[i]] (buf padded) into ``out``,
    ``status`` and ``parts``; returns the number of participants (see :func:`decode_bsm`)."""
    n_parts = 0
    spare = parts.shape[0] - MAX_PARTICIPANTS
    for i in range(starts.size):
        if n_parts <= spare:
            pos, n_parts = _rsm(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, parts, n_parts)
        else:
            pos, extra = _rsm(buf, starts[i], (ends[i] - starts[i]) * 8, out, i, parts, spare)
            n_parts += extra - spare
        status[i] = status_of(ended(pos, (ends[i] - starts[i]) * 8))
    return n_parts
