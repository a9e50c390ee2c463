"""numba primitives for reading ASN.1 UPER (ITU-T X.691) straight from a byte buffer.

A reader is a small int64 state array ``st``: ``st[POS]`` the bit position after ``base``,
``st[LIMIT]`` the number of bits available, ``st[STATUS]`` the first problem met (``OK`` while
none).  After a problem every read returns 0 and the status stays the first one, so a decoder
can read on without checking after every field and look at ``st[STATUS]`` at the end.

The shared data frames of YD/T 3709 (Position3D, PositionOffsetLLV, PositionConfidenceSet,
MotionConfidenceSet, AccelerationSet4Way, VehicleSize, VehicleClassification) are decoded here
into consecutive columns of an int64 output row; ``ABSENT`` marks an optional field not sent.

Anything with an extension present (extension bit of a SEQUENCE, ENUMERATED or BIT STRING)
stops the fast path with ``FALLBACK``: asn1tools then decides whether it is a valid unknown
extension or an error.
"""

from __future__ import annotations

import numba as nb
import numpy as np

ABSENT = np.iinfo(np.int64).min

POS = 0
LIMIT = 1
STATUS = 2

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
    UNKNOWN_MESSAGE: "MessageFrame alternative is not a Day-I message",
    BAD_ENUM: "enumerated value out of range",
    BAD_LENGTH: "length determinant out of range",
    OUT_OF_RANGE: "integer outside its constraint",
    TOO_MANY_CHILDREN: "more nested entries than the batch allows",
}


def reader(start_bit: int = 0, limit_bits: int = 0) -> np.ndarray:
    st = np.zeros(3, dtype=np.int64)
    st[POS] = start_bit
    st[LIMIT] = limit_bits
    return st


@nb.njit(inline="always")
def fail(st, status):
    """Record ``status`` unless a problem was already recorded."""
    if st[STATUS] == OK:
        st[STATUS] = status


@nb.njit(inline="always")
def bits(buf, base, st, n):
    """Read an n-bit (1 <= n <= 32) unsigned field, MSB first."""
    pos = st[POS]
    if st[STATUS] != OK:
        return np.int64(0)
    if pos + n > st[LIMIT]:
        st[STATUS] = UPER_TRUNCATED
        return np.int64(0)
    first = base + (pos >> 3)
    last = base + ((pos + n - 1) >> 3)
    v = np.uint64(0)
    for k in range(first, last + 1):
        v = (v << np.uint64(8)) | np.uint64(buf[k])
    v = (v >> np.uint64(7 - ((pos + n - 1) & 7))) & ((np.uint64(1) << np.uint64(n)) - np.uint64(1))
    st[POS] = pos + n
    return np.int64(v)


@nb.njit(inline="always")
def flag(buf, base, st):
    return bits(buf, base, st, 1) == 1


@nb.njit(inline="always")
def integer(buf, base, st, n, lo, hi):
    """Constrained whole number lo..hi in n bits (X.691 11.5.7); OUT_OF_RANGE above hi."""
    v = bits(buf, base, st, n) + lo
    if v > hi:
        fail(st, OUT_OF_RANGE)
    return v


@nb.njit(inline="always")
def enumerated(buf, base, st, n, count):
    """Root index of a non-extensible ENUMERATED with ``count`` values."""
    v = bits(buf, base, st, n)
    if v >= count:
        fail(st, BAD_ENUM)
    return v


@nb.njit(inline="always")
def extensible_enumerated(buf, base, st, n, count):
    """Root index of an extensible ENUMERATED; an extension value falls back to asn1tools."""
    if flag(buf, base, st):
        fail(st, FALLBACK)
        return np.int64(0)
    return enumerated(buf, base, st, n, count)


@nb.njit(inline="always")
def no_extension(buf, base, st):
    """The extension bit of an extensible SEQUENCE/CHOICE: set means asn1tools decides."""
    if flag(buf, base, st):
        fail(st, FALLBACK)


@nb.njit(inline="always")
def count(buf, base, st, n, lo, hi):
    """Length of a SEQUENCE OF (SIZE(lo..hi)) (X.691 20.6)."""
    v = bits(buf, base, st, n) + lo
    if v > hi:
        fail(st, BAD_LENGTH)
    return v


@nb.njit(inline="always")
def octets8(buf, base, st, out, i, c):
    """OCTET STRING (SIZE(8)) as two 32-bit halves into columns c, c+1."""
    out[i, c] = bits(buf, base, st, 32)
    out[i, c + 1] = bits(buf, base, st, 32)


@nb.njit(inline="always")
def optional(present, value):
    return value if present else ABSENT


# --- shared data frames (YD/T 3709 DefPosition, DefMotion, VehSize, VehClass) -------------

POSITION3D_COLUMNS = ("lat", "lon", "elevation")


@nb.njit(inline="always")
def position3d(buf, base, st, out, i, c):
    has_elev = flag(buf, base, st)
    out[i, c] = integer(buf, base, st, 31, -900000000, 900000001)
    out[i, c + 1] = integer(buf, base, st, 32, -1799999999, 1800000001)
    out[i, c + 2] = integer(buf, base, st, 16, -4096, 61439) if has_elev else ABSENT


# PositionOffsetLL alternatives: bits per coordinate (LL1..LL6, then LatLon).
_OFFSET_BITS = (12, 14, 16, 18, 22, 24)
_VERT_BITS = (7, 8, 9, 10, 11, 12)

OFFSET_LLV_COLUMNS = ("offset_kind", "offset_lon", "offset_lat", "vert_kind", "vert")


@nb.njit(inline="always")
def offset_llv(buf, base, st, out, i, c):
    """PositionOffsetLLV: columns kind (choice index 0..6), lon, lat, vertical kind, vertical."""
    has_v = flag(buf, base, st)
    kind = bits(buf, base, st, 3)
    out[i, c] = kind
    if kind < 6:
        n = _OFFSET_BITS[kind]
        half = np.int64(1) << (n - 1)
        out[i, c + 1] = bits(buf, base, st, n) - half
        out[i, c + 2] = bits(buf, base, st, n) - half
    elif kind == 6:
        out[i, c + 1] = integer(buf, base, st, 32, -1799999999, 1800000001)
        out[i, c + 2] = integer(buf, base, st, 31, -900000000, 900000001)
    else:
        fail(st, BAD_ENUM)
    if has_v:
        vk = bits(buf, base, st, 3)
        out[i, c + 3] = vk
        if vk < 6:
            n = _VERT_BITS[vk]
            out[i, c + 4] = bits(buf, base, st, n) - (np.int64(1) << (n - 1))
        elif vk == 6:
            out[i, c + 4] = integer(buf, base, st, 16, -4096, 61439)
        else:
            fail(st, BAD_ENUM)
    else:
        out[i, c + 3] = ABSENT
        out[i, c + 4] = ABSENT


POSITION_CONFIDENCE_COLUMNS = ("pos_confidence", "elevation_confidence")


@nb.njit(inline="always")
def position_confidence(buf, base, st, out, i, c):
    has_elev = flag(buf, base, st)
    out[i, c] = bits(buf, base, st, 4)
    out[i, c + 1] = bits(buf, base, st, 4) if has_elev else ABSENT


MOTION_CONFIDENCE_COLUMNS = ("speed_confidence", "heading_confidence", "steer_confidence")


@nb.njit(inline="always")
def motion_confidence(buf, base, st, out, i, c):
    opt = bits(buf, base, st, 3)
    out[i, c] = bits(buf, base, st, 3) if opt & 4 else ABSENT
    out[i, c + 1] = bits(buf, base, st, 3) if opt & 2 else ABSENT
    out[i, c + 2] = bits(buf, base, st, 2) if opt & 1 else ABSENT


ACCELERATION_COLUMNS = ("accel_long", "accel_lat", "accel_vert", "yaw_rate")


@nb.njit(inline="always")
def acceleration4way(buf, base, st, out, i, c):
    out[i, c] = integer(buf, base, st, 12, -2000, 2001)
    out[i, c + 1] = integer(buf, base, st, 12, -2000, 2001)
    out[i, c + 2] = integer(buf, base, st, 8, -127, 127)
    out[i, c + 3] = integer(buf, base, st, 16, -32767, 32767)


VEHICLE_SIZE_COLUMNS = ("width", "length", "height")


@nb.njit(inline="always")
def vehicle_size(buf, base, st, out, i, c):
    has_height = flag(buf, base, st)
    out[i, c] = bits(buf, base, st, 10)
    out[i, c + 1] = bits(buf, base, st, 12)
    out[i, c + 2] = bits(buf, base, st, 7) if has_height else ABSENT


VEHICLE_CLASS_COLUMNS = ("vehicle_class", "fuel_type")


@nb.njit(inline="always")
def vehicle_class(buf, base, st, out, i, c):
    no_extension(buf, base, st)
    has_fuel = flag(buf, base, st)
    out[i, c] = bits(buf, base, st, 8)
    out[i, c + 1] = bits(buf, base, st, 4) if has_fuel else ABSENT


def column_index(columns: tuple[str, ...]) -> dict[str, int]:
    return {name: k for k, name in enumerate(columns)}
