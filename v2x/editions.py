"""Editions of the Day-I message set, and which of them a frame was sent in.

Deployed devices do not all send YD/T 3709-2020 / T/CSAE 53-2020: RSUs built in 2020 still
send the 2019-07 pre-release of that edition, older OBUs and RSUs T/CSAE 53-2017.  Their frames
differ in a few types only, but enough that a 2020 decoder stops half-way through an older MAP
(the strict decoders refuse it) or, worse, reads a 2017 BSM whole as a 2020 one with other values.

Each older edition is our module ``asn1/XiqingDayI.asn`` with the types that differ put in
place of ours (``asn1/editions/<edition>.asn``, written from the differences).  Their member and
enumeration names are those of 2020 where they mean the same, so a decoded value reads like a
2020 one; :func:`decode` converts what still differs (a 2017 SPAT's TimeChangeDetails), so that
the content lands in the same tables.
"""

from __future__ import annotations

import enum
import re
from functools import cache
from typing import Any

import asn1tools

from v2x.asn1 import ASN1_DIR, decode_uper_whole
from v2x.messages import DAY_I, DAY_II_CHOICE, MessageType, message_set


class Edition(str, enum.Enum):
    """An edition of the Day-I message set, as the ``edition`` column names it."""

    CSAE53_2020 = "csae53-2020"  # YD/T 3709-2020 / T/CSAE 53-2020, the edition the zone requires
    CSAE53_2019_07 = "csae53-2019-07"  # the 2019-07-24 pre-release of the 2020 edition
    CSAE53_2017 = "csae53-2017"  # T/CSAE 53-2017, the first edition

    @property
    def standard(self) -> str:
        return _STANDARDS[self]


_STANDARDS = {
    Edition.CSAE53_2020: "YD/T 3709-2020 / T/CSAE 53-2020",
    Edition.CSAE53_2019_07: "the 2019-07 pre-release of T/CSAE 53-2020",
    Edition.CSAE53_2017: "T/CSAE 53-2017",
}
CURRENT = Edition.CSAE53_2020
OLDER = (Edition.CSAE53_2019_07, Edition.CSAE53_2017)  # tried in this order when the current edition refuses a frame

_ASSIGNMENT = re.compile(r"^([A-Z][\w-]*) ::=", re.MULTILINE)
_BLOCK_END = re.compile(r"^(?:[A-Z][\w-]* ::=|-- =+|END\b)", re.MULTILINE)


def _replaced(module: str, changes: str) -> str:
    """``module`` with each type assignment of ``changes`` in place of its own."""
    for match in _ASSIGNMENT.finditer(changes):
        name = match.group(1)
        end = _BLOCK_END.search(changes, match.end())
        new = changes[match.start() : end.start() if end else len(changes)].rstrip() + "\n\n"
        old = re.search(rf"^{re.escape(name)} ::=", module, re.MULTILINE)
        if old is None:
            raise ValueError(f"edition changes {name}, which the module does not define")
        old_end = _BLOCK_END.search(module, old.end())
        module = module[: old.start()] + new + module[old_end.start() if old_end else len(module) :]
    return module


def module_text(edition: Edition) -> str:
    """The ASN.1 module of ``edition`` (our module with the edition's types in place)."""
    ours = (ASN1_DIR / "XiqingDayI.asn").read_text(encoding="utf-8")
    if edition is CURRENT:
        return ours
    return _replaced(ours, (ASN1_DIR / "editions" / f"{edition.value}.asn").read_text(encoding="utf-8"))


@cache
def specification(edition: Edition) -> asn1tools.compiler.Specification:
    """The compiled UPER specification of ``edition`` (compiled the first time a frame needs it)."""
    if edition is CURRENT:
        return message_set()
    day_ii = (ASN1_DIR / "XiqingDayII.asn").read_text(encoding="utf-8")  # what the module imports
    return asn1tools.compile_string(module_text(edition) + "\n" + day_ii, "uper")


WRITTEN = (Edition.CSAE53_2020, Edition.CSAE53_2019_07)  # the editions a simulated RSU can send (same value shapes)


def encode(msg_type: MessageType, content: dict[str, Any], edition: Edition) -> bytes:
    """A MessageFrame of a 2020 value in ``edition`` (one of :data:`WRITTEN`, whose types take
    the same values): what a device of that edition sends."""
    if edition not in WRITTEN:
        raise ValueError(f"{edition.value}: values of the 2020 shape are not written in it")
    return specification(edition).encode("MessageFrame", (msg_type.frame_choice, content), check_constraints=True)


class NoEdition(ValueError):
    """A frame no edition decodes whole; the message names why each refused it."""


def decode(frame: bytes, edition: Edition) -> tuple[MessageType, dict[str, Any]]:
    """A MessageFrame of ``edition``, decoded whole with its constraints, as a value of the 2020
    shape; raises what the decoder raises (:class:`v2x.asn1.TrailingOctets` for one that ends early)."""
    choice, content = decode_uper_whole(specification(edition), "MessageFrame", frame, check_constraints=True)
    if choice == DAY_II_CHOICE:  # Day-II extends the 2020 edition; an older one has no msgFrameExt
        raise ValueError(f"{edition.standard} has no Day-II messages")
    msg_type = next(t for t in DAY_I if t.frame_choice == choice)
    if edition is Edition.CSAE53_2017 and msg_type is MessageType.SPAT:
        for intersection in content["intersections"]:
            for phase in intersection["phases"]:
                for state in phase["phaseStates"]:
                    if "timing" in state:
                        state["timing"] = ("counting", state["timing"])  # 2017 knows only the count-down
    return msg_type, content


def identify(frame: bytes, editions: tuple[Edition, ...] = OLDER) -> tuple[Edition, MessageType, dict[str, Any]]:
    """The first of ``editions`` that decodes ``frame`` whole; :class:`NoEdition` if none does."""
    refusals = []
    for edition in editions:
        try:
            return (edition, *decode(frame, edition))
        except Exception as exc:
            refusals.append(f"{edition.standard}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise NoEdition("; ".join(refusals))
