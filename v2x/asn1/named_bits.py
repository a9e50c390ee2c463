"""BIT STRING values of the message set by the names of their bits.

asn1tools takes and gives a BIT STRING as ``(octets, number of bits)``, bit 0 the most
significant bit of the first octet (ITU-T X.680 22).  A named BIT STRING of the message set
(DriveBehavior, ParkingType, CoordinationInfo …) is easier to write and read by its names; the
names and sizes come from the compiled module, so they cannot drift from it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _bit_type(spec: Any, type_name: str) -> Any:
    compiled = spec.types[type_name].type
    if not getattr(compiled, "has_named_bits", False):
        raise TypeError(f"{type_name} is not a BIT STRING with named bits")
    return compiled


def bit_string(spec: Any, type_name: str, names: Iterable[str]) -> tuple[bytes, int]:
    """The asn1tools value of ``type_name`` with the bits ``names`` set, at the type's smallest
    size (an extensible size's root).  An unknown name is a ``ValueError`` naming the known ones."""
    compiled = _bit_type(spec, type_name)
    positions = dict(compiled.named_bits)
    size = compiled.minimum
    value = 0
    for name in names:
        if name not in positions:
            raise ValueError(f"{type_name} has no bit {name!r} (it has {', '.join(positions)})")
        value |= 1 << (size - 1 - positions[name])
    return (value << (-size % 8)).to_bytes((size + 7) // 8, "big"), size


def bit_names(spec: Any, type_name: str, value: tuple[bytes, int]) -> list[str]:
    """The names of the bits set in ``value``, in bit order; a set bit without a name is
    ``bit<k>`` (an extension's bit, or a reserved one)."""
    names = {position: name for name, position in _bit_type(spec, type_name).named_bits}
    octets, size = value
    number = int.from_bytes(octets, "big") >> (len(octets) * 8 - size) if size else 0
    return [names.get(k, f"bit{k}") for k in range(size) if number >> (size - 1 - k) & 1]
