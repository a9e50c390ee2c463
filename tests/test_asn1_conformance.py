"""Our ASN.1 modules against independent reference copies of the standards: identical bytes."""

from __future__ import annotations

import pytest

from v2x import messages
from v2x.security.certificates import security_types

from tests.corpus import corpus

CASES = corpus()


@pytest.mark.parametrize("msg_type,content", CASES, ids=[f"{t.value}-{i}" for i, (t, _) in enumerate(CASES)])
def test_message_frame_bytes_equal_reference_modules(reference_modules, msg_type, content):
    ours = messages.encode(msg_type, content)
    for name in ("ydt3709", "csae53_vss"):
        assert reference_modules[name].encode("MessageFrame", (msg_type.frame_choice, content)) == ours, name
    decoded_type, decoded = messages.decode(ours)
    assert decoded_type is msg_type
    assert reference_modules["ydt3709"].decode("MessageFrame", ours) == (msg_type.frame_choice, decoded)


def test_corpus_covers_all_five_day_one_messages():
    assert {t for t, _ in CASES} == set(messages.DAY_I)


def test_minimal_bsm_matches_published_golden_bytes():
    # The minimal BSM of the research note (asn1-and-crypto.md 4), encoded by three schema copies and pycrate.
    deg = lambda x: round(x * 1e7)
    bsm = {
        "msgCnt": 17,
        "id": b"TJ000001",
        "secMark": 42123,
        "pos": {"lat": deg(39.0851234), "long": deg(117.0712345), "elevation": 32},
        "transmission": "forwardGears",
        "speed": int(13.9 / 0.02),
        "heading": int(87.5 / 0.0125),
        "accelSet": {"long": 35, "lat": -4, "vert": 0, "yaw": 120},
        "brakes": {},
        "size": {"width": 180, "length": 470, "height": 30},
        "vehicleClass": {"classification": 10},
    }
    assert (
        messages.encode(messages.MessageType.BSM, bsm).hex()
        == "00022a894606060606063491799e1a7456222f2302040856e6d61fcdf31fe01dc04b41d63c0500"
    )


def test_security_types_encode_like_ydt3957_reference(reference_modules, pki):
    cert = (pki / "devices" / "OBU-1" / "pseudonym-0.oer").read_bytes()
    value = security_types().decode("Certificate", cert)
    assert reference_modules["ydt3957"].encode("CertificateBase", value) == cert
    assert reference_modules["ydt3957"].decode("CertificateBase", cert) == value


def test_encode_rejects_out_of_range_values():
    bad = dict(CASES[0][1], speed=9000)
    with pytest.raises(Exception, match="speed|8191|9000"):
        messages.encode(messages.MessageType.BSM, bad)
