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

from pipeline.decode import day_ii, envelope, psm, ssm, uper, vir
from pipeline.decode.content import FAST_PATH, decode_contents, warm_up

from benches.conftest import record
from benches.frames import repeat_to, signed_bsms, signed_psms, signed_rsu_frames, signed_ssms, signed_virs


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
        MessageType.PSM: repeat_to(signed_psms(pki), batch_size),
        MessageType.SSM: repeat_to(signed_ssms(pki), batch_size),
        MessageType.VIR: repeat_to(signed_virs(pki), batch_size),
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


def numba_decode_psm(buf: np.ndarray, offsets: np.ndarray):
    parsed = envelope.parse_batch(buf, offsets)
    return parsed, psm.decode_psms(buf, parsed.payload_start, parsed.message_bit, parsed.message_end)


def test_numba_psm(benchmark, batches, batch_size):
    """Day-II PSM: the envelope kernel finds the message inside msgFrameExt, the PSM decoder reads it."""
    frames = batches[MessageType.PSM]
    buf, offsets = envelope.frames_to_buffer(frames)
    envelope.warm_up()
    psm.warm_up()
    parsed, (rows, status) = benchmark.pedantic(numba_decode_psm, args=(buf, offsets), rounds=10, warmup_rounds=1)
    record(benchmark, "PSM signed", "numba", batch_size)
    assert (parsed.status == envelope.OK).all() and (status == uper.OK).all()
    for i in range(0, batch_size, max(1, batch_size // 100)):  # the psm rows equal those of the asn1tools decode
        reference = day_ii.psm_rows(asn1tools_decode([frames[i]])[0])
        assert day_ii.psm_table(rows[[i]], np.array([0])).to_pylist() == [{"rx_seq": 0, **reference[0]}]


def numba_decode_ssm(buf: np.ndarray, offsets: np.ndarray):
    parsed = envelope.parse_batch(buf, offsets)
    return parsed, ssm.decode_ssms(buf, parsed.payload_start, parsed.message_bit, parsed.message_end)


def test_numba_ssm(benchmark, batches, batch_size):
    """Day-II SSM: the envelope kernel, then the SSM decoder over the header, the region and every participant."""
    frames = batches[MessageType.SSM]
    buf, offsets = envelope.frames_to_buffer(frames)
    envelope.warm_up()
    ssm.warm_up()
    parsed, (rows, status, objects) = benchmark.pedantic(numba_decode_ssm, args=(buf, offsets), rounds=10, warmup_rounds=1)
    record(benchmark, "SSM signed", "numba", batch_size)
    assert (parsed.status == envelope.OK).all() and (status == uper.OK).all()
    for i in range(0, batch_size, max(1, batch_size // 100)):  # the rows equal those of the asn1tools decode
        head, found = day_ii.ssm_rows(asn1tools_decode([frames[i]])[0])
        mine = objects[objects[:, 0] == i].copy()
        mine[:, 0] = 0
        table, kids = day_ii.ssm_tables(rows[[i]], mine, np.array([0]))
        assert table.to_pylist() == [{"rx_seq": 0, **head[0]}] and kids.to_pylist() == [{"rx_seq": 0, **r} for r in found]


def numba_decode_vir(buf: np.ndarray, offsets: np.ndarray):
    parsed = envelope.parse_batch(buf, offsets)
    return parsed, vir.decode_virs(buf, parsed.payload_start, parsed.message_bit, parsed.message_end)


def test_numba_vir(benchmark, batches, batch_size):
    """Day-II VIR: the envelope kernel, then the VIR decoder over the header, currentPos and every request."""
    frames = batches[MessageType.VIR]
    buf, offsets = envelope.frames_to_buffer(frames)
    envelope.warm_up()
    vir.warm_up()
    parsed, (rows, status, reqs) = benchmark.pedantic(numba_decode_vir, args=(buf, offsets), rounds=10, warmup_rounds=1)
    record(benchmark, "VIR signed", "numba", batch_size)
    assert (parsed.status == envelope.OK).all() and (status == uper.OK).all()
    for i in range(0, batch_size, max(1, batch_size // 100)):  # the rows equal those of the asn1tools decode
        head, found = day_ii.vir_rows(asn1tools_decode([frames[i]])[0])
        mine = reqs[reqs[:, 0] == i].copy()
        mine[:, 0] = 0
        table, kids = day_ii.vir_tables(rows[[i]], mine, np.array([0]))
        assert table.to_pylist() == [{"rx_seq": 0, **head[0]}] and kids.to_pylist() == [{"rx_seq": 0, **r} for r in found]


@pytest.mark.parametrize("msg_type", [MessageType.PSM, MessageType.VIR, MessageType.SSM], ids=lambda t: t.value)
def test_asn1tools_day_ii(benchmark, batches, batch_size, msg_type):
    """The baseline of test_numba_psm, _vir and _ssm: V2XSecData, the MessageFrame, then the message from the open type."""
    decoded = benchmark.pedantic(asn1tools_decode, args=(batches[msg_type],), rounds=1, warmup_rounds=0)
    record(benchmark, f"{msg_type.value} signed", "asn1tools", batch_size)
    assert len(decoded) == batch_size
