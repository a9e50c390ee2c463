"""What a payload that is not a YD/T 3957 envelope is, so that its reject reason says so.

Deployed RSU-to-cloud links do not all send the envelope: some send the bare UPER MessageFrame
(the RSU ends PC5 security itself), some a vendor binary wrapper (an 8-octet ASCII RSU id, an
8-octet little-endian UTC millisecond time, then a 2-octet little-endian length and the
MessageFrame; for BSMs a 1-octet count, then length and frame per BSM), some JSON documents
(OpenV2X and cloud road-network services).  Before this a frame of any of them was rejected as
"protocolVersion is not 3", which never said that the envelope was missing.
"""

from __future__ import annotations

import json

from v2x import messages

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
    """The vendor wrapper (id, time, then one length-prefixed frame or a count of them)."""
    if len(data) < WRAPPER_HEAD + 3 or not all(32 <= b < 127 for b in data[:8]):
        return None
    rsu_id, millis = data[:8].decode("ascii"), int.from_bytes(data[8:16], "little")
    body = data[WRAPPER_HEAD:]
    single = int.from_bytes(body[:2], "little")
    if 2 + single == len(body) and (what := bare_message(body[2:])):
        return f"a vendor binary wrapper (RSU id {rsu_id!r}, UTC ms {millis}) around a UPER MessageFrame ({what})"
    count, at = body[0], 1
    found: list[str | None] = []
    while at + 2 <= len(body) and len(found) < count:
        n = int.from_bytes(body[at : at + 2], "little")
        found.append(bare_message(body[at + 2 : at + 2 + n]))
        at += 2 + n
    if count and at == len(body) and len(found) == count and all(found):
        return f"a vendor binary wrapper (RSU id {rsu_id!r}, UTC ms {millis}) around {count} UPER MessageFrames ({found[0]} ...)"
    return None


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
