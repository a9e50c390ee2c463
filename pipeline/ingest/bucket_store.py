"""Parquet of a run in an S3 bucket, committed batch by batch without a rename.

Object storage has no rename and no append, so visibility is decided by a journal, not by file
names.  Under the destination ``s3://bucket/prefix``:

``telemetry/day=2026-12-01/hour=16/msg_type=BSM/part-<worker>-000001.parquet``
    one row per received frame, in the hour (UTC) the frame reached the cluster
``tables/<table>/day=.../hour=.../part-<worker>-000001.parquet``
    the decoded content, in the hour of its telemetry row
``ingest/workers/<worker>/commits/000000001.json``
    one object per committed part: its files, highest ``rx_seq`` and rows
``ingest/workers/<worker>/writing.json``
    the part being written and its files

(a single ingest, not a stream worker, uses ``ingest/`` instead of ``ingest/workers/<worker>/``).
A part commits in three steps: ``writing.json`` names it and its files; every file is PUT under
its final key; the commit object is PUT (the commit point: one PUT is atomic).  Readers list the
commit objects and read only the files they name (:func:`destination_commits`), so a file whose
part has not committed is never seen.  A writer opened again recovers first: the files that
``writing.json`` names for a part without its commit object are deleted, and part numbers and
``rx_seq`` continue after the last commit.  Every request is retried through an outage of the
server (:data:`v2x.objectstore.bucket.OUTAGE_S`); the ingest acknowledges frames to the cluster
only after their part has committed, so the frames wait in the stream meanwhile.

The day/hour partitions let a report over one test window read only the files of its hours.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from v2x.objectstore.bucket import Bucket

from pipeline.ingest.store import Commit, StoreError, commit_entry, highest_rx_seq, parse_commit, part_stem, write_parquet

US_PER_HOUR = 3_600_000_000
UPLOADS = 8  # files of one part PUT at once (the S3 requests wait on the network, not the GIL)
COMMIT_OBJECT = re.compile(r"ingest/(?:workers/([a-z0-9_-]{1,40})/)?commits/(\d{1,12})\.json")


def hour_partition(hour: int) -> str:
    """``day=YYYY-MM-DD/hour=HH`` of an hour counted from the epoch (UTC)."""
    at = datetime.fromtimestamp(hour * 3600, UTC)
    return f"day={at:%Y-%m-%d}/hour={at:%H}"


def _hours(table: pa.Table) -> np.ndarray:
    """The hour (from the epoch, UTC) of each row's ``received_at``."""
    received = table.column("received_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(received // US_PER_HOUR, dtype=np.int64)


def _split(table: pa.Table, hours: np.ndarray) -> list[tuple[int, pa.Table]]:
    out = []
    for hour in np.unique(hours):
        mask = hours == hour
        out.append((int(hour), table if mask.all() else table.filter(pa.array(mask))))
    return out


def _read_commit(bucket: Bucket, key: str) -> Commit | None:
    raw = bucket.get(key)
    if raw is None:
        return None
    try:
        return parse_commit(json.loads(raw))
    except (ValueError, KeyError, TypeError):  # a damaged or foreign object commits nothing
        return None


def destination_commits(bucket: Bucket, pool: ThreadPoolExecutor | None = None) -> dict[str, list[Commit]]:
    """The commits of every writer of the destination, by worker (``""``: a single ingest), in part order."""
    keys = [(m.group(1) or "", int(m.group(2)), key) for key in bucket.files("ingest") if (m := COMMIT_OBJECT.fullmatch(key))]
    own = pool is None
    pool = pool or ThreadPoolExecutor(UPLOADS)
    try:
        commits = list(pool.map(lambda k: _read_commit(bucket, k[2]), keys))
    finally:
        if own:
            pool.shutdown()
    out: dict[str, list[Commit]] = {}
    for (worker, part, _), commit in sorted(zip(keys, commits, strict=True), key=lambda x: (x[0][0], x[0][1])):
        if commit is not None and commit.part == part:
            out.setdefault(worker, []).append(commit)
    return out


class BucketTelemetryWriter:
    """Writes batches as committed parts into a bucket (module docstring); the same interface as
    :class:`pipeline.ingest.store.TelemetryWriter`."""

    def __init__(self, bucket: Bucket, worker: str | None = None, on_outage: Callable[[str, str], None] | None = None):
        """``on_outage``: told when the bucket stops answering and when it answers again
        (:attr:`v2x.objectstore.bucket.Bucket.on_outage`)."""
        self.stem = part_stem(worker)
        self.bucket = dataclasses.replace(bucket, on_outage=on_outage) if on_outage else bucket
        self.worker = worker or ""
        self.state = f"ingest/workers/{worker}" if worker else "ingest"
        self.filesystem: pafs.FileSystem = self.bucket.filesystem
        self.base = self.bucket.path()
        self.rows_written = 0
        self._pool = ThreadPoolExecutor(UPLOADS, thread_name_prefix="s3-put")
        self.recovered = self._recover()

    def destination_commits(self) -> dict[str, list[Commit]]:
        return destination_commits(self.bucket, self._pool)

    def _own_file(self, relative: str, part: int) -> bool:
        name = f"{self.stem}{part:06d}.parquet"
        return relative.startswith(("telemetry/", "tables/")) and relative.rsplit("/", 1)[-1] == name

    def _recover(self) -> dict[str, int]:
        self.commits = self.destination_commits().get(self.worker, [])
        committed = {c.part for c in self.commits}
        back = 0
        raw = self.bucket.get(f"{self.state}/writing.json")
        writing = None
        if raw is not None:
            try:
                writing = parse_commit({**json.loads(raw), "rx_seq_max": 0, "rows": 0})
            except (ValueError, KeyError, TypeError):
                raise StoreError(f"{self.bucket.url}/{self.state}/writing.json is not a part in writing") from None
        if writing is not None and writing.part not in committed:
            for relative in writing.files:
                if not self._own_file(relative, writing.part):
                    raise StoreError(f"{self.bucket.url}/{self.state}/writing.json names a file not of its part: {relative!r}")
                self.bucket.delete(relative)
                back += 1
        self.sequence = max([c.part for c in self.commits] + [writing.part if writing else 0])
        self.next_rx_seq = 1 + max((c.rx_seq_max for c in self.commits), default=-1)
        return {"rolled_forward": 0, "rolled_back": back, "commits": len(self.commits)}

    def _targets(self, telemetry: dict[str, pa.Table], tables: dict[str, pa.Table], name: str) -> list[tuple[pa.Table, str]]:
        """(rows, key) of every file of the part: telemetry by hour and type, content by the hour of its telemetry row."""
        targets = []
        seqs, hours = [], []
        for msg_type, table in telemetry.items():
            row_hours = _hours(table)
            seqs.append(table.column("rx_seq").to_numpy(zero_copy_only=False))
            hours.append(row_hours)
            for hour, rows in _split(table, row_hours):
                targets.append((rows, f"telemetry/{hour_partition(hour)}/msg_type={msg_type}/{name}"))
        if not seqs:
            return targets
        all_seqs, all_hours = np.concatenate(seqs), np.concatenate(hours)
        order = np.argsort(all_seqs)
        all_seqs, all_hours = all_seqs[order], all_hours[order]
        for table_name, table in tables.items():
            if not table.num_rows:
                continue
            at = np.searchsorted(all_seqs, table.column("rx_seq").to_numpy(zero_copy_only=False))
            row_hours = all_hours[np.minimum(at, len(all_hours) - 1)]
            for hour, rows in _split(table, row_hours):
                targets.append((rows, f"tables/{table_name}/{hour_partition(hour)}/{name}"))
        return targets

    def _put_parquet(self, target: tuple[pa.Table, str]) -> None:
        sink = pa.BufferOutputStream()
        write_parquet(target[0], sink)
        self.bucket.put(target[1], sink.getvalue().to_pybytes())

    def write(self, telemetry: dict[str, pa.Table], tables: dict[str, pa.Table] | None = None) -> int:
        """Commit one batch as one part; returns its number.  No reader sees any of it before its commit object."""
        self.sequence += 1
        name = f"{self.stem}{self.sequence:06d}.parquet"
        targets = self._targets({k: t for k, t in telemetry.items() if t.num_rows}, tables or {}, name)
        files = tuple(key for _, key in targets)
        self.bucket.put(f"{self.state}/writing.json", json.dumps({"part": self.sequence, "files": list(files)}).encode())
        list(self._pool.map(self._put_parquet, targets))
        rows = sum(t.num_rows for t in telemetry.values())
        rx_seq_max = highest_rx_seq(telemetry, self.next_rx_seq - 1)
        commit = Commit(self.sequence, files, rx_seq_max, rows)
        self.bucket.put(f"{self.state}/commits/{self.sequence:09d}.json", json.dumps(commit_entry(commit)).encode())
        self.commits.append(commit)
        self.next_rx_seq = max(self.next_rx_seq, rx_seq_max + 1)
        self.rows_written += rows
        return self.sequence

    def close(self) -> None:
        self._pool.shutdown()
