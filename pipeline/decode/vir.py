"""numba decoder of the VehIntentionAndRequest (T/CSAE 157-2020 VIR), for the ``vir`` and
``vir_requests`` tables.

Like :mod:`pipeline.decode.psm` it reads the message where the envelope kernel found it inside
msgFrameExt.  One int64 row per message in :data:`VIR_COLUMNS` (speed and heading from
``currentPos``, the current DriveBehavior as an integer, bit 0 the most significant) and one per
DriveRequest in :data:`REQUEST_COLUMNS`: its reqID, status and, by the kind of its ReqInfo, the
signal priority, lane change or parking asked for.  A VIR sharing a path plan, a request to clear
the way or to share sensors, or any extension steps aside for asn1tools
(:func:`pipeline.decode.day_ii.vir_rows`), which the tests hold the kernel to.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline.decode import uper
from pipeline.decode.uper import (
    ABSENT,
    ERR,
    FALLBACK,
    acceleration4way,
    bits,
    count,
    ended_at,
    extensible_enumerated,
    fail,
    flag,
    integer,
    no_extension,
    octets8,
    offset_llv,
    position3d,
    position_confidence,
    status_of,
    vehicle_class,
)

VIR_COLUMNS = ("msg_cnt", "id_hi", "id_lo", "sec_mark", *uper.POSITION3D_COLUMNS, "speed", "heading", "behavior", "requests")
REQUEST_COLUMNS = (
    "row",
    "request",
    "req_id",
    "status",
    "priority",
    "target_vehicle_hi",
    "target_vehicle_lo",
    "target_rsu_hi",
    "target_rsu_lo",
    "life_time",
    "kind",
    "intersection_region",
    "intersection_id",
    "phase_id",
    "turn",
    "eta",
    "distance",
    "parking",
    "parking_type",
    "slot_id",
    "vehicle_class",
    "fuel_type",
    "upstream_id",
    "downstream_id",
    "target_lane",
)
REQUEST = uper.column_index(REQUEST_COLUMNS)
KINDS = ("laneChange", "clearTheWay", "signalPriority", "sensorSharing", "parking")  # ReqInfo alternatives
MAX_REQUESTS = 8
_SPEED, _HEADING, _BEHAVIOR, _REQUESTS = (VIR_COLUMNS.index(c) for c in ("speed", "heading", "behavior", "requests"))
(
    _REQ_ID,
    _STATUS,
    _PRIORITY,
    _TARGET_VEHICLE,
    _TARGET_RSU,
    _LIFE_TIME,
    _KIND,
    _REGION,
    _INTERSECTION,
    _PHASE,
    _TURN,
    _ETA,
    _DISTANCE,
    _PARKING,
    _PARKING_TYPE,
    _SLOT,
    _CLASS,
    _UPSTREAM,
    _DOWNSTREAM,
    _LANE,
) = (
    REQUEST[c]
    for c in (
        "req_id",
        "status",
        "priority",
        "target_vehicle_hi",
        "target_rsu_hi",
        "life_time",
        "kind",
        "intersection_region",
        "intersection_id",
        "phase_id",
        "turn",
        "eta",
        "distance",
        "parking",
        "parking_type",
        "slot_id",
        "vehicle_class",
        "upstream_id",
        "downstream_id",
        "target_lane",
    )
)


@nb.njit(cache=True)
def _node(buf, base, limit, pos):
    """NodeReferenceID: (region or ABSENT, id, pos)."""
    has_region, pos = flag(buf, base, limit, pos)
    region = ABSENT
    if has_region:
        region, pos = bits(buf, base, limit, pos, 16)
    node, pos = bits(buf, base, limit, pos, 16)
    return region, node, pos


@nb.njit(cache=True)
def _bit_string(buf, base, limit, pos, n):
    """A BIT STRING (SIZE(n, ...)) of its root size."""
    pos = no_extension(buf, base, limit, pos)
    return bits(buf, base, limit, pos, n)


@nb.njit(cache=True)
def _current_pos(buf, base, limit, pos, out, i, scratch):
    """PathPlanningPoint ``currentPos``: its speed and heading into out[i]; the rest read past."""
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 10)
    # posInMap, posAccuracy, speed, speedCfd, heading, headingCfd, accelSet, acc4WayConfidence,
    # estimatedTime, timeConfidence
    if opt & 512:  # ReferenceLink
        has_lanes, pos = flag(buf, base, limit, pos)
        _, _, pos = _node(buf, base, limit, pos)
        _, _, pos = _node(buf, base, limit, pos)
        if has_lanes:
            _, pos = bits(buf, base, limit, pos, 16)
    pos = offset_llv(buf, base, limit, pos, scratch, 0, 0)
    if opt & 256:
        pos = position_confidence(buf, base, limit, pos, scratch, 0, 0)
    if opt & 128:
        out[i, _SPEED], pos = bits(buf, base, limit, pos, 13)
    if opt & 64:
        _, pos = bits(buf, base, limit, pos, 3)
    if opt & 32:
        out[i, _HEADING], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    if opt & 16:
        _, pos = bits(buf, base, limit, pos, 3)
    if opt & 8:
        pos = acceleration4way(buf, base, limit, pos, scratch, 0, 0)
    if opt & 4:
        _, pos = bits(buf, base, limit, pos, 12)
    if opt & 2:
        _, pos = integer(buf, base, limit, pos, 16, 1, 65535)
    if opt & 1:
        _, pos = integer(buf, base, limit, pos, 8, 0, 200)
    return pos


@nb.njit(cache=True)
def _request(buf, base, limit, pos, reqs, j):
    """One DriveRequest into reqs[j]."""
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 5)  # reqPriority, targetVeh, targetRSU, info, lifeTime
    reqs[j, _REQ_ID], pos = bits(buf, base, limit, pos, 8)
    reqs[j, _STATUS], pos = extensible_enumerated(buf, base, limit, pos, 3, 5)
    if opt & 16:
        octet, pos = bits(buf, base, limit, pos, 8)
        reqs[j, _PRIORITY] = octet >> 5
    if opt & 8:
        pos = octets8(buf, base, limit, pos, reqs, j, _TARGET_VEHICLE)
    if opt & 4:
        pos = octets8(buf, base, limit, pos, reqs, j, _TARGET_RSU)
    if opt & 2:
        pos = no_extension(buf, base, limit, pos)  # ReqInfo: an alternative of the root
        kind, pos = bits(buf, base, limit, pos, 3)
        if kind > 4:
            return fail(pos, uper.BAD_ENUM)
        reqs[j, _KIND] = kind
        if kind == 1 or kind == 3:  # clearTheWay, sensorSharing: asn1tools
            return fail(pos, FALLBACK)
        pos = no_extension(buf, base, limit, pos)
        if kind == 0:  # Req-LaneChange
            _, reqs[j, _UPSTREAM], pos = _node(buf, base, limit, pos)
            _, reqs[j, _DOWNSTREAM], pos = _node(buf, base, limit, pos)
            reqs[j, _LANE], pos = bits(buf, base, limit, pos, 8)
        elif kind == 2:  # Req-SignalPriority
            has, pos = bits(buf, base, limit, pos, 2)  # estimatedArrivalTime, distance2Intersection
            reqs[j, _REGION], reqs[j, _INTERSECTION], pos = _node(buf, base, limit, pos)
            pos = no_extension(buf, base, limit, pos)  # MovementEx
            mov, pos = bits(buf, base, limit, pos, 2)  # phaseId, turn-direction
            _, _, pos = _node(buf, base, limit, pos)
            if mov & 2:
                reqs[j, _PHASE], pos = bits(buf, base, limit, pos, 8)
            if mov & 1:
                reqs[j, _TURN], pos = extensible_enumerated(buf, base, limit, pos, 2, 4)
            if has & 2:
                reqs[j, _ETA], pos = integer(buf, base, limit, pos, 16, 1, 65535)
            if has & 1:
                reqs[j, _DISTANCE], pos = integer(buf, base, limit, pos, 14, 0, 10000)
        else:  # Req-ParkingArea
            has, pos = bits(buf, base, limit, pos, 2)  # parkingType, expectedParkingSlotID
            pos = vehicle_class(buf, base, limit, pos, reqs, j, _CLASS)
            reqs[j, _PARKING], pos = _bit_string(buf, base, limit, pos, 12)
            if has & 2:
                reqs[j, _PARKING_TYPE], pos = _bit_string(buf, base, limit, pos, 10)
            if has & 1:
                reqs[j, _SLOT], pos = bits(buf, base, limit, pos, 16)
    if opt & 1:
        reqs[j, _LIFE_TIME], pos = integer(buf, base, limit, pos, 16, 1, 65535)
    return pos


@nb.njit(cache=True)
def _vir(buf, base, limit, pos, out, i, reqs, n_reqs, scratch):
    for c in range(out.shape[1]):
        out[i, c] = ABSENT
    ext, pos = flag(buf, base, limit, pos)
    if ext:
        return fail(pos, FALLBACK), n_reqs
    out[i, 0], pos = bits(buf, base, limit, pos, 7)
    pos = octets8(buf, base, limit, pos, out, i, 1)
    out[i, 3], pos = bits(buf, base, limit, pos, 16)
    pos = position3d(buf, base, limit, pos, out, i, 4)
    pos = no_extension(buf, base, limit, pos)  # IARData
    opt, pos = bits(buf, base, limit, pos, 4)  # currentPos, path-Planning, currentBehavior, reqs
    if opt & 4:
        return fail(pos, FALLBACK), n_reqs
    if opt & 8:
        pos = _current_pos(buf, base, limit, pos, out, i, scratch)
    if opt & 2:
        out[i, _BEHAVIOR], pos = _bit_string(buf, base, limit, pos, 14)
    out[i, _REQUESTS] = 0
    if opt & 1 and pos < ERR:
        n, pos = count(buf, base, limit, pos, 3, 1, MAX_REQUESTS)
        out[i, _REQUESTS] = n
        for k in range(n if pos < ERR else 0):
            for c in range(reqs.shape[1]):
                reqs[n_reqs, c] = ABSENT
            reqs[n_reqs, 0] = i
            reqs[n_reqs, 1] = k
            pos = _request(buf, base, limit, pos, reqs, n_reqs)
            n_reqs += 1
    return pos, n_reqs


@nb.njit(cache=True)
def decode_vir(buf, bases, starts, ends, out, status, reqs):
    """Decode the VIRs that start at bit ``starts[i]`` after byte ``bases[i]`` and end at bit
    ``ends[i]`` into ``out``, ``status`` and ``reqs`` (which holds MAX_REQUESTS rows per message)."""
    n_reqs = 0
    scratch = np.empty((1, 5), dtype=np.int64)
    for i in range(bases.size):
        pos, n_reqs = _vir(buf, bases[i], ends[i], starts[i], out, i, reqs, n_reqs, scratch)
        status[i] = status_of(ended_at(pos, starts[i], ends[i]))
    return n_reqs


def decode_virs(
    buf: np.ndarray, bases: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, status, requests) of the VIRs (see :func:`decode_vir`); requests of a message whose
    status is not OK may be partly written: keep only those of OK rows."""
    buf, bases, starts, ends = uper.message_spans(buf, bases, starts, ends)
    rows = np.empty((bases.size, len(VIR_COLUMNS)), dtype=np.int64)
    status = np.zeros(bases.size, dtype=np.int8)
    reqs = np.empty((bases.size * MAX_REQUESTS, len(REQUEST_COLUMNS)), dtype=np.int64)
    found = decode_vir(buf, bases, starts, ends, rows, status, reqs)
    return rows, status, reqs[:found]


def warm_up() -> None:
    """Compile (or load from cache) the decoder (:func:`pipeline.decode.uper.warm_up_spans`)."""
    uper.warm_up_spans(decode_virs)
