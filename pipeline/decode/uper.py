"""numba primitives for reading ASN.1 UPER (ITU-T X.691) straight from a byte buffer.

A decoder threads one integer through its reads: the bit position ``pos`` after byte ``base``;
every read returns ``(value, new pos)``.  A problem (data past ``limit`` bits, a value outside
its constraint, an extension to leave to asn1tools) turns ``pos`` into ``ERR + status``; every
later read then returns 0 and keeps it, so a decoder reads on without checking after every
field and looks at ``status_of(pos)`` at the end.  Keeping the state in a scalar lets LLVM hold
it in a register.

Reads load 8 bytes at once, so the buffer must have 8 readable bytes after the last frame
(:func:`padded`).

The shared data frames of YD/T 3709 (Position3D, PositionOffsetLLV, PositionConfidenceSet,
MotionConfidenceSet, AccelerationSet4Way, VehicleSize, VehicleClassification) are decoded here
into consecutive columns of an int64 output row; ``ABSENT`` marks an optional field not sent.

Anything with an extension present (extension bit of a SEQUENCE, ENUMERATED or BIT STRING)
stops the fast path with ``FALLBACK``: asn1tools then decides whether it is a valid unknown
extension or an error.
"""

from __future__ import annotations

from collections.abc import Callable

import numba as nb
import numpy as np

ABSENT = np.iinfo(np.int64).min

# Status codes of a frame (shared with the envelope kernels).
OK = 0
FALLBACK = 1
TRUNCATED = 2
BAD_VERSION = 3
UNSUPPORTED_CONTENT = 4
NO_PAYLOAD_DATA = 5
BAD_INNER_DATA = 6
BAD_SIGNER = 7
BAD_SIGNATURE = 8
TRAILING_BYTES = 9
UPER_TRUNCATED = 10
UNKNOWN_MESSAGE = 11
BAD_ENUM = 12
BAD_LENGTH = 13
OUT_OF_RANGE = 14
TOO_MANY_CHILDREN = 15
TRAILING_OCTETS = 16

STATUS_TEXT = {
    OK: "ok",
    FALLBACK: "outside fast path",
    TRUNCATED: "V2XSecData truncated",
    BAD_VERSION: "V2XSecData protocolVersion is not 3",
    UNSUPPORTED_CONTENT: "V2XSecData content is neither unsecuredData nor signedData",
    NO_PAYLOAD_DATA: "SignedDataPayload carries no data",
    BAD_INNER_DATA: "payload data is not a version-3 unsecuredData",
    BAD_SIGNER: "SignerIdentifier malformed",
    BAD_SIGNATURE: "Signature malformed or of an unsupported kind",
    TRAILING_BYTES: "bytes after the end of V2XSecData",
    UPER_TRUNCATED: "MessageFrame truncated",
    UNKNOWN_MESSAGE: "MessageFrame carries no message of the Day-I or Day-II set",
    BAD_ENUM: "enumerated value out of range",
    BAD_LENGTH: "length determinant out of range",
    OUT_OF_RANGE: "integer outside its constraint",
    TOO_MANY_CHILDREN: "more nested entries than the batch allows",
    TRAILING_OCTETS: "MessageFrame ends before the last octet of the payload",
}


ERR = np.int64(1) << np.int64(40)  # positions at or beyond ERR carry a status
PADDING = 8


def padded(buf: np.ndarray, end: int) -> np.ndarray:
    """``buf`` itself if it has PADDING readable bytes after ``end``, else a padded copy."""
    if buf.size >= end + PADDING:
        return buf
    out = np.zeros(end + PADDING, dtype=np.uint8)
    out[: min(buf.size, end + PADDING)] = buf[: end + PADDING]
    return out


@nb.njit(cache=True)
def fail(pos, status):
    """``pos`` carrying ``status``, unless it already carries one."""
    return pos if pos >= ERR else ERR + status


@nb.njit(cache=True)
def status_of(pos):
    return np.int8(pos - ERR) if pos >= ERR else np.int8(OK)


@nb.njit(cache=True)
def ended(pos, limit):
    """``pos`` after the last field of a MessageFrame of ``limit`` bits, or TRAILING_OCTETS when
    whole octets are left after it: a complete UPER encoding is padded to the octet (ITU-T
    X.691, complete encoding), so a decode that stops earlier read bytes of another edition or
    standard.  The padding bits themselves are not judged."""
    return ended_at(pos, 0, limit)


@nb.njit(cache=True)
def ended_at(pos, start, end):
    """:func:`ended` for an encoding that starts at bit ``start`` of the buffer and whose octets
    end at bit ``end``: a Day-II message inside the open type of msgFrameExt."""
    if pos < ERR and ((pos - start + 7) >> 3) < ((end - start) >> 3):
        return ERR + TRAILING_OCTETS
    return pos


@nb.njit(cache=True)
def bits(buf, base, limit, pos, n):
    """Read an n-bit (1 <= n <= 32) unsigned field, MSB first: (value, pos)."""
    if pos + n > limit:
        return np.int64(0), fail(pos, UPER_TRUNCATED)
    b = base + (pos >> 3)
    w = np.uint64(0)
    for k in range(8):
        w = (w << np.uint64(8)) | np.uint64(buf[b + k])
    return np.int64((w << np.uint64(pos & 7)) >> np.uint64(64 - n)), pos + n


@nb.njit(cache=True)
def flag(buf, base, limit, pos):
    v, pos = bits(buf, base, limit, pos, 1)
    return v == 1, pos


@nb.njit(cache=True)
def integer(buf, base, limit, pos, n, lo, hi):
    """Constrained whole number lo..hi in n bits (X.691 11.5.7); OUT_OF_RANGE above hi."""
    v, pos = bits(buf, base, limit, pos, n)
    v += lo
    if v > hi:
        pos = fail(pos, OUT_OF_RANGE)
    return v, pos


@nb.njit(cache=True)
def enumerated(buf, base, limit, pos, n, count):
    """Root index of a non-extensible ENUMERATED with ``count`` values."""
    v, pos = bits(buf, base, limit, pos, n)
    if v >= count:
        pos = fail(pos, BAD_ENUM)
    return v, pos


@nb.njit(cache=True)
def extensible_enumerated(buf, base, limit, pos, n, count):
    """Root index of an extensible ENUMERATED; an extension value falls back to asn1tools."""
    ext, pos = flag(buf, base, limit, pos)
    if ext:
        return np.int64(0), fail(pos, FALLBACK)
    return enumerated(buf, base, limit, pos, n, count)


@nb.njit(cache=True)
def no_extension(buf, base, limit, pos):
    """The extension bit of an extensible SEQUENCE/CHOICE/BIT STRING: set means asn1tools decides."""
    ext, pos = flag(buf, base, limit, pos)
    return fail(pos, FALLBACK) if ext else pos


@nb.njit(cache=True)
def count(buf, base, limit, pos, n, lo, hi):
    """Length of a SEQUENCE OF (SIZE(lo..hi)) (X.691 20.6)."""
    v, pos = bits(buf, base, limit, pos, n)
    v += lo
    if v > hi:
        pos = fail(pos, BAD_LENGTH)
    return v, pos


@nb.njit(cache=True)
def octets8(buf, base, limit, pos, out, i, c):
    """OCTET STRING (SIZE(8)) as two 32-bit halves into columns c, c+1."""
    out[i, c], pos = bits(buf, base, limit, pos, 32)
    out[i, c + 1], pos = bits(buf, base, limit, pos, 32)
    return pos


@nb.njit(cache=True)
def optional(buf, base, limit, pos, present, n):
    """An optional field of n bits: (value or ABSENT, pos)."""
    if present:
        return bits(buf, base, limit, pos, n)
    return ABSENT, pos


# --- shared data frames (YD/T 3709 DefPosition, DefMotion, VehSize, VehClass) -------------

POSITION3D_COLUMNS = ("lat", "lon", "elevation")


@nb.njit(cache=True)
def position3d(buf, base, limit, pos, out, i, c):
    has_elev, pos = flag(buf, base, limit, pos)
    out[i, c], pos = integer(buf, base, limit, pos, 31, -900000000, 900000001)
    out[i, c + 1], pos = integer(buf, base, limit, pos, 32, -1799999999, 1800000001)
    out[i, c + 2] = ABSENT
    if has_elev:
        out[i, c + 2], pos = integer(buf, base, limit, pos, 16, -4096, 61439)
    return pos


# PositionOffsetLL alternatives: bits per coordinate (LL1..LL6, then LatLon).
_OFFSET_BITS = (12, 14, 16, 18, 22, 24)
_VERT_BITS = (7, 8, 9, 10, 11, 12)

OFFSET_LLV_COLUMNS = ("offset_kind", "offset_lon", "offset_lat", "vert_kind", "vert")


@nb.njit(cache=True)
def offset_llv(buf, base, limit, pos, out, i, c):
    """PositionOffsetLLV: columns kind (choice index 0..6), lon, lat, vertical kind, vertical."""
    has_v, pos = flag(buf, base, limit, pos)
    kind, pos = bits(buf, base, limit, pos, 3)
    out[i, c] = kind
    if kind < 6:
        n = _OFFSET_BITS[kind]
        half = np.int64(1) << (n - 1)
        v, pos = bits(buf, base, limit, pos, n)
        out[i, c + 1] = v - half
        v, pos = bits(buf, base, limit, pos, n)
        out[i, c + 2] = v - half
    else:  # 6: Position-LLmD-64b; 7 cannot occur with 7 alternatives in 3 bits... but may in bad data
        if kind > 6:
            pos = fail(pos, BAD_ENUM)
        out[i, c + 1], pos = integer(buf, base, limit, pos, 32, -1799999999, 1800000001)
        out[i, c + 2], pos = integer(buf, base, limit, pos, 31, -900000000, 900000001)
    out[i, c + 3] = ABSENT
    out[i, c + 4] = ABSENT
    if has_v:
        vk, pos = bits(buf, base, limit, pos, 3)
        out[i, c + 3] = vk
        if vk < 6:
            n = _VERT_BITS[vk]
            v, pos = bits(buf, base, limit, pos, n)
            out[i, c + 4] = v - (np.int64(1) << (n - 1))
        else:
            if vk > 6:
                pos = fail(pos, BAD_ENUM)
            out[i, c + 4], pos = integer(buf, base, limit, pos, 16, -4096, 61439)
    return pos


POSITION_CONFIDENCE_COLUMNS = ("pos_confidence", "elevation_confidence")


@nb.njit(cache=True)
def position_confidence(buf, base, limit, pos, out, i, c):
    has_elev, pos = flag(buf, base, limit, pos)
    out[i, c], pos = bits(buf, base, limit, pos, 4)
    out[i, c + 1], pos = optional(buf, base, limit, pos, has_elev, 4)
    return pos


MOTION_CONFIDENCE_COLUMNS = ("speed_confidence", "heading_confidence", "steer_confidence")


@nb.njit(cache=True)
def motion_confidence(buf, base, limit, pos, out, i, c):
    opt, pos = bits(buf, base, limit, pos, 3)
    out[i, c], pos = optional(buf, base, limit, pos, opt & 4, 3)
    out[i, c + 1], pos = optional(buf, base, limit, pos, opt & 2, 3)
    out[i, c + 2], pos = optional(buf, base, limit, pos, opt & 1, 2)
    return pos


ACCELERATION_COLUMNS = ("accel_long", "accel_lat", "accel_vert", "yaw_rate")


@nb.njit(cache=True)
def acceleration4way(buf, base, limit, pos, out, i, c):
    out[i, c], pos = integer(buf, base, limit, pos, 12, -2000, 2001)
    out[i, c + 1], pos = integer(buf, base, limit, pos, 12, -2000, 2001)
    out[i, c + 2], pos = integer(buf, base, limit, pos, 8, -127, 127)
    out[i, c + 3], pos = integer(buf, base, limit, pos, 16, -32767, 32767)
    return pos


VEHICLE_SIZE_COLUMNS = ("width", "length", "height")


@nb.njit(cache=True)
def vehicle_size(buf, base, limit, pos, out, i, c):
    has_height, pos = flag(buf, base, limit, pos)
    out[i, c], pos = bits(buf, base, limit, pos, 10)
    out[i, c + 1], pos = bits(buf, base, limit, pos, 12)
    out[i, c + 2], pos = optional(buf, base, limit, pos, has_height, 7)
    return pos


VEHICLE_CLASS_COLUMNS = ("vehicle_class", "fuel_type")


@nb.njit(cache=True)
def vehicle_class(buf, base, limit, pos, out, i, c):
    pos = no_extension(buf, base, limit, pos)
    has_fuel, pos = flag(buf, base, limit, pos)
    out[i, c], pos = bits(buf, base, limit, pos, 8)
    out[i, c + 1], pos = optional(buf, base, limit, pos, has_fuel, 4)
    return pos


def column_index(columns: tuple[str, ...]) -> dict[str, int]:
    return {name: k for k, name in enumerate(columns)}


# --- Day-II messages: a message inside msgFrameExt, at a bit span after a byte -------------------


def message_spans(
    buf: np.ndarray, bases: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a Day-II decoder takes: ``buf`` padded past the last message, and the byte bases and
    the bit starts and ends of the messages (the envelope kernel's ``payload_start``,
    ``message_bit``, ``message_end``) as contiguous int64 arrays."""
    bases = np.ascontiguousarray(bases, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    return padded(buf, int((bases + (ends + 7) // 8).max()) if bases.size else 0), bases, starts, ends


def warm_up_spans(decode: Callable[..., object]) -> None:
    """Compile (or load from cache) a Day-II decoder for a read-only and a writable buffer (a
    read-only array is a type of its own to numba: see :func:`pipeline.decode.content.warm_up`)."""
    for buf in (np.frombuffer(bytes(64 + PADDING), dtype=np.uint8), np.zeros(64 + PADDING, dtype=np.uint8)):
        decode(buf, np.array([0]), np.array([0]), np.array([64]))
