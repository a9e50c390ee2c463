"""A restart on the same output: the stored tail replayed into msgCnt continuity and the signer
rules, and the frames stored but not known to be acknowledged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from v2x.records import Records

from pipeline.ingest.inbox import frame_digest
from pipeline.ingest.store import Commit


class StoredParts(Protocol):
    """Where a writer's parts are read back: a folder (:class:`~pipeline.ingest.store.TelemetryWriter`)
    or a bucket (:class:`~pipeline.ingest.bucket_store.BucketTelemetryWriter`)."""

    filesystem: pafs.FileSystem
    base: str
    commits: list[Commit]


def _part_tables(
    parts: StoredParts, commits: list[Commit], prefix: str, columns: list[str], where: tuple[str, str] | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """(path in the run, ``columns`` of it that it has) for each file of ``commits`` under
    ``prefix``, only the rows whose column ``where[0]`` equals ``where[1]`` if given (a file
    without that column is passed over); a file that cannot be read is passed over."""
    for commit in commits:
        for relative in commit.files:
            if relative.startswith(prefix):
                path = f"{parts.base}/{relative}"
                try:
                    present = set(pq.read_schema(path, filesystem=parts.filesystem).names)
                    if where is not None and where[0] not in present:
                        continue
                    rows = [(where[0], "=", where[1])] if where is not None else None
                    wanted = [c for c in columns if c in present]
                    yield relative, pq.read_table(path, columns=wanted, filters=rows, filesystem=parts.filesystem)
                except (OSError, pa.ArrowException):
                    continue


def stored_rx_seqs(parts: StoredParts, commits: list[Commit]) -> list[int]:
    """The ``rx_seq`` of every telemetry row of ``commits`` (a file that cannot be read is passed over)."""
    out: list[int] = []
    for _, table in _part_tables(parts, commits, "telemetry/", ["rx_seq"]):
        out += table.column("rx_seq").to_pylist()
    return out


def _msg_type(relative: str) -> str:
    """The message type of a telemetry file from its Hive path (``.../msg_type=BSM/part-....parquet``)."""
    return next((p.removeprefix("msg_type=") for p in relative.split("/") if p.startswith("msg_type=")), "")


def unacknowledged_tail(writer: StoredParts, records: Records) -> list[bytes]:
    """Digests of the frames in the parts an earlier session committed without confirming that
    all their acknowledgements were sent (``ingest/acked.json``): the broker redelivers those."""
    try:
        acked = records.read("acked.json")
        through, unconfirmed = int(acked["through"]), {int(p) for p in acked.get("unconfirmed", [])}
    except (OSError, ValueError, KeyError, TypeError):
        through, unconfirmed = 0, set()
    commits = [c for c in writer.commits if c.part > through or c.part in unconfirmed]
    digests: list[bytes] = []
    for _, table in _part_tables(writer, commits, "telemetry/", ["topic", "frame"]):
        digests += [
            frame_digest(t or "", f or b"") for t, f in zip(table.column("topic").to_pylist(), table.column("frame").to_pylist())
        ]
    return digests


RESUME_PARTS = 600  # parts (about five minutes of traffic) replayed into the stream state on a restart


RESUME_COLUMNS = [
    "rx_seq",
    "sender_id",
    "vehicle_id",
    "signer",
    "signer_kind",
    "auth",
    "decode_ok",
    "msg_cnt",
    "generated_at",
    "received_at",
    "relay",  # absent from parts written before platform copies were kept apart
]


RESUME_BSM_COLUMNS = ["rx_seq", "id", "lat", "lon", "events"]


def stored_tail(writer: StoredParts, parts: int = RESUME_PARTS) -> tuple[pa.Table, pa.Table | None]:
    """The telemetry rows of the last ``parts`` committed parts, in ``rx_seq`` order, with
    ``msg_type``, and the BSM content of those parts: what
    :meth:`~pipeline.ingest.batch.BatchProcessor.resume` takes up.  A part that cannot be read is passed over."""
    tail = writer.commits[-parts:]
    tables = [
        table.append_column("msg_type", pa.array([_msg_type(relative)] * table.num_rows, pa.string()))
        for relative, table in _part_tables(writer, tail, "telemetry/", RESUME_COLUMNS)
    ]
    bsm = [table for _, table in _part_tables(writer, tail, "tables/bsm/", RESUME_BSM_COLUMNS)]
    if not tables:
        return pa.table({}), None
    return (
        pa.concat_tables(tables, promote_options="permissive").sort_by("rx_seq"),
        pa.concat_tables(bsm, promote_options="permissive") if bsm else None,
    )


# Policy: the parts read back for the certificates devices sent before a restart.  A device sends
# its certificate at least once a second (YD/T 3957); 20 parts are 10 s at the flush interval and
# still seconds of a zone's traffic in a backlog, without reading the frames of all RESUME_PARTS.
CERTIFICATE_PARTS = 20


def stored_certificate_frames(writer: StoredParts, parts: int = CERTIFICATE_PARTS) -> list[bytes]:
    """The last frame each signer signed with its full certificate in the last ``parts``
    committed parts (what :meth:`~pipeline.ingest.batch.BatchProcessor.remember_certificates` takes);
    only those rows are read."""
    last: dict[str, bytes] = {}
    where = ("signer_kind", "certificate")
    for _, table in _part_tables(writer, writer.commits[-parts:], "telemetry/", ["signer", "frame"], where):
        if "frame" not in table.column_names:
            continue
        for signer, frame in zip(table.column("signer").to_pylist(), table.column("frame").to_pylist()):
            if signer and frame:
                last[signer] = frame
    return list(last.values())


def uncounted_parts(parts: StoredParts, recorded_rows: int) -> tuple[dict[str, int], int]:
    """Rows per message type and rejects of the committed parts beyond the first
    ``recorded_rows`` rows: what a session killed between a commit and its next progress record
    stored without counting it.  The commit log is the truth of what is stored; the records
    catch up with it here, so that a restart recognising those frames as already stored (and not
    counting them again) does not make the totals fall short."""
    counted, tail = 0, []
    for commit in parts.commits:
        if counted >= recorded_rows:
            tail.append(commit)
        counted += commit.rows
    by_type: dict[str, int] = {}
    rejected = 0
    for relative, table in _part_tables(parts, tail, "telemetry/", ["decode_ok"]):
        msg_type = _msg_type(relative)
        by_type[msg_type] = by_type.get(msg_type, 0) + table.num_rows
        if "decode_ok" in table.column_names:
            rejected += table.num_rows - int(pc.sum(table.column("decode_ok").cast(pa.int64())).as_py() or 0)
    return by_type, rejected


def catch_up_records(earlier: list[dict[str, Any]], parts: StoredParts) -> None:
    """Add to the last of the ``earlier`` sessions (:func:`pipeline.ingest.summary.earlier_sessions`)
    the parts it committed after its last record (:func:`uncounted_parts`), noting how many rows
    were counted from the commit log."""
    if not earlier:
        return
    by_type, rejected = uncounted_parts(parts, sum(int(s["stored"]) for s in earlier))
    if by_type:
        last = earlier[-1]
        last["stored"] = int(last["stored"]) + sum(by_type.values())
        last["rejected"] = int(last["rejected"]) + rejected
        last["stored_by_type"] = dict(Counter(last.get("stored_by_type") or {}) + Counter(by_type))
        last["counted_from_commits"] = sum(by_type.values())
