"""The 8-octet RSU identifier carried in RSI and RSM (YD/T 3709 ``id OCTET STRING (SIZE(8))``)."""

from __future__ import annotations

import hashlib


def rsu_octets(rsu_id: str) -> bytes:
    """The device id as 8 octets: itself if it is 8 ASCII characters, else the first 8 bytes of its SHA-256."""
    raw = rsu_id.encode("ascii")
    return raw if len(raw) == 8 else hashlib.sha256(raw).digest()[:8]
