"""YD/T 3957 explicit certificates (COER): issue, encode, parse, HashedId8.

Issuing follows IEEE 1609.2 6.4.3 as kept by YD/T 3957: the issuer signs
``H(H(tbsCertificate) || H(issuer certificate))``; a self-signed root uses ``H("")`` for the
second hash.  A certificate's HashedId8 is the low-order 8 bytes of the hash of its COER
encoding (IEEE 1609.2 6.3.1), HashedId10 (what a hash-based CRL lists) the low-order 10 bytes;
the hash is the one of the certificate's own suite (SM3 for an SM2 key, SHA-256 for P-256).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import asn1tools

from v2x import clock
from v2x.asn1 import compile_module
from v2x.security.backend import BACKEND_BY_KEY, CryptoBackend, signature_rs

CHINA_M49 = 156


@cache
def security_types() -> asn1tools.compiler.Specification:
    """The compiled YD/T 3957 security types (C-OER)."""
    return compile_module("XiqingSecurity.asn", "oer")


def hashed_id8(backend: CryptoBackend, certificate: bytes) -> bytes:
    """HashedId8 of a COER certificate: low-order 8 bytes of its hash."""
    return backend.hash(certificate)[-8:]


def hashed_id10(backend: CryptoBackend, certificate: bytes) -> bytes:
    """HashedId10 of a COER certificate: low-order 10 bytes of its hash (CRL entries)."""
    return backend.hash(certificate)[-10:]


def signing_input(backend: CryptoBackend, tbs: bytes, signer_certificate: bytes) -> bytes:
    """IEEE 1609.2 5.3.1 data input: H(tbs) || H(signer certificate, or empty if self-signed)."""
    return backend.hash(tbs) + backend.hash(signer_certificate)


@dataclass(frozen=True)
class CertificateInfo:
    """The facts of a certificate that verification needs, from its COER bytes."""

    encoded: bytes
    backend: CryptoBackend  # the suite of its verification key
    hashed_id8: bytes
    issuer: str  # "self" or hex HashedId8 of the issuer
    name: str | None
    valid_from_us: int  # Unix µs
    valid_until_us: int
    app_aids: frozenset[int]
    is_ca: bool
    issue_aids: frozenset[int] | None  # AIDs a CA may grant (certIssuePermissions); None = all
    public_key: tuple[str, Any]
    tbs: bytes
    signature: tuple[bytes, bytes]


_DURATION_S = {
    "microseconds": 1e-6,
    "milliseconds": 1e-3,
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "sixtyHours": 216000,
    "years": 31556952,
}


def _issue_aids(tbs: dict[str, Any]) -> frozenset[int] | None:
    aids: set[int] = set()
    for group in tbs.get("certIssuePermissions", []):
        kind, value = group["subjectPermissions"]
        if kind == "all":
            return None
        aids.update(p["aid"] for p in value)
    return frozenset(aids)


def parse_certificate(encoded: bytes) -> CertificateInfo:
    """Decode a COER certificate; raises ValueError with the reason if it is not usable."""
    spec = security_types()
    try:
        cert = spec.decode("Certificate", encoded)
    except Exception as exc:  # asn1tools raises several error types
        raise ValueError(f"certificate does not decode: {exc}") from exc
    if cert["type"] != "explicit":
        raise ValueError(
            "an implicit certificate (IEEE 1609.2 CertificateType 1, a reconstruction value instead of a key and a signature): "
            "YD/T 3957 certificates are explicit"
        )
    if "signature" not in cert:
        raise ValueError("an explicit certificate without its signature")
    if spec.encode("Certificate", cert) != encoded:
        raise ValueError("certificate is not canonical COER")
    tbs = cert["toBeSigned"]
    kind, key = tbs["verifyKeyIndicator"]
    if kind != "verificationKey" or key[0] not in BACKEND_BY_KEY:
        raise ValueError(f"verification key {key[0] if kind == 'verificationKey' else kind} is of no supported suite")
    backend = BACKEND_BY_KEY[key[0]]
    issuer_kind, issuer_value = cert["issuer"]
    issuer = "self" if issuer_kind == "self" else issuer_value.hex()
    start = clock.unix_s_from_time32(tbs["validityPeriod"]["start"]) * 1_000_000
    unit, count = tbs["validityPeriod"]["duration"]
    id_kind, id_value = tbs["id"]
    return CertificateInfo(
        encoded=encoded,
        backend=backend,
        hashed_id8=hashed_id8(backend, encoded),
        issuer=issuer,
        name=id_value if id_kind == "name" else None,
        valid_from_us=start,
        valid_until_us=start + int(count * _DURATION_S[unit] * 1_000_000),
        app_aids=frozenset(p["aid"] for p in tbs.get("appPermissions", [])),
        is_ca="certIssuePermissions" in tbs,
        issue_aids=_issue_aids(tbs),
        public_key=key[1],
        tbs=spec.encode("ToBeSignedCertificate", tbs),
        signature=signature_rs(cert["signature"]),
    )


def issue_certificate(
    backend: CryptoBackend,
    *,
    subject_key: Any,
    issuer_key: Any,
    issuer_certificate: bytes | None,
    name: str | None,
    valid_from_unix_s: float,
    validity_hours: int,
    app_aids: list[int] | None = None,
    is_ca: bool = False,
    issue_aids: list[int] | None = None,
) -> bytes:
    """Issue an explicit certificate; ``issuer_certificate=None`` makes it self-signed.  A CA
    (``is_ca``) may grant ``issue_aids`` (all AIDs when None)."""
    spec = security_types()
    tbs: dict[str, Any] = {
        "id": ("name", name) if name is not None else ("none", None),
        "cracaId": b"\x00\x00\x00",
        "crlSeries": 1,
        "validityPeriod": {
            "start": clock.time32_from_unix_s(valid_from_unix_s),
            "duration": ("hours", validity_hours),
        },
        "region": ("identifiedRegion", [("countryOnly", CHINA_M49)]),
        "verifyKeyIndicator": ("verificationKey", (backend.key_choice, backend.public_key_value(subject_key))),
    }
    if app_aids:
        tbs["appPermissions"] = [{"aid": aid} for aid in app_aids]
    if is_ca:
        subject = ("all", None) if issue_aids is None else ("explicit", [{"aid": aid} for aid in issue_aids])
        tbs["certIssuePermissions"] = [{"subjectPermissions": subject}]
    tbs_bytes = spec.encode("ToBeSignedCertificate", tbs)
    issuer: tuple[str, str | bytes]
    if issuer_certificate is None:
        issuer = ("self", backend.hash_algorithm)
        data = signing_input(backend, tbs_bytes, b"")
    else:
        issuer = (backend.issuer_choice, hashed_id8(backend, issuer_certificate))
        data = signing_input(backend, tbs_bytes, issuer_certificate)
    r, s = backend.sign(issuer_key, data)
    cert = {
        "version": 3,
        "type": "explicit",
        "issuer": issuer,
        "toBeSigned": tbs,
        "signature": backend.signature_value(r, s),
    }
    return spec.encode("Certificate", cert)
