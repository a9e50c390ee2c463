"""Decoding a batch of signed BSMs: the numba fast path against asn1tools in the same process.

Both sides produce the same information: the YD/T 3957 envelope header and the BSM fields.
asn1tools is given its fastest form (plain decode, no constraint checks, no re-encoding).
"""

from __future__ import annotations

import pytest

from v2x import messages
from v2x.security.certificates import security_types

from benches.conftest import record
from benches.frames import repeat_to, signed_bsms
from pipeline import kernels
from pipeline.reference import bsm_raw


def asn1tools_decode(frames: list[bytes]) -> list[dict]:
    spec = security_types()
    out = []
    for frame in frames:
        sec = spec.decode("V2XSecData", frame)
        payload = sec["content"][1]["tbsData"]["payload"]["data"]["content"][1]
        _, content = messages.decode(payload)
        out.append(content)
    return out


@pytest.fixture(scope="module")
def bsm_frames(pki, batch_size) -> list[bytes]:
    return repeat_to(signed_bsms(pki), batch_size)


def test_bsm_numba(benchmark, bsm_frames, batch_size):
    frames = bsm_frames
    buf, offsets = kernels.frames_to_buffer(frames)
    kernels.warm_up()
    parsed = benchmark.pedantic(kernels.parse_batch, args=(buf, offsets), rounds=20, warmup_rounds=2)
    record(benchmark, "BSM signed", "numba", batch_size)
    assert (parsed.status == kernels.OK).all()
    # Same field values as asn1tools on a sample spread over the batch.
    for i in range(0, batch_size, max(1, batch_size // 200)):
        expected = bsm_raw(asn1tools_decode([frames[i]])[0])
        assert {name: getattr(parsed, name)[i] for name in expected} == expected


def test_bsm_asn1tools(benchmark, bsm_frames, batch_size):
    decoded = benchmark.pedantic(asn1tools_decode, args=(bsm_frames,), rounds=1, warmup_rounds=0)
    record(benchmark, "BSM signed", "asn1tools", batch_size)
    assert len(decoded) == batch_size
