"""Our verifier (v2x/security/ec_verify.py) against OpenSSL 3 and a second implementation, case by case.

SM2: the OpenSSL 3 CLI (``openssl pkeyutl``), OpenSSL 3's libcrypto through ctypes and gmalglib.
ECDSA P-256: pyca/cryptography (OpenSSL) and python-ecdsa.  Each case is a random key and
message, signed, then changed one way: nothing, the message, r or s (a bit, 0, n, above n,
r + s = n, n - s), the signer's distinguishing ID (SM2), the key (another key, a point off the
curve, an x with no point, the point at infinity).  Our verdict with and without the key's table
must equal every other implementation's, and a case left unchanged must verify.  A mismatch fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import ecdsa
import gmalglib
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2x.security import _ec_verify, ec_verify
from v2x.security.backend import BACKENDS
from v2x.security.curve_point import from_sec1
from v2x.security.sm2 import SM2_USER_ID
from v2x.security.sm2_libraries import LIBRARIES

from tests.independent import openssl_sm2_verify

SM2, P256 = ec_verify.SM2_CURVE, ec_verify.P256_CURVE
MUTATIONS = [
    "none",
    "message",
    "r bit",
    "s bit",
    "r = 0",
    "s = 0",
    "r = n",
    "s = n",
    "r above n",
    "s above n",
    "r + s = n",
    "s = n - s",
    "other uid",
    "other key",
    "off the curve",
    "no point at x",
    "infinity",
]
EXAMPLES = 8  # per mutation and suite: 17 x 8 cases, each through every implementation

CASES = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def uncompressed(curve: ec_verify.CurveParameters, x: int, y: int) -> bytes:
    return b"\x04" + b32(x) + b32(y)


def no_point_x(curve: ec_verify.CurveParameters, start: int) -> int:
    """The first x >= start for which x^3 + a x + b is not a square mod p (no point has it)."""
    x = start % curve.p
    while pow((x**3 + curve.a * x + curve.b) % curve.p, (curve.p - 1) // 2, curve.p) != curve.p - 1:
        x = (x + 1) % curve.p
    return x


def mutate(curve, mutation: str, key: bytes, message: bytes, r: int, s: int, bit: int, other_key: bytes):
    """(key, message, r, s) after ``mutation``; keys as SEC 1 encodings."""
    n = curve.n
    if mutation == "message":
        message = bytearray(message or b"\x00")
        message[bit % len(message)] ^= 1 << (bit % 8)
        message = bytes(message)
    elif mutation == "r bit":
        r ^= 1 << bit
    elif mutation == "s bit":
        s ^= 1 << bit
    elif mutation in ("r = 0", "s = 0", "r = n", "s = n"):
        value = 0 if mutation.endswith("0") else n
        r, s = (value, s) if mutation.startswith("r") else (r, value)
    elif mutation == "r above n":
        r = n + bit
    elif mutation == "s above n":
        s = n + bit
    elif mutation == "r + s = n":
        r = n - s
    elif mutation == "s = n - s":
        s = n - s
    elif mutation == "other key":
        key = other_key
    elif mutation == "off the curve":
        key = key[:33] + b32((int.from_bytes(key[33:], "big") + 1 + bit) % curve.p)
    elif mutation == "no point at x":
        key = b"\x02" + b32(no_point_x(curve, int.from_bytes(key[1:33], "big") + bit))
    elif mutation == "infinity":
        key = b"\x00"
    return key, message, r, s


def ours(suite: str, key: bytes, message: bytes, r: int, s: int, table: bool) -> bool:
    """Through the suite's backend as the ingest uses it; with the key's table built at once or never."""
    backend = BACKENDS[suite]
    try:
        public = backend.load_public_key(from_sec1(key))
    except ValueError:
        return False
    rs = (b32(r), b32(s)) if max(r, s) < 2**256 else (b"\xff" * 32, b"\xff" * 32)
    tables = ec_verify.KeyTables(after_uses=1 if table else 10**9)
    check = ec_verify.verify_sm2 if suite == "sm2-sm3" else ec_verify.verify_ecdsa
    verdict = check([(public, message, *rs)], tables)[0]
    assert tables.built == (1 if table else 0)
    return verdict


def library_sm2(name: str, key: bytes, message: bytes, r: int, s: int) -> bool:
    library = LIBRARIES[name]
    if len(key) != 65 or not gmalglib.sm2_is_pk_valid(key):
        if len(key) == 65 and name == "openssl-ctypes":  # OpenSSL checks the point itself
            try:
                library.public_key(key)
            except ValueError:
                return False
            raise AssertionError("OpenSSL took a point off the curve")
        return False
    if max(r, s) >= 2**256:
        return False
    return library.verify(library.public_key(key), message, b32(r), b32(s))


def openssl_cli_sm2(key: bytes, message: bytes, r: int, s: int, tmp: Path) -> bool:
    if len(key) not in (33, 65):
        return False  # no SubjectPublicKeyInfo holds the point at infinity's one octet
    return openssl_sm2_verify(key, message, b32(r % 2**256), b32(s % 2**256), tmp) if max(r, s) < 2**256 else False


def pyca_ecdsa(key: bytes, message: bytes, r: int, s: int) -> bool:
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


def python_ecdsa(key: bytes, message: bytes, r: int, s: int) -> bool:
    try:
        public = ecdsa.VerifyingKey.from_string(key, curve=ecdsa.NIST256p)
        return bool(public.verify(b32(r % 2**256) + b32(s % 2**256), message, hashfunc=hashlib.sha256)) and max(r, s) < 2**256
    except (ecdsa.BadSignatureError, ecdsa.MalformedPointError, ValueError, AssertionError):
        return False


def sm2_key(secret: int) -> bytes:
    from tongsuopy.crypto import serialization
    from tongsuopy.crypto.asymciphers import ec as tec

    public = tec.derive_private_key(secret, tec.SM2()).public_key()
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.mark.parametrize("mutation", MUTATIONS)
@CASES
@given(
    secret=st.integers(1, SM2.n - 2),  # GB/T 32918.1 6.1: d in [1, n - 2]
    other=st.integers(1, SM2.n - 2),
    message=st.binary(min_size=0, max_size=130),
    bit=st.integers(0, 255),
)
def test_sm2_verdicts_agree_with_openssl_gmalglib_and_openssl_libcrypto(mutation, secret, other, message, bit, tmp_path_factory):
    key, other_key = sm2_key(secret), sm2_key(other)
    uid = b"ALICE123@YAHOO.COM" if mutation == "other uid" else SM2_USER_ID
    signature = gmalglib.sm2.SM2(sk=b32(secret), pk=key, uid=uid).sign(message)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    key, message, r, s = mutate(SM2, mutation, key, message, r, s, bit, other_key)
    verdicts = {
        "ours, no table": ours("sm2-sm3", key, message, r, s, table=False),
        "ours, table": ours("sm2-sm3", key, message, r, s, table=True),
        "gmalglib": library_sm2("gmalglib", key, message, r, s),
        "OpenSSL libcrypto": library_sm2("openssl-ctypes", key, message, r, s),
        "openssl pkeyutl": openssl_cli_sm2(key, message, r, s, tmp_path_factory.mktemp("cli")),
    }
    assert len(set(verdicts.values())) == 1, verdicts
    if mutation == "none":
        assert verdicts["ours, table"], verdicts


@pytest.mark.parametrize("mutation", [m for m in MUTATIONS if m != "other uid"])
@CASES
@given(
    secret=st.integers(1, P256.n - 1),
    other=st.integers(1, P256.n - 1),
    message=st.binary(min_size=0, max_size=130),
    bit=st.integers(0, 255),
)
def test_ecdsa_verdicts_agree_with_openssl_and_python_ecdsa(mutation, secret, other, message, bit):
    private = ec.derive_private_key(secret, ec.SECP256R1())
    key = uncompressed(P256, *(lambda n: (n.x, n.y))(private.public_key().public_numbers()))
    other_numbers = ec.derive_private_key(other, ec.SECP256R1()).public_key().public_numbers()
    r, s = decode_dss_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))
    key, message, r, s = mutate(P256, mutation, key, message, r, s, bit, uncompressed(P256, other_numbers.x, other_numbers.y))
    verdicts = {
        "ours, no table": ours("ecdsa-p256-sha256", key, message, r, s, table=False),
        "ours, table": ours("ecdsa-p256-sha256", key, message, r, s, table=True),
        "OpenSSL (pyca)": pyca_ecdsa(key, message, r, s),
        "python-ecdsa": python_ecdsa(key, message, r, s),
    }
    assert len(set(verdicts.values())) == 1, verdicts
    if mutation in ("none", "s = n - s"):  # (r, n - s) verifies too: ECDSA signatures are malleable
        assert verdicts["ours, table"], verdicts


def test_a_batch_mixes_keys_with_and_without_tables_and_bad_signatures():
    """One call, many signers: each verdict is the one of its own signature."""
    keys = [ec.derive_private_key(k, ec.SECP256R1()) for k in (3, 5, 7)]
    publics = [ec_verify.PublicKey(P256, k.public_key().public_numbers().x, k.public_key().public_numbers().y) for k in keys]
    tables = ec_verify.KeyTables(after_uses=3)
    items, expected = [], []
    for i in range(30):
        k = i % 3
        message = bytes([i]) * 20
        r, s = decode_dss_signature(keys[k].sign(message, ec.ECDSA(hashes.SHA256())))
        forged = i % 4 == 1
        items.append((publics[k], message, b32(r), b32(s ^ 1 if forged else s)))
        expected.append(not forged)
    assert ec_verify.verify_ecdsa(items, tables) == expected
    assert tables.built == 3  # each key's table from its third signature on


def test_hostile_arguments_are_refused_not_crashed_on():
    xy = b32(P256.gx) + b32(P256.gy)
    with pytest.raises(ValueError):
        _ec_verify.key_table(1, b"\xff" * 64, 4)  # coordinates not below p
    with pytest.raises(ValueError):
        _ec_verify.key_table(1, xy, 9)
    with pytest.raises(ValueError):
        _ec_verify.key_table(2, xy, 4)
    table = _ec_verify.key_table(1, xy, 4)
    with pytest.raises(ValueError):
        _ec_verify.verify(0, 0, [table], bytes(96))  # a P-256 table given for SM2
    with pytest.raises(ValueError):
        _ec_verify.verify(1, 1, [table[:-1]], bytes(96))
    with pytest.raises(ValueError):
        _ec_verify.verify(1, 1, [xy], bytes(95))
    with pytest.raises(TypeError):
        _ec_verify.verify(1, 1, [bytearray(xy)], bytes(96))
    with pytest.raises(ValueError):
        ec_verify.PublicKey(P256, 0, 0)  # the point at infinity has no affine coordinates
    assert _ec_verify.verify(1, 1, [], b"") == b""
    assert _ec_verify.verify(1, 1, [table, xy], bytes(192)) == b"\x00\x00"  # r = s = 0


def test_the_key_tables_keep_to_their_memory():
    size = len(_ec_verify.key_table(1, b32(P256.gx) + b32(P256.gy), ec_verify.TABLE_WINDOW))
    tables = ec_verify.KeyTables(memory=3 * size, after_uses=1)
    keys = [ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers() for k in range(2, 8)]
    for numbers in keys:
        tables.key(ec_verify.PublicKey(P256, numbers.x, numbers.y))
    assert tables.built == 6 and len(tables._tables) == 3
