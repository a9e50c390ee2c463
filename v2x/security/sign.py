"""Sign service: wraps a UPER MessageFrame in a signed YD/T 3957 V2XSecData.

SPDU content per GB/T 45315 7.4.3: protocolVersion 3, signedData, payload.data = V2XSecData
with unsecuredData, headerInfo with aid and generationTime only.  The signer is the full
certificate on the first message and whenever 450 ms or more have passed since the last one
carrying it, or when the caller says an event flag is set (GB/T 45315 7.4.3.5); otherwise the
HashedId8 digest.
"""

from __future__ import annotations

from v2x.security.certificates import security_types, signing_input
from v2x.security.pki import Credential

PROTOCOL_VERSION = 3
FULL_CERTIFICATE_INTERVAL_US = 450_000


def unsecured(frame: bytes) -> bytes:
    """V2XSecData carrying ``frame`` as unsecuredData (COER)."""
    return security_types().encode("V2XSecData", {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", frame)})


class Signer:
    """Signs frames for one credential and applies the full-certificate rule."""

    def __init__(self, credential: Credential, full_certificate_interval_us: int = FULL_CERTIFICATE_INTERVAL_US):
        self.credential = credential
        self.full_certificate_interval_us = full_certificate_interval_us
        self._last_full_certificate_us: int | None = None
        spec = security_types()
        self._signer_certificate = spec.encode("SignerIdentifier", ("certificate", [spec.decode("Certificate", credential.certificate)]))
        self._signer_digest = spec.encode("SignerIdentifier", ("digest", credential.hashed_id8))
        self._hash_id = spec.encode("HashAlgorithm", credential.backend.hash_algorithm)

    def needs_certificate(self, generation_time64: int, event: bool) -> bool:
        """GB/T 45315 7.4.3.5: first message, >= 450 ms since the last full certificate, or an event."""
        last = self._last_full_certificate_us
        return event or last is None or generation_time64 - last >= self.full_certificate_interval_us

    def sign(self, frame: bytes, aid: int, generation_time64: int, *, event: bool = False) -> bytes:
        """Return the COER V2XSecData (signedData) for a UPER MessageFrame."""
        spec = security_types()
        backend = self.credential.backend
        tbs = spec.encode(
            "ToBeSignedData",
            {
                "payload": {"data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", frame)}},
                "headerInfo": {"aid": aid, "generationTime": generation_time64},
            },
        )
        r, s = backend.sign(self.credential.private_key, signing_input(backend, tbs, self.credential.certificate))
        if self.needs_certificate(generation_time64, event):
            signer = self._signer_certificate
            self._last_full_certificate_us = generation_time64
        else:
            signer = self._signer_digest
        signature = spec.encode("Signature", backend.signature_value(r, s))
        # SignedData is a SEQUENCE without preamble, so its COER is the concatenation of its
        # components: V2XSecData = version, content choice tag 0x81, SignedData.
        return bytes([PROTOCOL_VERSION, 0x81]) + self._hash_id + tbs + signer + signature
