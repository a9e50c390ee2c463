"""Crypto backends: one interface per algorithm suite.

A suite fixes the hash (HashAlgorithm), the signature scheme (Signature alternative) and the key
type (PublicVerificationKey alternative) used in YD/T 3957 structures: SM2 with SM3 (the GB/T
45315 national profile, :mod:`v2x.security.sm2`) and ECDSA P-256 with SHA-256 (the IEEE 1609.2
suite).  A certificate's key type says which suite verifies it (``BACKEND_BY_KEY``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from v2x.security import ec_verify
from v2x.security.curve_point import from_sec1, sec1
from v2x.security.sm2 import Sm2Sm3


class CryptoBackend(Protocol):
    """What the sign and verify services need from an algorithm suite (one object per suite,
    hashable: the signers cache per-suite encodings)."""

    def __hash__(self) -> int: ...

    name: str
    hash_algorithm: str  # HashAlgorithm value
    issuer_choice: str  # IssuerIdentifier alternative for certificates this suite issues
    key_choice: str  # PublicVerificationKey alternative
    signature_choice: str  # Signature alternative

    def hash(self, data: bytes) -> bytes: ...

    def generate_private_key(self) -> Any: ...

    def public_key_value(self, private_key: Any) -> tuple[str, Any]:
        """The EccP256CurvePoint value of the key's public half."""
        ...

    def load_public_key(self, point: tuple[str, Any]) -> Any: ...

    def sign(self, private_key: Any, data: bytes) -> tuple[bytes, bytes]:
        """Sign ``data`` (hashed inside the scheme); returns (r, s) as 32-byte big-endian."""
        ...

    def verify(self, public_key: Any, data: bytes, r: bytes, s: bytes) -> bool: ...

    def verify_many(self, items: Sequence[tuple[Any, bytes, bytes, bytes]]) -> list[bool]:
        """:meth:`verify` for many (public key, data, r, s) in one call."""
        ...

    def signature_value(self, r: bytes, s: bytes) -> tuple[str, dict[str, Any]]: ...

    def private_key_pem(self, private_key: Any) -> bytes: ...

    def load_private_key_pem(self, pem: bytes) -> Any: ...


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class EcdsaP256Sha256:
    """ECDSA over NIST P-256 with SHA-256 (IEEE 1609.2 5.3.1): signing through pyca/cryptography
    (OpenSSL), verifying through the project's own verifier (:mod:`v2x.security.ec_verify`),
    faster than OpenSSL for signers seen again and again (``benches/README.md``)."""

    name = "ecdsa-p256-sha256"
    hash_algorithm = "sha256"
    issuer_choice = "sha256AndDigest"
    key_choice = "ecdsaNistP256"
    signature_choice = "ecdsaNistP256Signature"

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def generate_private_key(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def public_key_value(self, private_key: ec.EllipticCurvePrivateKey) -> tuple[str, bytes]:
        point = private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        return from_sec1(point)

    def load_public_key(self, point: tuple[str, Any]) -> ec_verify.PublicKey:
        numbers = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sec1(point)).public_numbers()
        return ec_verify.PublicKey(ec_verify.P256_CURVE, numbers.x, numbers.y)

    def sign(self, private_key: ec.EllipticCurvePrivateKey, data: bytes) -> tuple[bytes, bytes]:
        r, s = decode_dss_signature(private_key.sign(data, _ECDSA_SHA256))
        return r.to_bytes(32, "big"), s.to_bytes(32, "big")

    def verify(self, public_key: ec_verify.PublicKey, data: bytes, r: bytes, s: bytes) -> bool:
        return ec_verify.verify_ecdsa([(public_key, data, r, s)])[0]

    def verify_many(self, items: Sequence[tuple[Any, bytes, bytes, bytes]]) -> list[bool]:
        return ec_verify.verify_ecdsa(items)

    def signature_value(self, r: bytes, s: bytes) -> tuple[str, dict[str, Any]]:
        return self.signature_choice, {"rSig": ("x-only", r), "sSig": s}

    def private_key_pem(self, private_key: ec.EllipticCurvePrivateKey) -> bytes:
        return private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def load_private_key_pem(self, pem: bytes) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("not an EC private key")
        return key


BACKENDS: dict[str, CryptoBackend] = {Sm2Sm3.name: Sm2Sm3(), EcdsaP256Sha256.name: EcdsaP256Sha256()}
BACKEND_BY_KEY: dict[str, CryptoBackend] = {b.key_choice: b for b in BACKENDS.values()}
DEFAULT_SUITE = Sm2Sm3.name  # GB/T 45315: the national profile


def signature_rs(signature: tuple[str, dict[str, Any]]) -> tuple[bytes, bytes]:
    """(r, s) of a decoded Signature value.  ECDSA's rSig is a curve point whose x is r, in any
    of the forms IEEE 1609.2 6.3.29 (and YD/T 3957) allow: x-only, compressed or uncompressed;
    ``fill`` carries no r."""
    _kind, value = signature
    r = value["rSig"]
    if isinstance(r, tuple):
        form, point = r
        if form == "uncompressed":
            r = point["x"]
        elif form in ("x-only", "compressed-y-0", "compressed-y-1"):
            r = point
        else:
            raise ValueError(f"rSig is a {form} point, which carries no r")
    return r, value["sSig"]
