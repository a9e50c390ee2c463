"""Security encodings as the standard allows them: a HeaderInfo extension encoded on an IEEE
1609.2 schema with another number of extension additions, an ECDSA rSig sent as an
uncompressed point, and the precise verdict for an implicit certificate."""

from __future__ import annotations

import pytest

from v2x import clock, messages
from v2x.messages import MessageType
from v2x.security import load_credential
from v2x.security.certificates import security_types
from v2x.security.sign import coer_length, spdu_head

from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.trust import verifier_from_pki

from tests.corpus import bsm_variants

TOPIC = "V2X/OBU/OBU-1/BSM/UP"
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _header_with_extension(additions: int) -> tuple[dict, bytes, bytes]:
    """(headerInfo value, its C-OER with inlineP2pcdRequest present and a presence bitmap of
    ``additions`` bits, the same from our schema)."""
    spec = security_types()
    now = clock.time64_from_unix_us(clock.now_unix_us())
    header = {"aid": 111, "generationTime": now, "inlineP2pcdRequest": [b"\x01\x02\x03"]}
    ours = spec.encode("HeaderInfo", header)
    bitmap_ours = bytes([0x02, 8 - 3, 0x80])  # length 2, 5 unused bits, the first addition present
    assert bitmap_ours in ours
    theirs = ours.replace(bitmap_ours, bytes([0x02, 8 - additions, 0x80]))
    return header, ours, theirs


def _signed(credential, tbs: bytes, signer: bytes, uncompressed_r: bool = False) -> bytes:
    backend = credential.backend
    r, s = backend.sign(credential.private_key, backend.hash(tbs) + backend.hash(credential.certificate))
    value = backend.signature_value(r, s)
    if uncompressed_r:
        kind, sig = value
        x = int.from_bytes(r, "big")
        y = pow((x**3 - 3 * x + P256_B) % P256_P, (P256_P + 1) // 4, P256_P)  # a point with this x
        value = (kind, {"rSig": ("uncompressed", {"x": r, "y": y.to_bytes(32, "big")}), "sSig": sig["sSig"]})
    return spdu_head(backend) + tbs + signer + security_types().encode("Signature", value)


def _tbs(frame: bytes, header: bytes) -> bytes:
    spec = security_types()
    payload = spec.encode("SignedDataPayload", {"data": {"protocolVersion": 3, "content": ("unsecuredData", frame)}})
    return payload + header  # ToBeSignedData: payload then headerInfo, no preamble


def _certificate_signer(credential) -> bytes:
    return bytes([0x81]) + coer_length(1) + b"\x01" + credential.certificate


def _verdicts(pki, frames: list[bytes]) -> list[tuple[bool, str, str | None]]:
    batch = Received()
    for k, f in enumerate(frames):
        batch.add(TOPIC, f, clock.now_unix_us() + k)
    out = BatchProcessor(verifier_from_pki(pki)).process(batch)
    rows = sorted(
        (r for t in out.telemetry.values() for r in t.select(["rx_seq", "decode_ok", "auth", "auth_reason"]).to_pylist()),
        key=lambda r: r["rx_seq"],
    )
    return [(r["decode_ok"], r["auth"], r["auth_reason"]) for r in rows]


@pytest.mark.parametrize("additions", [2, 3, 4], ids=["1609.2-2016", "YD/T 3957", "1609.2-2022"])
def test_a_header_extension_with_a_bitmap_of_another_length_verifies(pki, additions):
    credential = load_credential(pki, "OBU-1")
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    _header, ours, theirs = _header_with_extension(additions)
    spdu = _signed(credential, _tbs(frame, theirs), _certificate_signer(credential))
    assert (spdu.find(ours) >= 0) == (additions == 3)
    [(ok, auth, reason)] = _verdicts(pki, [spdu])
    assert ok and auth == "success", reason


def test_a_tampered_header_with_another_bitmap_still_fails_its_signature(pki):
    credential = load_credential(pki, "OBU-1")
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    _header, ours, theirs = _header_with_extension(2)
    spdu = _signed(credential, _tbs(frame, ours), _certificate_signer(credential))  # signed over our bitmap ...
    sent = spdu.replace(ours, theirs)  # ... sent with another: the octets signed are not the octets sent
    [(ok, auth, _reason)] = _verdicts(pki, [sent])
    assert ok and auth == "false_signature"


@pytest.mark.parametrize("pki", ["ecdsa-p256-sha256"], indirect=True)  # SM2's r is an octet string, not a point
@pytest.mark.parametrize("with_extension", [False, True], ids=["fast path", "asn1tools path"])
def test_an_uncompressed_r_is_accepted_and_verified(pki, with_extension):
    credential = load_credential(pki, "OBU-1")
    assert credential.backend.name == "ecdsa-p256-sha256"
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    header = (
        _header_with_extension(3)[1]
        if with_extension
        else security_types().encode("HeaderInfo", {"aid": 111, "generationTime": clock.time64_from_unix_us(clock.now_unix_us())})
    )
    good = _signed(credential, _tbs(frame, header), _certificate_signer(credential), uncompressed_r=True)
    [(ok, auth, reason)] = _verdicts(pki, [good])
    assert ok and auth == "success", reason


def test_an_implicit_certificate_gets_its_precise_verdict(pki):
    credential = load_credential(pki, "OBU-1")
    spec = security_types()
    cert = spec.decode("Certificate", credential.certificate)
    implicit = {
        **cert,
        "type": "reserved",
        "toBeSigned": {**cert["toBeSigned"], "verifyKeyIndicator": ("reconstructionValue", ("x-only", bytes(32)))},
    }
    del implicit["signature"]
    encoded = spec.encode("Certificate", implicit)
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    header = spec.encode("HeaderInfo", {"aid": 111, "generationTime": clock.time64_from_unix_us(clock.now_unix_us())})
    spdu = _signed(credential, _tbs(frame, header), bytes([0x81]) + coer_length(1) + b"\x01" + encoded)
    [(ok, auth, reason)] = _verdicts(pki, [spdu])
    assert auth == "invalid_certificate" and "implicit certificate" in reason and "YD/T 3957" in reason, (ok, auth, reason)
