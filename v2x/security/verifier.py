"""Verify service: a verdict for every received SPDU.

Verdicts in :mod:`v2x.security.verdicts`, certificates in :mod:`v2x.security.trust_store`.  Certificates are
checked once and cached by HashedId8, so a digest signer costs one signature verify.  The suite
(SM2/SM3 or ECDSA P-256/SHA-256) is the one of the signer certificate's key.

Checks, in order (first failure wins): hashId of the signer's suite; signer resolves (a digest to
a certificate received before, a certificate to a chain up to a trusted root through CAs
allowed to grant its AIDs); not a CA; not revoked (signed CRL, HashedId10); generationTime
present, inside the certificate's validity and inside the GB/T 45315 7.4.3.4 window
[receive - 1 s, receive + tolerance]; header AID in appPermissions; signature.  Replays
(a signature already accepted) are caught by :class:`ReplayWindow` after a successful verify."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from v2x import clock
from v2x.security.certificates import CertificateInfo
from v2x.security.curve_point import sec1
from v2x.security.trust_store import CertificateStore
from v2x.security.verdicts import Verdict, Verification
from v2x.security.workers import SignatureJob

PAST_WINDOW_US = 1_000_000  # GB/T 45315 7.4.3.4: generationTime not before receive - 1 s


FUTURE_TOLERANCE_US = 5_000  # ... nor after receive; 5 ms measurement tolerance (policy)


TIME64_MAX = 2**62  # a Time64 beyond this (year 148,000) is as far in the future as any


class PendingSignature(NamedTuple):
    """An SPDU that passed every check but the signature: the stateless job left to do."""

    info: CertificateInfo  # the signer certificate
    job: SignatureJob  # (suite, SEC 1 key, IEEE 1609.2 5.3.1 signing input, r, s)

    @property
    def signature(self) -> bytes:
        return self.job[3] + self.job[4]

    @property
    def signed(self) -> bytes:
        """What was signed, by whom: the signing input (hash of ToBeSignedData and of the signer
        certificate, IEEE 1609.2 5.3.1).  Replays are recognised by it, not by the signature,
        which an attacker can change without the key (ECDSA: s and n - s both verify)."""
        return self.job[2]


@dataclass
class Spdus:
    """Signed SPDUs as columns, one entry per SPDU: the parts :meth:`Verifier.check` takes.
    ``generation_time64`` is -1 where generationTime is absent; ``received_us`` (Unix µs)
    enables the generationTime window."""

    hash_id: list[str]
    tbs: list[bytes]
    signer_kind: list[str]
    signer: list[bytes]  # HashedId8 (digest) or the COER certificate
    aid: list[int]
    generation_time64: list[int]
    r: list[bytes]
    s: list[bytes]
    received_us: list[int] | None = None

    def __len__(self) -> int:
        return len(self.signer)


class Verifier:
    """Checks signer, certificate validity and revocation, time, AID permission and signature of SPDUs.

    :meth:`verify` does it all for one SPDU.  For a batch, :meth:`check_batch` does the checks
    that need the store and returns a :class:`PendingSignature` for each SPDU that passes them,
    for :class:`~v2x.security.workers.SignatureWorkers`; :meth:`conclude` turns its result into
    the verdict.
    """

    def __init__(self, store: CertificateStore):
        self.store = store
        self._signer_parts: dict[bytes, tuple[str, bytes, bytes]] = {}  # HashedId8 -> suite, SEC 1 key, H(cert)
        self._success: dict[bytes, Verification] = {}

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
        """Every check but the signature, for one SPDU: the failure verdict, or the signature left to verify."""
        spdus = Spdus(
            [hash_id],
            [tbs],
            [signer_kind],
            [signer],
            [aid],
            [-1 if generation_time64 is None else generation_time64],
            [r],
            [s],
            None if received_us is None else [received_us],
        )
        return self.check_batch(spdus)[0]

    def _signer_verdict(self, signer_kind: str, hash_id: str, signer: bytes) -> CertificateInfo | Verification:
        """The checks that depend on the signer alone: it resolves to a certificate (a digest
        to one received before, a certificate to a chain up to a trusted root), the hashId is
        its suite's, it is not a CA and not revoked."""
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
            return Verification(
                Verdict.UNSUPPORTED_SIGNER_IDENTIFIER_TYPE, f"signer {signer_kind} not allowed (GB/T 45315 7.4.3)"
            )
        hid = info.hashed_id8.hex()
        backend = info.backend
        if hash_id != backend.hash_algorithm:
            return Verification(Verdict.INCOMPATIBLE_PROTOCOL, f"hashId {hash_id} with a {backend.name} certificate", hid)
        if info.is_ca:
            return Verification(Verdict.INVALID_CERTIFICATE, "a CA certificate signed application data", hid)
        if self.store.is_revoked(info):
            crl = self.store.crl
            return Verification(Verdict.REVOKED_CERTIFICATE, f"on CRL serial {crl.serial if crl else '?'}", hid)
        return info

    def check_batch(self, spdus: Spdus) -> list[Verification | PendingSignature]:
        """Every check but the signature, for SPDUs in receive order: per SPDU the failure
        verdict, or the signature left to verify.  Each distinct signer is checked once; a
        digest resolves only for SPDUs after the first one carrying its full certificate."""
        out: list[Verification | PendingSignature | None] = [None] * len(spdus)
        keys, first, of_spdu = _distinct_signers(spdus)
        # digests unknown before this batch (before its certificates are admitted)
        unknown_digests = {signer for kind, _, signer in keys if kind == "digest" and self.store.lookup(signer) is None}
        outcome = self._check_signers(keys)
        still_in = self._judge_signers(out, keys, first, outcome, of_spdu, unknown_digests)
        still_in &= ~self._judge_times(out, spdus, outcome, of_spdu, still_in)
        self._judge_permissions(out, spdus, outcome, of_spdu, still_in)
        return out  # type: ignore[return-value]

    def _check_signers(self, keys: list[tuple[str, str, bytes]]) -> list[CertificateInfo | Verification]:
        """Step 1: each distinct signer checked once (:meth:`_signer_verdict`), certificates first
        so that a digest of a certificate in this batch can resolve."""
        outcome: list[CertificateInfo | Verification] = [None] * len(keys)  # type: ignore[list-item]
        for k, (kind, hash_id, signer) in enumerate(keys):
            if kind == "certificate":
                outcome[k] = self._signer_verdict(kind, hash_id, signer)
        for k, (kind, hash_id, signer) in enumerate(keys):
            if kind != "certificate":
                outcome[k] = self._signer_verdict(kind, hash_id, signer)
        return outcome

    def _judge_signers(
        self,
        out: list[Verification | PendingSignature | None],
        keys: list[tuple[str, str, bytes]],
        first: list[int],
        outcome: list[CertificateInfo | Verification],
        of_spdu: np.ndarray,
        unknown_digests: set[bytes],
    ) -> np.ndarray:
        """Step 2: the verdict of each SPDU whose signer failed or did not resolve yet (a digest
        unknown before this batch resolves only from its certificate's first SPDU on).  Returns
        which SPDUs are still in."""
        n = len(out)
        known_from: dict[bytes, int] = {}
        for k, (kind, _, signer) in enumerate(keys):
            if kind == "certificate" and unknown_digests:
                admitted = self.store.admit(signer)  # cached: known even if revoked or a CA
                if not isinstance(admitted, Verification) and admitted.hashed_id8 in unknown_digests:
                    known_from.setdefault(admitted.hashed_id8, first[k])
        resolves_from = np.array(
            [known_from.get(signer, n) if signer in unknown_digests and kind == "digest" else 0 for kind, _, signer in keys],
            dtype=np.int64,
        )
        not_found = np.arange(n) < resolves_from[of_spdu]
        signer_failed = np.array([isinstance(o, Verification) for o in outcome], dtype=np.bool_)[of_spdu]
        for i in np.flatnonzero(not_found | signer_failed).tolist():
            kind, _, signer = keys[of_spdu[i]]
            if not_found[i]:
                out[i] = Verification(
                    Verdict.SIGNER_CERTIFICATE_NOT_FOUND, "digest of a certificate never received", signer.hex()
                )
            else:
                out[i] = outcome[of_spdu[i]]
        return ~(not_found | signer_failed)

    def _judge_times(
        self,
        out: list[Verification | PendingSignature | None],
        spdus: Spdus,
        outcome: list[CertificateInfo | Verification],
        of_spdu: np.ndarray,
        still_in: np.ndarray,
    ) -> np.ndarray:
        """Step 3: generationTime present, inside the certificate's validity and inside the
        window around receipt (GB/T 45315 7.4.3.3/7.4.3.4), vectorised.  Returns which failed."""
        t64 = np.array(
            [min(t, TIME64_MAX) for t in spdus.generation_time64]
            if max(spdus.generation_time64, default=0) > TIME64_MAX
            else spdus.generation_time64,
            dtype=np.int64,
        )
        generated = clock.unix_us_from_time64_array(t64)
        valid_from = np.array([0 if isinstance(o, Verification) else o.valid_from_us for o in outcome], dtype=np.int64)[of_spdu]
        valid_until = np.array([0 if isinstance(o, Verification) else o.valid_until_us for o in outcome], dtype=np.int64)[of_spdu]
        received = np.array(spdus.received_us, dtype=np.int64) if spdus.received_us is not None else generated
        age = received - generated
        time_failed = still_in & (
            (t64 < 0)
            | (generated < valid_from)
            | (generated > valid_until)
            | (age > PAST_WINDOW_US)
            | (age < -FUTURE_TOLERANCE_US)
        )
        for i in np.flatnonzero(time_failed).tolist():
            out[i] = self._time_verdict(
                outcome[of_spdu[i]],
                int(t64[i]),
                int(generated[i]),
                int(age[i]) if spdus.received_us is not None else None,
            )
        return time_failed

    def _judge_permissions(
        self,
        out: list[Verification | PendingSignature | None],
        spdus: Spdus,
        outcome: list[CertificateInfo | Verification],
        of_spdu: np.ndarray,
        still_in: np.ndarray,
    ) -> None:
        """Step 4: the header AID in the certificate's appPermissions (YD/T 3957 6.1.9.3); what
        passes becomes the signature job."""
        parts_of = self._signer_parts
        for i in np.flatnonzero(still_in).tolist():
            info: CertificateInfo = outcome[of_spdu[i]]
            aid = spdus.aid[i]
            if aid not in info.app_aids:
                out[i] = Verification(
                    Verdict.PERMISSION_DENIED,
                    f"AID {aid} not in certificate appPermissions {sorted(info.app_aids)}",
                    info.hashed_id8.hex(),
                )
                continue
            parts = parts_of.get(info.hashed_id8)
            if parts is None:
                parts = parts_of[info.hashed_id8] = (info.backend.name, sec1(info.public_key), info.backend.hash(info.encoded))
            suite, public_key, certificate_hash = parts
            out[i] = PendingSignature(
                info, (suite, public_key, info.backend.hash(spdus.tbs[i]) + certificate_hash, spdus.r[i], spdus.s[i])
            )

    @staticmethod
    def _time_verdict(info: CertificateInfo, t64: int, generated_us: int, age_us: int | None) -> Verification:
        hid = info.hashed_id8.hex()
        if t64 < 0:
            return Verification(Verdict.INVALID_TIMESTAMP, "generationTime absent (mandatory, GB/T 45315 7.4.3.3)", hid)
        if generated_us < info.valid_from_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate not yet valid at generationTime", hid)
        if generated_us > info.valid_until_us:
            return Verification(Verdict.INVALID_CERTIFICATE, "certificate expired at generationTime", hid)
        if age_us is not None and age_us > PAST_WINDOW_US:
            return Verification(
                Verdict.INVALID_TIMESTAMP, f"generated {age_us / 1000:.0f} ms before receipt (window 1000 ms)", hid
            )
        return Verification(
            Verdict.INVALID_TIMESTAMP, f"generated {-(age_us or 0) / 1000:.0f} ms after receipt (in the future)", hid
        )

    def conclude(self, pending: PendingSignature, signature_ok: bool) -> Verification:
        """The verdict of an SPDU whose checks passed, given whether its signature verified."""
        digest = pending.info.hashed_id8
        if not signature_ok:
            return Verification(Verdict.FALSE_SIGNATURE, "signature does not verify", digest.hex())
        success = self._success.get(digest)  # verdicts are immutable: one per signer will do
        if success is None:
            success = self._success[digest] = Verification(Verdict.SUCCESS, None, digest.hex())
        return success

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


def _distinct_signers(spdus: Spdus) -> tuple[list[tuple[str, str, bytes]], list[int], np.ndarray]:
    """The distinct (signer kind, hashId, signer) of a batch in order of first appearance, the
    SPDU each first appears in, and each SPDU's signer index."""
    signers: dict[tuple[str, str, bytes], int] = {}
    first: list[int] = []
    of_spdu = np.empty(len(spdus), dtype=np.int64)
    for i, key in enumerate(zip(spdus.signer_kind, spdus.hash_id, spdus.signer)):
        k = signers.get(key)
        if k is None:
            k = signers[key] = len(first)
            first.append(i)
        of_spdu[i] = k
    return list(signers), first, of_spdu
