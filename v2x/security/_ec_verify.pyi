"""Point arithmetic of SM2 and ECDSA P-256 verification (``_ec_verify.c``)."""

def key_table(curve: int, xy: bytes, window: int, /) -> bytes:
    """The signed-window fixed-base table of the point x || y (64 bytes) of curve 0 (SM2) or 1 (P-256)."""

def verify(curve: int, scheme: int, keys: list[bytes], ers: bytes, /) -> bytes:
    """For each key (a table or x || y) and e || r || s: 1 where the signature verifies, else 0."""
