"""Framings: how a source puts V2X messages into its MQTT payloads, the frames inside a payload
(:func:`unwrap`), and what a payload that is not a YD/T 3957 envelope is, so that its reject
reason says so (:func:`not_an_envelope`).

Deployed RSU-to-cloud links do not all send the envelope: some send the bare UPER MessageFrame
(the RSU ends PC5 security itself), some a vendor binary wrapper (an 8-octet ASCII RSU id, an
8-octet little-endian UTC millisecond time, then a 2-octet little-endian length and the
MessageFrame; for BSMs a 1-octet count, then length and frame per BSM), some JSON documents
(OpenV2X's, and a cloud road-network service's in physical units).  Before this a frame of any of them was rejected as
"protocolVersion is not 3", which never said that the envelope was missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from v2x import messages
from v2x.framing import INGESTED, Framing, cloud_json, openv2x, vendor_wrapper
from v2x.mqtt import topics
from v2x.security.sign import coer_length

__all__ = ["INGESTED", "Framing", "Unwrapped", "as_unsecured", "describe_payload", "not_an_envelope", "unwrap"]

ENVELOPE_VERSION = 3  # V2XSecData.protocolVersion (YD/T 3957), the first octet of a C-OER envelope


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
        wrapped = vendor_wrapper.parse(data)
    except ValueError:
        return None
    found = [bare_message(f) for f in wrapped.frames]
    if not all(found):
        return None
    head = f"a vendor binary wrapper (RSU id {wrapped.rsu_id!r}, UTC ms {wrapped.utc_ms})"
    if len(found) == 1:
        return f"{head} around a UPER MessageFrame ({found[0]})"
    return f"{head} around {len(found)} UPER MessageFrames ({found[0]} ...)"


_HINT = " (a sources file can name its framing, e.g. "  # docs/operators.md, "Sources and framings"


def describe_payload(data: bytes) -> str:
    """What ``data`` looks like when its first octet is not the envelope's protocolVersion 3."""
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        try:
            doc = json.loads(data)
        except ValueError:
            return "the payload starts like JSON but does not parse as JSON"
        keys = ", ".join(list(doc)[:5]) if isinstance(doc, dict) else f"a list of {len(doc)}"
        framing = "cloud-json" if isinstance(doc, dict) and {"time", "data"} <= set(doc) else "openv2x-json"
        return f"the payload is a JSON document ({keys}): a platform's JSON uplink, not a signed frame{_HINT}{framing})"
    if what := bare_message(data):
        return f"the payload is a bare UPER MessageFrame ({what}) with no security envelope{_HINT}bare-uper)"
    if what := _vendor_wrapper(data):
        return f"the payload is {what}{_HINT}vendor-wrapper)"
    first = data[0] if data else None
    return (
        f"the first octet is {first} (protocolVersion must be {ENVELOPE_VERSION}), and it is neither JSON nor a UPER MessageFrame"
    )


def not_an_envelope(data: bytes) -> str | None:
    """The reject reason of a payload that is not a YD/T 3957 envelope; None if it may be one."""
    if data[:1] == bytes([ENVELOPE_VERSION]):
        return None
    return "no YD/T 3957 envelope: " + describe_payload(data)


UNSECURED_TAG = 0x80  # V2XSecData.content unsecuredData: context tag [0] in C-OER


@dataclass(frozen=True)
class Unwrapped:
    """One message of a payload: ``frame`` is what the batch stage parses (a V2XSecData; its row
    keeps the payload as received, with its framing); ``sender`` the id the framing names (the
    vendor wrapper's RSU id); ``sent_us`` the Unix µs the framing stamps it with; ``problem`` why the payload could not be unwrapped (its row is then
    a reject with that reason)."""

    frame: bytes
    sender: str | None = None
    problem: str | None = None
    sent_us: int | None = None  # when the device sent it, where the framing says (the vendor wrapper's UTC ms)


def as_unsecured(message_frame: bytes) -> bytes:
    """A MessageFrame as the unsecuredData V2XSecData the batch stage parses (C-OER: version 3,
    the unsecuredData tag, the length and the octets)."""
    return bytes([ENVELOPE_VERSION, UNSECURED_TAG]) + coer_length(len(message_frame)) + message_frame


def unwrap(framing: Framing, payload: bytes, topic: str = "") -> list[Unwrapped]:
    """The messages of one payload of ``framing`` received on ``topic``.  A payload that does
    not fit its framing is one entry with its ``problem``; nothing is dropped."""
    if framing is Framing.ENVELOPE:
        return [Unwrapped(payload)]
    if framing is Framing.BARE_UPER:
        return [Unwrapped(as_unsecured(payload))]
    if framing is Framing.VENDOR_WRAPPER:
        try:
            wrapped = vendor_wrapper.parse(payload)
        except ValueError as exc:
            return [Unwrapped(payload, problem=f"vendor-wrapper framing: {exc}")]
        sent_us = wrapped.utc_ms * 1000
        return [Unwrapped(as_unsecured(f), sender=wrapped.rsu_id or None, sent_us=sent_us) for f in wrapped.frames]
    if framing is Framing.OPENV2X_JSON:
        msg_type = topics.message_type_named(topic)
        if msg_type is None:
            return [Unwrapped(payload, problem=f"openv2x-json framing: the topic {topic!r} does not end in {{type}}/UP")]
        try:
            return [Unwrapped(as_unsecured(frame)) for frame in openv2x.message_frames(msg_type, payload)]
        except openv2x.DocumentError as exc:
            return [Unwrapped(payload, problem=f"openv2x-json framing: {exc}")]
    if framing is Framing.CLOUD_JSON:
        uplink = topics.parse_cloud_uplink(topic)
        if uplink is None:
            return [
                Unwrapped(
                    payload, problem=f"cloud-json framing: the topic {topic!r} does not end in v2x/v1/rsu/{{esn}}/{{type}}/up"
                )
            ]
        try:
            frame, sent_us = cloud_json.message_frame(uplink.msg_type, uplink.device_id, payload)
        except cloud_json.DocumentError as exc:
            return [Unwrapped(payload, sender=uplink.device_id, problem=f"cloud-json framing: {exc}")]
        return [Unwrapped(as_unsecured(frame), sender=uplink.device_id, sent_us=sent_us)]
    return [Unwrapped(payload, problem=f"{framing.value} framing is not ingested yet (docs/operators.md: Sources and framings)")]
