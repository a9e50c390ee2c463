"""Strict decoding: a frame is ``decode_ok`` only when its MessageFrame decodes whole and ends in
the payload's last octet, on the numba path and on the asn1tools path; a signed frame's header
AID fits its message type; a payload without the YD/T 3957 envelope is named for what it is.
Frames of other editions: tests/test_editions.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from v2x import messages
from v2x.asn1 import TrailingOctets
from v2x.messages import MessageType, aid_misfit
from v2x.security.sign import unsecured

from pipeline.decode import uper
from pipeline.decode.content import FAST_PATH, decode_contents
from pipeline.ingest.batch import BatchProcessor, Received

from tests.corpus import corpus
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
        (32, "header AID 32 is no message's AID, but the frame is a BSM"),  # an IEEE 1609.2 SPDU of a US BSM
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
    hints = ["openv2x-json", "bare-uper", "vendor-wrapper", "vendor-wrapper", None]  # the framing a sources file can name
    for (expected, _), r, hint in zip(payloads.items(), got, hints):
        assert not r["decode_ok"] and "no YD/T 3957 envelope" in r["reject_reason"], r["reject_reason"]
        assert expected in r["reject_reason"], r["reject_reason"]
        assert r["reject_reason"].endswith(f"(a sources file can name its framing, e.g. {hint})") == (hint is not None)
