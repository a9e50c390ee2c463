"""Sign service: wraps a UPER MessageFrame in a signed YD/T 3957 V2XSecData.

SPDU content per GB/T 45315 7.4.3: protocolVersion 3, signedData, payload.data = V2XSecData
with unsecuredData, headerInfo with aid and generationTime only.  The signer is the full
certificate on the first message and whenever 450 ms or more have passed since the last one
carrying it, or when the caller says an event flag is set (GB/T 45315 7.4.3.5); otherwise the
HashedId8 digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from v2x.security.backend import CryptoBackend
from v2x.security.certificates import security_types, signing_input

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


def _signed(credential: Credential, payload: bytes, aid: int, generation_time64: int, signer: bytes) -> bytes:
    spec = security_types()
    backend = credential.backend
    tbs = spec.encode(
        "ToBeSignedData",
        {
            "payload": {"data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", payload)}},
            "headerInfo": {"aid": aid, "generationTime": generation_time64},
        },
    )
    r, s = backend.sign(credential.private_key, signing_input(backend, tbs, credential.certificate))
    signature = spec.encode("Signature", backend.signature_value(r, s))
    # SignedData is a SEQUENCE without preamble, so its COER is the concatenation of its
    # components: V2XSecData = version, content choice tag 0x81, SignedData.
    return bytes([PROTOCOL_VERSION, 0x81]) + spec.encode("HashAlgorithm", backend.hash_algorithm) + tbs + signer + signature


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
        self.credential = credential
        self._last_full_certificate_us: int | None = None
        self._signer_certificate = signer_identifier(credential, True)
        self._signer_digest = signer_identifier(credential, False)

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
        return _signed(self.credential, frame, aid, generation_time64, signer)
