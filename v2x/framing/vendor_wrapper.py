"""A vendor binary wrapper around UPER MessageFrames, as some RSUs send to their cloud.

An 8-octet ASCII RSU id, an 8-octet little-endian UTC time in milliseconds, then either one
MessageFrame after its 2-octet little-endian length, or (for the BSMs an RSU forwards) a 1-octet
count, then each frame after its 2-octet little-endian length.  The topic names the message type
in one level (``V2X.RSU.SPAT.UP``), so the RSU id is in the payload only.
"""

from __future__ import annotations

from dataclasses import dataclass

ID_OCTETS = 8
HEAD = ID_OCTETS + 8  # ASCII RSU id, little-endian UTC milliseconds
MAX_FRAME = 0xFFFF  # a 2-octet length
MAX_COUNT = 0xFF  # a 1-octet count


@dataclass(frozen=True)
class Wrapped:
    rsu_id: str
    utc_ms: int
    frames: list[bytes]


def wrap(rsu_id: str, utc_ms: int, frames: list[bytes], *, counted: bool = False) -> bytes:
    """The wrapper around ``frames``: one frame, or (``counted``) a count and each frame.
    The RSU id is padded with spaces to 8 ASCII characters; ValueError if it does not fit."""
    if not (0 < len(rsu_id) <= ID_OCTETS and rsu_id.isascii() and rsu_id.isprintable()):
        raise ValueError(f"RSU id {rsu_id!r}: the wrapper holds 1 to {ID_OCTETS} printable ASCII characters")
    if not counted and len(frames) != 1:
        raise ValueError(f"{len(frames)} frames: an uncounted wrapper holds exactly one")
    if counted and not 0 < len(frames) <= MAX_COUNT:
        raise ValueError(f"{len(frames)} frames: a counted wrapper holds 1 to {MAX_COUNT}")
    if any(len(f) > MAX_FRAME for f in frames):
        raise ValueError(f"a frame longer than {MAX_FRAME} octets does not fit the 2-octet length")
    head = rsu_id.ljust(ID_OCTETS).encode("ascii") + utc_ms.to_bytes(8, "little")
    body = b"".join(len(f).to_bytes(2, "little") + f for f in frames)
    return head + (bytes([len(frames)]) + body if counted else body)


def parse(payload: bytes) -> Wrapped:
    """The RSU id, time and frames of a wrapper; ValueError naming what does not fit."""
    if len(payload) < HEAD + 3:
        raise ValueError(f"{len(payload)} octets: shorter than the {HEAD}-octet header and a frame")
    head = payload[:ID_OCTETS]
    if not all(32 <= b < 127 for b in head):
        raise ValueError(f"the RSU id {head!r} is not {ID_OCTETS} ASCII characters")
    rsu_id = head.decode("ascii").strip()
    utc_ms = int.from_bytes(payload[ID_OCTETS:HEAD], "little")
    body = payload[HEAD:]
    single = int.from_bytes(body[:2], "little")
    if 2 + single == len(body):
        return Wrapped(rsu_id, utc_ms, [body[2:]])
    try:
        return Wrapped(rsu_id, utc_ms, _counted(body))
    except ValueError as exc:
        raise ValueError(
            f"neither one frame ({single} octets announced, {len(body) - 2} follow) nor counted frames ({exc})"
        ) from None


def _counted(body: bytes) -> list[bytes]:
    """The frames after a 1-octet count, each after its 2-octet little-endian length."""
    count, at = body[0], 1
    frames: list[bytes] = []
    while len(frames) < count:
        if at + 2 > len(body):
            raise ValueError(f"frame {len(frames) + 1} of {count}: its length is cut off")
        n = int.from_bytes(body[at : at + 2], "little")
        if at + 2 + n > len(body):
            raise ValueError(f"frame {len(frames) + 1} of {count}: {n} octets announced, {len(body) - at - 2} left")
        frames.append(body[at + 2 : at + 2 + n])
        at += 2 + n
    if not count or at != len(body):
        raise ValueError(f"{count} frames end after {at} of {len(body)} octets")
    return frames
