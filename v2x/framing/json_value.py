"""A JSON document read strictly as a value of a type of our message set.

Platforms send V2X messages as JSON (:mod:`v2x.framing.openv2x`, :mod:`v2x.framing.cloud_json`).
asn1tools' JER decoder is lenient (it passes over unknown keys and absent mandatory fields),
which would store a document it misread; :class:`ValueReader` walks the schema itself and
refuses, naming the place (``nodes[0].refPos.lat``), every key the type does not have, every
mandatory field that is absent and every value of the wrong kind.  The UPER encoder then holds
each value to its range.  The forms read are those of the JSON encoding rules (ITU-T X.697,
JER), and three liberties OpenV2X's documents take:

* an INTEGER may be a string of digits (``"lat": "397870006"``);
* a SEQUENCE OF may be wrapped in an object named for its element type (``"nodes": {"Node": [...]}``);
* an ENUMERATED value may be an object with the value's name as its one key and null
  (``"type": {"vehicleMaxSpeed": null}``, as XER writes it).
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import asn1tools

from v2x import messages
from v2x.asn1 import MESSAGE_SET, compile_module
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


@cache
def _jer() -> asn1tools.compiler.Specification:
    return compile_module(MESSAGE_SET, "jer")


def message_type(msg_type: MessageType) -> Any:
    """The compiled JER type of a message of our set (the MessageFrame's alternative)."""
    frame = _jer().types["MessageFrame"].type
    return next(m for m in frame.members if m.name == msg_type.frame_choice)


def frame_of_document(msg_type: MessageType, doc: Any, path: str, reader: ValueReader | None = None) -> bytes:
    """The UPER MessageFrame of a document of ``msg_type`` (the message's value, or
    ``{"<type>Frame": value}``) read by ``reader`` (default :class:`ValueReader`);
    :class:`DocumentError` naming ``path`` and what does not fit."""
    if isinstance(doc, dict) and list(doc) == [msg_type.frame_choice]:
        doc = doc[msg_type.frame_choice]
    value = (reader or ValueReader()).read(message_type(msg_type), doc, path)
    try:
        return messages.encode(msg_type, value)
    except asn1tools.Error as exc:
        raise DocumentError(f"{path}: {exc}") from None


def where(path: str, key: str | int) -> str:
    """The path of ``key`` inside ``path`` (``nodes[0]``, ``refPos.lat``)."""
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def kind(value: Any) -> str:
    """What a JSON value is, for an error message."""
    return (
        "null"
        if value is None
        else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
    )


def shown(value: Any) -> str:
    """A JSON value as an error message shows it: strings and numbers themselves, others by kind."""
    return repr(value) if isinstance(value, (str, float, int)) and not isinstance(value, bool) else kind(value)


class ValueReader:
    """Reads a JSON value as the asn1tools value of a compiled JER type, strictly.

    A subclass reads some types in other forms by overriding :meth:`read` (the cloud JSON reads
    positions in degrees); the others it hands back here."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Callable[[Any, Any, str], Any]] = {  # built once: read() runs for every node
            "Sequence": self.members,
            "Set": self.members,
            "SequenceOf": self.sequence_of,
            "SetOf": self.sequence_of,
            "Choice": self.choice,
            "Enumerated": self.enumerated,
            "Integer": self.integer,
            "BitString": self.bit_string,
            "OctetString": self.octet_string,
            "Boolean": self.boolean,
            "Null": self.null,
            **dict.fromkeys(_STRINGS, self.string),
        }

    def read(self, t: Any, value: Any, path: str) -> Any:
        """The asn1tools value of JSON ``value`` for compiled JER type ``t``; :class:`DocumentError` naming ``path``."""
        name = type(t).__name__
        reader = self._by_kind.get(name)
        if reader is None:
            raise DocumentError(f"{path}: a {name} is not read from documents")
        return reader(t, value, path)

    def members(self, t: Any, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise DocumentError(f"{path}: expected an object, got {kind(value)}")
        by_name = {m.name: m for m in t.members}
        unknown = [k for k in value if k not in by_name]
        if unknown:
            raise DocumentError(f"{path}: no field {unknown[0]!r} in this type (it has {', '.join(by_name)})")
        out: dict[str, Any] = {}
        for name, member in by_name.items():
            if name in value:
                out[name] = self.read(member, value[name], where(path, name))
            elif not (member.optional or member.has_default()):
                raise DocumentError(f"{path}: the mandatory field {name!r} is absent")
        return out

    def sequence_of(self, t: Any, value: Any, path: str) -> list[Any]:
        if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
            value = next(iter(value.values()))  # OpenV2X: {"Node": [...]}
        if not isinstance(value, list):
            raise DocumentError(f"{path}: expected a list, got {kind(value)}")
        return [self.read(t.element_type, v, where(path, i)) for i, v in enumerate(value)]

    def choice(self, t: Any, value: Any, path: str) -> tuple[str, Any]:
        if not isinstance(value, dict) or len(value) != 1:
            raise DocumentError(f"{path}: expected an object with one alternative of {t.format_names()}, got {kind(value)}")
        [(name, inner)] = value.items()
        if name not in t.name_to_member:
            raise DocumentError(f"{path}: {name!r} is not an alternative here ({t.format_names()})")
        return name, self.read(t.name_to_member[name], inner, where(path, name))

    def enumerated(self, t: Any, value: Any, path: str) -> str:
        if isinstance(value, dict) and len(value) == 1 and next(iter(value.values())) is None:
            value = next(iter(value))  # OpenV2X (as XER): {"vehicleMaxSpeed": null}
        if not isinstance(value, str) or value not in t.values:
            raise DocumentError(
                f"{path}: {shown(value) if isinstance(value, str) else kind(value)} is not one of {t.format_values()}"
            )
        return value

    def integer(self, t: Any, value: Any, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            return int(value)  # OpenV2X: "lat": "397870006"
        raise DocumentError(f"{path}: expected an integer in the message set's units, got {shown(value)}")

    @staticmethod
    def _hex(value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise DocumentError(f"{path}: expected hexadecimal octets, got {kind(value)}")
        try:
            return binascii.unhexlify(value)
        except (binascii.Error, ValueError):
            raise DocumentError(f"{path}: {value!r} is not hexadecimal octets") from None

    def bit_string(self, t: Any, value: Any, path: str) -> tuple[bytes, int]:
        if t.size is not None:
            data, length = self._hex(value, path), t.size
        elif isinstance(value, dict) and set(value) == {"value", "length"}:
            data, length = self._hex(value["value"], where(path, "value")), value["length"]
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise DocumentError(f"{path}.length: expected a number of bits, got {kind(length)}")
        else:
            raise DocumentError(f"{path}: expected {{'value': hex, 'length': bits}}, got {kind(value)}")
        if len(data) != (length + 7) // 8:
            raise DocumentError(f"{path}: {len(data)} octets do not hold exactly {length} bits")
        return data, length

    def octet_string(self, t: Any, value: Any, path: str) -> bytes:
        return self._hex(value, path)

    def boolean(self, t: Any, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise DocumentError(f"{path}: expected true or false, got {kind(value)}")
        return value

    def null(self, t: Any, value: Any, path: str) -> None:
        if value is not None:
            raise DocumentError(f"{path}: expected null, got {kind(value)}")

    def string(self, t: Any, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise DocumentError(f"{path}: expected a string, got {kind(value)}")
        return value
