"""OpenV2X JSON documents: a V2X message as the JSON an RSU publishes on ``V2X/RSU/{esn}/{MAP|SPAT|RSM|RSI}/UP``.

The OpenV2X platform's roadside units and RSU simulators send each message as its ASN.1 value
in JSON (its MAP document, docs/v2x-map.md of the OpenV2X docs): the field names of the message
set, values in the units of the message set (Latitude in 1e-7 degree, Speed in 0.02 m/s, ...),
a CHOICE as an object with the alternative's name as its one key.  That is the JSON encoding
rules (ITU-T X.697, JER) applied to the message, with three liberties OpenV2X's documents take:

* an INTEGER may be a string of digits (``"lat": "397870006"``);
* a SEQUENCE OF may be wrapped in an object named for its element type (``"nodes": {"Node": [...]}``);
* an ENUMERATED value may be an object with the value's name as its one key and null
  (``"type": {"vehicleMaxSpeed": null}``, as XER writes it).

:func:`document` writes a MessageFrame as such a document (with asn1tools' JER encoder, no
liberties taken).  :func:`message_frames` reads a document back into the UPER MessageFrames the
ingest decodes (one, or the RSMs of the list OpenV2X's central platform reads).  asn1tools' JER decoder is lenient (it passes over unknown keys and absent
mandatory fields), which would store a document it misread; so the reader here walks the
schema itself and refuses, naming the place, every key the type does not have, every mandatory
field that is absent and every value of the wrong kind.  The UPER encoder then holds each value
to its range.
"""

from __future__ import annotations

import binascii
import json
import re
from functools import cache
from typing import Any

import asn1tools

from v2x import messages
from v2x.asn1 import compile_module
from v2x.messages import MessageType

MAX_DOCUMENT = 4 * 1024 * 1024  # policy: the largest MAP we have seen is under 100 kB of JSON
_DIGITS = re.compile(r"-?[0-9]{1,20}")
_STRINGS = {
    "UTF8String",
    "NumericString",
    "PrintableString",
    "IA5String",
    "VisibleString",
    "GeneralString",
    "BMPString",
    "GraphicString",
    "UniversalString",
    "TeletexString",
}


class DocumentError(ValueError):
    """A document that is not a message of its type; the text names the place (``nodes[0].refPos.lat``)."""


@cache
def _jer() -> asn1tools.compiler.Specification:
    return compile_module("XiqingDayI.asn", "jer")


def _frame_type() -> Any:
    return _jer().types["MessageFrame"].type


def _message_type(msg_type: MessageType) -> Any:
    return next(m for m in _frame_type().members if m.name == msg_type.frame_choice)


def document(frame: bytes) -> bytes:
    """The OpenV2X document of a UPER MessageFrame: its message's value in JSON (JER)."""
    return document_of(*messages.decode(frame))


def document_of(msg_type: MessageType, content: dict[str, Any]) -> bytes:
    """The OpenV2X document of a message's value (asn1tools' representation)."""
    return json.dumps(_message_type(msg_type).encode(content), separators=(",", ":")).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise DocumentError(f"the key {repeated[0]!r} appears twice in one object")
    return dict(pairs)


def _no_constants(name: str) -> None:
    raise DocumentError(f"{name} is not a JSON number")


def parse_json(payload: bytes) -> Any:
    """A JSON payload, refusing what JSON parsers disagree on (duplicate keys, NaN) and documents over :data:`MAX_DOCUMENT`."""
    if len(payload) > MAX_DOCUMENT:
        raise DocumentError(f"{len(payload)} octets: longer than the {MAX_DOCUMENT} a document may have (policy)")
    try:
        return json.loads(payload, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except DocumentError:
        raise
    except (ValueError, RecursionError) as exc:
        raise DocumentError(f"not JSON: {exc}") from None


def message_frame(msg_type: MessageType, payload: bytes) -> bytes:
    """The UPER MessageFrame of an OpenV2X document of ``msg_type`` (the message's value, or
    ``{"<type>Frame": value}``); :class:`DocumentError` naming what does not fit."""
    return _encoded(msg_type, parse_json(payload), msg_type.value)


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
        return [_encoded(msg_type, rsm, f"content.rsms[{k}]") for k, rsm in enumerate(content["rsms"])]
    return [_encoded(msg_type, doc, msg_type.value)]


def _encoded(msg_type: MessageType, doc: Any, path: str) -> bytes:
    member = _message_type(msg_type)
    if isinstance(doc, dict) and list(doc) == [msg_type.frame_choice]:
        doc = doc[msg_type.frame_choice]
    value = _read(member, doc, path)
    try:
        return messages.encode(msg_type, value)
    except asn1tools.Error as exc:
        raise DocumentError(f"{path}: {exc}") from None


def _where(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _kind(value: Any) -> str:
    return (
        "null"
        if value is None
        else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
    )


def _read(t: Any, value: Any, path: str) -> Any:
    """The asn1tools value of JSON ``value`` for JER type ``t``, strictly."""
    kind = type(t).__name__
    reader = _READERS.get(kind)
    if reader is None:
        if kind in _STRINGS:
            return _string(t, value, path)
        raise DocumentError(f"{path}: a {kind} is not read from documents")
    return reader(t, value, path)


def _members(t: Any, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DocumentError(f"{path}: expected an object, got {_kind(value)}")
    by_name = {m.name: m for m in t.members}
    unknown = [k for k in value if k not in by_name]
    if unknown:
        raise DocumentError(f"{path}: no field {unknown[0]!r} in this type (it has {', '.join(by_name)})")
    out: dict[str, Any] = {}
    for name, member in by_name.items():
        if name in value:
            out[name] = _read(member, value[name], _where(path, name))
        elif not (member.optional or member.has_default()):
            raise DocumentError(f"{path}: the mandatory field {name!r} is absent")
    return out


def _sequence_of(t: Any, value: Any, path: str) -> list[Any]:
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
        value = next(iter(value.values()))  # OpenV2X: {"Node": [...]}
    if not isinstance(value, list):
        raise DocumentError(f"{path}: expected a list, got {_kind(value)}")
    return [_read(t.element_type, v, _where(path, i)) for i, v in enumerate(value)]


def _choice(t: Any, value: Any, path: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise DocumentError(f"{path}: expected an object with one alternative of {t.format_names()}, got {_kind(value)}")
    [(name, inner)] = value.items()
    if name not in t.name_to_member:
        raise DocumentError(f"{path}: {name!r} is not an alternative here ({t.format_names()})")
    return name, _read(t.name_to_member[name], inner, _where(path, name))


def _enumerated(t: Any, value: Any, path: str) -> str:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value.values())) is None:
        value = next(iter(value))  # OpenV2X (as XER): {"vehicleMaxSpeed": null}
    if not isinstance(value, str) or value not in t.values:
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise DocumentError(f"{path}: {shown} is not one of {t.format_values()}")
    return value


def _integer(t: Any, value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)  # OpenV2X: "lat": "397870006"
    shown = repr(value) if isinstance(value, (str, float)) else _kind(value)
    raise DocumentError(f"{path}: expected an integer in the message set's units, got {shown}")


def _hex(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise DocumentError(f"{path}: expected hexadecimal octets, got {_kind(value)}")
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise DocumentError(f"{path}: {value!r} is not hexadecimal octets") from None


def _bit_string(t: Any, value: Any, path: str) -> tuple[bytes, int]:
    if t.size is not None:
        data, length = _hex(value, path), t.size
    elif isinstance(value, dict) and set(value) == {"value", "length"}:
        data, length = _hex(value["value"], _where(path, "value")), value["length"]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise DocumentError(f"{path}.length: expected a number of bits, got {_kind(length)}")
    else:
        raise DocumentError(f"{path}: expected {{'value': hex, 'length': bits}}, got {_kind(value)}")
    if len(data) != (length + 7) // 8:
        raise DocumentError(f"{path}: {len(data)} octets do not hold exactly {length} bits")
    return data, length


def _octet_string(t: Any, value: Any, path: str) -> bytes:
    return _hex(value, path)


def _boolean(t: Any, value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise DocumentError(f"{path}: expected true or false, got {_kind(value)}")
    return value


def _null(t: Any, value: Any, path: str) -> None:
    if value is not None:
        raise DocumentError(f"{path}: expected null, got {_kind(value)}")


def _string(t: Any, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"{path}: expected a string, got {_kind(value)}")
    return value


_READERS = {
    "Sequence": _members,
    "Set": _members,
    "SequenceOf": _sequence_of,
    "SetOf": _sequence_of,
    "Choice": _choice,
    "Enumerated": _enumerated,
    "Integer": _integer,
    "BitString": _bit_string,
    "OctetString": _octet_string,
    "Boolean": _boolean,
    "Null": _null,
}
