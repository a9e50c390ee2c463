"""numba kernels over a batch of received frames: one flat uint8 buffer plus offsets.

:func:`parse_frames` walks each YD/T 3957 ``V2XSecData`` (C-OER) without building Python
objects: the envelope header (content, hashId, aid, generationTime, where the ToBeSignedData,
payload, signer and signature lie), then the UPER MessageFrame's choice and the msgCnt every
message starts with: a Day-I alternative, or the Day-II extension alternative ``msgFrameExt``,
whose message lies inside two open-type lengths (``message_bit`` and ``message_end`` say where).
The message content is read by :mod:`pipeline.decode.content` (Day-I) and the Day-II decoders
(:mod:`pipeline.decode.psm`, :mod:`pipeline.decode.vir`, :mod:`pipeline.decode.ssm`).  Every frame
ends with a status; frames with a structure the fast path does not walk (header extensions, encryption keys in the header) get ``FALLBACK`` and are decoded by
:mod:`pipeline.decode.reference` with asn1tools.  A certificate signer is not walked: its span is
found from the fixed-size signature that closes the frame, and the batch stage confirms that it
decodes (once per distinct certificate).  Tests require both paths to agree.

msgCnt continuity per sender is :mod:`pipeline.ingest.continuity`.
"""

from __future__ import annotations

from typing import ClassVar

import numba as nb
import numpy as np

# Status codes (one per frame) are shared with the content decoders.
from pipeline.decode.uper import (
    BAD_INNER_DATA,
    BAD_LENGTH,
    BAD_SIGNATURE,
    BAD_SIGNER,
    BAD_VERSION,
    FALLBACK,
    NO_PAYLOAD_DATA,
    OK,
    PADDING,
    TRAILING_BYTES,
    TRUNCATED,
    UNKNOWN_MESSAGE,
    UNSUPPORTED_CONTENT,
    UPER_TRUNCATED,
)

CONTENT_UNSECURED = 0
CONTENT_SIGNED = 1
SIGNER_DIGEST = 0
SIGNER_CERTIFICATE = 1
SIGNER_SELF = 2
SIGNER_X509 = 3
HASH_NAMES = ("sha256", "sha384", "sm3")
SIGNATURE_ECDSA_P256 = 0
SIGNATURE_ECDSA_BRAINPOOL_P256 = 1
SIGNATURE_SM2 = 4


class Parsed:
    """Column arrays filled by :func:`parse_frames` (one element per frame)."""

    status: np.ndarray
    content: np.ndarray
    hash_id: np.ndarray
    aid: np.ndarray
    generation_time: np.ndarray
    tbs_start: np.ndarray
    tbs_end: np.ndarray
    payload_start: np.ndarray
    payload_end: np.ndarray
    signer_kind: np.ndarray
    signer_start: np.ndarray
    signer_end: np.ndarray
    signature_kind: np.ndarray
    r_start: np.ndarray
    s_start: np.ndarray
    msg_index: np.ndarray
    msg_cnt: np.ndarray
    message_bit: np.ndarray
    message_end: np.ndarray

    FIELDS: ClassVar[dict[str, type]] = {
        "status": np.int8,
        "content": np.int8,
        "hash_id": np.int8,
        "aid": np.int64,
        "generation_time": np.int64,
        "tbs_start": np.int64,
        "tbs_end": np.int64,
        "payload_start": np.int64,
        "payload_end": np.int64,
        "signer_kind": np.int8,
        "signer_start": np.int64,
        "signer_end": np.int64,
        "signature_kind": np.int8,
        "r_start": np.int64,
        "s_start": np.int64,
        "msg_index": np.int8,
        "msg_cnt": np.int16,
        "message_bit": np.int64,
        "message_end": np.int64,
    }

    def __init__(self, n: int):
        for name, dtype in self.FIELDS.items():
            fill = -1 if np.issubdtype(dtype, np.signedinteger) else 0
            setattr(self, name, np.full(n, fill, dtype=dtype))
        self.status[:] = OK

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)


@nb.njit(inline="always")
def _length(buf, p, end):
    """C-OER length determinant at p: (length, next position); length -1 if malformed."""
    if p >= end:
        return -1, p
    b = buf[p]
    if b < 0x80:
        return np.int64(b), p + 1
    n = b & 0x7F
    if n == 0 or n > 4 or p + 1 + n > end:
        return -1, p
    v = np.int64(0)
    for k in range(n):
        v = (v << 8) | np.int64(buf[p + 1 + k])
    return v, p + 1 + n


@nb.njit(inline="always")
def _bits(buf, base, limit_bits, pos, n):
    """UPER: read n (<= 32) bits at bit position pos after byte ``base``; -1 past the end."""
    if pos + n > limit_bits:
        return np.int64(-1)
    v = np.int64(0)
    for k in range(n):
        bit = pos + k
        v = (v << 1) | np.int64((buf[base + (bit >> 3)] >> (7 - (bit & 7))) & 1)
    return v


# Day-II (T/CSAE 157-2020 MsgDayII): messageIds 10.. in order, the ingest's type numbers from 5
# (MessageType.frame_index), and how many optional members precede each one's msgCnt:
# RTCM {}, RSC {coordinates, laneCoordinates}, SSM {detectedRegion, participants, obstacles,
# rtes}, VIR {}, PAM {timeStamp, parkingAreaGuidance}, PSM {timeConfidence, accelSet,
# pathHistory, path-Planning}, CLPMM {leadingExt}.
DAY_II_FIRST_ID = 10
DAY_II_FIRST_INDEX = 5
DAY_II_OPTIONALS = (0, 2, 4, 0, 2, 4, 1)


@nb.njit(inline="always")
def _open_length(buf, base, limit, pos):
    """UPER length determinant of an open type or unconstrained OCTET STRING (X.691 11.9.4.2,
    unaligned): (octets, next bit); -1 past the end, -2 for a fragmented length (16K octets or more)."""
    first = _bits(buf, base, limit, pos, 1)
    if first < 0:
        return np.int64(-1), pos
    if first == 0:
        n = _bits(buf, base, limit, pos + 1, 7)
        return n, pos + 8
    if _bits(buf, base, limit, pos + 1, 1) != 0:
        return np.int64(-2), pos
    n = _bits(buf, base, limit, pos + 2, 14)
    return n, pos + 16


@nb.njit(cache=True)
def _parse_frame(buf, base, end, i, msg_index, msg_cnt, message_bit, message_end):
    """UPER MessageFrame header and the msgCnt every message starts with; where the message's
    own encoding starts and ends (bits after ``base``)."""
    limit = (end - base) * 8
    ext = _bits(buf, base, limit, 0, 1)
    idx = _bits(buf, base, limit, 1, 3)
    if idx < 0:
        return UPER_TRUNCATED
    if ext == 0:
        if idx > 4:
            return UNKNOWN_MESSAGE
        msg_index[i] = idx
        # Extension bit plus the optional-field bitmap that precedes msgCnt: BSM {7 optional fields},
        # MAP {timeStamp}, RSM {}, SPAT {moy, timeStamp, name}, RSI {moy, rtes, rtss}.
        start = 4
        stop = limit
        skip = 1 + (7, 1, 0, 3, 3)[idx]
    else:
        # An extension alternative (X.691 23.8): its index as a normally small number (a 0 bit and
        # 6 bits), then the alternative as an open type.  msgFrameExt is the first and only one.
        small = _bits(buf, base, limit, 1, 7)
        if small < 0:
            return UPER_TRUNCATED
        if small != 0:
            return UNKNOWN_MESSAGE
        outer, pos = _open_length(buf, base, limit, 8)
        if outer == -2:
            return FALLBACK
        if outer < 0 or pos + outer * 8 > limit:
            return UPER_TRUNCATED
        outer_end = pos + outer * 8
        # MessageFrameExt: extension bit, messageId (0..32767, 15 bits), value (OCTET STRING)
        ext_ext = _bits(buf, base, outer_end, pos, 1)
        ext_id = _bits(buf, base, outer_end, pos + 1, 15)
        if ext_id < 0:
            return UPER_TRUNCATED
        if ext_ext == 1:
            return FALLBACK  # an addition to MessageFrameExt: the reference decoder judges it
        k = ext_id - DAY_II_FIRST_ID
        if k < 0 or k >= len(DAY_II_OPTIONALS):
            return UNKNOWN_MESSAGE
        inner, start = _open_length(buf, base, outer_end, pos + 16)
        if inner == -2:
            return FALLBACK
        if inner < 1 or start + inner * 8 > outer_end:
            return UPER_TRUNCATED
        msg_index[i] = DAY_II_FIRST_INDEX + k
        stop = start + inner * 8
        skip = 1 + DAY_II_OPTIONALS[k]
    c = _bits(buf, base, limit, start + skip, 7)
    if c < 0:
        return UPER_TRUNCATED
    msg_cnt[i] = c
    message_bit[i] = start
    message_end[i] = stop
    return OK


@nb.njit(cache=True)
def parse_frames(
    buf,
    offsets,
    status,
    content,
    hash_id,
    aid,
    generation_time,
    tbs_start,
    tbs_end,
    payload_start,
    payload_end,
    signer_kind,
    signer_start,
    signer_end,
    signature_kind,
    r_start,
    s_start,
    msg_index,
    msg_cnt,
    message_bit,
    message_end,
):
    """Parse frame i = buf[offsets[i]:offsets[i+1]] for every i (see module docstring)."""
    for i in range(offsets.size - 1):
        p = offsets[i]
        end = offsets[i + 1]
        if end - p < 2:
            status[i] = TRUNCATED
            continue
        if buf[p] != 3:
            status[i] = BAD_VERSION
            continue
        tag = buf[p + 1]
        p += 2
        if tag == 0x80:  # unsecuredData: Opaque carrying the MessageFrame
            content[i] = CONTENT_UNSECURED
            n, p = _length(buf, p, end)
            if n < 0 or p + n != end:
                status[i] = TRUNCATED if n >= 0 and p + n > end else (TRAILING_BYTES if n >= 0 else BAD_LENGTH)
                continue
            payload_start[i] = p
            payload_end[i] = p + n
        elif tag == 0x81:  # signedData
            content[i] = CONTENT_SIGNED
            if p + 2 > end:
                status[i] = TRUNCATED
                continue
            hash_id[i] = buf[p]
            p += 1
            tbs_start[i] = p
            pre = buf[p]
            p += 1
            if pre & 0x80:
                status[i] = FALLBACK
                continue
            if not pre & 0x40:
                status[i] = NO_PAYLOAD_DATA
                continue
            if p + 2 > end or buf[p] != 3 or buf[p + 1] != 0x80:
                status[i] = BAD_INNER_DATA if p + 2 <= end else TRUNCATED
                continue
            n, p = _length(buf, p + 2, end)
            if n < 0 or p + n > end:
                status[i] = TRUNCATED
                continue
            payload_start[i] = p
            payload_end[i] = p + n
            p += n
            if pre & 0x20:  # extDataHash: sha256HashedData
                if p + 33 > end or buf[p] != 0x80:
                    status[i] = FALLBACK
                    continue
                p += 33
            # HeaderInfo: extension bit and six optional fields in one preamble byte
            if p >= end:
                status[i] = TRUNCATED
                continue
            hdr = buf[p]
            p += 1
            if hdr & 0x80 or hdr & 0x04 or hdr & 0x02:
                status[i] = FALLBACK  # extensions, missingCrlIdentifier or encryptionKey
                continue
            n, p = _length(buf, p, end)
            if n < 1 or n > 8 or p + n > end:
                status[i] = TRUNCATED if n >= 1 else BAD_LENGTH
                continue
            if n == 8 and buf[p] >= 0x80:
                status[i] = FALLBACK  # beyond int64: the reference path rejects it with the value
                continue
            v = np.int64(0)
            for k in range(n):
                v = (v << 8) | np.int64(buf[p + k])
            aid[i] = v
            p += n
            if hdr & 0x40:
                if p + 8 > end:
                    status[i] = TRUNCATED
                    continue
                t = np.int64(0)
                for k in range(8):
                    t = (t << 8) | np.int64(buf[p + k])
                generation_time[i] = t
                p += 8
            p += (8 if hdr & 0x20 else 0) + (10 if hdr & 0x10 else 0) + (3 if hdr & 0x08 else 0)
            tbs_end[i] = p
            if p >= end:
                status[i] = TRUNCATED
                continue
            stag = buf[p]
            p += 1
            if stag == 0x80:
                signer_kind[i] = SIGNER_DIGEST
                signer_start[i] = p
                signer_end[i] = p + 8
                p += 8
            elif stag == 0x81:
                signer_kind[i] = SIGNER_CERTIFICATE
                if p + 2 > end or buf[p] != 1:
                    status[i] = BAD_SIGNER
                    continue
                signer_start[i] = p + 2
                # The certificate is not length-prefixed; the signature closes the frame and has
                # a fixed size: 66 bytes (x-only/compressed r, or SM2) or 98 (uncompressed r).
                if end - 66 > p + 2 and (
                    (
                        (buf[end - 66] == 0x80 or buf[end - 66] == 0x81)
                        and (buf[end - 65] == 0x80 or buf[end - 65] == 0x82 or buf[end - 65] == 0x83)
                    )
                    or (buf[end - 66] == 0x84 and buf[end - 65] == 0x40)
                ):
                    p = end - 66
                elif end - 98 > p + 2 and (buf[end - 98] == 0x80 or buf[end - 98] == 0x81) and buf[end - 97] == 0x84:
                    p = end - 98
                else:
                    status[i] = BAD_SIGNATURE
                    continue
                signer_end[i] = p
                # Tentative span: a certificate starts with its preamble (signature present),
                # version 3 and type explicit, and itself ends with a 66-byte signature.  The
                # batch stage confirms it decodes.
                cs = signer_start[i]
                if (
                    p - cs < 70
                    or buf[cs] != 0x80
                    or buf[cs + 1] != 3
                    or buf[cs + 2] != 0
                    or not (buf[p - 66] == 0x80 or buf[p - 66] == 0x81 or buf[p - 66] == 0x84)
                ):
                    status[i] = BAD_SIGNER
                    continue
            elif stag == 0x82:
                signer_kind[i] = SIGNER_SELF
            elif stag == 0x83:
                signer_kind[i] = SIGNER_X509
                n, p2 = _length(buf, p, end)
                if n < 0:
                    status[i] = BAD_SIGNER
                    continue
                signer_start[i] = p2
                signer_end[i] = p2 + n
                p = p2 + n
            else:
                status[i] = BAD_SIGNER
                continue
            if p + 2 > end:
                status[i] = TRUNCATED
                continue
            gtag = buf[p]
            if gtag == 0x80 or gtag == 0x81:
                signature_kind[i] = gtag - 0x80
                rt = buf[p + 1]
                if rt == 0x80 or rt == 0x82 or rt == 0x83:
                    r_start[i] = p + 2
                    p += 2 + 32
                elif rt == 0x84:
                    r_start[i] = p + 2
                    p += 2 + 64
                else:
                    status[i] = BAD_SIGNATURE
                    continue
                s_start[i] = p
                p += 32
            elif gtag == 0x84 and buf[p + 1] == 0x40:
                signature_kind[i] = SIGNATURE_SM2
                r_start[i] = p + 2
                s_start[i] = p + 34
                p += 66
            else:
                status[i] = BAD_SIGNATURE
                continue
            if p != end:
                status[i] = TRUNCATED if p > end else TRAILING_BYTES
                continue
        else:
            status[i] = UNSUPPORTED_CONTENT
            continue
        status[i] = _parse_frame(buf, payload_start[i], payload_end[i], i, msg_index, msg_cnt, message_bit, message_end)


def parse_batch(buf: np.ndarray, offsets: np.ndarray) -> Parsed:
    """Run :func:`parse_frames` over a batch; returns the filled :class:`Parsed` columns."""
    out = Parsed(offsets.size - 1)
    parse_frames(buf, offsets, *out.arrays())
    return out


def frames_to_buffer(frames: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate frames into the flat buffer and offsets the kernels take (the buffer ends
    with the padding the UPER readers need, see :func:`pipeline.decode.uper.padded`)."""
    lengths = np.fromiter((len(f) for f in frames), dtype=np.int64, count=len(frames))
    offsets = np.zeros(len(frames) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(b"".join(frames) + bytes(PADDING), dtype=np.uint8)
    return buf, offsets


def _check_day_ii_numbers() -> None:
    """The kernel's Day-II numbers are those of :mod:`v2x.messages` (an import-time check)."""
    from v2x.messages import DAY_II_IDS

    for k, (msg_type, ext_id) in enumerate(DAY_II_IDS.items()):
        if (ext_id, msg_type.frame_index) != (DAY_II_FIRST_ID + k, DAY_II_FIRST_INDEX + k):
            raise AssertionError(
                f"{msg_type.value}: messageId {ext_id}, number {msg_type.frame_index} do not follow the kernel's"
            )
    if len(DAY_II_IDS) != len(DAY_II_OPTIONALS):
        raise AssertionError("the kernel knows another number of Day-II messages than v2x.messages")


_check_day_ii_numbers()


def warm_up() -> None:
    """Compile (or load from cache) every kernel before traffic arrives."""
    buf, offsets = frames_to_buffer([b"\x03\x80\x01\x00"])
    parse_batch(buf, offsets)
