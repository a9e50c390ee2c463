"""Verification verdicts, modelled on ETSI TS 102 723-8 table 27 (verification report), extended
with ``permission_denied`` (header AID not in the certificate's appPermissions, YD/T 3957
6.1.9.3) and ``malformed`` (the frame could not be parsed far enough to verify)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
