"""RTCMcorrections: GNSS differential corrections relayed by an RSU (T/CSAE 157-2020, RTCM;
the DDS application, at least 1 Hz).  Each RTCMmsg carries one RTCM message's octets as sent on
the wire (for RTCM 3, the whole transport frame: 0xD3, length, message, CRC-24Q) with its
message number in ``rtcmID``.

The RTCM 3 transport frame (RTCM 10403.3, 4): the preamble 0xD3, six reserved zero bits, a
10-bit length of the message (0..1023 octets), the message, whose first 12 bits are its number
(DF002), and a CRC-24Q over all that went before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyrtcm import calc_crc24q

PREAMBLE = 0xD3
MAX_MESSAGE_OCTETS = 1023


def rtcm(*, msg_cnt: int, corrections: Sequence[tuple[int, bytes]], revision: str = "rtcmRev3-2") -> dict[str, Any]:
    """RTCMcorrections of 1 to 5 ``(message number, octets)``; ``revision`` is an RTCM-Revision."""
    if not 1 <= len(corrections) <= 5:
        raise ValueError(f"RTCMcorrections carries 1 to 5 messages, not {len(corrections)}")
    return {
        "msgCnt": msg_cnt,
        "corrections": [{"rev": revision, "rtcmID": number, "payload": octets} for number, octets in corrections],
    }


def rtcm3_frame(message: bytes) -> bytes:
    """The RTCM 3 transport frame of one message."""
    if not 2 <= len(message) <= MAX_MESSAGE_OCTETS:
        raise ValueError(f"an RTCM 3 message has 2 to {MAX_MESSAGE_OCTETS} octets, not {len(message)}")
    head = bytes([PREAMBLE, len(message) >> 8, len(message) & 0xFF]) + message
    return head + calc_crc24q(head).to_bytes(3, "big")


def rtcm3_problem(octets: bytes) -> str | None:
    """Why ``octets`` is not one whole RTCM 3 frame, or None."""
    if len(octets) < 6:
        return f"{len(octets)} octets, shorter than an RTCM 3 frame (6)"
    if octets[0] != PREAMBLE:
        return f"preamble 0x{octets[0]:02x}, not 0xd3"
    if octets[1] & 0xFC:
        return "reserved bits after the preamble are not zero"
    length = ((octets[1] & 0x03) << 8) | octets[2]
    if len(octets) != length + 6:
        return f"length field {length} octets, but {len(octets) - 6} follow"
    if calc_crc24q(octets[:-3]) != int.from_bytes(octets[-3:], "big"):
        return "CRC-24Q does not match"
    return None


def rtcm3_number(octets: bytes) -> int | None:
    """The message number (DF002) of an RTCM 3 frame, or None when it is not a whole frame."""
    if rtcm3_problem(octets) is not None:
        return None
    return (octets[3] << 4) | (octets[4] >> 4)
