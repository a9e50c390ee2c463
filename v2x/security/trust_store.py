"""The trust store: trusted roots, the CA certificates chained to them, every certificate seen
and checked (cached by HashedId8), and the revocations of the signed CRL in force (HashedId10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v2x import clock
from v2x.security.backend import signature_rs
from v2x.security.certificates import CertificateInfo, hashed_id10, parse_certificate, security_types, signing_input
from v2x.security.verdicts import Verdict, Verification

CRL_AID = 3628


@dataclass(frozen=True)
class CrlStatus:
    """The CRL in force: who signed it, its serial, when it was issued and how many entries."""

    craca: str
    serial: int
    issued_unix_s: float
    next_unix_s: float
    entries: int


class CertificateStore:
    """Trusted roots, the CA certificates chained to them, and every certificate seen and
    checked, keyed by HashedId8; plus the revocations of the CRL in force."""

    def __init__(self, trust_anchors: Sequence[bytes], ca_certificates: Sequence[bytes] = ()):
        self._known: dict[bytes, CertificateInfo] = {}
        self._failed: dict[bytes, Verification] = {}
        self._admitted: dict[bytes, CertificateInfo | Verification] = {}  # by COER encoding
        self._keys: dict[bytes, Any] = {}
        self._revoked: set[bytes] = set()
        self._revocation: dict[bytes, bool] = {}  # HashedId8 -> is_revoked, for the CRL in force
        self.crl: CrlStatus | None = None
        for encoded in trust_anchors:
            info = parse_certificate(encoded)
            if info.issuer != "self" or not self._signature_ok(info, info.tbs, b"", info.signature):
                raise ValueError("trust anchor is not a valid self-signed certificate")
            self._known[info.hashed_id8] = info
        for encoded in ca_certificates:
            admitted = self.admit(encoded)
            if isinstance(admitted, Verification) or not admitted.is_ca:
                raise ValueError(f"CA certificate does not chain to a trust anchor: {getattr(admitted, 'reason', 'not a CA')}")

    @property
    def suites(self) -> list[str]:
        """The algorithm suites of the trusted roots, hence of every certificate that can verify."""
        return sorted({info.backend.name for info in self._known.values() if info.issuer == "self"})

    def lookup(self, digest: bytes) -> CertificateInfo | None:
        return self._known.get(digest)

    def public_key(self, info: CertificateInfo) -> Any:
        key = self._keys.get(info.hashed_id8)
        if key is None:
            key = self._keys[info.hashed_id8] = info.backend.load_public_key(info.public_key)
        return key

    def _signature_ok(self, signer: CertificateInfo, tbs: bytes, signer_encoded: bytes, rs: tuple[bytes, bytes]) -> bool:
        data = signing_input(signer.backend, tbs, signer_encoded)
        return signer.backend.verify(self.public_key(signer), data, *rs)

    def admit(self, encoded: bytes) -> CertificateInfo | Verification:
        """Check a certificate received as signer (chain to a trusted CA); cache the result."""
        cached = self._admitted.get(encoded)
        if cached is not None:
            return cached
        outcome = self._admit(encoded)
        if len(self._admitted) < 1_000_000:
            self._admitted[encoded] = outcome
        return outcome

    def _admit(self, encoded: bytes) -> CertificateInfo | Verification:
        try:
            info = parse_certificate(encoded)
        except ValueError as exc:
            return Verification(Verdict.INVALID_CERTIFICATE, str(exc))
        digest = info.hashed_id8
        if digest in self._known:
            return self._known[digest]
        if digest in self._failed:
            return self._failed[digest]
        issuer = self._known.get(bytes.fromhex(info.issuer)) if info.issuer != "self" else None
        if issuer is None or not issuer.is_ca:
            return self._fail(
                digest, Verification(Verdict.INCONSISTENT_CHAIN, f"issuer {info.issuer} is not a trusted CA", digest.hex())
            )
        if issuer.backend is not info.backend:
            return self._fail(
                digest,
                Verification(
                    Verdict.INCONSISTENT_CHAIN, f"{info.backend.name} key under a {issuer.backend.name} CA", digest.hex()
                ),
            )
        granted = issuer.issue_aids
        wanted = info.issue_aids if info.is_ca else info.app_aids
        if granted is not None and (wanted is None or not wanted <= granted):
            return self._fail(
                digest,
                Verification(
                    Verdict.INCONSISTENT_CHAIN,
                    f"AIDs {'all' if wanted is None else sorted(wanted)} beyond what issuer {info.issuer} may grant",
                    digest.hex(),
                ),
            )
        if not self._signature_ok(issuer, info.tbs, issuer.encoded, info.signature):
            return self._fail(
                digest, Verification(Verdict.INVALID_CERTIFICATE, "issuer signature on certificate does not verify", digest.hex())
            )
        self._known[digest] = info
        return info

    def _fail(self, digest: bytes, verification: Verification) -> Verification:
        self._failed[digest] = verification
        return verification

    def is_revoked(self, info: CertificateInfo) -> bool:
        """The certificate or a CA above it is on the CRL in force (cached per certificate)."""
        revoked = self._revocation.get(info.hashed_id8)
        if revoked is None:
            revoked = self._revocation[info.hashed_id8] = self._chain_revoked(info)
        return revoked

    def _chain_revoked(self, info: CertificateInfo) -> bool:
        while True:
            if hashed_id10(info.backend, info.encoded) in self._revoked:
                return True
            if info.issuer == "self":
                return False
            issuer = self._known.get(bytes.fromhex(info.issuer))
            if issuer is None:
                return False
            info = issuer

    def load_crl(self, encoded: bytes) -> CrlStatus:
        """Verify a signed CRL (YD/T 3957 SecuredCrl: AID 3628, signed by a trusted CA) and put
        its revocations in force; raises ValueError with the reason if it does not verify."""
        spec = security_types()
        try:
            sec = spec.decode("V2XSecData", encoded)
            kind, signed = sec["content"]
            if kind != "signedData":
                raise ValueError("CRL is not signed")
            tbs = signed["tbsData"]
            contents = spec.decode("CrlContents", tbs["payload"]["data"]["content"][1])
        except ValueError:
            raise
        except Exception as exc:  # asn1tools raises several error types
            raise ValueError(f"CRL does not decode: {exc}") from exc
        if tbs["headerInfo"]["aid"] != CRL_AID:
            raise ValueError(f"CRL signed with AID {tbs['headerInfo']['aid']}, not {CRL_AID}")
        signer_kind, signer_value = signed["signer"]
        if signer_kind != "certificate":
            raise ValueError("CRL signer must be a full certificate")
        cert = spec.encode("Certificate", signer_value[0])
        info = self.lookup(parse_certificate(cert).hashed_id8)
        if info is None or not info.is_ca:
            raise ValueError("CRL is not signed by a trusted CA")
        data = signing_input(info.backend, spec.encode("ToBeSignedData", tbs), info.encoded)
        if not info.backend.verify(self.public_key(info), data, *signature_rs(signed["signature"])):
            raise ValueError("CRL signature does not verify")
        if contents["crlCraca"] != info.hashed_id8:
            raise ValueError("CRL crlCraca is not its signer")
        kind, body = contents["typeSpecific"]
        if kind != "fullHashCrl":
            raise ValueError(f"{kind} CRLs are not supported")
        self._revoked = {e["id"] for e in body["entries"]}
        self._revocation.clear()
        self.crl = CrlStatus(
            info.hashed_id8.hex(),
            body["crlSerial"],
            clock.unix_s_from_time32(contents["issueDate"]),
            clock.unix_s_from_time32(contents["nextCrl"]),
            len(body["entries"]),
        )
        return self.crl
