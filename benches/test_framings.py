"""Reading JSON documents: our strict OpenV2X reader against asn1tools' JER decoder in the same
process, and the cloud JSON reader (units and times converted) on the same messages.

Both sides turn a document into the UPER MessageFrame the ingest decodes (read, then UPER
encode with constraints).  asn1tools' JER decoder is the baseline: it reads JSON into the same
values but passes over unknown keys and absent mandatory fields, which is why the ingest does
not use it (v2x/framing/openv2x.py).  The ratio says what the strictness costs.
"""

from __future__ import annotations

import pytest

from v2x import messages
from v2x.asn1 import MESSAGE_SET, compile_module
from v2x.framing import cloud_json, openv2x
from v2x.messages import MessageType

from benches.conftest import record
from tests.corpus import corpus

TYPES = (MessageType.SPAT, MessageType.MAP, MessageType.RSM)


SENT_US = 1_764_547_200_123_456


def _documents(msg_type: MessageType, n: int, cloud: bool = False) -> list[bytes]:
    frames = [messages.encode(t, c) for t, c in corpus() if t is msg_type]
    if cloud:
        return [cloud_json.document(frames[k % len(frames)], "RSU-1", SENT_US) for k in range(n)]
    return [openv2x.document(frames[k % len(frames)]) for k in range(n)]


def strict(msg_type: MessageType, documents: list[bytes]) -> list[bytes]:
    return [openv2x.message_frame(msg_type, d) for d in documents]


def in_physical_units(msg_type: MessageType, documents: list[bytes]) -> list[bytes]:
    return [cloud_json.message_frame(msg_type, "RSU-1", d)[0] for d in documents]


def lenient(msg_type: MessageType, documents: list[bytes]) -> list[bytes]:
    jer = compile_module(MESSAGE_SET, "jer")
    member = msg_type.frame_choice.encode()
    return [messages.encode(msg_type, jer.decode("MessageFrame", b'{"' + member + b'":' + d + b"}")[1]) for d in documents]


@pytest.mark.parametrize("msg_type", TYPES, ids=lambda t: t.value)
@pytest.mark.parametrize("reader", [strict, lenient, in_physical_units], ids=["strict", "asn1tools", "cloud-json"])
def test_openv2x_documents(benchmark, batch_size, msg_type, reader):
    n = max(200, batch_size // 50)  # JSON is read at thousands of documents per second, not millions
    documents = _documents(msg_type, n, cloud=reader is in_physical_units)
    frames = benchmark.pedantic(reader, args=(msg_type, documents), rounds=3, warmup_rounds=1)
    record(benchmark, f"{msg_type.value} openv2x-json", {strict: "strict", lenient: "asn1tools"}.get(reader, "cloud-json"), n)
    assert frames == [messages.encode(msg_type, messages.decode(f)[1]) for f in frames] and len(frames) == n
    assert frames[0] == strict(msg_type, _documents(msg_type, 1))[0]  # every reader gives the same frame
