"""Framings: how a source puts V2X messages into its MQTT payloads, the frames inside a payload
(:func:`unwrap`), and what a payload that is not a YD/T 3957 envelope is, so that its reject
reason says so (:func:`not_an_envelope`).

Deployed RSU-to-cloud links do not all send the envelope: some send the bare UPER MessageFrame
(the RSU ends PC5 security itself), some a vendor binary wrapper (an 8-octet ASCII RSU id, an
8-octet little-endian UTC millisecond time, then a 2-octet little-endian length and the
MessageFrame; for BSMs a 1-octet count, then length and frame per BSM), some JSON documents
(OpenV2X and cloud road-network services).  Before this a frame of any of them was rejected as
"protocolVersion is not 3", which never said that the envelope was missing.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from v2x import messages
from v2x.security.sign import coer_length

ENVELOPE_VERSION = 3  # V2XSecData.protocolVersion (YD/T 3957), the first octet of a C-OER envelope
WRAPPER_HEAD = 8 + 8  # ASCII RSU id, little-endian UTC milliseconds


def bare_message(frame: bytes) -> str | None:
    """The type and msgCnt of a whole UPER MessageFrame, or None if ``frame`` is not one."""
    try:
        msg_type, content = messages.decode(frame)
    except Exception:
        return None
    return f"{msg_type.value}, msgCnt {content.get('msgCnt')}"


def _vendor_wrapper(data: bytes) -> str | None:
    """What a vendor wrapper holds (:func:`unwrap` reads it), or None if ``data`` is not one
    around whole MessageFrames."""
    try:
        rsu_id, frames = _wrapped_frames(data)
    except ValueError:
        return None
    found = [bare_message(f) for f in frames]
    if not all(found):
        return None
    head = f"a vendor binary wrapper (RSU id {rsu_id!r}, UTC ms {int.from_bytes(data[8:16], 'little')})"
    if len(frames) == 1:
        return f"{head} around a UPER MessageFrame ({found[0]})"
    return f"{head} around {len(frames)} UPER MessageFrames ({found[0]} ...)"


def describe_payload(data: bytes) -> str:
    """What ``data`` looks like when its first octet is not the envelope's protocolVersion 3."""
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        try:
            doc = json.loads(data)
        except ValueError:
            return "the payload starts like JSON but does not parse as JSON"
        keys = ", ".join(list(doc)[:5]) if isinstance(doc, dict) else f"a list of {len(doc)}"
        return f"the payload is a JSON document ({keys}): a platform's JSON uplink, not a signed frame"
    if what := bare_message(data):
        return f"the payload is a bare UPER MessageFrame ({what}) with no security envelope"
    if what := _vendor_wrapper(data):
        return f"the payload is {what}"
    first = data[0] if data else None
    return (
        f"the first octet is {first} (protocolVersion must be {ENVELOPE_VERSION}), and it is neither JSON nor a UPER MessageFrame"
    )


def not_an_envelope(data: bytes) -> str | None:
    """The reject reason of a payload that is not a YD/T 3957 envelope; None if it may be one."""
    if data[:1] == bytes([ENVELOPE_VERSION]):
        return None
    return "no YD/T 3957 envelope: " + describe_payload(data)


class Framing(str, enum.Enum):
    """How a source frames its messages (README "Sources and framings")."""

    ENVELOPE = "envelope"  # the YD/T 3957 V2XSecData, as sent over PC5 (the harness's own devices)
    BARE_UPER = "bare-uper"  # the UPER MessageFrame alone: the RSU ended PC5 security itself
    VENDOR_WRAPPER = "vendor-wrapper"  # ASCII RSU id, UTC ms, then length-prefixed MessageFrames
    OPENV2X_JSON = "openv2x-json"  # JSON documents (recognised in reject reasons; not ingested yet)
    CLOUD_JSON = "cloud-json"

    @property
    def signed(self) -> bool:
        """Whether frames of this framing can carry a signature."""
        return self is Framing.ENVELOPE


INGESTED = (Framing.ENVELOPE, Framing.BARE_UPER, Framing.VENDOR_WRAPPER)
UNSECURED_TAG = 0x80  # V2XSecData.content unsecuredData: context tag [0] in C-OER


@dataclass(frozen=True)
class Unwrapped:
    """One message of a payload: ``frame`` is what the batch stage parses (a V2XSecData; its row
    keeps the payload as received, with its framing); ``sender`` the id the framing names (the
    vendor wrapper's RSU id); ``problem`` why the payload could not be unwrapped (its row is then
    a reject with that reason)."""

    frame: bytes
    sender: str | None = None
    problem: str | None = None


def as_unsecured(message_frame: bytes) -> bytes:
    """A MessageFrame as the unsecuredData V2XSecData the batch stage parses (C-OER: version 3,
    the unsecuredData tag, the length and the octets)."""
    return bytes([ENVELOPE_VERSION, UNSECURED_TAG]) + coer_length(len(message_frame)) + message_frame


def _wrapped_frames(payload: bytes) -> tuple[str, list[bytes]]:
    """(RSU id, MessageFrames) of a vendor wrapper; ValueError naming what does not fit."""
    if len(payload) < WRAPPER_HEAD + 3:
        raise ValueError(f"{len(payload)} octets: shorter than the {WRAPPER_HEAD}-octet header and a frame")
    head = payload[:8]
    if not all(32 <= b < 127 for b in head):
        raise ValueError(f"the RSU id {head!r} is not 8 ASCII characters")
    rsu_id = head.decode("ascii").strip()
    body = payload[WRAPPER_HEAD:]
    single = int.from_bytes(body[:2], "little")
    if 2 + single == len(body):
        return rsu_id, [body[2:]]
    try:
        return rsu_id, _counted(body)
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


def unwrap(framing: Framing, payload: bytes) -> list[Unwrapped]:
    """The messages of one payload of ``framing``.  A payload that does not fit its framing is
    one entry with its ``problem``; nothing is dropped."""
    if framing is Framing.ENVELOPE:
        return [Unwrapped(payload)]
    if framing is Framing.BARE_UPER:
        return [Unwrapped(as_unsecured(payload))]
    if framing is Framing.VENDOR_WRAPPER:
        try:
            rsu_id, frames = _wrapped_frames(payload)
        except ValueError as exc:
            return [Unwrapped(payload, problem=f"vendor-wrapper framing: {exc}")]
        return [Unwrapped(as_unsecured(f), sender=rsu_id or None) for f in frames]
    return [Unwrapped(payload, problem=f"{framing.value} framing is not ingested yet (README: Sources and framings)")]
