"""Conformance without the reference copies: frames and certificates the reference ASN.1 modules
encoded (tests/golden/, made by ``python -m tests.golden_vectors``), against our encoders,
decoders and verifier; and, where the reference copies are present, the vectors against them."""

from __future__ import annotations

import copy

import pytest

from v2x import clock, messages
from v2x.messages import MessageType
from v2x.security import CertificateStore, Verdict, Verifier
from v2x.security.certificates import security_types

from pipeline.decode.reference import decode_frame

from tests.corpus import corpus, day_ii_corpus
from tests.golden_vectors import DAY_II_FRAMES, FRAMES, SECURITY, day_ii_frames, from_json, load, message_frames
from tests.independent import verify_signed

FRAME_VECTORS = load(FRAMES)
SECURITY_VECTORS = load(SECURITY)
DAY_II_VECTORS = load(DAY_II_FRAMES)


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=[f"{v['msg_type']}-{i}" for i, v in enumerate(FRAME_VECTORS)])
def test_a_reference_encoded_frame_decodes_and_encodes_like_the_reference(vector):
    msg_type, data = MessageType(vector["msg_type"]), bytes.fromhex(vector["uper"])
    choice, value = from_json(vector["value"])
    assert choice == msg_type.frame_choice
    assert messages.decode(data) == (msg_type, value)
    assert messages.encode(msg_type, value) == data


def test_our_builders_make_the_golden_frames():
    """The corpus our builders make encodes to the reference's bytes (a changed builder or corpus
    shows here: re-make the vectors where the reference copies are)."""
    ours = [messages.encode(msg_type, content).hex() for msg_type, content in corpus()]
    assert ours == [v["uper"] for v in FRAME_VECTORS]
    assert {v["msg_type"] for v in FRAME_VECTORS} == {t.value for t in messages.DAY_I}


def test_the_golden_frames_are_what_the_reference_modules_make(reference_modules):
    assert message_frames(reference_modules) == FRAME_VECTORS


@pytest.mark.parametrize("vector", DAY_II_VECTORS, ids=[f"{v['msg_type']}-{i}" for i, v in enumerate(DAY_II_VECTORS)])
def test_a_reference_encoded_day_ii_frame_decodes_and_encodes_like_the_reference(vector):
    msg_type, data = MessageType(vector["msg_type"]), bytes.fromhex(vector["uper"])
    value = from_json(vector["value"])
    assert messages.decode(data, check_constraints=True) == (msg_type, value)
    assert messages.encode(msg_type, value) == data


def test_our_day_ii_builders_make_the_golden_day_ii_frames():
    assert [messages.encode(t, c).hex() for t, c in day_ii_corpus()] == [v["uper"] for v in DAY_II_VECTORS]
    assert {v["msg_type"] for v in DAY_II_VECTORS} >= {t.value for t in messages.DAY_II}


def test_the_golden_day_ii_frames_are_what_the_reference_module_makes(reference_modules):
    assert day_ii_frames(reference_modules) == DAY_II_VECTORS


def test_the_golden_security_vectors_decode_so_with_the_reference_modules(reference_modules):
    ref = reference_modules["ydt3957"]
    for v in SECURITY_VECTORS:
        assert ref.decode("CertificateBase", bytes.fromhex(v["certificate"])) == from_json(v["certificate_value"])
        decoded = ref.decode("V2XSecData", bytes.fromhex(v["spdu"]))
        assert decoded == from_json(v["spdu_value"])
        assert ref.encode("ToBeSignedData", decoded["content"][1]["tbsData"]).hex() == v["tbs"]


@pytest.mark.parametrize("vector", SECURITY_VECTORS, ids=[v["suite"] for v in SECURITY_VECTORS])
def test_a_reference_decoded_certificate_is_ours_too(vector):
    cert = bytes.fromhex(vector["certificate"])
    value = from_json(vector["certificate_value"])
    assert security_types().decode("Certificate", cert) == value
    assert security_types().encode("Certificate", value) == cert


@pytest.mark.parametrize("vector", SECURITY_VECTORS, ids=[v["suite"] for v in SECURITY_VECTORS])
def test_a_golden_spdu_parses_verifies_and_verifies_independently(vector, tmp_path):
    spdu, cert = bytes.fromhex(vector["spdu"]), bytes.fromhex(vector["certificate"])
    signed = from_json(vector["spdu_value"])["content"][1]
    frame = decode_frame(spdu)
    assert (frame.tbs.hex(), frame.aid, frame.signer_kind, frame.signer) == (vector["tbs"], 111, "certificate", cert)
    assert frame.generation_time == signed["tbsData"]["headerInfo"]["generationTime"]
    assert frame.msg_type is MessageType.BSM and frame.message == from_json(FRAME_VECTORS[0]["value"])[1]
    verifier = Verifier(CertificateStore([bytes.fromhex(vector["root"])], [bytes.fromhex(c) for c in vector["cas"]]))

    def verdict(r: bytes, s: bytes) -> Verdict:
        return verifier.verify(
            hash_id=frame.hash_id,
            tbs=frame.tbs,
            signer_kind=frame.signer_kind,
            signer=frame.signer,
            aid=frame.aid,
            generation_time64=frame.generation_time,
            r=r,
            s=s,
            received_us=vector["generated_us"] + 20_000,
        ).verdict

    assert verdict(frame.r, frame.s) is Verdict.SUCCESS
    assert verdict(frame.r, frame.s[:-1] + bytes([frame.s[-1] ^ 1])) is Verdict.FALSE_SIGNATURE
    # The same signature checked outside the project (python-ecdsa / OpenSSL), from the reference decode
    assert verify_signed(
        bytes.fromhex(vector["tbs"]), signed["signature"], cert, from_json(vector["certificate_value"]), tmp_path
    )
    tampered = copy.deepcopy(signed["signature"])
    tampered[1]["sSig"] = tampered[1]["sSig"][:-1] + bytes([tampered[1]["sSig"][-1] ^ 1])
    assert not verify_signed(bytes.fromhex(vector["tbs"]), tampered, cert, from_json(vector["certificate_value"]), tmp_path)
    assert clock.unix_us_from_time64(frame.generation_time) // 1000 == vector["generated_us"] // 1000
