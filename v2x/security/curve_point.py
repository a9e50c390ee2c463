"""EccP256CurvePoint (YD/T 3957 / IEEE 1609.2 6.3.23) as an SEC 1 octet string."""

from __future__ import annotations

from typing import Any


def sec1(point: tuple[str, Any]) -> bytes:
    """The SEC 1 encoding (02/03 || x, or 04 || x || y) of a decoded EccP256CurvePoint that can
    serve as a public key; ValueError for x-only and fill."""
    kind, value = point
    if kind == "compressed-y-0":
        return b"\x02" + value
    if kind == "compressed-y-1":
        return b"\x03" + value
    if kind == "uncompressed":
        return b"\x04" + value["x"] + value["y"]
    raise ValueError(f"cannot use an EccP256CurvePoint of kind {kind} as a verification key")


def from_sec1(encoded: bytes) -> tuple[str, bytes]:
    """The compressed EccP256CurvePoint of a 33-byte SEC 1 point."""
    return ("compressed-y-0" if encoded[0] == 2 else "compressed-y-1"), encoded[1:]
