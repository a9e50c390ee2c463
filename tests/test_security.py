"""Signing, certificates and verdicts; signatures cross-checked with an independent ECDSA."""

from __future__ import annotations

import hashlib
import time

import ecdsa
import pytest

from v2x import clock, messages
from v2x.security import (
    BACKENDS, CertificateStore, DeviceRequest, Signer, Verdict, Verifier, create_pki, load_credential, load_trust_anchors, unsecured,
)
from v2x.security.certificates import parse_certificate

from pipeline.reference import decode_frame
from tests.corpus import bsm_variants

BACKEND = BACKENDS["ecdsa-p256-sha256"]
FRAME = messages.encode(messages.MessageType.BSM, bsm_variants()[1])


def now64() -> int:
    return clock.time64_from_unix_us(clock.now_unix_us())


def independent_verify(spdu: bytes, certificate: bytes, reference_modules) -> bool:
    """Verify an SPDU with python-ecdsa over bytes re-encoded by the YD/T 3957 reference modules."""
    ref = reference_modules["ydt3957"]
    signed = ref.decode("V2XSecData", spdu)["content"][1]
    tbs = ref.encode("ToBeSignedData", signed["tbsData"])
    cert = ref.decode("CertificateBase", certificate)
    kind, x = cert["toBeSigned"]["verifyKeyIndicator"][1][1]
    vk = ecdsa.VerifyingKey.from_string((b"\x02" if kind == "compressed-y-0" else b"\x03") + x, curve=ecdsa.NIST256p)
    sig = signed["signature"][1]
    data = hashlib.sha256(tbs).digest() + hashlib.sha256(certificate).digest()
    try:
        return vk.verify(sig["rSig"][1] + sig["sSig"], data, hashfunc=hashlib.sha256)
    except ecdsa.BadSignatureError:
        return False


@pytest.fixture
def verifier(pki) -> Verifier:
    return Verifier(CertificateStore(BACKEND, load_trust_anchors(pki)))


def verify(verifier: Verifier, spdu: bytes):
    d = decode_frame(spdu)
    return verifier.verify(hash_id=d.hash_id, tbs=d.tbs, signer_kind=d.signer_kind, signer=d.signer, aid=d.aid,
                           generation_time64=d.generation_time, r=d.r, s=d.s)


def test_signed_spdu_decodes_with_reference_and_verifies_independently(pki, reference_modules):
    cred = load_credential(pki, "OBU-1")
    spdu = Signer(cred).sign(FRAME, 111, now64())
    sec = reference_modules["ydt3957"].decode("V2XSecData", spdu)
    assert sec["protocolVersion"] == 3
    signed = sec["content"][1]
    assert signed["tbsData"]["headerInfo"]["aid"] == 111
    assert set(signed["tbsData"]["headerInfo"]) == {"aid", "generationTime"}  # GB/T 45315 7.4.3.3
    assert signed["tbsData"]["payload"]["data"]["content"] == ("unsecuredData", FRAME)
    assert independent_verify(spdu, cred.certificate, reference_modules)
    tampered = spdu[:-1] + bytes([spdu[-1] ^ 1])
    assert not independent_verify(tampered, cred.certificate, reference_modules)


def test_full_certificate_first_and_every_450_ms(pki):
    signer = Signer(load_credential(pki, "OBU-1"))
    t0 = now64()
    kinds = [decode_frame(signer.sign(FRAME, 111, t0 + k * 100_000)).signer_kind for k in range(10)]
    # 0 ms cert, 100..400 digest, 500 ms cert (>= 450 ms), ... , 1000 ms cert
    assert kinds == ["certificate", "digest", "digest", "digest", "digest", "certificate", "digest", "digest", "digest", "digest"]
    assert decode_frame(signer.sign(FRAME, 112, t0 + 1_050_000, event=True)).signer_kind == "certificate"


def test_certificate_carries_validity_permissions_and_issuer(pki):
    info = parse_certificate(BACKEND, (pki / "devices" / "RSU-1.oer").read_bytes())
    root = parse_certificate(BACKEND, (pki / "root-ca.oer").read_bytes())
    assert info.issuer == root.hashed_id8.hex() and root.issuer == "self" and root.is_ca
    assert info.app_aids == {3618, 3619, 3620, 3623}
    assert info.valid_until_us - info.valid_from_us == 168 * 3600 * 1_000_000
    assert (pki / "devices" / "RSU-1.key.pem").stat().st_mode & 0o777 == 0o600


def test_verdicts(pki, verifier, tmp_path):
    cred = load_credential(pki, "OBU-1")
    signer = Signer(cred)
    t = now64()
    digest_first = Signer(cred)
    digest_first._last_full_certificate_us = t  # pretend the certificate went out already
    assert verify(verifier, digest_first.sign(FRAME, 111, t)).verdict is Verdict.SIGNER_CERTIFICATE_NOT_FOUND
    first = signer.sign(FRAME, 111, t)
    assert verify(verifier, first) == verify(verifier, first)  # cached certificate gives the same answer
    assert verify(verifier, first).verdict is Verdict.SUCCESS
    assert verify(verifier, signer.sign(FRAME, 111, t + 100_000)).verdict is Verdict.SUCCESS  # digest now resolves
    forged = first[:-1] + bytes([first[-1] ^ 0x55])
    assert verify(verifier, forged).verdict is Verdict.FALSE_SIGNATURE
    assert verify(verifier, signer.sign(FRAME, 3619, t + 200_000)).verdict is Verdict.PERMISSION_DENIED
    expired = Signer(cred).sign(FRAME, 111, t + 200 * 3600 * 1_000_000)
    assert verify(verifier, expired).verdict is Verdict.INVALID_CERTIFICATE

    foreign = tmp_path / "foreign"
    create_pki(foreign, [DeviceRequest("OBU-X", [111])], valid_from_unix_s=time.time())
    alien = Signer(load_credential(foreign, "OBU-X")).sign(FRAME, 111, t)
    assert verify(verifier, alien).verdict is Verdict.INCONSISTENT_CHAIN
    assert decode_frame(unsecured(FRAME)).content == "unsecured"


def test_trust_anchor_must_be_self_signed(pki):
    with pytest.raises(ValueError, match="self-signed"):
        CertificateStore(BACKEND, [(pki / "devices" / "OBU-1.oer").read_bytes()])
