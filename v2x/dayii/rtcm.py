"""RTCMcorrections: GNSS differential corrections relayed by an RSU (T/CSAE 157-2020, RTCM;
the DDS application, at least 1 Hz).  Each RTCMmsg carries one RTCM message's octets as sent on
the wire (for RTCM 3, the whole transport frame: 0xD3, length, message, CRC-24Q) with its
message number in ``rtcmID``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def rtcm(*, msg_cnt: int, corrections: Sequence[tuple[int, bytes]], revision: str = "rtcmRev3-2") -> dict[str, Any]:
    """RTCMcorrections of 1 to 5 ``(message number, octets)``; ``revision`` is an RTCM-Revision."""
    if not 1 <= len(corrections) <= 5:
        raise ValueError(f"RTCMcorrections carries 1 to 5 messages, not {len(corrections)}")
    return {
        "msgCnt": msg_cnt,
        "corrections": [{"rev": revision, "rtcmID": number, "payload": octets} for number, octets in corrections],
    }
