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


def from_sec1(encoded: bytes) -> tuple[str, Any]:
    """The EccP256CurvePoint of an SEC 1 point (33 bytes compressed, 65 uncompressed)."""
    if len(encoded) == 65 and encoded[0] == 4:
        return "uncompressed", {"x": encoded[1:33], "y": encoded[33:]}
    if len(encoded) != 33 or encoded[0] not in (2, 3):
        raise ValueError("not an SEC 1 point of a 256-bit curve")
    return ("compressed-y-0" if encoded[0] == 2 else "compressed-y-1"), encoded[1:]
