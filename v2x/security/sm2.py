"""SM2 signatures with SM3 (GB/T 32918.2, GB/T 32905): the national suite of GB/T 45315 / YD/T 3957.

Signing goes through gmalglib (a C extension, constant-time), one ``SM2`` object per key;
verifying through the project's own verifier (:mod:`v2x.security.ec_verify`), which was the
fastest by a wide margin of every implementation measured (``benches/README.md``,
:mod:`v2x.security.sm2_libraries`).  The signature is SM2 over
``SM3(ZA || M)`` where ZA binds the signer's public key and distinguishing ID.  YD/T 3957's value
for that ID was not read; we use GB/T 35276's default ``1234567812345678``, as OpenSSL and
gmalglib do (``SM2_USER_ID``).  ``M`` is the IEEE 1609.2 5.3.1 data input
``SM3(tbs) || SM3(signer certificate)`` built by :func:`v2x.security.certificates.signing_input`.

Private keys are written as PKCS#8 PEM (RFC 5915 ECPrivateKey on the SM2 curve, OID
1.2.156.10197.1.301), the form ``openssl pkey`` reads, so keys and signatures can be checked with
OpenSSL 3 as an independent implementation.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import gmalglib
from gmalglib.sm2 import SM2

from v2x.security import ec_verify
from v2x.security.curve_point import from_sec1, sec1

SM2_USER_ID = b"1234567812345678"

# DER of PKCS#8 PrivateKeyInfo { version 0, AlgorithmIdentifier { id-ecPublicKey, SM2 curve },
# OCTET STRING ECPrivateKey { version 1, privateKey [32], [1] publicKey BIT STRING [65] } }
_PKCS8_PREFIX = bytes.fromhex("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420")
_PKCS8_MIDDLE = bytes.fromhex("a144034200")
# DER of AlgorithmIdentifier { id-ecPublicKey, SM2 curve }
_SM2_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")


@dataclass(frozen=True)
class Sm2PrivateKey:
    secret: bytes  # 32 bytes
    public: bytes  # 65 bytes, uncompressed (04 || x || y)

    @cached_property
    def signer(self) -> SM2:
        """gmalglib's signer for this key, made once: making one costs as much as a signature."""
        return SM2(sk=self.secret, pk=self.public, uid=SM2_USER_ID)


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


def public_key_der(point: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of an SM2 public key given as an SEC 1 point, compressed (33
    bytes) or not (65)."""
    bit_string = bytes([0x03, len(point) + 1, 0x00]) + point
    return bytes([0x30, len(_SM2_ALGORITHM) + len(bit_string)]) + _SM2_ALGORITHM + bit_string


def public_key_pem(point: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of an SM2 public key, for ``openssl pkeyutl -pubin``."""
    return _pem("PUBLIC KEY", public_key_der(point))


def private_key_der(secret: bytes, point: bytes) -> bytes:
    """PKCS#8 DER of an SM2 key pair (32-byte secret, 65-byte uncompressed public point)."""
    return _PKCS8_PREFIX + secret + _PKCS8_MIDDLE + point


class Sm2Sm3:
    """SM2 with SM3 through gmalglib (GB/T 45315 7.4, YD/T 3957 sm2Signature / ecsigSm2 / sm3)."""

    name = "sm2-sm3"
    hash_algorithm = "sm3"
    issuer_choice = "sm3AndDigest"
    key_choice = "ecsigSm2"
    signature_choice = "sm2Signature"

    def hash(self, data: bytes) -> bytes:
        return gmalglib.sm3_digest(data)

    def generate_private_key(self) -> Sm2PrivateKey:
        secret, public = gmalglib.sm2_generate_keypair("raw")
        return Sm2PrivateKey(secret, public)

    def public_key_value(self, private_key: Sm2PrivateKey) -> tuple[str, bytes]:
        return from_sec1(gmalglib.sm2_convert_pk(private_key.public, "compress"))

    def load_public_key(self, point: tuple[str, Any]) -> ec_verify.PublicKey:
        encoded = sec1(point)
        if not gmalglib.sm2_is_pk_valid(encoded):
            raise ValueError("verification key is not a point on the SM2 curve")
        raw = gmalglib.sm2_convert_pk(encoded, "raw")
        x, y = raw[1:33], raw[33:]
        za = ec_verify.sm2_za(x, y, SM2_USER_ID)
        return ec_verify.PublicKey(ec_verify.SM2_CURVE, int.from_bytes(x, "big"), int.from_bytes(y, "big"), za)

    def sign(self, private_key: Sm2PrivateKey, data: bytes) -> tuple[bytes, bytes]:
        signature = private_key.signer.sign(data)
        return signature[:32], signature[32:]

    def verify(self, public_key: ec_verify.PublicKey, data: bytes, r: bytes, s: bytes) -> bool:
        return ec_verify.verify_sm2([(public_key, data, r, s)])[0]

    def verify_many(self, items: Sequence[tuple[Any, bytes, bytes, bytes]]) -> list[bool]:
        """:meth:`verify` for many (key, data, r, s) in one call."""
        return ec_verify.verify_sm2(items)

    def signature_value(self, r: bytes, s: bytes) -> tuple[str, dict[str, Any]]:
        return self.signature_choice, {"rSig": r, "sSig": s}

    def private_key_pem(self, private_key: Sm2PrivateKey) -> bytes:
        return _pem("PRIVATE KEY", private_key_der(private_key.secret, private_key.public))

    def load_private_key_pem(self, pem: bytes) -> Sm2PrivateKey:
        lines = [line for line in pem.strip().splitlines() if not line.startswith(b"-----")]
        der = base64.b64decode(b"".join(lines))
        n = len(_PKCS8_PREFIX)
        if (
            len(der) != n + 32 + len(_PKCS8_MIDDLE) + 65
            or not der.startswith(_PKCS8_PREFIX)
            or der[n + 32 : n + 37] != _PKCS8_MIDDLE
        ):
            raise ValueError("not a PKCS#8 SM2 private key of the form this project writes")
        key = Sm2PrivateKey(der[n : n + 32], der[n + 37 :])
        if not gmalglib.sm2_is_keypair(key.secret, key.public):
            raise ValueError("SM2 private and public key do not match")
        return key
