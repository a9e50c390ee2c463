"""Verify service: a verdict for every received SPDU.

Verdict codes are modelled on ETSI TS 102 723-8 table 27 (verification report), extended with
``permission_denied`` (header AID not in the certificate's appPermissions, YD/T 3957 6.1.9.3)
and ``malformed`` (the frame could not be parsed far enough to verify).  Certificates are
checked once and cached by HashedId8, so a digest signer costs one signature verify.  The suite
(SM2/SM3 or ECDSA P-256/SHA-256) is the one of the signer certificate's key.

Checks, in order (first failure wins): hashId of the signer's suite; signer resolves (a digest to
a certificate received before, a certificate to a chain up to a trusted root through CAs
allowed to grant its AIDs); not a CA; not revoked (signed CRL, HashedId10); generationTime
present, inside the certificate's validity and inside the GB/T 45315 7.4.3.4 window
[receive - 1 s, receive + tolerance]; header AID in appPermissions; signature.  Replays
(a signature already accepted) are caught by :class:`ReplayWindow` after a successful verify.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from v2x import clock
from v2x.security.backend import signature_rs
from v2x.security.certificates import CertificateInfo, hashed_id10, parse_certificate, security_types, signing_input
from v2x.security.curve_point import sec1
from v2x.security.workers import SignatureJob

CRL_AID = 3628
PAST_WINDOW_US = 1_000_000  # GB/T 45315 7.4.3.4: generationTime not before receive - 1 s
FUTURE_TOLERANCE_US = 5_000  # ... nor after receive; 5 ms measurement tolerance (policy)


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

    def __init__(self, trust_anchors: list[bytes], ca_certificates: list[bytes] = ()):
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
            return self._fail(digest, Verification(Verdict.INCONSISTENT_CHAIN, f"issuer {info.issuer} is not a trusted CA", digest.hex()))
        if issuer.backend is not info.backend:
            return self._fail(digest, Verification(Verdict.INCONSISTENT_CHAIN, f"{info.backend.name} key under a {issuer.backend.name} CA", digest.hex()))
        granted = issuer.issue_aids
        wanted = info.issue_aids if info.is_ca else info.app_aids
        if granted is not None and (wanted is None or not wanted <= granted):
            return self._fail(digest, Verification(Verdict.INCONSISTENT_CHAIN,
                                                   f"AIDs {'all' if wanted is None else sorted(wanted)} beyond what issuer {info.issuer} may grant", digest.hex()))
        if not self._signature_ok(issuer, info.tbs, issuer.encoded, info.signature):
            return self._fail(digest, Verification(Verdict.INVALID_CERTIFICATE, "issuer signature on certificate does not verify", digest.hex()))
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
        self.crl = CrlStatus(info.hashed_id8.hex(), body["crlSerial"], clock.unix_s_from_time32(contents["issueDate"]),
                             clock.unix_s_from_time32(contents["nextCrl"]), len(body["entries"]))
        return self.crl


@dataclass(frozen=True)
class PendingSignature:
    """An SPDU that passed every check but the signature: the stateless job left to do."""

    info: CertificateInfo  # the signer certificate
    job: SignatureJob  # (suite, SEC 1 key, IEEE 1609.2 5.3.1 signing input, r, s)

    @property
    def signature(self) -> bytes:
        return self.job[3] + self.job[4]


class Verifier:
    """Checks signer, certificate validity and revocation, time, AID permission and signature of SPDUs.

    :meth:`verify` does it all for one SPDU.  For a batch, :meth:`check` does the checks that
    need the store (in frame order) and returns a :class:`PendingSignature` for
    :class:`~v2x.security.workers.SignatureWorkers`; :meth:`conclude` turns its result into the
    verdict.
    """

    def __init__(self, store: CertificateStore):
        self.store = store
        self._signer_parts: dict[bytes, tuple[str, bytes, bytes]] = {}  # HashedId8 -> suite, SEC 1 key, H(cert)

    def check(
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
        received_us: int | None = None,
    ) -> Verification | PendingSignature:
        """Every check but the signature: the failure verdict, or the signature left to verify."""
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
        backend = info.backend
        if hash_id != backend.hash_algorithm:
            return Verification(Verdict.INCOMPATIBLE_PROTOCOL, f"hashId {hash_id} with a {backend.name} certificate", hid)
        if info.is_ca:
            return Verification(Verdict.INVALID_CERTIFICATE, "a CA certificate signed application data", hid)
        if self.store.is_revoked(info):
            crl = self.store.crl
            return Verification(Verdict.REVOKED_CERTIFICATE, f"on CRL serial {crl.serial if crl else '?'}", hid)
        if generation_time64 is None:
            return Verification(Verdict.INVALID_TIMESTAMP, "generationTime absent (mandatory, GB/T 45315 7.4.3.3)", hid)
        generated_us = clock.unix_us_from_time64(generation_time64)
        if generated_us < info.valid_from_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate not yet valid at generationTime", hid)
        if generated_us > info.valid_until_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate expired at generationTime", hid)
        if received_us is not None:
            age_us = received_us - generated_us
            if age_us > PAST_WINDOW_US:
                return Verification(Verdict.INVALID_TIMESTAMP, f"generated {age_us / 1000:.0f} ms before receipt (window 1000 ms)", hid)
            if age_us < -FUTURE_TOLERANCE_US:
                return Verification(Verdict.INVALID_TIMESTAMP, f"generated {-age_us / 1000:.0f} ms after receipt (in the future)", hid)
        if aid not in info.app_aids:
            return Verification(Verdict.PERMISSION_DENIED, f"AID {aid} not in certificate appPermissions {sorted(info.app_aids)}", hid)
        parts = self._signer_parts.get(info.hashed_id8)
        if parts is None:
            parts = self._signer_parts[info.hashed_id8] = (backend.name, sec1(info.public_key), backend.hash(info.encoded))
        suite, key, certificate_hash = parts
        return PendingSignature(info, (suite, key, backend.hash(tbs) + certificate_hash, r, s))

    @staticmethod
    def conclude(pending: PendingSignature, signature_ok: bool) -> Verification:
        """The verdict of an SPDU whose checks passed, given whether its signature verified."""
        hid = pending.info.hashed_id8.hex()
        if not signature_ok:
            return Verification(Verdict.FALSE_SIGNATURE, "signature does not verify", hid)
        return Verification(Verdict.SUCCESS, None, hid)

    def verify(self, **spdu: Any) -> Verification:
        """Verify one signed SPDU given its parts (the keyword arguments of :meth:`check`;
        ``signer`` = digest or certificate bytes; ``received_us`` (Unix µs) enables the
        generationTime window)."""
        checked = self.check(**spdu)
        if isinstance(checked, Verification):
            return checked
        info = checked.info
        _, _, data, r, s = checked.job
        return self.conclude(checked, info.backend.verify(self.store.public_key(info), data, r, s))


class ReplayWindow:
    """Signatures accepted within the last ``horizon_us`` of receive time: a second frame with
    the same signature is a replay (``duplicate_message``).  Older replays fail the
    generationTime window instead, so the window only needs to outlast it."""

    def __init__(self, horizon_us: int = 2 * PAST_WINDOW_US):
        self.horizon_us = horizon_us
        self._seen: dict[bytes, int] = {}
        self._oldest_us = 0

    def seen_before(self, signature: bytes, received_us: int) -> bool:
        """Record ``signature``; True if it was already accepted within the horizon."""
        if received_us - self._oldest_us > self.horizon_us:
            cutoff = received_us - self.horizon_us
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            self._oldest_us = min(self._seen.values(), default=received_us)
        if signature in self._seen:
            return True
        self._seen[signature] = received_us
        return False
