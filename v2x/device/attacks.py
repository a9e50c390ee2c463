"""Security attacks a scenario can inject, and the verdict each must get (GB/T 45315 7.4, YD/T 3957).

A :class:`v2x.scenario.model.Attack` names a kind, the sender type it rides on (vehicle or rsu), how
many of those devices carry it and how often (every n-th message of each, from the first).
Every attack frame is recorded with the SHA-256 of its bytes in ``RUN/attacks/<simulator>.json``
so the report can tell injected frames from honest ones and count their verdicts.

Credentials the attacks need are made before the run by :func:`prepare`: an expired and a
revoked certificate in the run's PKI (the revoked one published in its signed CRL) and a
certificate from a foreign PKI whose root the ingest does not trust.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v2x import clock
from v2x.messages import RSU_AIDS, VEHICLE_AIDS
from v2x.security import DeviceRequest, Signer, create_pki, load_credential, unsecured
from v2x.security.pki import issue, revoke, suite_of, write_crl

EXPECTED_VERDICT = {
    "forged_signature": "false_signature",
    "replay": "duplicate_message",
    "expired_certificate": "invalid_certificate",
    "revoked_certificate": "revoked_certificate",
    "foreign_ca": "inconsistent_chain",
    "wrong_aid": "permission_denied",
    "day_ii_not_permitted": "permission_denied",
    "clock_skew": "invalid_timestamp",
    "unsigned": "unsigned_message",
}
EXPIRED_ID, REVOKED_ID, FOREIGN_ID = "ATTACK-EXPIRED", "ATTACK-REVOKED", "ATTACK-FOREIGN"
DAY_I_ONLY_ID = "ATTACK-DAY-I-ONLY"  # a certificate granting the Day-I AIDs only
DAY_II_ONLY = frozenset({"day_ii_not_permitted"})  # attacks on Day-II messages: a device's other messages go out honest
CLOCK_SKEW_US = 2_000_000  # generationTime 2 s ahead: outside [receive - 1 s, receive]
REPLAY_DELAY_S = 0.3  # a replay goes out this long after the frame it copies (inside the 1 s window)
WRONG_AID = {"vehicle": 3619, "rsu": 111}  # SPAT from a vehicle, BSM from an RSU


def prepare(pki: Path, run_root: Path, kinds: set[str]) -> None:
    """Make the credentials ``kinds`` need in the run's PKI (and a foreign one beside it)."""
    now = time.time()
    aids = [*VEHICLE_AIDS, *RSU_AIDS]
    if "expired_certificate" in kinds:
        issue(pki, DeviceRequest(EXPIRED_ID, list(VEHICLE_AIDS)), valid_from_unix_s=now - 3 * 24 * 3600, validity_hours=24)
        issue(
            pki,
            DeviceRequest(EXPIRED_ID + "-RSU", aids[2:], kind="rsu"),
            valid_from_unix_s=now - 3 * 24 * 3600,
            validity_hours=24,
        )
    if "revoked_certificate" in kinds:
        issue(pki, DeviceRequest(REVOKED_ID, list(VEHICLE_AIDS)))
        issue(pki, DeviceRequest(REVOKED_ID + "-RSU", aids[2:], kind="rsu"))
        revoke(pki, REVOKED_ID, reason="keyCompromise")
        revoke(pki, REVOKED_ID + "-RSU", reason="keyCompromise")
        write_crl(pki)
    if "day_ii_not_permitted" in kinds:
        issue(pki, DeviceRequest(DAY_I_ONLY_ID, list(VEHICLE_AIDS)))
        issue(pki, DeviceRequest(DAY_I_ONLY_ID + "-RSU", aids[2:], kind="rsu"))
    if "foreign_ca" in kinds:
        create_pki(
            run_root / "foreign-pki",
            [DeviceRequest(FOREIGN_ID, list(VEHICLE_AIDS)), DeviceRequest(FOREIGN_ID + "-RSU", aids[2:], kind="rsu")],
            suite=suite_of(pki).name,
            valid_from_unix_s=now,
        )


@dataclass
class AttackPlan:
    """The attacks one device carries and the credentials they sign with."""

    device_kind: str  # "vehicle" | "rsu"
    attacks: list[Any]  # v2x.scenario.model.Attack
    signers: dict[str, Signer] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_device(cls, attacks: list[Any], device_kind: str, device_index: int, pki: Path, run_root: Path) -> AttackPlan | None:
        mine = [a for a in attacks if a.target == device_kind and device_index < a.devices]
        if not mine:
            return None
        suffix = "" if device_kind == "vehicle" else "-RSU"
        plan = cls(device_kind, mine)
        for kind, directory, device in (
            ("expired_certificate", pki, EXPIRED_ID),
            ("revoked_certificate", pki, REVOKED_ID),
            ("foreign_ca", run_root / "foreign-pki", FOREIGN_ID),
            ("day_ii_not_permitted", pki, DAY_I_ONLY_ID),
        ):
            if any(a.kind == kind for a in mine):
                plan.signers[kind] = Signer(load_credential(directory, device + suffix))
        return plan

    def due(self, k: int, day_ii: bool = True) -> list[str]:
        """The attack kinds due on the device's k-th message (of any stream); ``day_ii``: whether
        that message is a Day-II one (an attack of :data:`DAY_II_ONLY` lets the others pass)."""
        return [
            a.kind
            for a in self.attacks
            if k >= a.first and (k - a.first) % a.every == 0 and (day_ii or a.kind not in DAY_II_ONLY)
        ]

    def record(self, kind: str, msg_type: str, spdu: bytes) -> None:
        self.ledger.append(
            {
                "attack": kind,
                "msg_type": msg_type,
                "expected": EXPECTED_VERDICT[kind],
                "sha256": hashlib.sha256(spdu).hexdigest(),
                "at": time.time(),
            }
        )

    def forge(self, kind: str, honest: Signer, frame: bytes, aid: int, generation_time64: int) -> bytes:
        """The attack SPDU replacing an honest one (not for ``replay``, which re-sends one)."""
        if kind == "unsigned":
            return unsecured(frame)
        if kind == "forged_signature":
            spdu = honest.sign(frame, aid, generation_time64)
            return spdu[:-1] + bytes([spdu[-1] ^ 0x5A])  # last byte of sSig
        if kind == "wrong_aid":
            return honest.sign(frame, WRONG_AID[self.device_kind], generation_time64)
        if kind == "clock_skew":
            return honest.sign(
                frame, aid, clock.time64_from_unix_us(clock.unix_us_from_time64(generation_time64) + CLOCK_SKEW_US)
            )
        return self.signers[kind].sign(frame, aid, generation_time64, event=True)  # full certificate every time

    def summary(self) -> list[dict[str, Any]]:
        return self.ledger
