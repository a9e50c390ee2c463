"""Sign service: wraps a UPER MessageFrame in a signed YD/T 3957 V2XSecData.

SPDU content per GB/T 45315 7.4.3: protocolVersion 3, signedData, payload.data = V2XSecData
with unsecuredData, headerInfo with aid and generationTime only.  The signer is the full
certificate on the first message and whenever 450 ms or more have passed since the last one
carrying it, or when the caller says an event flag is set (GB/T 45315 7.4.3.5); otherwise the
HashedId8 digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from v2x.security.backend import CryptoBackend
from v2x.security.certificates import security_types

PROTOCOL_VERSION = 3
FULL_CERTIFICATE_INTERVAL_US = 450_000


@dataclass(frozen=True)
class Credential:
    """A signing identity: COER certificate, its HashedId8 and the private key."""

    device_id: str
    certificate: bytes
    hashed_id8: bytes
    private_key: Any
    backend: CryptoBackend
    name: str = field(default="")  # file stem: application, pseudonym-0, ...


def unsecured(frame: bytes) -> bytes:
    """V2XSecData carrying ``frame`` as unsecuredData (COER)."""
    return security_types().encode("V2XSecData", {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", frame)})


def coer_length(n: int) -> bytes:
    """C-OER length determinant (ITU-T X.696 8.6): one octet below 128, else 0x80 | k and k octets."""
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


@cache
def tbs_pieces(aid: int) -> tuple[bytes, bytes]:
    """(head, tail) of the COER ToBeSignedData of a V2XSecData payload with ``aid``, taken from
    asn1tools: ``tbs = head + coer_length(len(payload)) + payload + tail + generationTime (8 octets)``.
    The signer's hot path concatenates them instead of encoding every frame (tests compare)."""
    marker = b"\xa5" * 5
    encoded = security_types().encode(
        "ToBeSignedData",
        {
            "payload": {"data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", marker)}},
            "headerInfo": {"aid": aid, "generationTime": 0},
        },
    )
    at = encoded.index(coer_length(len(marker)) + marker)
    head, rest = encoded[:at], encoded[at + 1 + len(marker) :]
    assert rest.endswith(bytes(8))
    return head, rest[:-8]


@cache
def signature_pieces(backend: CryptoBackend) -> tuple[bytes, bytes, bytes]:
    """(prefix, middle, suffix) of the COER Signature of ``backend``: prefix + r + middle + s + suffix."""
    r, s = b"\x11" * 32, b"\x22" * 32
    encoded = security_types().encode("Signature", backend.signature_value(r, s))
    i, j = encoded.index(r), encoded.index(s)
    return encoded[:i], encoded[i + 32 : j], encoded[j + 32 :]


@cache
def spdu_head(backend: CryptoBackend) -> bytes:
    """The octets before ToBeSignedData: V2XSecData version, signedData tag, hashId."""
    # SignedData is a SEQUENCE without preamble, so its COER is the concatenation of its
    # components: V2XSecData = version, content choice tag 0x81, SignedData.
    return bytes([PROTOCOL_VERSION, 0x81]) + security_types().encode("HashAlgorithm", backend.hash_algorithm)


def to_be_signed(payload: bytes, aid: int, generation_time64: int) -> bytes:
    """COER ToBeSignedData: ``payload`` as unsecuredData, headerInfo with aid and generationTime."""
    head, tail = tbs_pieces(aid)
    return head + coer_length(len(payload)) + payload + tail + generation_time64.to_bytes(8, "big")


def _signed(
    credential: Credential, payload: bytes, aid: int, generation_time64: int, signer: bytes, certificate_hash: bytes | None = None
) -> bytes:
    """V2XSecData signedData (IEEE 1609.2 5.3.1 signing input: H(tbs) || H(signer certificate))."""
    backend = credential.backend
    tbs = to_be_signed(payload, aid, generation_time64)
    digest = certificate_hash if certificate_hash is not None else backend.hash(credential.certificate)
    r, s = backend.sign(credential.private_key, backend.hash(tbs) + digest)
    prefix, middle, suffix = signature_pieces(backend)
    return spdu_head(backend) + tbs + signer + prefix + r + middle + s + suffix


def signer_identifier(credential: Credential, full_certificate: bool) -> bytes:
    """COER SignerIdentifier: the certificate (a sequence of one) or its HashedId8 digest."""
    spec = security_types()
    if full_certificate:
        return spec.encode("SignerIdentifier", ("certificate", [spec.decode("Certificate", credential.certificate)]))
    return spec.encode("SignerIdentifier", ("digest", credential.hashed_id8))


def sign_data(credential: Credential, payload: bytes, aid: int, generation_time64: int) -> bytes:
    """A V2XSecData signedData over ``payload`` with the full certificate as signer (one-off
    SPDUs such as a CRL)."""
    return _signed(credential, payload, aid, generation_time64, signer_identifier(credential, True))


class Signer:
    """Signs frames for one credential and applies the full-certificate rule."""

    def __init__(self, credential: Credential, full_certificate_interval_us: int = FULL_CERTIFICATE_INTERVAL_US):
        self.full_certificate_interval_us = full_certificate_interval_us
        self.use(credential)

    def use(self, credential: Credential) -> None:
        """Sign with ``credential`` from now on; its first message carries the full certificate
        (GB/T 45315 7.4.3.5, first message after a pseudonym change)."""
        backend = credential.backend
        self.credential = credential
        self._last_full_certificate_us: int | None = None
        self._signer_certificate = signer_identifier(credential, True)
        self._signer_digest = signer_identifier(credential, False)
        self._certificate_hash = backend.hash(credential.certificate)
        # what every SPDU of this credential shares, so that a frame costs a few concatenations
        self._hash = backend.hash
        self._sign = partial(backend.sign, credential.private_key)
        self._head = spdu_head(backend)
        self._prefix, self._middle, self._suffix = signature_pieces(backend)

    def needs_certificate(self, generation_time64: int, event: bool) -> bool:
        """GB/T 45315 7.4.3.5: first message, >= 450 ms since the last full certificate, or an event."""
        last = self._last_full_certificate_us
        return event or last is None or generation_time64 - last >= self.full_certificate_interval_us

    def sign(self, frame: bytes, aid: int, generation_time64: int, *, event: bool = False) -> bytes:
        """Return the COER V2XSecData (signedData) for a UPER MessageFrame."""
        if self.needs_certificate(generation_time64, event):
            signer = self._signer_certificate
            self._last_full_certificate_us = generation_time64
        else:
            signer = self._signer_digest
        # _signed, unrolled for the hot path (tests/test_security.py compares the two)
        pieces = tbs_pieces(aid)
        n = len(frame)
        tbs = b"".join(
            (pieces[0], bytes((n,)) if n < 128 else coer_length(n), frame, pieces[1], generation_time64.to_bytes(8, "big"))
        )
        r, s = self._sign(self._hash(tbs) + self._certificate_hash)
        return b"".join((self._head, tbs, signer, self._prefix, r, self._middle, s, self._suffix))
