"""OpenV2X JSON documents: a V2X message as the JSON an RSU publishes on ``V2X/RSU/{esn}/{MAP|SPAT|RSM|RSI}/UP``.

The OpenV2X platform's roadside units and RSU simulators send each message as its ASN.1 value
in JSON (its MAP document, docs/v2x-map.md of the OpenV2X docs): the field names of the message
set, values in the units of the message set (Latitude in 1e-7 degree, Speed in 0.02 m/s, ...),
a CHOICE as an object with the alternative's name as its one key.  That is the JSON encoding
rules (ITU-T X.697, JER) applied to the message, with three liberties OpenV2X's documents take
(digit strings for integers, lists wrapped in an object, enumerations as ``{"name": null}``),
which :class:`v2x.framing.json_value.ValueReader` reads along with strict JER.

:func:`document` writes a MessageFrame as such a document (with asn1tools' JER encoder, no
liberties taken).  :func:`message_frames` reads a document back into the UPER MessageFrames the
ingest decodes (one, or the RSMs of the list OpenV2X's central platform reads).
"""

from __future__ import annotations

import json
from typing import Any

from v2x import messages
from v2x.framing.json_value import MAX_DOCUMENT, DocumentError, frame_of_document, message_type, parse_json
from v2x.messages import MessageType

__all__ = ["MAX_DOCUMENT", "DocumentError", "document", "document_of", "message_frame", "message_frames", "parse_json"]


def document(frame: bytes) -> bytes:
    """The OpenV2X document of a UPER MessageFrame: its message's value in JSON (JER)."""
    return document_of(*messages.decode(frame))


def document_of(msg_type: MessageType, content: dict[str, Any]) -> bytes:
    """The OpenV2X document of a message's value (asn1tools' representation)."""
    return json.dumps(message_type(msg_type).encode(content), separators=(",", ":")).encode()


def message_frame(msg_type: MessageType, payload: bytes) -> bytes:
    """The UPER MessageFrame of an OpenV2X document of ``msg_type`` (the message's value, or
    ``{"<type>Frame": value}``); :class:`DocumentError` naming what does not fit."""
    return frame_of_document(msg_type, parse_json(payload), msg_type.value)


def message_frames(msg_type: MessageType, payload: bytes) -> list[bytes]:
    """The UPER MessageFrames of an OpenV2X document: one message (:func:`message_frame`), or
    for RSM the list OpenV2X's central platform reads (``{"content": {"rsms": [RSM, ...]}}``)."""
    doc = parse_json(payload)
    if msg_type is MessageType.RSM and isinstance(doc, dict) and list(doc) == ["content"]:
        content = doc["content"]
        if not (
            isinstance(content, dict) and list(content) == ["rsms"] and isinstance(content["rsms"], list) and content["rsms"]
        ):
            raise DocumentError('content: expected {"rsms": [RSM, ...]} with at least one RSM')
        return [frame_of_document(msg_type, rsm, f"content.rsms[{k}]") for k, rsm in enumerate(content["rsms"])]
    return [frame_of_document(msg_type, doc, msg_type.value)]
