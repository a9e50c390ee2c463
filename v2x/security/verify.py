"""Verify service: a verdict for every received SPDU.

Verdict codes are modelled on ETSI TS 102 723-8 table 27 (verification report), extended with
``permission_denied`` (header AID not in the certificate's appPermissions, YD/T 3957 6.1.9.3)
and ``malformed`` (the frame could not be parsed far enough to verify).  Certificates are
checked once and cached by HashedId8, so a digest signer costs one ECDSA verify.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from v2x import clock
from v2x.security.backend import CryptoBackend
from v2x.security.certificates import CertificateInfo, parse_certificate, signing_input


class Verdict(str, enum.Enum):
    SUCCESS = "success"
    FALSE_SIGNATURE = "false_signature"
    INVALID_CERTIFICATE = "invalid_certificate"
    REVOKED_CERTIFICATE = "revoked_certificate"
    INCONSISTENT_CHAIN = "inconsistent_chain"
    SIGNER_CERTIFICATE_NOT_FOUND = "signer_certificate_not_found"
    INVALID_TIMESTAMP = "invalid_timestamp"
    DUPLICATE_MESSAGE = "duplicate_message"
    UNSIGNED_MESSAGE = "unsigned_message"
    PERMISSION_DENIED = "permission_denied"
    UNSUPPORTED_SIGNER_IDENTIFIER_TYPE = "unsupported_signer_identifier_type"
    INCOMPATIBLE_PROTOCOL = "incompatible_protocol"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Verification:
    """Outcome of verifying one SPDU; ``signer`` is the hex HashedId8 when it is known."""

    verdict: Verdict
    reason: str | None = None
    signer: str | None = None


class CertificateStore:
    """Trusted roots plus every certificate seen and checked, keyed by HashedId8."""

    def __init__(self, backend: CryptoBackend, trust_anchors: list[bytes]):
        self.backend = backend
        self._known: dict[bytes, CertificateInfo] = {}
        self._failed: dict[bytes, Verification] = {}
        self._keys: dict[bytes, Any] = {}
        for encoded in trust_anchors:
            info = parse_certificate(backend, encoded)
            if info.issuer != "self" or not self._signature_ok(info, info.tbs, b"", info.signature):
                raise ValueError("trust anchor is not a valid self-signed certificate")
            self._known[info.hashed_id8] = info

    def lookup(self, digest: bytes) -> CertificateInfo | None:
        return self._known.get(digest)

    def public_key(self, info: CertificateInfo) -> Any:
        key = self._keys.get(info.hashed_id8)
        if key is None:
            key = self._keys[info.hashed_id8] = self.backend.load_public_key(info.public_key)
        return key

    def _signature_ok(self, signer: CertificateInfo, tbs: bytes, signer_encoded: bytes, rs: tuple[bytes, bytes]) -> bool:
        data = signing_input(self.backend, tbs, signer_encoded)
        return self.backend.verify(self.public_key(signer), data, *rs)

    def admit(self, encoded: bytes) -> CertificateInfo | Verification:
        """Check a certificate received as signer (chain to a trusted CA); cache the result."""
        digest = self.backend.hash(encoded)[-8:]
        if digest in self._known:
            return self._known[digest]
        if digest in self._failed:
            return self._failed[digest]
        try:
            info = parse_certificate(self.backend, encoded)
        except ValueError as exc:
            return self._fail(digest, Verification(Verdict.INVALID_CERTIFICATE, str(exc), digest.hex()))
        issuer = self._known.get(bytes.fromhex(info.issuer)) if info.issuer != "self" else None
        if issuer is None or not issuer.is_ca:
            return self._fail(digest, Verification(Verdict.INCONSISTENT_CHAIN, f"issuer {info.issuer} is not a trusted CA", digest.hex()))
        if not self._signature_ok(issuer, info.tbs, issuer.encoded, info.signature):
            return self._fail(digest, Verification(Verdict.INVALID_CERTIFICATE, "issuer signature on certificate does not verify", digest.hex()))
        self._known[digest] = info
        return info

    def _fail(self, digest: bytes, verification: Verification) -> Verification:
        self._failed[digest] = verification
        return verification


class Verifier:
    """Checks signer, certificate validity, AID permission and signature of SPDUs."""

    def __init__(self, store: CertificateStore):
        self.store = store

    def verify(
        self,
        *,
        hash_id: str,
        tbs: bytes,
        signer_kind: str,
        signer: bytes,
        aid: int,
        generation_time64: int | None,
        r: bytes,
        s: bytes,
    ) -> Verification:
        """Verify one signed SPDU given its parts (``signer`` = digest or certificate bytes)."""
        backend = self.store.backend
        if hash_id != backend.hash_algorithm:
            return Verification(Verdict.INCOMPATIBLE_PROTOCOL, f"hashId {hash_id} not supported by {backend.name}")
        if signer_kind == "digest":
            info = self.store.lookup(signer)
            if info is None:
                return Verification(Verdict.SIGNER_CERTIFICATE_NOT_FOUND, "digest of a certificate never received", signer.hex())
        elif signer_kind == "certificate":
            admitted = self.store.admit(signer)
            if isinstance(admitted, Verification):
                return admitted
            info = admitted
        else:
            return Verification(Verdict.UNSUPPORTED_SIGNER_IDENTIFIER_TYPE, f"signer {signer_kind} not allowed (GB/T 45315 7.4.3)")
        hid = info.hashed_id8.hex()
        if info.is_ca:
            return Verification(Verdict.INVALID_CERTIFICATE, "a CA certificate signed application data", hid)
        if generation_time64 is None:
            return Verification(Verdict.INVALID_TIMESTAMP, "generationTime absent (mandatory, GB/T 45315 7.4.3.3)", hid)
        generated_us = clock.unix_us_from_time64(generation_time64)
        if generated_us < info.valid_from_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate not yet valid at generationTime", hid)
        if generated_us > info.valid_until_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate expired at generationTime", hid)
        if aid not in info.app_aids:
            return Verification(Verdict.PERMISSION_DENIED, f"AID {aid} not in certificate appPermissions {sorted(info.app_aids)}", hid)
        data = signing_input(backend, tbs, info.encoded)
        if not backend.verify(self.store.public_key(info), data, r, s):
            return Verification(Verdict.FALSE_SIGNATURE, "signature does not verify", hid)
        return Verification(Verdict.SUCCESS, None, hid)
