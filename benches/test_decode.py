"""Decoding batches of signed frames: the numba fast path against asn1tools in the same process.

Both sides produce the same information: the YD/T 3957 envelope header and every field of the
message (for BSM, SPAT and RSM).  The numba side is what the ingest runs: the envelope kernel
over the flat buffer, then the message's content decoder over the payload spans.  asn1tools is
given its fastest form (plain decode, no constraint checks, no re-encoding).
"""

from __future__ import annotations

import numpy as np
import pytest

from v2x import messages
from v2x.messages import MessageType
from v2x.security.certificates import security_types

from pipeline.decode import envelope
from pipeline.decode.content import FAST_PATH, decode_contents, warm_up

from benches.conftest import record
from benches.frames import repeat_to, signed_bsms, signed_rsu_frames


def asn1tools_decode(frames: list[bytes]) -> list[dict]:
    spec = security_types()
    out = []
    for frame in frames:
        sec = spec.decode("V2XSecData", frame)
        payload = sec["content"][1]["tbsData"]["payload"]["data"]["content"][1]
        _, content = messages.decode(payload)
        out.append(content)
    return out


def numba_decode(msg_type: MessageType, buf: np.ndarray, offsets: np.ndarray):
    parsed = envelope.parse_batch(buf, offsets)
    return parsed, decode_contents(FAST_PATH[msg_type], buf, parsed.payload_start, parsed.payload_end)


@pytest.fixture(scope="module")
def batches(pki, batch_size) -> dict[MessageType, list[bytes]]:
    return {
        MessageType.BSM: repeat_to(signed_bsms(pki), batch_size),
        MessageType.SPAT: repeat_to(signed_rsu_frames(pki, MessageType.SPAT), batch_size),
        MessageType.RSM: repeat_to(signed_rsu_frames(pki, MessageType.RSM), batch_size),
    }


@pytest.mark.parametrize("msg_type", list(FAST_PATH), ids=lambda t: t.value)
def test_numba(benchmark, batches, batch_size, msg_type):
    frames = batches[msg_type]
    buf, offsets = envelope.frames_to_buffer(frames)
    envelope.warm_up()
    warm_up()
    parsed, contents = benchmark.pedantic(numba_decode, args=(msg_type, buf, offsets), rounds=10, warmup_rounds=1)
    record(benchmark, f"{msg_type.value} signed", "numba", batch_size)
    assert (parsed.status == envelope.OK).all() and (contents.status == envelope.OK).all()
    # Every field equals the asn1tools decode, on a sample spread over the batch.
    decoder = FAST_PATH[msg_type]
    children = contents.children
    for i in range(0, batch_size, max(1, batch_size // 100)):
        row, kids = decoder.reference(asn1tools_decode([frames[i]])[0])
        assert contents.rows[i].tolist() == row
        assert [k[1:] for k in children[children[:, 0] == i].tolist()] == [k[1:] for k in kids]


@pytest.mark.parametrize("msg_type", list(FAST_PATH), ids=lambda t: t.value)
def test_asn1tools(benchmark, batches, batch_size, msg_type):
    decoded = benchmark.pedantic(asn1tools_decode, args=(batches[msg_type],), rounds=1, warmup_rounds=0)
    record(benchmark, f"{msg_type.value} signed", "asn1tools", batch_size)
    assert len(decoded) == batch_size
