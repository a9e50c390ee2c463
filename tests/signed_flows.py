"""Runs of signed Day-II frames at chosen times, for the flow checks: a PKI with one OBU and one
RSU granted what the test sends, and a run directory of ``(seconds from now, type, content)``
items as the ingest stores them, each signed with its generation time."""

from __future__ import annotations

import time
from pathlib import Path

from v2x import clock, messages
from v2x.messages import MessageType
from v2x.rundir import RunDir
from v2x.security import DeviceRequest, Signer, create_pki, load_credential

from pipeline.ingest.batch import BatchProcessor, Received

OBU, RSU = "OBU-1", "RSU-1"
VEHICLE_TYPES = (MessageType.BSM, MessageType.VIR)  # what the OBU sends; the RSU sends the rest


def flow_signers(folder: Path, obu_aids: list[int], rsu_aids: list[int]) -> dict[str, Signer]:
    create_pki(
        folder,
        [DeviceRequest(OBU, obu_aids, kind="vehicle", pseudonyms=1), DeviceRequest(RSU, rsu_aids, kind="rsu")],
        suite="ecdsa-p256-sha256",
        valid_from_unix_s=time.time(),
    )
    return {name: Signer(load_credential(folder, name)) for name in (OBU, RSU)}


def signed_run(root: Path, signers: dict[str, Signer], items: list[tuple[float, MessageType, dict]]) -> Path:
    """A run of ``items`` (seconds from now, type, content), each signed with that generation time."""
    from pipeline.ingest.store import TelemetryWriter

    start = clock.now_unix_us()
    batch = Received()
    for t_s, msg_type, content in sorted(items, key=lambda item: item[0]):
        us = start + round(t_s * 1e6)
        device = OBU if msg_type in VEHICLE_TYPES else RSU
        kind = "OBU" if device == OBU else "RSU"
        frame = signers[device].sign(messages.encode(msg_type, content), msg_type.aid, clock.time64_from_unix_us(us))
        batch.add(f"V2X/{kind}/{device}/{msg_type.value}/UP", frame, us + 5000)
    out = BatchProcessor(None).process(batch)
    run = RunDir(root)
    TelemetryWriter(run.telemetry, run.tables).write(out.telemetry, out.tables)
    return root


def flagged(run: Path, *message_types: str) -> set[tuple[str, str]]:
    """(check, "TYPE msgCnt") of every violation of a check of ``message_types`` in ``run``."""
    from pipeline.sql import views

    wanted = " OR ".join(f"v.check_name LIKE '{t}.%'" for t in message_types)
    rows = (
        views.connect(run)
        .execute(
            f"SELECT v.check_name, m.msg_type || ' ' || m.msg_cnt FROM violations v JOIN messages m USING (rx_seq) WHERE {wanted}"
        )
        .fetchall()
    )
    return set(rows)
