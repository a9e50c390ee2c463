"""Builders of the Day-II messages (T/CSAE 157-2020) in physical units.

Each module builds one message's asn1tools value, as :func:`v2x.messages.bsm` does for the BSM:
:mod:`~v2x.dayii.vir` (a vehicle's intention and requests), :mod:`~v2x.dayii.rsc` (the
roadside's coordination: answers, guidance, lane reservations), :mod:`~v2x.dayii.pam` (a car
park's map, slots and guidance), :mod:`~v2x.dayii.psm` (a person's safety message: pedestrians,
road workers), :mod:`~v2x.dayii.ssm` (shared perception) and :mod:`~v2x.dayii.rtcm` (GNSS
corrections).  :func:`v2x.messages.encode` puts any of them in a MessageFrame.
"""

from __future__ import annotations

from typing import Any

from v2x import messages
from v2x.asn1.named_bits import bit_names, bit_string

__all__ = ["bits", "names_of", "offset_llv", "time_offset"]


def bits(type_name: str, names: tuple[str, ...] | list[str] | set[str] | frozenset[str]) -> tuple[bytes, int]:
    """The value of the message set's named BIT STRING ``type_name`` with ``names`` set."""
    return bit_string(messages.message_set(), type_name, names)


def names_of(type_name: str, value: tuple[bytes, int]) -> list[str]:
    """The names of the bits set in a decoded BIT STRING of ``type_name``."""
    return bit_names(messages.message_set(), type_name, value)


def time_offset(seconds: float) -> int:
    """Seconds as a TimeOffset (10 ms, 1..65535; YD/T 3709 DefTime)."""
    return max(1, min(65535, round(seconds * 100)))


def offset_llv(ref_lat_deg: float, ref_lon_deg: float, lat_deg: float, lon_deg: float) -> dict[str, Any]:
    """A PositionOffsetLLV from the reference position to (lat, lon), without a vertical offset."""
    return {"offsetLL": messages.offset_ll(lat_deg - ref_lat_deg, lon_deg - ref_lon_deg)}
