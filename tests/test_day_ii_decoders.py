"""The numba Day-II decoders (pipeline.decode.psm, .vir, .ssm) against asn1tools: every
PSM, VIR and SSM the schema allows reads to the same rows or steps aside for asn1tools (a shared path,
a polygon, events, an extension); truncated and bit-flipped frames are rejected exactly when
asn1tools refuses them."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from v2x import messages
from v2x.messages import MessageType
from v2x.security import unsecured

from pipeline.decode import day_ii, envelope, uper
from pipeline.decode.psm import decode_psms
from pipeline.decode.ssm import decode_ssms
from pipeline.decode.vir import decode_virs

from tests.asn1_strategies import strategy
from tests.corpus import day_ii_corpus


def _reference(name: str, records: list[dict[str, Any]], seq: int) -> pa.Table:
    return pa.Table.from_pylist([{"rx_seq": seq, **r} for r in records], schema=day_ii.SCHEMAS[name])


def _psm(frames_buf: np.ndarray, p: envelope.Parsed) -> tuple[np.ndarray, Callable[[int], Any]]:
    rows, status = decode_psms(frames_buf, p.payload_start, p.message_bit, p.message_end)
    return status, lambda i: day_ii.psm_table(rows[[i]], np.array([i]))


def _ssm(frames_buf: np.ndarray, p: envelope.Parsed) -> tuple[np.ndarray, Callable[[int], Any]]:
    rows, status, objects = decode_ssms(frames_buf, p.payload_start, p.message_bit, p.message_end)

    def tables(i: int) -> tuple[pa.Table, pa.Table]:
        mine = objects[objects[:, 0] == i].copy()
        mine[:, 0] = 0
        return day_ii.ssm_tables(rows[[i]], mine, np.array([i]))

    return status, tables


def _vir(frames_buf: np.ndarray, p: envelope.Parsed) -> tuple[np.ndarray, Callable[[int], Any]]:
    rows, status, reqs = decode_virs(frames_buf, p.payload_start, p.message_bit, p.message_end)

    def tables(i: int) -> tuple[pa.Table, pa.Table]:
        mine = reqs[reqs[:, 0] == i].copy()
        mine[:, 0] = 0
        return day_ii.vir_tables(rows[[i]], mine, np.array([i]))

    return status, tables


def _vir_reference(content: dict[str, Any], i: int) -> tuple[pa.Table, pa.Table]:
    head, requests = day_ii.vir_rows(content)
    return _reference("vir", head, i), _reference("vir_requests", requests, i)


def _vir_aside(value: dict[str, Any]) -> bool:
    """What the VIR decoder leaves to asn1tools: a path plan, a request to clear the way or to share sensors."""
    iar = value["intAndReq"]
    return "path-Planning" in iar or any(r.get("info", ("",))[0] in ("clearTheWay", "sensorSharing") for r in iar.get("reqs", []))


def _psm_reference(content: dict[str, Any], i: int) -> pa.Table:
    return _reference("psm", day_ii.psm_rows(content), i)


def _ssm_reference(content: dict[str, Any], i: int) -> tuple[pa.Table, pa.Table]:
    head, objects = day_ii.ssm_rows(content)
    return _reference("ssm", head, i), _reference("ssm_objects", objects, i)


def _psm_aside(value: dict[str, Any]) -> bool:
    """What the PSM decoder leaves to asn1tools: a shared path."""
    return "pathHistory" in value or "path-Planning" in value


def _ssm_aside(value: dict[str, Any]) -> bool:
    """What the SSM decoder leaves to asn1tools: events, and a participant's or obstacle's shapes and plans."""
    shapes = ("pathHistory", "planningList", "polygon", "type-relatedExt")
    return (
        "rtes" in value
        or any(k in d for d in value.get("participants", []) for k in shapes)
        or any("polygon" in o for o in value.get("obstacles", []))
    )


# message type: (the decoder's tables, asn1tools' tables, what steps aside, hypothesis examples)
DECODERS = {
    MessageType.PSM: (_psm, _psm_reference, _psm_aside, 300),
    MessageType.VIR: (_vir, _vir_reference, _vir_aside, 200),
    MessageType.SSM: (_ssm, _ssm_reference, _ssm_aside, 150),
}


def _agrees(msg_type: MessageType, frames: list[bytes]) -> tuple[int, int, int]:
    """(read, stepped aside, rejected): the kernel against asn1tools on every frame."""
    decode, reference, _, _ = DECODERS[msg_type]
    buf, offsets = envelope.frames_to_buffer([unsecured(f) for f in frames])
    p = envelope.parse_batch(buf, offsets)
    status, tables = decode(buf, p)
    counts = [0, 0, 0]
    for i, frame in enumerate(frames):
        if p.status[i] != envelope.OK or p.msg_index[i] != msg_type.frame_index:
            continue  # the envelope kernel's own business (tests/test_envelope.py)
        try:
            _, content = messages.decode(frame, check_constraints=True)
        except Exception:
            content = None
        if status[i] == uper.OK:
            assert content is not None, f"frame {i}: the kernel read what asn1tools refuses"
            assert tables(i) == reference(content, i), f"frame {i}"
            counts[0] += 1
        elif status[i] == uper.FALLBACK:
            counts[1] += 1
        else:
            assert content is None, f"frame {i}: the kernel refused ({uper.STATUS_TEXT[int(status[i])]}) what asn1tools reads"
            counts[2] += 1
    return counts[0], counts[1], counts[2]


@pytest.mark.parametrize("msg_type", list(DECODERS), ids=lambda t: t.value)
def test_any_message_the_schema_allows_reads_alike_or_steps_aside(msg_type):
    _, _, aside, examples = DECODERS[msg_type]

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy(msg_type.asn1_type))
    def agrees(value: dict[str, Any]) -> None:
        read, stepped_aside, rejected = _agrees(msg_type, [messages.encode(msg_type, value)])
        assert rejected == 0
        assert (read, stepped_aside) == ((0, 1) if aside(value) else (1, 0))

    agrees()


@pytest.mark.parametrize("msg_type", list(DECODERS), ids=lambda t: t.value)
def test_truncated_and_bit_flipped_messages_are_rejected_exactly_when_asn1tools_refuses_them(msg_type):
    rng = random.Random(11)
    frames = []
    for base in [messages.encode(t, c) for t, c in day_ii_corpus() if t is msg_type]:
        frames += [base[:n] for n in range(1, len(base))]
        for _ in range(300):
            k = rng.randrange(len(base) * 8)
            frames.append(bytes(b ^ (0x80 >> (k % 8)) if j == k // 8 else b for j, b in enumerate(base)))
    read, _, rejected = _agrees(msg_type, frames)
    assert read > 100 and rejected > 0  # most flips land on values that are still valid


def test_a_worker_psm_reads_to_its_names():
    worker = next(messages.encode(t, c) for t, c in day_ii_corpus() if t is MessageType.PSM)
    buf, offsets = envelope.frames_to_buffer([unsecured(worker)])
    p = envelope.parse_batch(buf, offsets)
    status, tables = _psm(buf, p)
    row = tables(0).to_pylist()[0]
    assert status[0] == uper.OK
    assert (row["basic_type"], row["worker_type"], row["activities"], row["propulsion"]) == (
        "aROADWORKER",
        "constructionPersonnel",
        ["workingOnRoad", "settingUpClosures"],
        "human:onFoot",
    )
