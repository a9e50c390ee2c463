"""A run directory of any size for the report benchmark, made by a generator (numpy), not by
simulators: signing and publishing 10 million frames would take hours.

Senders: ``vehicles`` OBUs sending BSM at 10 Hz and ``rsus`` RSUs sending SPAT at 10 Hz, RSM at
10 Hz and MAP at 1 Hz, for as long as it takes to reach ``messages`` rows.  Per row: generation
time on the sender's 100 ms grid, latency drawn from a log-normal (median 15 ms, p99 ~60 ms),
msgCnt counting modulo 128, a lost message now and then (``loss``: drawn per row as a msgCnt
gap of 1, counted as injected loss, not as published), the inter-packet gap that follows, BSM positions on a grid
(with :func:`write_receivers` for the range-aware checks), and authentication ``success``.  ``frame`` holds 32 bytes unique per row
(the report does not decode frames; it hashes them to match attack frames).  Content tables
are not written: the report reads the telemetry rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v2x import editions
from v2x.messages import MessageType
from v2x.objectstore.bucket import Bucket
from v2x.rundir import RunDir, write_json_atomic

from pipeline.ingest.batch import SCHEMA
from pipeline.ingest.bucket_store import BucketTelemetryWriter
from pipeline.ingest.store import TelemetryWriter

T0_US = 1_795_000_000_000_000  # a Unix time in 2026, µs
CENTRE = (39.085, 117.056)
GRID_DEG = 0.0004  # about 44 m north-south, 35 m east-west: vehicles on a 50-wide grid
# message type, device kind, Hz, AID
RSU_STREAMS = tuple((t.value, hz, t.aid) for t, hz in ((MessageType.SPAT, 10.0), (MessageType.RSM, 10.0), (MessageType.MAP, 1.0)))


def _rows(
    kind: str,
    msg_type: str,
    senders: np.ndarray,
    ticks: np.ndarray,
    period_us: int,
    aid: int,
    rx_seq0: int,
    rng: np.random.Generator,
    loss: float,
) -> pa.Table:
    n = senders.size
    generated = T0_US + ticks * period_us + senders * 997  # senders are not in phase
    latency_us = np.exp(rng.normal(np.log(15_000), 0.6, n)).astype(np.int64)
    lost_before = rng.random(n) < loss
    gap = lost_before.astype(np.int16)
    received = generated + latency_us
    ids = np.char.add(f"{kind}-", senders.astype(str))
    ipg_ms = period_us / 1000.0 * (1 + gap) + (latency_us - np.exp(rng.normal(np.log(15_000), 0.6, n))) / 1000.0
    frames = np.zeros((n, 32), dtype=np.uint8)
    frames[:, :8] = np.arange(rx_seq0, rx_seq0 + n, dtype=np.int64).view(np.uint8).reshape(n, 8)
    frames[:, 8:] = rng.integers(0, 256, (n, 24), dtype=np.uint8)
    columns = {
        "rx_seq": pa.array(np.arange(rx_seq0, rx_seq0 + n, dtype=np.int64)),
        "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
        "generated_at": pa.array(generated, pa.timestamp("us", tz="UTC")),
        "latency_ms": pa.array(latency_us / 1000.0),
        "topic": pa.array(np.char.add(np.char.add(f"V2X/{kind}/", ids), f"/{msg_type}/UP"), pa.string()),
        "device_kind": pa.array(np.full(n, kind), pa.string()),
        "sender_id": pa.array(ids, pa.string()),
        "msg_cnt": pa.array(((ticks + gap) % 128).astype(np.int16)),
        "msg_cnt_gap": pa.array(gap),
        "ipg_ms": pa.array(ipg_ms),
        "duplicate": pa.array(np.zeros(n, dtype=np.bool_)),
        "aid": pa.array(np.full(n, aid, dtype=np.int64)),
        "signer": pa.array(np.char.add("cert-", senders.astype(str)), pa.string()),
        "signer_kind": pa.array(np.where(ticks % 5 == 0, "certificate", "digest"), pa.string()),
        "auth": pa.array(np.full(n, "success"), pa.string()),
        "auth_reason": pa.nulls(n, pa.string()),
        "decode_ok": pa.array(np.ones(n, dtype=np.bool_)),
        "reject_reason": pa.nulls(n, pa.string()),
        "frame_size": pa.array(np.full(n, 32, dtype=np.int32)),
        "frame": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(frames.tobytes())]).cast(pa.binary()),
        "framing": pa.array(np.full(n, "envelope"), pa.string()),
        "edition": pa.array(np.full(n, editions.CURRENT.value), pa.string()),
    }
    if msg_type == "BSM":  # a grid of vehicles creeping north-east
        columns["lat_deg"] = pa.array(CENTRE[0] + (senders % 50) * GRID_DEG + ticks * 1e-7)
        columns["lon_deg"] = pa.array(CENTRE[1] + (senders // 50) * GRID_DEG + ticks * 1e-7)
    return pa.table(
        {name: columns.get(name, pa.nulls(n, field.type)) for name, field in zip(SCHEMA.names, SCHEMA)}, schema=SCHEMA
    )


def write_receivers(path: Path, rsus: int) -> Path:
    """A receivers file (pipeline.report.slices) with the RSUs spread over the vehicles' grid."""
    side = max(1, int(np.ceil(np.sqrt(rsus))))
    entries = [
        {
            "name": f"RSU-{k}",
            "lat": CENTRE[0] + (k % side + 0.5) * 50 / side * GRID_DEG,
            "lon": CENTRE[1] + (k // side + 0.5) * 40 / side * GRID_DEG,
        }
        for k in range(rsus)
    ]
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def write_synthetic_run(
    root: Path,
    messages: int,
    *,
    vehicles: int = 2_000,
    rsus: int = 20,
    seed: int = 1,
    loss: float = 0.002,
    chunk_s: float = 20.0,
    bucket: Bucket | None = None,
) -> tuple[RunDir, int]:
    """Write about ``messages`` telemetry rows of a fleet into run directory ``root`` (its
    telemetry into ``bucket`` if given), in chunks of ``chunk_s`` simulated seconds (one Parquet
    part per message type per chunk); returns the run and the rows written."""
    rng = np.random.default_rng(seed)
    run = RunDir(root)
    run.create()
    writer: TelemetryWriter | BucketTelemetryWriter
    if bucket is None:
        writer = TelemetryWriter(run.telemetry, run.tables, durable=False)
    else:
        write_json_atomic(run.manifest, {"telemetry": bucket.url})
        writer = BucketTelemetryWriter(bucket)
    per_second = vehicles * 10 + rsus * sum(hz for _, hz, _ in RSU_STREAMS)
    seconds = messages / per_second
    rx_seq, start_s, published, injected = 0, 0.0, {}, {}
    while start_s < seconds:
        end_s = min(start_s + chunk_s, seconds)
        telemetry = {}
        streams = [("OBU", "BSM", vehicles, 10.0, 111)] + [("RSU", t, rsus, hz, aid) for t, hz, aid in RSU_STREAMS]
        for kind, msg_type, count, hz, aid in streams:
            period_us = int(1e6 / hz)
            ticks = np.arange(int(np.ceil(start_s * hz)), int(np.ceil(end_s * hz)), dtype=np.int64)
            if not ticks.size:
                continue
            senders = np.tile(np.arange(count, dtype=np.int64), ticks.size)
            table = _rows(kind, msg_type, senders, np.repeat(ticks, count), period_us, aid, rx_seq, rng, loss)
            telemetry[msg_type] = table
            rx_seq += table.num_rows
            lost = int(pc.sum(table.column("msg_cnt_gap")).as_py() or 0)
            published[msg_type] = published.get(msg_type, 0) + table.num_rows
            injected[msg_type] = injected.get(msg_type, 0) + lost
        writer.write(telemetry)
        start_s = end_s
    write_json_atomic(
        run.published / "synthetic.json",
        {
            "simulator": "synthetic",
            "devices": {},
            "totals": {
                **{f"published.{t}": n for t, n in published.items()},
                **{f"injected_loss.{t}": n for t, n in injected.items()},
            },
        },
    )
    writer.close()
    return run, writer.rows_written
