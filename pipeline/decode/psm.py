"""numba decoder of the PersonalSafetyMessage (T/CSAE 157-2020 PSM), for the ``psm`` table.

A Day-II message lies inside the MessageFrame's msgFrameExt, behind two open-type lengths; the
envelope kernel says where it starts (``message_bit``) and the decoder reads from there to the
end of its own encoding (``end_bit``), which must end in its last octet like any complete UPER
encoding.  One int64 row per message in :data:`PSM_COLUMNS`: enumerations as their root index,
BIT STRINGs as integers (bit 0 the most significant), ``ABSENT`` for an optional member not sent.
A PSM that shares a path history or a path plan, or uses any extension, falls back to asn1tools
(:func:`pipeline.decode.day_ii.psm_rows`), which the tests hold the kernel to.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipeline.decode import uper
from pipeline.decode.uper import (
    ABSENT,
    FALLBACK,
    OK,
    acceleration4way,
    bits,
    ended_at,
    enumerated,
    extensible_enumerated,
    fail,
    flag,
    integer,
    no_extension,
    octets8,
    position3d,
    status_of,
)

PSM_COLUMNS = (
    "msg_cnt",
    "id_hi",
    "id_lo",
    "sec_mark",
    "time_confidence",
    *uper.POSITION3D_COLUMNS,
    "semi_major",
    "semi_minor",
    "orientation",
    "speed",
    "heading",
    *uper.ACCELERATION_COLUMNS,
    "radius",
    "basic_type",
    "propulsion_kind",
    "propulsion",
    "cluster_size",
    "attachment",
    "use_state",
    "assist_type",
    "worker_type",
    "activities",
    "crossing",
)
C = uper.column_index(PSM_COLUMNS)
_ACCEL, _NON_MOTOR = C["accel_long"], C["basic_type"]

PROPULSION_KINDS = ("human", "animal", "motor")
# root values and bits of the propulsion alternatives' enumerations (HumanPropelledType,
# AnimalPropelledType, MotorizedPropelledType)
_PROPULSION_COUNT = (6, 4, 6)
_PROPULSION_BITS = (3, 2, 3)


@nb.njit(cache=True)
def _fixed_bit_string(buf, base, limit, pos, n):
    """A BIT STRING (SIZE(n, ...)) of its root size: the extension bit, then n bits."""
    pos = no_extension(buf, base, limit, pos)
    return bits(buf, base, limit, pos, n)


@nb.njit(cache=True)
def _psm(buf, base, limit, pos, out, i):
    for c in range(out.shape[1]):
        out[i, c] = ABSENT
    ext, pos = flag(buf, base, limit, pos)
    if ext:
        return fail(pos, FALLBACK)
    opt, pos = bits(buf, base, limit, pos, 4)  # timeConfidence, accelSet, pathHistory, path-Planning
    if opt & 3:
        return fail(pos, FALLBACK)  # a shared path: asn1tools
    out[i, 0], pos = bits(buf, base, limit, pos, 7)
    pos = octets8(buf, base, limit, pos, out, i, 1)
    out[i, 3], pos = bits(buf, base, limit, pos, 16)
    if opt & 8:
        out[i, 4], pos = enumerated(buf, base, limit, pos, 6, 40)
    pos = position3d(buf, base, limit, pos, out, i, 5)
    out[i, 8], pos = bits(buf, base, limit, pos, 8)
    out[i, 9], pos = bits(buf, base, limit, pos, 8)
    out[i, 10], pos = bits(buf, base, limit, pos, 16)
    out[i, 11], pos = bits(buf, base, limit, pos, 13)
    out[i, 12], pos = integer(buf, base, limit, pos, 15, 0, 28800)
    if opt & 4:
        pos = acceleration4way(buf, base, limit, pos, out, i, _ACCEL)
    out[i, _ACCEL + 4], pos = integer(buf, base, limit, pos, 8, 0, 200)
    # Non-motorData
    c = _NON_MOTOR
    pos = no_extension(buf, base, limit, pos)
    more, pos = bits(buf, base, limit, pos, 6)  # propulsion, clusterSize, attachment, personalExt, roadWorkerExt, personalReq
    out[i, c], pos = extensible_enumerated(buf, base, limit, pos, 3, 5)
    if more & 32:
        pos = no_extension(buf, base, limit, pos)
        kind, pos = bits(buf, base, limit, pos, 2)
        if kind > 2:
            return fail(pos, uper.BAD_ENUM)
        out[i, c + 1] = kind
        out[i, c + 2], pos = extensible_enumerated(buf, base, limit, pos, _PROPULSION_BITS[kind], _PROPULSION_COUNT[kind])
    if more & 16:
        out[i, c + 3], pos = extensible_enumerated(buf, base, limit, pos, 2, 4)
    if more & 8:
        out[i, c + 4], pos = extensible_enumerated(buf, base, limit, pos, 3, 7)
    if more & 4:
        pos = no_extension(buf, base, limit, pos)
        has, pos = bits(buf, base, limit, pos, 2)
        if has & 2:
            out[i, c + 5], pos = _fixed_bit_string(buf, base, limit, pos, 9)
        if has & 1:
            out[i, c + 6], pos = _fixed_bit_string(buf, base, limit, pos, 6)
    if more & 2:
        pos = no_extension(buf, base, limit, pos)
        has, pos = bits(buf, base, limit, pos, 2)
        if has & 2:
            out[i, c + 7], pos = extensible_enumerated(buf, base, limit, pos, 3, 7)
        if has & 1:
            out[i, c + 8], pos = _fixed_bit_string(buf, base, limit, pos, 6)
    if more & 1:
        pos = no_extension(buf, base, limit, pos)
        has, pos = flag(buf, base, limit, pos)
        if has:
            out[i, c + 9], pos = extensible_enumerated(buf, base, limit, pos, 2, 4)
    return pos


@nb.njit(cache=True)
def decode_psm(buf, bases, starts, ends, out, status):
    """Decode the PSMs that start at bit ``starts[i]`` after byte ``bases[i]`` and whose
    encoding ends at bit ``ends[i]`` (buf padded) into ``out`` and ``status``."""
    for i in range(bases.size):
        pos = _psm(buf, bases[i], ends[i], starts[i], out, i)
        status[i] = status_of(ended_at(pos, starts[i], ends[i]))
    return OK


def decode_psms(buf: np.ndarray, bases: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, status) of the PSMs (see :func:`decode_psm`)."""
    buf, bases, starts, ends = uper.message_spans(buf, bases, starts, ends)
    rows = np.empty((bases.size, len(PSM_COLUMNS)), dtype=np.int64)
    status = np.zeros(bases.size, dtype=np.int8)
    decode_psm(buf, bases, starts, ends, rows, status)
    return rows, status


def warm_up() -> None:
    """Compile (or load from cache) the decoder (:func:`pipeline.decode.uper.warm_up_spans`)."""
    uper.warm_up_spans(decode_psms)
