"""SM2 signatures with SM3 (GB/T 32918.2, GB/T 32905): the national suite of GB/T 45315 / YD/T 3957.

Signing and verifying go through gmalglib (a C extension); the signature is SM2 over
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
from dataclasses import dataclass
from typing import Any

import gmalglib
from gmalglib.sm2 import SM2

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


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


def public_key_pem(point: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of an SM2 public key given as an SEC 1 point, compressed (33
    bytes) or not (65), for ``openssl pkeyutl -pubin``."""
    bit_string = bytes([0x03, len(point) + 1, 0x00]) + point
    return _pem("PUBLIC KEY", bytes([0x30, len(_SM2_ALGORITHM) + len(bit_string)]) + _SM2_ALGORITHM + bit_string)


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

    def load_public_key(self, point: tuple[str, Any]) -> SM2:
        encoded = sec1(point)
        if not gmalglib.sm2_is_pk_valid(encoded):
            raise ValueError("verification key is not a point on the SM2 curve")
        return SM2(pk=encoded, uid=SM2_USER_ID)

    def sign(self, private_key: Sm2PrivateKey, data: bytes) -> tuple[bytes, bytes]:
        signature = SM2(sk=private_key.secret, pk=private_key.public, uid=SM2_USER_ID).sign(data)
        return signature[:32], signature[32:]

    def verify(self, public_key: SM2, data: bytes, r: bytes, s: bytes) -> bool:
        try:
            return bool(public_key.verify(data, r + s))
        except ValueError:
            return False

    def signature_value(self, r: bytes, s: bytes) -> tuple[str, dict[str, Any]]:
        return self.signature_choice, {"rSig": r, "sSig": s}

    def private_key_pem(self, private_key: Sm2PrivateKey) -> bytes:
        return _pem("PRIVATE KEY", _PKCS8_PREFIX + private_key.secret + _PKCS8_MIDDLE + private_key.public)

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
