"""Signing, the certificate hierarchy, CRLs and every verdict, in both suites; signatures
cross-checked with implementations outside the project (python-ecdsa, the OpenSSL 3 CLI for SM2)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import gmalglib
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from v2x import clock, messages
from v2x.security import (
    CertificateStore,
    DeviceRequest,
    Signer,
    Verdict,
    Verifier,
    create_pki,
    load_credential,
    load_credentials,
    unsecured,
)
from v2x.security.certificates import issue_certificate, parse_certificate
from v2x.security.pki import describe, issue, load_ca_certificates, load_trust_anchors, revoke, suite_of, write_crl
from v2x.security.replay import ReplayWindow
from v2x.security.sm2 import SM2_USER_ID
from v2x.security.verdicts import Verification
from v2x.security.verifier import Spdus
from v2x.security.workers import verify_jobs

from pipeline.decode.reference import decode_frame

from tests.corpus import bsm_variants
from tests.independent import openssl_sm2_verify, verify_spdu

FRAME = messages.encode(messages.MessageType.BSM, bsm_variants()[1])


def now_us() -> int:
    return clock.now_unix_us()


def now64() -> int:
    return clock.time64_from_unix_us(now_us())


def store_of(pki: Path) -> CertificateStore:
    return CertificateStore(load_trust_anchors(pki), load_ca_certificates(pki))


def verify(verifier: Verifier, spdu: bytes, received_us: int | None = None):
    d = decode_frame(spdu)
    return verifier.verify(
        hash_id=d.hash_id,
        tbs=d.tbs,
        signer_kind=d.signer_kind,
        signer=d.signer,
        aid=d.aid,
        generation_time64=d.generation_time,
        r=d.r,
        s=d.s,
        received_us=received_us,
    )


def test_signed_spdu_decodes_with_reference_and_verifies_independently(pki, reference_modules, tmp_path):
    cred = load_credential(pki, "OBU-1")
    spdu = Signer(cred).sign(FRAME, 111, now64())
    sec = reference_modules["ydt3957"].decode("V2XSecData", spdu)
    assert sec["protocolVersion"] == 3
    signed = sec["content"][1]
    assert signed["hashId"] == cred.backend.hash_algorithm
    assert signed["tbsData"]["headerInfo"]["aid"] == 111
    assert set(signed["tbsData"]["headerInfo"]) == {"aid", "generationTime"}  # GB/T 45315 7.4.3.3
    assert signed["tbsData"]["payload"]["data"]["content"] == ("unsecuredData", FRAME)
    assert verify_spdu(spdu, cred.certificate, reference_modules, tmp_path)
    tampered = spdu[:-1] + bytes([spdu[-1] ^ 1])
    assert not verify_spdu(tampered, cred.certificate, reference_modules, tmp_path)


@pytest.mark.parametrize("aid", [0, 111, 112, 113, 114, 127, 128, 3618, 3623, 16383, 16384, 2**21])
def test_the_signers_concatenated_coer_equals_asn1tools(aid, pki):
    """The hot path builds ToBeSignedData and Signature from pieces; asn1tools is the reference."""
    from v2x.security.certificates import security_types
    from v2x.security.sign import PROTOCOL_VERSION, signature_pieces, to_be_signed

    spec = security_types()
    for n in (0, 1, 85, 127, 128, 255, 256, 492, 700, 70000):
        payload = bytes((k * 7 + n) % 256 for k in range(n))
        t64 = (n * 987654321 + aid) % 2**64
        reference = spec.encode(
            "ToBeSignedData",
            {
                "payload": {"data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", payload)}},
                "headerInfo": {"aid": aid, "generationTime": t64},
            },
        )
        assert to_be_signed(payload, aid, t64) == reference, n
    backend = suite_of(pki)
    for k in range(5):
        r, s = hashlib.sha256(bytes([k])).digest(), hashlib.sha256(bytes([k, 1])).digest()
        prefix, middle, suffix = signature_pieces(backend)
        assert prefix + r + middle + s + suffix == spec.encode("Signature", backend.signature_value(r, s))


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 1500, 70_000])
def test_the_signers_unrolled_hot_path_writes_what_asn1tools_writes(length, pki, reference_modules, tmp_path):
    """Signer.sign concatenates prepared pieces; the reference modules decode it and re-encode
    the same bytes (C-OER is canonical), for frame lengths around each length-determinant form."""
    cred = load_credential(pki, "OBU-1")
    signer = Signer(cred)
    frame = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    ref = reference_modules["ydt3957"]
    for k, aid in enumerate([111, 3618, 111]):  # the full certificate, then digests; a second AID
        t64 = now64() + k * 100_000
        spdu = signer.sign(frame, aid, t64)
        sec = ref.decode("V2XSecData", spdu)
        assert ref.encode("V2XSecData", sec) == spdu
        tbs = sec["content"][1]["tbsData"]
        assert tbs["payload"]["data"]["content"] == ("unsecuredData", frame)
        assert tbs["headerInfo"] == {"aid": aid, "generationTime": t64}
        assert sec["content"][1]["signer"][0] == ("certificate" if k == 0 else "digest")
        assert verify_spdu(spdu, cred.certificate, reference_modules, tmp_path)


def test_sm2_interoperates_with_openssl_both_ways(tmp_path):
    pki = tmp_path / "pki"
    create_pki(pki, [DeviceRequest("OBU-1", [111])], suite="sm2-sm3", valid_from_unix_s=time.time())
    cred = load_credential(pki, "OBU-1")
    backend = cred.backend
    data = hashlib.new("sm3", b"tbs").digest() + hashlib.new("sm3", cred.certificate).digest()
    # ours -> OpenSSL
    r, s = backend.sign(cred.private_key, data)
    assert openssl_sm2_verify(cred.private_key.public, data, r, s, tmp_path)
    assert not openssl_sm2_verify(cred.private_key.public, data + b"x", r, s, tmp_path)
    # OpenSSL (signing with the key file we wrote) -> ours
    key_file = pki / "devices" / "OBU-1" / "pseudonym-0.key.pem"
    (tmp_path / "data.bin").write_bytes(data)
    der = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-sign",
            "-inkey",
            key_file,
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            f"distid:{SM2_USER_ID.decode()}",
            "-in",
            tmp_path / "data.bin",
        ],
        capture_output=True,
        check=True,
    ).stdout
    r2, s2 = (v.to_bytes(32, "big") for v in decode_dss_signature(der))
    public = backend.load_public_key(parse_certificate(cred.certificate).public_key)
    assert backend.verify(public, data, r2, s2)
    assert not backend.verify(public, data[:-1] + b"\x00", r2, s2)
    # and gmalglib's own verify agrees (the library we sign with)
    assert gmalglib.sm2.SM2(pk=cred.private_key.public, uid=SM2_USER_ID).verify(data, r2 + s2)


def test_full_certificate_first_every_450_ms_and_after_a_pseudonym_change(pki):
    first, second = load_credentials(pki, "OBU-1")
    signer = Signer(first)
    t0 = now64()
    kinds = [decode_frame(signer.sign(FRAME, 111, t0 + k * 100_000)).signer_kind for k in range(10)]
    # 0 ms cert, 100..400 digest, 500 ms cert (>= 450 ms), ... , 1000 ms cert
    assert kinds == ["certificate", "digest", "digest", "digest", "digest", "certificate", "digest", "digest", "digest", "digest"]
    assert decode_frame(signer.sign(FRAME, 112, t0 + 1_050_000, event=True)).signer_kind == "certificate"
    signer.use(second)
    after = decode_frame(signer.sign(FRAME, 111, t0 + 1_100_000))
    assert after.signer_kind == "certificate" and after.signer == second.certificate


def test_an_emergency_vehicle_gets_an_identification_certificate_from_the_aca(pki, tmp_path):
    copy = tmp_path / "pki"
    shutil.copytree(pki, copy)
    creds = issue(copy, DeviceRequest("AMB-1", [113, 114], kind="emergency_vehicle"))
    aca = parse_certificate((copy / "ca" / "aca.oer").read_bytes())
    assert [c.name for c in creds] == ["identification"]
    ident = parse_certificate(creds[0].certificate)
    assert ident.issuer == aca.hashed_id8.hex() and ident.app_aids == {113, 114} and not ident.is_ca


def test_hierarchy_root_eca_pca_aca_with_permissions(pki):
    root = parse_certificate((pki / "root-ca.oer").read_bytes())
    cas = {stem: parse_certificate((pki / "ca" / f"{stem}.oer").read_bytes()) for stem in ("eca", "pca", "aca")}
    assert root.issuer == "self" and root.is_ca and root.issue_aids is None
    assert all(ca.issuer == root.hashed_id8.hex() and ca.is_ca for ca in cas.values())
    assert cas["pca"].issue_aids == {111, 112, 113, 114, 3632, 3634, 3635}  # and Day-II VIR, PSM, CLPMM
    # RSUs (Day-I and Day-II RTCM, RSC, SSM, PAM), and emergency vehicles' identification
    assert cas["aca"].issue_aids == {3618, 3619, 3620, 3621, 3622, 3623, 3629, 3630, 3631, 3633, 113, 114}
    rsu = parse_certificate((pki / "devices" / "RSU-1" / "application.oer").read_bytes())
    assert rsu.issuer == cas["aca"].hashed_id8.hex() and rsu.app_aids == {3618, 3619, 3620, 3623}
    assert rsu.valid_until_us - rsu.valid_from_us == 168 * 3600 * 1_000_000
    pseudonyms = [parse_certificate(c.certificate) for c in load_credentials(pki, "OBU-1")]
    assert len(pseudonyms) == 2 and all(p.issuer == cas["pca"].hashed_id8.hex() and p.app_aids == {111, 112} for p in pseudonyms)
    enrolment = parse_certificate((pki / "devices" / "OBU-1" / "enrolment.oer").read_bytes())
    assert enrolment.issuer == cas["eca"].hashed_id8.hex() and not enrolment.app_aids
    keys = list(pki.rglob("*.key.pem"))
    assert len(keys) == 1 + 3 + 3 + 2 and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    shown = describe(pki)
    assert shown["suite"] == suite_of(pki).name and len(shown["certificates"]) == 1 + 3 + 3 + 2


def test_verdicts(pki, tmp_path):
    verifier = Verifier(store_of(pki))
    cred = load_credential(pki, "OBU-1")
    signer = Signer(cred)
    now = now_us()
    t = clock.time64_from_unix_us(now)
    digest_first = Signer(cred)
    digest_first._last_full_certificate_us = t  # pretend the certificate went out already
    assert verify(verifier, digest_first.sign(FRAME, 111, t), now).verdict is Verdict.SIGNER_CERTIFICATE_NOT_FOUND
    first = signer.sign(FRAME, 111, t)
    assert verify(verifier, first, now) == verify(verifier, first, now)  # cached certificate gives the same answer
    assert verify(verifier, first, now).verdict is Verdict.SUCCESS
    assert verify(verifier, signer.sign(FRAME, 111, t + 100_000), now + 100_000).verdict is Verdict.SUCCESS  # digest resolves
    forged = first[:-1] + bytes([first[-1] ^ 0x55])
    assert verify(verifier, forged, now).verdict is Verdict.FALSE_SIGNATURE
    denied = verify(verifier, signer.sign(FRAME, 3619, t + 200_000), now + 200_000)
    assert denied.verdict is Verdict.PERMISSION_DENIED and "3619" in denied.reason
    expired = Signer(cred).sign(FRAME, 111, t + 200 * 3600 * 1_000_000)
    assert verify(verifier, expired).verdict is Verdict.INVALID_CERTIFICATE
    early = Signer(cred).sign(FRAME, 111, t - 3600 * 1_000_000)
    assert "not yet valid" in verify(verifier, early).reason
    stale = verify(verifier, Signer(cred).sign(FRAME, 111, t - 1_200_000), now)
    assert stale.verdict is Verdict.INVALID_TIMESTAMP and "before receipt" in stale.reason
    future = verify(verifier, Signer(cred).sign(FRAME, 111, t + 300_000), now)
    assert future.verdict is Verdict.INVALID_TIMESTAMP and "future" in future.reason
    assert verify(verifier, Signer(cred).sign(FRAME, 111, t - 900_000), now).verdict is Verdict.SUCCESS  # inside the 1 s window

    foreign = tmp_path / "foreign"
    create_pki(foreign, [DeviceRequest("OBU-X", [111])], suite=suite_of(pki).name, valid_from_unix_s=time.time())
    alien = Signer(load_credential(foreign, "OBU-X")).sign(FRAME, 111, t)
    assert verify(verifier, alien, now).verdict is Verdict.INCONSISTENT_CHAIN
    assert decode_frame(unsecured(FRAME)).content == "unsecured"


def test_a_batch_gets_the_verdicts_of_one_spdu_at_a_time(pki, tmp_path):
    """check_batch (each signer checked once, time checks vectorised) agrees with checking the
    same SPDUs one by one, in order: a digest before its certificate in the same batch is not
    found, the same digest after it resolves."""
    first, second = load_credentials(pki, "OBU-1")
    now = now_us()
    t = clock.time64_from_unix_us(now)
    signer = Signer(first)
    digest_early = Signer(first)
    digest_early._last_full_certificate_us = t - 500_000  # a digest before the certificate went out
    create_pki(tmp_path / "foreign", [DeviceRequest("OBU-X", [111])], suite=suite_of(pki).name, valid_from_unix_s=time.time())
    spdus = [
        digest_early.sign(FRAME, 111, t - 500_000),
        signer.sign(FRAME, 111, t - 400_000),  # certificate
        signer.sign(FRAME, 111, t - 300_000),  # digest, now known
        signer.sign(FRAME, 3619, t - 200_000),  # AID not granted
        Signer(first).sign(FRAME, 111, t + 200 * 3600 * 1_000_000),  # certificate expired
        Signer(first).sign(FRAME, 111, t - 1_200_000),  # stale
        Signer(first).sign(FRAME, 111, t + 300_000),  # in the future
        Signer(load_credential(tmp_path / "foreign", "OBU-X")).sign(FRAME, 111, t),  # foreign CA
        Signer(second).sign(FRAME, 111, t),  # the second pseudonym's certificate
    ]
    spdus.insert(3, spdus[2][:-1] + bytes([spdus[2][-1] ^ 0x55]))  # forged
    decoded = [decode_frame(x) for x in spdus]

    def one_at_a_time(verifier: Verifier) -> list:
        return [
            verifier.verify(
                hash_id=d.hash_id,
                tbs=d.tbs,
                signer_kind=d.signer_kind,
                signer=d.signer,
                aid=d.aid,
                generation_time64=d.generation_time,
                r=d.r,
                s=d.s,
                received_us=now,
            )
            for d in decoded
        ]

    batch_verifier = Verifier(store_of(pki))
    checked = batch_verifier.check_batch(
        Spdus(
            [d.hash_id for d in decoded],
            [d.tbs for d in decoded],
            [d.signer_kind for d in decoded],
            [d.signer for d in decoded],
            [d.aid for d in decoded],
            [d.generation_time for d in decoded],
            [d.r for d in decoded],
            [d.s for d in decoded],
            [now] * len(decoded),
        )
    )
    batch = [c if isinstance(c, Verification) else batch_verifier.conclude(c, verify_jobs([c.job])[0]) for c in checked]
    assert batch == one_at_a_time(Verifier(store_of(pki)))
    assert [v.verdict for v in batch] == [
        Verdict.SIGNER_CERTIFICATE_NOT_FOUND,
        Verdict.SUCCESS,
        Verdict.SUCCESS,
        Verdict.FALSE_SIGNATURE,
        Verdict.PERMISSION_DENIED,
        Verdict.INVALID_CERTIFICATE,
        Verdict.INVALID_TIMESTAMP,
        Verdict.INVALID_TIMESTAMP,
        Verdict.INCONSISTENT_CHAIN,
        Verdict.SUCCESS,
    ]


def test_a_ca_cannot_grant_aids_beyond_its_permissions(pki):
    # A certificate for SPAT (3619) issued by the pseudonym CA, which may only grant BSM AIDs.
    backend = suite_of(pki)
    pca_key = backend.load_private_key_pem((pki / "ca" / "pca.key.pem").read_bytes())
    rogue_key = backend.generate_private_key()
    rogue = issue_certificate(
        backend,
        subject_key=rogue_key,
        issuer_key=pca_key,
        issuer_certificate=(pki / "ca" / "pca.oer").read_bytes(),
        name=None,
        valid_from_unix_s=time.time() - 60,
        validity_hours=1,
        app_aids=[3619],
    )
    from v2x.security import Credential
    from v2x.security.certificates import hashed_id8

    spdu = Signer(Credential("X", rogue, hashed_id8(backend, rogue), rogue_key, backend)).sign(FRAME, 3619, now64())
    v = verify(Verifier(store_of(pki)), spdu)
    assert v.verdict is Verdict.INCONSISTENT_CHAIN and "may grant" in v.reason


def test_revocation_through_a_signed_crl(pki, tmp_path):
    work = tmp_path / "pki"
    create_pki(
        work,
        [DeviceRequest("OBU-1", [111]), DeviceRequest("OBU-2", [111])],
        suite=suite_of(pki).name,
        valid_from_unix_s=time.time(),
    )
    revoked = revoke(work, "OBU-1", reason="keyCompromise")
    assert len(revoked) == 2  # enrolment and pseudonym certificates
    crl_path = write_crl(work)
    store = store_of(work)
    status = store.load_crl(crl_path.read_bytes())
    assert status.entries == 2 and status.serial == 1 and abs(status.issued_unix_s - time.time()) < 5
    verifier = Verifier(store)
    t = now64()
    bad = verify(verifier, Signer(load_credential(work, "OBU-1")).sign(FRAME, 111, t))
    assert bad.verdict is Verdict.REVOKED_CERTIFICATE and "serial 1" in bad.reason
    assert verify(verifier, Signer(load_credential(work, "OBU-2")).sign(FRAME, 111, t)).verdict is Verdict.SUCCESS
    assert json.loads((work / "pki.json").read_text())["crl_serial"] == 1

    tampered = bytearray(crl_path.read_bytes())
    tampered[-5] ^= 1
    with pytest.raises(ValueError, match="does not verify"):
        store_of(work).load_crl(bytes(tampered))
    with pytest.raises(ValueError, match="trusted CA"):
        store_of(pki).load_crl(crl_path.read_bytes())  # another PKI's CRL


def test_replay_window_flags_a_repeated_signature_only_within_its_horizon():
    window = ReplayWindow(horizon_us=2_000_000)
    assert not window.seen_before(b"sig-1", 10_000_000)
    assert not window.seen_before(b"sig-2", 10_100_000)
    assert window.seen_before(b"sig-1", 10_500_000)
    assert not window.seen_before(b"sig-3", 13_000_000)  # prunes what is older than the horizon
    assert not window.seen_before(b"sig-1", 13_100_000)


def test_trust_anchor_must_be_self_signed(pki):
    with pytest.raises(ValueError, match="self-signed"):
        CertificateStore([(pki / "devices" / "OBU-1" / "pseudonym-0.oer").read_bytes()])


def test_issue_adds_a_device_to_an_existing_pki(pki, tmp_path):
    work = tmp_path / "pki"
    create_pki(work, [], suite=suite_of(pki).name, valid_from_unix_s=time.time())
    creds = issue(work, DeviceRequest("BUS-7", [111], pseudonyms=3))
    assert [c.name for c in creds] == ["pseudonym-0", "pseudonym-1", "pseudonym-2"]
    assert verify(Verifier(store_of(work)), Signer(creds[2]).sign(FRAME, 111, now64())).verdict is Verdict.SUCCESS


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_signature_workers_agree_with_inline_verification(pki, mode):
    """Parallel workers (either kind) return, job for job, what the inline verify returns;
    a key that is not a curve point fails its job instead of stopping the batch."""
    from v2x.security.workers import SignatureWorkers, verify_jobs

    verifier = Verifier(store_of(pki))
    signer = Signer(load_credential(pki, "OBU-1"))
    t0, rx = now64(), now_us()
    jobs = []
    for k in range(70):
        d = decode_frame(signer.sign(FRAME, 111, t0 + k))
        s = bytes([d.s[0] ^ 1]) + d.s[1:] if k % 9 == 4 else d.s
        pending = verifier.check(
            hash_id=d.hash_id,
            tbs=d.tbs,
            signer_kind=d.signer_kind,
            signer=d.signer,
            aid=d.aid,
            generation_time64=d.generation_time,
            r=d.r,
            s=s,
            received_us=rx,
        )
        jobs.append(pending.job)
    suite, _key, data, r, s = jobs[0]
    jobs.append((suite, b"\x02" + b"\xff" * 32, data, r, s))  # x beyond the field: not a point
    inline = verify_jobs(jobs)
    assert inline == [k % 9 != 4 for k in range(70)] + [False]
    with SignatureWorkers(2, mode) as workers:
        assert workers.uses_processes == (mode == "processes")
        assert workers.verify(jobs) == inline
        assert workers.verify(jobs[:1]) == [True]
        assert workers.verify([]) == []
