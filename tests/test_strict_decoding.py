"""Strict decoding: a frame is ``decode_ok`` only when its MessageFrame decodes whole and ends in
the payload's last octet, on the numba path and on the asn1tools path; a signed frame's header
AID fits its message type; a payload without the YD/T 3957 envelope is named for what it is.
Frames of other editions (the 2019-07 pre-release, T/CSAE 53-2017) drawn from their own
reference modules either decode to the values they were built from or are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from v2x import messages
from v2x.asn1 import TrailingOctets
from v2x.messages import MessageType, aid_misfit
from v2x.security.sign import unsecured

from pipeline.decode import uper
from pipeline.decode.content import FAST_PATH, decode_contents
from pipeline.ingest.batch import BatchProcessor, Received

from tests.corpus import corpus
from tests.golden_vectors import EDITIONS, OTHER_EDITIONS, edition_values, from_json, load
from tests.test_hostile_frames import RECEIVED_US, batch_of, rows, spdu_with_aid

CORPUS = corpus()


def _contents_status(msg_type: MessageType, frames: list[bytes]) -> list[int]:
    buf = np.frombuffer(b"".join(frames) + bytes(uper.PADDING), dtype=np.uint8)
    ends = np.cumsum([len(f) for f in frames])
    return decode_contents(FAST_PATH[msg_type], buf, ends - [len(f) for f in frames], ends).status.tolist()


@pytest.mark.parametrize("extra", [1, 2, 9])
def test_octets_after_the_message_are_refused_by_both_paths(extra):
    for msg_type, content in CORPUS:
        frame = messages.encode(msg_type, content)
        longer = frame + bytes([0x55]) * extra
        with pytest.raises(TrailingOctets, match=f"ends after {len(frame)} of {len(frame) + extra} octets: {extra} trailing"):
            messages.decode(longer)
        assert messages.decode(frame) == (msg_type, content)
        if msg_type in FAST_PATH:
            assert _contents_status(msg_type, [frame, longer, frame]) == [uper.OK, uper.TRAILING_OCTETS, uper.OK]


def _typed_batch(items: list[tuple[MessageType, bytes]]) -> Received:
    batch = Received()
    for k, (msg_type, frame) in enumerate(items):
        device = "OBU/OBU-7" if msg_type is MessageType.BSM else "RSU/RSU-1"
        batch.add(f"V2X/{device}/{msg_type.value}/UP", frame, RECEIVED_US + k)
    return batch


def test_the_ingest_stores_a_frame_with_trailing_octets_as_a_reject_and_none_of_its_content():
    frames = [(t, unsecured(messages.encode(t, c))) for t, c in CORPUS]
    longer = [(t, unsecured(messages.encode(t, c) + bytes(3))) for t, c in CORPUS]
    output = BatchProcessor(None).process(_typed_batch(frames + longer))
    got = rows(output)
    assert [r["decode_ok"] for r in got] == [True] * len(frames) + [False] * len(longer)
    for r in got[len(frames) :]:
        assert "3 trailing octets" in r["reject_reason"], r["reject_reason"]
    bad = {r["rx_seq"] for r in got[len(frames) :]}
    for name in ("bsm", "spat", "rsm", "map_lanes", "rsi_items"):
        assert name in output.tables and not bad & set(output.tables[name].column("rx_seq").to_pylist()), name


@pytest.mark.parametrize(
    ("aid", "reason"),
    [
        (32, "header AID 32 is no Day-I message's AID, but the frame is a BSM"),  # an IEEE 1609.2 SPDU of a US BSM
        (3619, "header AID 3619 is the SPAT AID, but the frame is a BSM"),
        (111, None),
        (113, None),  # emergency vehicle (GB/T 45315 table 7)
    ],
)
def test_the_header_aid_must_fit_the_message_type(aid, reason):
    assert (aid_misfit(MessageType.BSM, aid) is None) == (reason is None)
    [got] = rows(BatchProcessor(None).process(batch_of([spdu_with_aid(aid)])))
    if reason is None:
        assert got["decode_ok"], got["reject_reason"]
    else:
        assert not got["decode_ok"] and got["reject_reason"].startswith(reason), got["reject_reason"]


def _wrapper(frames: list[bytes]) -> bytes:
    head = b"RSU-0042" + (1_764_500_000_123).to_bytes(8, "little")
    if len(frames) == 1:
        return head + len(frames[0]).to_bytes(2, "little") + frames[0]
    return head + bytes([len(frames)]) + b"".join(len(f).to_bytes(2, "little") + f for f in frames)


def test_a_payload_without_the_envelope_is_named_for_what_it_is():
    spat = messages.encode(MessageType.SPAT, next(c for t, c in CORPUS if t is MessageType.SPAT))
    bsm = messages.encode(MessageType.BSM, CORPUS[0][1])
    payloads = {
        "a JSON document (rsuId, msgCnt)": json.dumps({"rsuId": "R1", "msgCnt": 3}).encode(),
        "a bare UPER MessageFrame (SPAT, msgCnt": spat,
        "a vendor binary wrapper (RSU id 'RSU-0042', UTC ms 1764500000123) around a UPER MessageFrame (SPAT": _wrapper([spat]),
        "a vendor binary wrapper (RSU id 'RSU-0042', UTC ms 1764500000123) around 2 UPER MessageFrames (BSM": _wrapper(
            [bsm, bsm]
        ),
        "the first octet is 7 (protocolVersion must be 3)": bytes([7, 1, 2, 3]),
    }
    got = rows(BatchProcessor(None).process(batch_of(list(payloads.values()))))
    for (expected, _), r in zip(payloads.items(), got):
        assert not r["decode_ok"] and "no YD/T 3957 envelope" in r["reject_reason"], r["reject_reason"]
        assert expected in r["reject_reason"], r["reject_reason"]


# Other editions, drawn from their own reference modules (beside the checkout, in CI), and their
# golden copies (tests/golden/other_editions.json, for a clone without them).


def _judge_other_edition(frame: bytes, built: tuple[str, object]) -> str:
    """'same' when our decoders read the frame as the value it was built from, 'refused' when
    they refuse it; a partial or different decode fails the test."""
    try:
        msg_type, value = messages.decode(frame, check_constraints=True)
    except Exception:
        refused = True
    else:
        refused = False
        assert (msg_type.frame_choice, value) == built, "a frame of another edition decoded to other values"
    choice = frame[0] >> 4 & 0x7
    fast = messages.MESSAGE_TYPE_BY_INDEX.get(choice) if not frame[0] & 0x80 else None
    if fast in FAST_PATH:
        status = _contents_status(fast, [frame])[0]
        assert status == uper.FALLBACK or (status == uper.OK) == (not refused), (status, refused)
    return "refused" if refused else "same"


@pytest.mark.slow
@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_frames_of_other_editions_decode_to_their_values_or_are_refused(edition, reference_modules):
    spec = reference_modules[edition]
    outcomes: list[str] = []

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(edition_values(edition))
    def check(built):
        try:
            frame = spec.encode("MessageFrame", built, check_constraints=True)
        except Exception:
            return  # a value the reference module's own constraints refuse
        outcomes.append(_judge_other_edition(frame, built))

    check()
    assert "refused" in outcomes, outcomes  # the editions differ: some of their frames must be refused


def test_golden_frames_of_other_editions_decode_to_their_values_or_are_refused():
    vectors = load(OTHER_EDITIONS)
    outcomes = {(v["edition"], _judge_other_edition(bytes.fromhex(v["frame"]), from_json(v["value"]))) for v in vectors}
    assert {e for e, _ in outcomes} == set(EDITIONS) and {o for _, o in outcomes} == {"same", "refused"}, outcomes


def test_the_golden_frames_of_other_editions_are_what_their_reference_modules_make(reference_modules):
    for v in load(OTHER_EDITIONS):
        assert reference_modules[v["edition"]].encode("MessageFrame", from_json(v["value"])).hex() == v["frame"]
