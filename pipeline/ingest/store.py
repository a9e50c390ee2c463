"""Parquet of a run, committed batch by batch: telemetry rows and the message-content tables.

``RUN/telemetry/msg_type=BSM/part-000001.parquet`` holds one row per received frame;
``RUN/tables/<table>/part-000001.parquet`` the decoded content (``bsm``, ``bsm_path_points``,
``spat``, ``spat_phase_states``, ...), joined to telemetry by ``rx_seq``.  Files of one batch
share the part number.  ``msg_type`` lives in the path only, as Hive partitioning expects.

A batch commits as a whole (its content tables and its telemetry, or nothing): every file is
written and flushed to disk under a ``.tmp`` name, then one line naming the part, its files and
its highest ``rx_seq`` is appended to ``RUN/ingest/commits.jsonl`` and flushed (the commit
point), then the files are renamed into place.  A writer opened on a run that already has
Parquet recovers first: the files of committed parts still under their ``.tmp`` names are
renamed into place, the ``.tmp`` files of a part that never committed are removed, and part
numbers and ``rx_seq`` continue after the last commit.  The ingest acknowledges a frame to the
broker only once the part holding it has committed (:mod:`pipeline.ingest.session`).

Several ingest workers (:mod:`pipeline.ingest.stream_receiver`) may write one destination: each
names its parts ``part-<worker>-000001.parquet``, keeps its own commit log
(``RUN/ingest/workers/<worker>/commits.jsonl``) and recovers only its own files.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Dictionary-encode only low-cardinality columns (limits.md 4: faster and smaller).
DICTIONARY_COLUMNS = [
    "topic",
    "device_kind",
    "sender_id",
    "signer",
    "signer_kind",
    "auth",
    "auth_reason",
    "reject_reason",
    "vehicle_id",
]
WORKER_NAME = re.compile(r"[a-z0-9_-]{1,40}")
TMP_SUFFIX = ".tmp"


class StoreError(RuntimeError):
    """The run's Parquet cannot be continued (a commit log that names files outside the run)."""


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet(table: pa.Table, where: str | Path | pa.NativeFile) -> None:
    """``table`` as Parquet, zstd, the low-cardinality columns dictionary-encoded."""
    pq.write_table(table, where, compression="zstd", use_dictionary=[c for c in DICTIONARY_COLUMNS if c in table.column_names])


def _write_pending(table: pa.Table, final: Path, durable: bool) -> Path:
    """Write ``table`` under ``final``'s ``.tmp`` name (flushed to disk when ``durable``)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + TMP_SUFFIX)
    write_parquet(table, tmp)
    if durable:
        _sync(tmp)
    return tmp


@dataclass(frozen=True)
class Commit:
    """One committed part: its number, its files (relative to the run) and highest rx_seq."""

    part: int
    files: tuple[str, ...]
    rx_seq_max: int
    rows: int


def parse_commit(entry: object) -> Commit:
    """A commit from its JSON entry; ValueError (or KeyError, TypeError) if it is not one."""
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    files = entry["files"]
    if not isinstance(files, list):
        raise ValueError("files is not a list")
    return Commit(int(entry["part"]), tuple(str(f) for f in files), int(entry["rx_seq_max"]), int(entry["rows"]))


def commit_entry(commit: Commit) -> dict[str, object]:
    return {"part": commit.part, "files": list(commit.files), "rx_seq_max": commit.rx_seq_max, "rows": commit.rows}


def read_commits(journal: Path) -> list[Commit]:
    """The commits in ``journal``; a last line torn by a crash (no newline, or not JSON) is not
    a commit."""
    if not journal.exists():
        return []
    out = []
    for line in journal.read_bytes().split(b"\n")[:-1]:  # the text after the last newline never committed
        try:
            out.append(parse_commit(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def part_stem(worker: str | None) -> str:
    """The start of a writer's part names: ``part-`` alone, ``part-<worker>-`` for a stream
    worker (its parts are its own among others'); ValueError for a name that cannot name files."""
    if worker is not None and not WORKER_NAME.fullmatch(worker):
        raise ValueError(f"worker name {worker!r}: 1 to 40 of a-z 0-9 _ - (it names files)")
    return f"part-{worker}-" if worker else "part-"


def highest_rx_seq(telemetry: dict[str, pa.Table], default: int) -> int:
    """The highest ``rx_seq`` of a batch's telemetry rows (``default`` for a batch without any)."""
    return max((int(pc.max(t.column("rx_seq")).as_py()) for t in telemetry.values() if t.num_rows), default=default)


class TelemetryWriter:
    """Writes batches as committed parts (module docstring); ``durable`` flushes every file to
    disk before its commit (off only for generated benchmark data)."""

    def __init__(
        self,
        telemetry_dir: Path,
        tables_dir: Path | None = None,
        journal: Path | None = None,
        durable: bool = True,
        worker: str | None = None,
    ):
        self.stem = part_stem(worker)
        self._part = re.compile(re.escape(self.stem) + r"(\d+)\.parquet$")
        self.root = telemetry_dir
        self.run_root = telemetry_dir.parent
        self.tables = tables_dir if tables_dir is not None else self.run_root / "tables"
        self.journal = journal if journal is not None else self.run_root / "ingest" / "commits.jsonl"
        self.durable = durable
        self.rows_written = 0
        self.filesystem: pafs.FileSystem = pafs.LocalFileSystem()  # where the parts are read back (resume)
        self.base = str(self.run_root)
        self.recovered = self._recover()

    def destination_commits(self) -> dict[str, list[Commit]]:
        """The commits of every worker writing this destination (``ingest/workers/<w>/commits.jsonl``), by worker."""
        workers = self.run_root / "ingest" / "workers"
        return {journal.parent.name: read_commits(journal) for journal in sorted(workers.glob("*/commits.jsonl"))}

    def _inside(self, relative: str) -> Path:
        path = (self.run_root / relative).resolve()
        if not path.is_relative_to(self.run_root.resolve()):
            raise StoreError(f"{self.journal} names a file outside the run: {relative!r}")
        return path

    def _recover(self) -> dict[str, int]:
        """Finish what a crash interrupted (``commits``: the parts committed so far); returns
        how many files were rolled forward and back."""
        commits = self.commits = read_commits(self.journal)
        forward = back = 0
        for commit in commits:
            for relative in commit.files:
                final = self._inside(relative)
                tmp = final.with_name(final.name + TMP_SUFFIX)
                if tmp.exists():
                    os.replace(tmp, final)
                    forward += 1
        for directory in (self.root, self.tables):
            for tmp in directory.glob(f"*/{self.stem}*.parquet{TMP_SUFFIX}"):
                if self._part.match(tmp.name.removesuffix(TMP_SUFFIX)):
                    tmp.unlink()
                    back += 1
        existing = list(self.root.glob(f"msg_type=*/{self.stem}*.parquet")) + list(self.tables.glob(f"*/{self.stem}*.parquet"))
        self.sequence = max(
            [c.part for c in commits] + [int(m.group(1)) for p in existing if (m := self._part.match(p.name))], default=0
        )
        if commits:
            self.next_rx_seq = 1 + max(c.rx_seq_max for c in commits)
        else:  # a run written before the commit log: continue after what is there
            self.next_rx_seq = 1 + max((_max_rx_seq(p) for p in self.root.glob(f"msg_type=*/{self.stem}*.parquet")), default=-1)
        return {"rolled_forward": forward, "rolled_back": back, "commits": len(commits)}

    def write(self, telemetry: dict[str, pa.Table], tables: dict[str, pa.Table] | None = None) -> int:
        """Commit one batch (telemetry rows per message type and the content tables) as one
        part; returns its number.  Nothing of it is visible under a final name before the commit."""
        self.sequence += 1
        name = f"{self.stem}{self.sequence:06d}.parquet"
        targets = [(table, self.tables / table_name / name) for table_name, table in (tables or {}).items() if table.num_rows]
        targets += [(table, self.root / f"msg_type={msg_type}" / name) for msg_type, table in telemetry.items()]
        pending = [(_write_pending(table, final, self.durable), final) for table, final in targets]
        rows = sum(t.num_rows for t in telemetry.values())
        rx_seq_max = highest_rx_seq(telemetry, self.next_rx_seq - 1)
        commit = Commit(self.sequence, tuple(str(final.relative_to(self.run_root)) for _, final in pending), rx_seq_max, rows)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "ab") as f:
            f.write(json.dumps(commit_entry(commit)).encode() + b"\n")
            f.flush()
            if self.durable:
                os.fsync(f.fileno())
        for tmp, final in pending:
            os.replace(tmp, final)
        self.commits.append(commit)
        self.next_rx_seq = max(self.next_rx_seq, rx_seq_max + 1)
        self.rows_written += rows
        return self.sequence

    def close(self) -> None:
        """Nothing to release: every commit is complete when :meth:`write` returns."""


def _max_rx_seq(path: Path) -> int:
    column = pq.read_table(path, columns=["rx_seq"]).column("rx_seq")
    return int(pc.max(column).as_py() or -1) if len(column) else -1
