"""Receiver-side signature verification of our own: SM2 (GB/T 32918.2 7) and ECDSA P-256 (SEC 1 4.1.4).

What a V2X receiver sees makes verification cheap to speed up: every vehicle signs ten times a
second with the same key, and verification uses only public data, so a variable-time
implementation is safe there.  The point arithmetic is a small C extension
(``v2x/security/_ec_verify.c``, built by the project's install): fixed-base tables for the
generator and, once a key has been used ``TABLE_AFTER_USES`` times, for the signer's key, so both
scalar multiplications are sums of table points; the inversions of an ECDSA batch share one.
Never used for signing.

Hashing stays with the libraries: SM3 (gmalglib) for SM2's ``e = SM3(ZA || M)``, SHA-256
(hashlib) for ECDSA.  ``tests/test_ec_verify.py`` checks every verdict against OpenSSL 3 and
against a second implementation.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import gmalglib

from v2x.security._ec_verify import key_table
from v2x.security._ec_verify import verify as verify_in_c


@dataclass(frozen=True)
class CurveParameters:
    """A short Weierstrass curve y^2 = x^3 + a x + b over F_p with a generator of prime order n."""

    name: str
    index: int  # the curve's number in the C extension
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    def on_curve(self, x: int, y: int) -> bool:
        """Whether (x, y) is a point of the curve (coordinates in [0, p))."""
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0


SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_CURVE = CurveParameters(  # GB/T 32918.5 (recommended curve)
    "sm2",
    0,
    SM2_P,
    SM2_P - 3,
    0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_CURVE = CurveParameters(  # FIPS 186-4 D.1.2.3 / SEC 2 secp256r1
    "p256",
    1,
    P256_P,
    P256_P - 3,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)

SCHEME_SM2, SCHEME_ECDSA = 0, 1  # the C extension's numbers

TABLE_WINDOW = 6  # bits per signed window of a key's table: 88 KB a key, 43 additions (policy, benches/README.md)
TABLE_AFTER_USES = 4  # a key's table is built at its 4th signature, 0.4 s of a vehicle's BSMs (policy)
TABLE_MEMORY = 256 * 2**20  # key tables kept per process (about 2,900), least recently used dropped first (policy)


def sm2_za(x: bytes, y: bytes, uid: bytes) -> bytes:
    """ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 5.5)."""
    c = SM2_CURVE
    fixed = b"".join(v.to_bytes(32, "big") for v in (c.a, c.b, c.gx, c.gy))
    return bytes(gmalglib.sm3_digest((len(uid) * 8).to_bytes(2, "big") + uid + fixed + x + y))


class PublicKey:
    """A checked public key (x || y on its curve) and, for SM2, its ZA; uses counted for the table."""

    __slots__ = ("curve", "uses", "xy", "za")

    def __init__(self, curve: CurveParameters, x: int, y: int, za: bytes = b""):
        if not curve.on_curve(x, y):
            raise ValueError(f"verification key is not a point on the {curve.name} curve")
        self.curve = curve
        self.xy = x.to_bytes(32, "big") + y.to_bytes(32, "big")
        self.za = za
        self.uses = 0


class KeyTables:
    """The fixed-base tables of the keys in use, least recently used dropped beyond ``memory`` bytes."""

    def __init__(self, memory: int = TABLE_MEMORY, after_uses: int = TABLE_AFTER_USES, window: int = TABLE_WINDOW):
        self.memory = memory
        self.after_uses = after_uses
        self.window = window
        self._tables: OrderedDict[tuple[int, bytes], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.built = 0  # tables built, for the benchmarks and tests

    def key(self, key: PublicKey) -> bytes:
        """What the C extension takes for ``key``: its table, or its point while it has none."""
        ident = (key.curve.index, key.xy)
        with self._lock:  # verifying threads share the tables of their process
            table = self._tables.get(ident)
            if table is not None:
                self._tables.move_to_end(ident)
                return table
            key.uses += 1
            if key.uses < self.after_uses:
                return key.xy
        table = key_table(key.curve.index, key.xy, self.window)
        with self._lock:
            self.built += 1
            if ident not in self._tables:
                self._tables[ident] = table
                self._bytes += len(table)
            while self._bytes > self.memory and len(self._tables) > 1:
                _, dropped = self._tables.popitem(last=False)
                self._bytes -= len(dropped)
        return table


TABLES = KeyTables()  # per process


def _verify(curve: CurveParameters, scheme: int, keys: list[bytes], ers: list[bytes]) -> list[bool]:
    """The C extension's verdicts, in order.  The jobs go in grouped by key: consecutive
    verifies then read the same table, which stays in the CPU's cache (tables of 20 signers
    interleaved ran 35 % slower, ``benches/README.md``)."""
    order = sorted(range(len(keys)), key=lambda i: id(keys[i]))
    verdicts = verify_in_c(curve.index, scheme, [keys[i] for i in order], b"".join([ers[i] for i in order]))
    out = [False] * len(keys)
    for i, verdict in zip(order, verdicts):
        out[i] = verdict == 1
    return out


def verify_sm2(items: Sequence[tuple[PublicKey, bytes, bytes, bytes]], tables: KeyTables = TABLES) -> list[bool]:
    """For each (key, message, r, s): whether (r, s) is the SM2 signature of ``message`` (the
    signer's ZA is prefixed here, GB/T 32918.2 7.1 B3)."""
    keys, ers = [], []
    for key, message, r, s in items:
        keys.append(tables.key(key))
        ers.append(bytes(gmalglib.sm3_digest(key.za + message)) + _scalar(r) + _scalar(s))
    return _verify(SM2_CURVE, SCHEME_SM2, keys, ers)


def verify_ecdsa(items: Sequence[tuple[PublicKey, bytes, bytes, bytes]], tables: KeyTables = TABLES) -> list[bool]:
    """For each (key, message, r, s): whether (r, s) is the ECDSA P-256 / SHA-256 signature of ``message``."""
    keys, ers = [], []
    for key, message, r, s in items:
        keys.append(tables.key(key))
        ers.append(hashlib.sha256(message).digest() + _scalar(r) + _scalar(s))
    return _verify(P256_CURVE, SCHEME_ECDSA, keys, ers)


def _scalar(value: bytes) -> bytes:
    """r or s as 32 bytes (any value of 2^256 or more becomes 2^256 - 1, which the range check rejects)."""
    if len(value) == 32:
        return value
    number = int.from_bytes(value, "big")
    return number.to_bytes(32, "big") if number < 2**256 else b"\xff" * 32
