"""numba decoder of the SensorSharingMsg (T/CSAE 157-2020 SSM), for the ``ssm`` and
``ssm_objects`` tables.

Like :mod:`pipeline.decode.psm` it reads the message where the envelope kernel found it inside
msgFrameExt.  One int64 row per message in :data:`SSM_COLUMNS`, one per participant or obstacle
in :data:`OBJECT_COLUMNS`: a participant's ParticipantData in the columns of the RSM
participants (:mod:`pipeline.decode.rsm`), an obstacle's fields in the same places (obsId as
``ptc_id``, ObjectSize in the size columns), then ``detected_type`` (DetectedPTCType or
ObstacleType) and ``tracking``.  The detected region is read and counted.  A participant with a
path history, a planning list, a polygon or a type-related extension, an obstacle with a
polygon, traffic events (rtes) or any extension step aside for asn1tools
(:func:`pipeline.decode.day_ii.ssm_rows`), which the tests hold the kernel to.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline.decode import rsm, uper
from pipeline.decode.uper import (
    ABSENT,
    ERR,
    FALLBACK,
    acceleration4way,
    bits,
    count,
    ended_at,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    no_extension,
    octets8,
    offset_llv,
    optional,
    position3d,
    position_confidence,
    status_of,
)

SSM_COLUMNS = (
    "msg_cnt",
    "id_hi",
    "id_lo",
    "equipment_type",
    "sec_mark",
    *uper.POSITION3D_COLUMNS,
    "regions",
    "participants",
    "obstacles",
)
OBJECT_COLUMNS = (*rsm.PARTICIPANT_COLUMNS, "detected_type", "tracking")
OBJECT = uper.column_index(OBJECT_COLUMNS)
_ACCEL_LONG = OBJECT["accel_long"]
_DETECTED_TYPE = OBJECT["detected_type"]
_HEADING = OBJECT["heading"]
_HEADING_CONFIDENCE = OBJECT["heading_confidence"]
_HEIGHT = OBJECT["height"]
_LENGTH = OBJECT["length"]
_OFFSET_KIND = OBJECT["offset_kind"]
_POS_CONFIDENCE = OBJECT["pos_confidence"]
_PTC_ID = OBJECT["ptc_id"]
_SEC_MARK = OBJECT["sec_mark"]
_SOURCE = OBJECT["source"]
_SPEED = OBJECT["speed"]
_SPEED_CONFIDENCE = OBJECT["speed_confidence"]
_TRACKING = OBJECT["tracking"]
_WIDTH = OBJECT["width"]
MAX_OBJECTS = 512 + 64


@nb.njit(cache=True)
def _size_confidence(buf, base, limit, pos):
    """ObjectSizeConfidence, read and dropped (SizeValueConfidence: 14 values in 4 bits)."""
    has_height, pos = flag(buf, base, limit, pos)
    _, pos = enumerated(buf, base, limit, pos, 4, 14)
    _, pos = enumerated(buf, base, limit, pos, 4, 14)
    if has_height:
        _, pos = enumerated(buf, base, limit, pos, 4, 14)
    return pos


@nb.njit(cache=True)
def _absent(objects, j):
    for c in range(objects.shape[1]):
        objects[j, c] = ABSENT


@nb.njit(cache=True)
def _participant(buf, base, limit, pos, objects, j):
    """A DetectedPTCData (T/CSAE 157-2020) into objects[j]."""
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 10)
    # objSizeConfidence, detectedPTCType, typeConfidence, acc4WayConfidence, statusDuration,
    # pathHistory, planningList, tracking, polygon, type-relatedExt
    if opt & (16 | 8 | 2 | 1):
        return fail(pos, FALLBACK)
    pos = rsm.participant(buf, base, limit, pos, objects, j, 2)
    if opt & 512:
        pos = _size_confidence(buf, base, limit, pos)
    if opt & 256:
        objects[j, _DETECTED_TYPE], pos = extensible_enumerated(buf, base, limit, pos, 4, 11)
    if opt & 128:
        _, pos = integer(buf, base, limit, pos, 8, 0, 200)
    if opt & 64:
        _, pos = bits(buf, base, limit, pos, 12)  # AccSet4WayConfidence: four 3-bit enumerations
    if opt & 32:
        _, pos = integer(buf, base, limit, pos, 16, 1, 65535)
    if opt & 4:
        objects[j, _TRACKING], pos = integer(buf, base, limit, pos, 16, 1, 65535)
    return pos


@nb.njit(cache=True)
def _obstacle(buf, base, limit, pos, objects, j):
    """A DetectedObstacleData (T/CSAE 157-2020) into objects[j], in the participant columns."""
    pos = no_extension(buf, base, limit, pos)
    opt, pos = bits(buf, base, limit, pos, 9)
    # objTypeConfidence, speedCfd, headingCfd, verSpeed, verSpeedConfidence, accelSet,
    # objSizeConfidence, tracking, polygon
    if opt & 1:
        return fail(pos, FALLBACK)
    objects[j, _DETECTED_TYPE], pos = extensible_enumerated(buf, base, limit, pos, 4, 13)
    if opt & 256:
        _, pos = integer(buf, base, limit, pos, 8, 0, 200)
    objects[j, _PTC_ID], pos = bits(buf, base, limit, pos, 16)
    objects[j, _SOURCE], pos = extensible_enumerated(buf, base, limit, pos, 3, 8)
    objects[j, _SEC_MARK], pos = bits(buf, base, limit, pos, 16)
    pos = offset_llv(buf, base, limit, pos, objects, j, _OFFSET_KIND)
    pos = position_confidence(buf, base, limit, pos, objects, j, _POS_CONFIDENCE)
    objects[j, _SPEED], pos = bits(buf, base, limit, pos, 13)
    objects[j, _SPEED_CONFIDENCE], pos = optional(buf, base, limit, pos, opt & 128, 3)
    objects[j, _HEADING], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    objects[j, _HEADING_CONFIDENCE], pos = optional(buf, base, limit, pos, opt & 64, 3)
    if opt & 32:
        _, pos = bits(buf, base, limit, pos, 13)  # verSpeed
    if opt & 16:
        _, pos = bits(buf, base, limit, pos, 3)  # verSpeedConfidence
    if opt & 8:
        pos = acceleration4way(buf, base, limit, pos, objects, j, _ACCEL_LONG)
    has_height, pos = flag(buf, base, limit, pos)  # ObjectSize, 10 cm
    objects[j, _WIDTH], pos = bits(buf, base, limit, pos, 10)
    objects[j, _LENGTH], pos = bits(buf, base, limit, pos, 10)
    objects[j, _HEIGHT], pos = optional(buf, base, limit, pos, has_height, 10)
    if opt & 4:
        pos = _size_confidence(buf, base, limit, pos)
    if opt & 2:
        objects[j, _TRACKING], pos = integer(buf, base, limit, pos, 16, 1, 65535)
    return pos


@nb.njit(cache=True)
def _ssm(buf, base, limit, pos, out, i, objects, n_objects, scratch):
    for c in range(out.shape[1]):
        out[i, c] = ABSENT
    ext, pos = flag(buf, base, limit, pos)
    if ext:
        return fail(pos, FALLBACK), n_objects
    opt, pos = bits(buf, base, limit, pos, 4)  # detectedRegion, participants, obstacles, rtes
    if opt & 1:
        return fail(pos, FALLBACK), n_objects
    out[i, 0], pos = bits(buf, base, limit, pos, 7)
    pos = octets8(buf, base, limit, pos, out, i, 1)
    out[i, 3], pos = extensible_enumerated(buf, base, limit, pos, 2, 4)
    out[i, 4], pos = bits(buf, base, limit, pos, 16)
    pos = position3d(buf, base, limit, pos, out, i, 5)
    out[i, 8] = out[i, 9] = out[i, 10] = 0
    if opt & 8:
        n, pos = count(buf, base, limit, pos, 3, 1, 8)
        out[i, 8] = n
        for _ in range(n if pos < ERR else 0):
            corners, pos = count(buf, base, limit, pos, 5, 4, 32)
            for _ in range(corners if pos < ERR else 0):
                pos = offset_llv(buf, base, limit, pos, scratch, 0, 0)
    if opt & 4 and pos < ERR:
        n, pos = count(buf, base, limit, pos, 9, 1, 512)
        out[i, 9] = n
        for k in range(n if pos < ERR else 0):
            _absent(objects, n_objects)
            objects[n_objects, 0] = i
            objects[n_objects, 1] = k
            pos = _participant(buf, base, limit, pos, objects, n_objects)
            n_objects += 1
    if opt & 2 and pos < ERR:
        n, pos = count(buf, base, limit, pos, 6, 1, 64)
        out[i, 10] = n
        for k in range(n if pos < ERR else 0):
            _absent(objects, n_objects)
            objects[n_objects, 0] = i
            objects[n_objects, 1] = 512 + k  # obstacles after the participants
            pos = _obstacle(buf, base, limit, pos, objects, n_objects)
            n_objects += 1
    return pos, n_objects


@nb.njit(cache=True)
def decode_ssm(buf, bases, starts, ends, out, status, objects):
    """Decode the SSMs that start at bit ``starts[i]`` after byte ``bases[i]`` and end at bit
    ``ends[i]`` into ``out``, ``status`` and ``objects``; returns the number of objects (rows
    beyond the capacity are counted, not written: the caller grows ``objects`` and calls again)."""
    n_objects = 0
    spare = objects.shape[0] - MAX_OBJECTS
    scratch = np.empty((1, 5), dtype=np.int64)
    for i in range(bases.size):
        if n_objects <= spare:
            pos, n_objects = _ssm(buf, bases[i], ends[i], starts[i], out, i, objects, n_objects, scratch)
        else:
            pos, extra = _ssm(buf, bases[i], ends[i], starts[i], out, i, objects, spare, scratch)
            n_objects += extra - spare
        status[i] = status_of(ended_at(pos, starts[i], ends[i]))
    return n_objects


def decode_ssms(
    buf: np.ndarray, bases: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, status, objects) of the SSMs (see :func:`decode_ssm`); objects of a message whose
    status is not OK may be partly written: keep only those of OK rows."""
    buf, bases, starts, ends = uper.message_spans(buf, bases, starts, ends)
    rows = np.empty((bases.size, len(SSM_COLUMNS)), dtype=np.int64)
    status = np.zeros(bases.size, dtype=np.int8)
    capacity = bases.size * 16 + MAX_OBJECTS
    while True:
        objects = np.empty((capacity, len(OBJECT_COLUMNS)), dtype=np.int64)
        found = decode_ssm(buf, bases, starts, ends, rows, status, objects)
        if found + MAX_OBJECTS <= capacity:
            return rows, status, objects[:found]
        capacity = found + MAX_OBJECTS


def warm_up() -> None:
    """Compile (or load from cache) the decoder (:func:`pipeline.decode.uper.warm_up_spans`)."""
    uper.warm_up_spans(decode_ssms)
