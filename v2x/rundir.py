"""The run directory: the one place the stages of a run exchange files.

RUN/scenario.yaml            the validated scenario, defaults filled in
RUN/run.json                 versions, broker, start/end, exit status of each stage
RUN/pki/                     root CA and device certificates (v2x.security.pki)
RUN/broker-access/           TLS CA, client certificates and topic ACL of the run's broker
                             (v2x.mqtt.access; only with ``broker.tls``)
RUN/published/<sim>.json     what each simulator generated and published, per device
RUN/attacks/<sim>.json       every injected attack frame: device, kind, expected verdict, SHA-256
RUN/ingest/progress.json     received/stored counts, rewritten after every batch
RUN/ingest/summary.json      final ingest counts and broker events
RUN/ingest/workers/<w>/      the same records of each stream worker writing one destination
RUN/telemetry/msg_type=X/    Parquet, one row per received frame, one file per flushed batch
RUN/tables/<table>/          Parquet, message content (BSM fields, SPAT phase states, ...),
                             joined to telemetry by rx_seq
RUN/logs/                    stderr of each process

With its telemetry on object storage (``run.json`` names ``telemetry: s3://bucket/prefix``), the
bucket holds ``telemetry/``, ``tables/`` and ``ingest/`` (:mod:`pipeline.ingest.bucket_store`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from v2x.objectstore.bucket import Bucket
from v2x.records import BucketRecords, FolderRecords, RecordError, Records, write_json_atomic


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def exit_stage(code: int) -> NoReturn:
    """End a stage's process (the ingest, a simulator) with ``code`` once its results are in the
    run directory, skipping the interpreter's finalization: tearing down numba's LLVM and
    collecting a large heap take 0.4-0.5 s that the run would wait for, and nothing is left to
    finalize (files are closed, connections and worker pools shut down by then)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass(frozen=True)
class RunDir:
    """A run directory; ``bucket_url``: where its ingest writes instead of the directory (a
    destination on object storage, ``s3://bucket/prefix``), else the one ``run.json`` names."""

    root: Path
    bucket_url: str | None = None

    @property
    def bucket(self) -> Bucket | None:
        """The destination on object storage that holds this run's telemetry, tables and ingest
        records (``RUN/telemetry``, ``tables`` and ``ingest`` are then unused); None: the directory."""
        url = self.bucket_url or self.manifest_data().get("telemetry")
        return Bucket.parse(url) if isinstance(url, str) else None

    @property
    def where(self) -> str:
        """The run as its user named it: the directory, or for a destination on object storage
        and nothing else (:func:`bucket_view`), its ``s3://`` URL."""
        manifest = self.manifest_data()
        url = self.bucket_url or manifest.get("telemetry")
        return url if isinstance(url, str) and "scenario" not in manifest else str(self.root)

    def ingest_records(self) -> Records:
        """The ingest's records (progress, summary, each worker's folder): ``RUN/ingest`` or the bucket's ``ingest/``."""
        bucket = self.bucket
        return BucketRecords(bucket, "ingest") if bucket else FolderRecords(self.ingest)

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.yaml"

    @property
    def sources(self) -> Path:
        """The framing of the uplinks that are not the envelope (v2x.framing.sources); absent if none."""
        return self.root / "sources.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def broker_access(self) -> Path:
        return self.root / "broker-access"

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def attacks(self) -> Path:
        return self.root / "attacks"

    @property
    def ingest(self) -> Path:
        return self.root / "ingest"

    @property
    def telemetry(self) -> Path:
        return self.root / "telemetry"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def create(self) -> RunDir:
        for p in (self.root, self.published, self.attacks, self.ingest, self.telemetry, self.logs):
            p.mkdir(parents=True, exist_ok=True)
        return self

    # Typed readers: every stage reads the run's JSON files through these, so a damaged or
    # foreign file is one clear error (RunFileError names it), never a KeyError deep in a stage.

    def manifest_data(self) -> dict[str, Any]:
        """``run.json`` ({} before the run wrote it)."""
        return read_object(self.manifest)

    def worker_records(self) -> dict[str, dict[str, Any]]:
        """Each stream worker's latest record (``ingest/workers/<worker>/``: its summary or its
        progress, whichever it wrote last), by worker name; {} for a single ingest's output."""
        folder = self.ingest_records().child("workers")
        out: dict[str, dict[str, Any]] = {}
        for worker in folder.folders():
            records = [_record_object(folder.child(worker), name) for name in ("summary.json", "progress.json")]
            records = [r for r in records if r]
            if records:
                out[worker] = max(records, key=lambda r: _seconds(r.get("updated_at")))
        return out

    def ingest_summary(self) -> dict[str, Any]:
        """``ingest/summary.json``, written by the ingest at a clean end ({} without one); for a
        destination stream workers wrote, their records as one (:func:`merge_worker_records`)."""
        workers = self.worker_records()
        return merge_worker_records(workers) if workers else _record_object(self.ingest_records(), "summary.json")

    def ingest_progress(self) -> dict[str, Any]:
        """``ingest/progress.json``, rewritten after every batch ({} before the first); for stream
        workers, their records as one."""
        workers = self.worker_records()
        return merge_worker_records(workers) if workers else _record_object(self.ingest_records(), "progress.json")

    def ingest_started(self) -> bool:
        """Whether an ingest (or a stream worker) wrote to this run: its progress record exists."""
        records = self.ingest_records()
        return records.read("progress.json") is not None or bool(records.child("workers").folders())

    def publish_records(self, *, in_progress: bool = False) -> list[PublishRecord]:
        """``published/<simulator>.json`` of each simulator that finished (or, ``in_progress``,
        the records each running simulator rewrites every second under ``published/progress``)."""
        folder = self.published / "progress" if in_progress else self.published
        return [PublishRecord.read(path) for path in sorted(folder.glob("*.json"))]

    def attack_ledger(self) -> list[dict[str, Any]]:
        """Every attack frame the simulators injected (``attacks/<simulator>.json``)."""
        entries: list[dict[str, Any]] = []
        for path in sorted(self.attacks.glob("*.json")) if self.attacks.is_dir() else []:
            data = read_json_file(path)
            if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
                raise RunFileError(f"{path} is not a list of attack entries")
            entries += data
        return entries


class RunFileError(ValueError):
    """A file of the run directory that cannot be read as what it must be (named in the message)."""


def read_json_file(path: Path) -> Any:
    """The JSON in ``path``; RunFileError naming the file if it is not JSON (or not UTF-8)."""
    try:
        return read_json(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFileError(f"{path} is not JSON: {exc}") from None


def _seconds(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _count(value: object) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def merge_worker_records(workers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The records of the stream workers that wrote one destination, as one ingest summary:
    counts summed, events of all in time order (each naming its worker), the sessions of all.
    A worker whose last session did not end with a clean stop (killed and not restarted, still
    running, failed) makes the whole a ``failure`` naming it: a destination is only as complete
    as its least complete worker."""
    by_type: dict[str, int] = {}
    events: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    failures: list[str] = []
    for name, record in workers.items():
        stored_by_type = record.get("stored_by_type")
        for msg_type, n in (stored_by_type if isinstance(stored_by_type, dict) else {}).items():
            by_type[str(msg_type)] = by_type.get(str(msg_type), 0) + _count(n)
        raw_events = record.get("events")
        for event in raw_events if isinstance(raw_events, list) else []:
            if isinstance(event, dict):
                events.append({**event, "detail": f"worker {name}: {event.get('detail', '')}"})
        raw_sessions = record.get("sessions")
        mine = [{**s, "worker": name} for s in (raw_sessions if isinstance(raw_sessions, list) else []) if isinstance(s, dict)]
        sessions += mine
        cause = mine[-1].get("cause") if mine else None
        if record.get("failure"):
            failures.append(f"worker {name}: {record['failure']}")
        elif cause == "running":
            failures.append(f"worker {name}: its last session did not stop cleanly (killed, crashed, or still running)")
        elif cause != "stopped":
            failures.append(f"worker {name}: its last session ended: {cause or 'unknown'}")
    started = [_seconds(r.get("started_at")) for r in workers.values() if _seconds(r.get("started_at"))]
    crl = next((r["crl"] for r in workers.values() if r.get("crl")), None)
    return {
        "received": sum(_count(r.get("received")) for r in workers.values()),
        "stored": sum(_count(r.get("stored")) for r in workers.values()),
        "stored_by_type": by_type,
        "rejected": sum(_count(r.get("rejected")) for r in workers.values()),
        "acknowledged": sum(_count(s.get("acknowledged")) for s in sessions),
        "events": sorted(events, key=lambda e: str(e.get("at", ""))),
        "crl": crl,
        "started_at": min(started) if started else None,
        "updated_at": max((_seconds(r.get("updated_at")) for r in workers.values()), default=None),
        "failure": "; ".join(failures) or None,
        "sessions": sorted(sessions, key=lambda s: _seconds(s.get("started_at"))),
        "workers": {
            name: {k: r.get(k) for k in ("received", "stored", "rejected", "source", "stream_delay_ms", "failure")}
            for name, r in workers.items()
        },
    }


_VIEWS: list[tempfile.TemporaryDirectory[str]] = []


def bucket_view(url: str) -> Path:
    """A run directory for a destination on object storage and nothing else (what ingest workers
    wrote, no scenario run): an empty directory, removed at exit, whose ``run.json`` names the
    bucket.  ValueError if ``url`` is not ``s3://bucket/prefix``."""
    bucket = Bucket.parse(url)
    folder = tempfile.TemporaryDirectory(prefix="v2x-bucket-")
    _VIEWS.append(folder)
    write_json_atomic(Path(folder.name) / "run.json", {"telemetry": bucket.url})
    return Path(folder.name)


def _record_object(records: Records, name: str) -> dict[str, Any]:
    """A record holding one JSON object ({} when absent); RunFileError naming it otherwise."""
    try:
        data = records.read(name)
    except RecordError as exc:
        raise RunFileError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunFileError(f"{records.where}/{name} is not a JSON object")
    return data


def read_object(path: Path) -> dict[str, Any]:
    """A run file holding one JSON object ({} when absent); RunFileError naming it otherwise."""
    if not path.exists():
        return {}
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise RunFileError(f"{path} is not a JSON object")
    return data


@dataclass(frozen=True)
class PublishRecord:
    """What one simulator generated and published (``RUN/published/<simulator>.json``, written
    by :mod:`v2x.device.simulator`): per device, in total (``published.BSM``, ``injected_loss.BSM``,
    ...) and how well it kept its schedule."""

    simulator: str
    devices: dict[str, dict[str, Any]]
    totals: dict[str, int]
    schedule: dict[str, Any] | None

    @classmethod
    def read(cls, path: Path) -> PublishRecord:
        data = read_object(path)
        totals, devices, kept = data.get("totals", {}), data.get("devices", {}), data.get("schedule")
        if not isinstance(totals, dict) or not all(isinstance(k, str) and type(n) is int for k, n in totals.items()):
            raise RunFileError(f"{path}: totals must map names to counts")
        if not isinstance(devices, dict) or not all(isinstance(d, dict) for d in devices.values()):
            raise RunFileError(f"{path}: devices must map device ids to records")
        if kept is not None and not isinstance(kept, dict):
            raise RunFileError(f"{path}: schedule must be an object")
        return cls(str(data.get("simulator", path.stem)), devices, totals, kept or None)

    def total(self, kind: str) -> dict[str, int]:
        """The totals of one kind (``published``, ``injected_loss``, ``injected_duplicate``) by message type."""
        prefix = kind + "."
        return {k[len(prefix) :]: n for k, n in self.totals.items() if k.startswith(prefix)}
