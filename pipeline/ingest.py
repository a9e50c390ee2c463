"""Ingest: subscribe to every uplink, batch, decode, verify and write telemetry Parquet.

Works the same for a simulated run and for real devices on a zone broker.  The subscription is
QoS 1 on a persistent session (clean_session false) under a client id of its own (kept in
``ingest/client_id``, so a restart on the same output resumes the same session).

At-least-once end to end, exactly-once rows:

* a frame is acknowledged to the broker (PUBACK) only once the Parquet part holding it has
  committed (:mod:`pipeline.store`), so a frame the ingest had not stored when it died, or when
  its connection dropped, is redelivered by the broker;
* a redelivery (DUP set) of a frame that was already stored, or is already on its way to
  storage, is acknowledged but not stored twice: the frames acknowledged on a lost connection,
  and the parts of an earlier session whose acknowledgements were not all sent, are remembered
  by (topic, payload) digest (:class:`Redeliveries`);
* a restart on the same output continues ``rx_seq`` and part numbers after the last commit and
  keeps every session's start, end, cause of end and counts in ``ingest/summary.json``.

No input can stop it: a batch whose processing raises is processed again in halves until the
frames at fault are alone, each stored as a reject row with the error
(:meth:`~pipeline.batch.BatchProcessor.process_isolating`).  If a stage fails anyway (the disk
is full, the receiver thread dies) the ingest stops receiving and acknowledging, records the
failure in the summary, says so on stderr and exits 1.

A receiver thread reads the broker in bulk and takes each frame's receipt time from the kernel
(:mod:`v2x.mqtt_subscribe`); the flusher turns what it received into batches every
``FLUSH_INTERVAL_S`` (:mod:`pipeline.batch`, one batch ahead) and commits Parquet.

Run as a process: ``python -m pipeline.ingest --run RUN --broker mqtt://host:port``.  It prints
``READY`` once subscribed and stops cleanly (final batch flushed) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import queue
import re
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from v2x import topics
from v2x.broker_access import ClientTls
from v2x.mqtt_subscribe import Deliveries, MqttError, SubscribeConnection
from v2x.rundir import RunDir, exit_stage, read_json, write_json_atomic
from v2x.security import CertificateStore, Verifier
from v2x.security.workers import SignatureWorkers
from v2x.transport import BrokerAddress

from pipeline.batch import BatchInProgress, BatchOutput, BatchProcessor, Received, warm_up
from pipeline.store import Commit, TelemetryWriter

FLUSH_INTERVAL_S = 0.5
MAX_BATCH = 20_000
RECONNECT_DELAY_S = 0.5
# Policy: the largest frame the ingest stores whole.  V2X messages are a few kilobytes (the
# largest Day-I message, a MAP of a big intersection, stays well under this); a larger PUBLISH
# is read past, not buffered, and stored as a reject row with its first 256 octets.
MAX_FRAME_BYTES = 64 * 1024
CLIENT_ID_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,64}")  # MQTT 3.1.1 3.1.3.1: servers must accept these
RECEIVER_STALL_S = 1.0  # a read loop iteration this long is a stalled receiver (the generationTime window is 1 s)
REDELIVERY_MEMORY = 1_000_000  # digests of stored, unacknowledged frames kept for matching redeliveries


def frame_digest(topic: str, payload: bytes) -> bytes:
    """What identifies a frame across a redelivery: its topic and payload."""
    return hashlib.blake2b(topic.encode("utf-8", "surrogateescape") + b"\0" + payload, digest_size=16).digest()


class Redeliveries:
    """Digests of frames that are stored (or on their way to storage) but whose acknowledgement
    may not have reached the broker: the broker will send them again with DUP set, and each
    such redelivery is acknowledged without being stored again (a multiset: two identical frames
    stored twice match two redeliveries)."""

    def __init__(self) -> None:
        self._expected: Counter[bytes] = Counter()

    def expect(self, digests: list[bytes]) -> None:
        if len(self._expected) < REDELIVERY_MEMORY:
            self._expected.update(digests)

    def matches(self, topic: str, payload: bytes) -> bool:
        """Whether a DUP frame is one already stored (consumes the match)."""
        if not self._expected:
            return False
        digest = frame_digest(topic, payload)
        if self._expected[digest] > 0:
            self._expected[digest] -= 1
            if not self._expected[digest]:
                del self._expected[digest]
            return True
        return False

    def __len__(self) -> int:
        return sum(self._expected.values())


@dataclass
class Taken:
    """What the flusher takes from the inbox: frames to store and the acknowledgements
    (connection generation, packet id) owed once they are stored, redeliveries included."""

    frames: Received
    acks: list[tuple[int, int]]
    sizes: list[int]


class Inbox:
    """Frames received and not yet taken by the flusher: the receiver thread adds, the flusher
    takes them in arrival order, at most :data:`MAX_BATCH` at a time (a backlog becomes batches
    of a bounded size, each committed and acknowledged in turn)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch = Received()
        self._acks: list[tuple[int, int]] = []
        self._sizes: list[int] = []
        # Acknowledgements of redeliveries not stored again, each with the number of frames
        # before it: it is owed once those frames (its original among them) are stored.
        self._ack_only: list[tuple[int, tuple[int, int]]] = []

    def add_many(
        self,
        topics: list[str],
        frames: list[bytes],
        received_us: list[int],
        acks: list[tuple[int, int]] | None = None,
        sizes: list[int] | None = None,
    ) -> int:
        """Add frames in arrival order with what each is owed; returns how many are waiting."""
        with self._lock:
            self._batch.topics += topics
            self._batch.frames += frames
            self._batch.received_us += received_us
            self._acks += acks if acks is not None else [(0, 0)] * len(frames)
            self._sizes += sizes if sizes is not None else [len(f) for f in frames]
            return len(self._batch)

    def add_acks(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledgements owed for redeliveries that are not stored again."""
        with self._lock:
            self._ack_only += [(len(self._batch), ack) for ack in acks]

    def take(self, limit: int | None = None) -> Taken | None:
        """The oldest ``limit`` frames waiting (all by default) with the acknowledgements owed
        once they are stored, or None."""
        with self._lock:
            if not len(self._batch) and not self._ack_only:
                return None
            k = len(self._batch) if limit is None else min(limit, len(self._batch))
            b = self._batch
            frames = Received(b.topics[:k], b.frames[:k], b.received_us[:k])
            self._batch = Received(b.topics[k:], b.frames[k:], b.received_us[k:])
            acks, self._acks = self._acks[:k], self._acks[k:]
            sizes, self._sizes = self._sizes[:k], self._sizes[k:]
            acks += [ack for at, ack in self._ack_only if at <= k]
            self._ack_only = [(at - k, ack) for at, ack in self._ack_only if at > k]
            return Taken(frames, acks, sizes)

    def __len__(self) -> int:
        return len(self._batch)


@dataclass
class IngestStats:
    """Counts of this session, the sessions before it on the same output, and broker events."""

    received: int = 0
    stored: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    redelivered: int = 0  # redeliveries of frames already stored (acknowledged, not stored again)
    acknowledged: int = 0
    unchecked_after_error: int = 0  # messages whose field checks were lost to a processing failure
    events: list[dict[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    crl: dict[str, object] | None = None  # the CRL applied (CrlStatus), if any
    client_id: str = ""
    earlier: list[dict[str, Any]] = field(default_factory=list)  # sessions before this one, ended
    ended_at: float | None = None
    end_cause: str = "running"
    failure: str | None = None

    def session(self) -> dict[str, object]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "cause": self.end_cause,
            "received": self.received,
            "stored": self.stored,
            "rejected": self.rejected,
            "redelivered": self.redelivered,
            "acknowledged": self.acknowledged,
            "updated_at": time.time(),
        }

    def as_dict(self) -> dict[str, object]:
        """Totals over every session on this output (``received`` counts a frame once even when
        a restart received it again), this session's counts and every session's record."""
        stored_before = sum(int(s["stored"]) for s in self.earlier)
        by_type = Counter(self.by_type)
        for s in self.earlier:
            by_type.update(s.get("stored_by_type") or {})
        return {
            "received": stored_before + self.received - self.redelivered,
            "stored": stored_before + self.stored,
            "stored_by_type": dict(by_type),
            "rejected": sum(int(s["rejected"]) for s in self.earlier) + self.rejected,
            "events": self.events,
            "crl": self.crl,
            "client_id": self.client_id,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "failure": self.failure,
            "unchecked_after_error": self.unchecked_after_error,
            "sessions": [*self.earlier, {**self.session(), "stored_by_type": dict(self.by_type)}],
        }


def earlier_sessions(run: RunDir) -> list[dict[str, object]]:
    """The sessions of earlier ingests on ``run``, from the last record any of them left
    (``progress.json`` is rewritten after every batch, ``summary.json`` at a clean end): one
    still marked running ended without a clean stop (killed or crashed)."""
    records = []
    for name in ("summary.json", "progress.json"):
        try:
            data = read_json(run.ingest / name)
            records.append(data)
        except (OSError, ValueError):
            continue
    if not records:
        return []
    records = [d for d in records if isinstance(d, dict)]
    if not records:
        return []
    latest = max(records, key=lambda d: _number(d.get("updated_at")))
    sessions = latest.get("sessions")
    if not isinstance(sessions, list):  # written before sessions were recorded: one session
        sessions = [
            {
                "started_at": latest.get("started_at"),
                "ended_at": latest.get("updated_at"),
                "cause": "unknown",
                "received": latest.get("received"),
                "stored": latest.get("stored"),
                "rejected": latest.get("rejected"),
                "stored_by_type": latest.get("stored_by_type"),
            }
        ]
    out = []
    for s in sessions:
        if not isinstance(s, dict):
            continue
        s = dict(s)
        if s.get("cause") == "running":
            s["cause"] = "ended without a clean stop (killed or crashed)"
            s["ended_at"] = s.get("updated_at")
        for key in ("received", "stored", "rejected"):
            s[key] = int(_number(s.get(key)))
        by_type = s.get("stored_by_type")
        s["stored_by_type"] = {str(k): int(_number(v)) for k, v in by_type.items()} if isinstance(by_type, dict) else {}
        out.append(s)
    return out


def _number(value: object) -> float:
    """A count or time read from an earlier session's record (0 when it is not a number)."""
    try:
        return float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else 0.0
    except ValueError:
        return 0.0


def ingest_client_id(run: RunDir, given: str | None = None) -> str:
    """The ingest's MQTT client id: ``given``, else the one kept in ``ingest/client_id``, else a
    new random one written there, so a restart on the same output resumes its session and no
    two outputs share one."""
    path = run.ingest / "client_id"
    if given is None and path.exists():
        given = path.read_text(encoding="utf-8", errors="replace").strip()
        if not CLIENT_ID_PATTERN.fullmatch(given):
            raise ValueError(f"{path} holds no valid client id (1-64 of 0-9 A-Z a-z _ -)")
    if given is None:
        given = f"xiqing-v2x-ingest-{secrets.token_hex(6)}"
    if not CLIENT_ID_PATTERN.fullmatch(given):
        raise ValueError(f"client id {given!r}: 1 to 64 characters of 0-9 A-Z a-z _ - (MQTT 3.1.1 3.1.3.1)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(given + "\n", encoding="utf-8")
    return given


def _part_tables(
    writer: TelemetryWriter, commits: list[Commit], prefix: str, columns: list[str]
) -> Iterator[tuple[str, pa.Table]]:
    """(path in the run, ``columns`` of it) for each file of ``commits`` under ``prefix``; a
    file that cannot be read is passed over."""
    for commit in commits:
        for relative in commit.files:
            if relative.startswith(prefix):
                try:
                    yield relative, pq.read_table(writer.run_root / relative, columns=columns)
                except (OSError, pa.ArrowException):
                    continue


def unacknowledged_tail(writer: TelemetryWriter, run: RunDir) -> list[bytes]:
    """Digests of the frames in the parts an earlier session committed without confirming that
    all their acknowledgements were sent (``ingest/acked.json``): the broker redelivers those."""
    try:
        acked = read_json(run.ingest / "acked.json")
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
]
RESUME_BSM_COLUMNS = ["rx_seq", "id", "lat", "lon", "events"]


def stored_tail(writer: TelemetryWriter, parts: int = RESUME_PARTS) -> tuple[pa.Table, pa.Table | None]:
    """The telemetry rows of the last ``parts`` committed parts, in ``rx_seq`` order, with
    ``msg_type``, and the BSM content of those parts: what
    :meth:`~pipeline.batch.BatchProcessor.resume` takes up.  A part that cannot be read is passed over."""
    tail = writer.commits[-parts:]
    tables = [
        table.append_column(
            "msg_type", pa.array([relative.split("/")[1].removeprefix("msg_type=")] * table.num_rows, pa.string())
        )
        for relative, table in _part_tables(writer, tail, "telemetry/msg_type=", RESUME_COLUMNS)
    ]
    bsm = [table for _, table in _part_tables(writer, tail, "tables/bsm/", RESUME_BSM_COLUMNS)]
    if not tables:
        return pa.table({}), None
    return (
        pa.concat_tables(tables, promote_options="permissive").sort_by("rx_seq"),
        pa.concat_tables(bsm, promote_options="permissive") if bsm else None,
    )


def verifier_from_files(trust: list[Path], cas: list[Path] = (), crl: Path | None = None) -> Verifier | None:  # type: ignore[assignment]
    """A verifier trusting the root certificates ``trust``, holding the CA certificates ``cas``
    and applying the signed CRL ``crl``; None without trust anchors."""
    if not trust:
        return None
    store = CertificateStore([p.read_bytes() for p in trust], [p.read_bytes() for p in cas])
    if crl is not None:
        store.load_crl(crl.read_bytes())
    return Verifier(store)


def verifier_from_pki(pki: Path) -> Verifier:
    """The verifier of a PKI directory (root, its CAs, its CRL if one was written); ValueError
    when the directory holds no PKI (a verification silently turned off would pass forgeries)."""
    if not (pki / "root-ca.oer").is_file():
        raise ValueError(f"{pki} holds no PKI (no root-ca.oer); give a directory made by v2x pki init or v2x run")
    crl = pki / "crl.oer"
    return verifier_from_files([pki / "root-ca.oer"], sorted((pki / "ca").glob("*.oer")), crl if crl.exists() else None)  # type: ignore[return-value]


def client_tls(ca: Path | None, cert: Path | None, key: Path | None) -> ClientTls | None:
    """The TLS identity given as three files, or None if none is given; ValueError if only some are."""
    given = [p for p in (ca, cert, key) if p is not None]
    if not given:
        return None
    if len(given) != 3:
        raise ValueError("TLS needs all of CA, client certificate and key")
    return ClientTls(ca, cert, key)  # type: ignore[arg-type]


@dataclass
class Progress:
    """What :func:`progress_line` saw last, to give rates since then."""

    at: float
    received: int = 0


def progress_line(stats: IngestStats, since: Progress, now: float) -> tuple[str, Progress]:
    """One line of ingest progress: counts, the receive rate since ``since``, stored per type,
    rejects and whether the broker is connected (from the last broker event)."""
    rate = (stats.received - since.received) / max(now - since.at, 1e-9)
    types = " ".join(f"{t} {n}" for t, n in sorted(stats.by_type.items()))
    if stats.failure:
        broker = f"FAILED: {stats.failure}"
    else:
        broker = "broker disconnected" if stats.events and stats.events[-1]["event"] == "broker_disconnected" else "connected"
    line = (
        f"{now - stats.started_at:6.0f} s  received {stats.received} ({rate:.0f}/s)  stored {stats.stored}"
        f"{'  [' + types + ']' if types else ''}  rejected {stats.rejected}  unacknowledged {stats.received - stats.acknowledged}  {broker}"
    )
    return line, Progress(now, stats.received)


class Receiver:
    """The receiver thread: a bulk subscriber whose reads carry the kernel's arrival time
    (:mod:`v2x.mqtt_subscribe`), acknowledging frames only when the flusher says they are
    stored.  Its methods run on its own thread except :meth:`acknowledge` and :meth:`stop`."""

    def __init__(self, session: IngestSession, connection: SubscribeConnection, redeliveries: Redeliveries):
        self.session, self.conn, self.redeliveries = session, connection, redeliveries
        self.stopping = threading.Event()
        self.finished_receiving = threading.Event()  # no frame will be added to the inbox any more
        self._acks: queue.SimpleQueue[tuple[int, list[tuple[int, int]]]] = queue.SimpleQueue()
        self._inflight: dict[int, tuple[str, bytes]] = {}  # packet id -> frame, of this connection, not acknowledged
        self._reported_received = 0
        self.acked_through = 0
        self.unconfirmed: list[int] = []  # parts some of whose acknowledgements went to a lost connection

    def acknowledge(self, part: int, acks: list[tuple[int, int]]) -> None:
        """Called by the flusher once ``part`` has committed: acknowledge its frames."""
        self._acks.put((part, acks))

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.finished_receiving.set()
            self.session.fail(f"receiver thread: {type(exc).__name__}: {exc}", traceback.format_exc())

    def _run(self) -> None:
        stats, session = self.session.stats, self.session
        ready_sent, was_connected = False, False
        while not self.stopping.is_set():
            try:
                self.conn.connect()
            except MqttError as exc:
                if was_connected or not stats.events or stats.events[-1]["event"] != "broker_disconnected":
                    session.broker_event("broker_disconnected", str(exc))
                was_connected = False
                self.stopping.wait(RECONNECT_DELAY_S)
                continue
            if stats.events and stats.events[-1]["event"] == "broker_disconnected":
                session.broker_event("broker_reconnected", session.address.url)
            was_connected = True
            if not ready_sent:
                ready_sent = True
                session.ready()
            try:
                while not self.stopping.is_set():
                    before = time.monotonic()
                    self._take(self.conn.receive(0.1))
                    self._send_acks()
                    self._check_stall(time.monotonic() - before)
                self._take(self.conn.receive(0.0))  # what has arrived by the stop
                self._send_acks()
            except MqttError as exc:
                session.broker_event("broker_disconnected", str(exc))
                self._connection_lost()
                was_connected = False
                self.stopping.wait(RECONNECT_DELAY_S)
        self.finished_receiving.set()
        session.wake()
        # Acknowledgements of the last batches, once the flusher has stored them.
        session.flushed.wait()
        if self.conn.connected:
            try:
                self._send_acks()
            except MqttError:
                self._connection_lost()
            self.conn.close()

    def _check_stall(self, took_s: float) -> None:
        """A read that took far longer than its 0.1 s wait means the receiver did not run (the
        process was stopped, starved or swapped out): frames that reached the broker meanwhile
        are stamped late.  Recorded as a ``receiver_stalled`` event, which the report names and
        its harness check ``run.receiver`` fails, instead of blaming the devices."""
        if took_s >= RECEIVER_STALL_S:
            since = time.time() - took_s
            self.session.broker_event(
                "receiver_stalled",
                f"{took_s:.2f} s without reading, from "
                f"{time.strftime('%H:%M:%S', time.gmtime(since))} UTC; frames that waited are stamped late",
            )

    def _connection_lost(self) -> None:
        """What was delivered on the lost connection and not acknowledged will come again."""
        self.redeliveries.expect([frame_digest(t, f) for t, f in self._inflight.values()])
        self._inflight.clear()

    def _take(self, deliveries: Deliveries) -> None:
        """Queue what arrived, setting aside redeliveries of frames already stored; when a read
        brings nothing new, report the count received so far (a run waiting for its last frames
        sees them arrive without waiting for their batch)."""
        stats, session = self.session.stats, self.session
        if not deliveries:
            if stats.received != self._reported_received:
                self._reported_received = stats.received
                session.write_progress()
            return
        generation = self.conn.generation
        keep = range(len(deliveries))
        if any(deliveries.dup):
            redelivered = [
                i for i in keep if deliveries.dup[i] and self.redeliveries.matches(deliveries.topics[i], deliveries.payloads[i])
            ]
            if redelivered:
                session.inbox.add_acks([(generation, deliveries.packet_ids[i]) for i in redelivered])
                stats.redelivered += len(redelivered)
                skip = set(redelivered)
                keep = [i for i in keep if i not in skip]  # type: ignore[assignment]
        if len(keep) == len(deliveries):
            t, f, r, ids, sizes = (
                deliveries.topics,
                deliveries.payloads,
                deliveries.received_us,
                deliveries.packet_ids,
                deliveries.sizes,
            )
        else:
            t, f, r = (
                [deliveries.topics[i] for i in keep],
                [deliveries.payloads[i] for i in keep],
                [deliveries.received_us[i] for i in keep],
            )
            ids, sizes = [deliveries.packet_ids[i] for i in keep], [deliveries.sizes[i] for i in keep]
        for k, packet_id in enumerate(ids):
            if packet_id:
                self._inflight[packet_id] = (t[k], f[k])
        waiting = session.inbox.add_many(t, f, r, [(generation, k) for k in ids], sizes)
        stats.received += len(deliveries)
        if waiting >= MAX_BATCH:
            session.wake()

    def _send_acks(self) -> None:
        while True:
            try:
                part, acks = self._acks.get_nowait()
            except queue.Empty:
                return
            current = [k for g, k in acks if g == self.conn.generation and k]
            stale = len(current) < sum(1 for _, k in acks if k)
            sent = self.conn.acknowledge(current, self.conn.generation)
            for k in current:
                self._inflight.pop(k, None)
            self.session.stats.acknowledged += sent + sum(1 for _, k in acks if not k)
            if stale:
                self.unconfirmed = [*self.unconfirmed[-99:], part]
            self.acked_through = max(self.acked_through, part)
            self.session.write_acked(self.acked_through, self.unconfirmed)


class IngestSession:
    """One ingest on one output: the flusher (batches, Parquet commits) on the event loop's
    worker thread and the :class:`Receiver` on its own."""

    def __init__(
        self,
        address: BrokerAddress,
        run: RunDir,
        *,
        verifier: Verifier | None,
        topic_prefix: str,
        stop: asyncio.Event,
        on_ready: Callable[[], None] | None,
        client_id: str | None,
        verify_workers: int,
        tls: ClientTls | None,
        stats: IngestStats,
        max_frame_bytes: int,
    ):
        if address.tls and tls is None:
            raise ValueError(f"{address.url} needs TLS client credentials (CA, certificate, key)")
        self.address, self.rundir, self.stop_event, self.on_ready, self.stats = address, run, stop, on_ready, stats
        self.max_frame_bytes = max_frame_bytes
        run.create()
        stats.earlier = earlier_sessions(run)
        stats.client_id = ingest_client_id(run, client_id)
        self.writer = TelemetryWriter(run.telemetry, run.tables)
        redeliveries = Redeliveries()
        redeliveries.expect(unacknowledged_tail(self.writer, run))
        self.signature_workers = SignatureWorkers(verify_workers if verifier else 0)
        self.verifier = verifier
        self.processor = BatchProcessor(
            verifier, topic_prefix, first_rx_seq=self.writer.next_rx_seq, signature_workers=self.signature_workers
        )
        self.processor.resume(*stored_tail(self.writer))
        crl = verifier.store.crl if verifier else None
        stats.crl = dataclasses.asdict(crl) if crl else None
        self.inbox = Inbox()
        self.flushed = threading.Event()  # the flusher has stored its last batch (or failed)
        self._progress_lock = threading.Lock()  # the flusher and the receiver thread both report progress
        connection = SubscribeConnection(
            address.host,
            address.port,
            stats.client_id,
            [topics.subscription(topic_prefix)],
            qos=1,
            clean_session=False,
            tls=tls.context() if address.tls and tls else None,
            defer_acks=True,
            max_payload=max_frame_bytes,
        )
        self.receiver = Receiver(self, connection, redeliveries)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None

    # -- called from either thread -------------------------------------------------------
    def ready(self) -> None:
        if self.on_ready and self._loop:
            self._loop.call_soon_threadsafe(self.on_ready)

    def wake(self) -> None:
        if self._loop and self._arrived:
            self._loop.call_soon_threadsafe(self._arrived.set)

    def write_progress(self) -> None:
        with self._progress_lock:
            write_json_atomic(self.rundir.ingest / "progress.json", self.stats.as_dict())

    def write_acked(self, through: int, unconfirmed: list[int]) -> None:
        write_json_atomic(self.rundir.ingest / "acked.json", {"through": through, "unconfirmed": unconfirmed})

    def broker_event(self, event: str, detail: str) -> None:
        with self._progress_lock:
            self.stats.events.append({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event, "detail": detail})
        self.write_progress()

    def fail(self, reason: str, details: str = "") -> None:
        """A stage failed: stop receiving and acknowledging at once, record it and say so."""
        if self.stats.failure is None:
            self.stats.failure = reason
            self.stats.end_cause = f"failed: {reason}"
            print(f"ingest FAILED: {reason}\n{details}", file=sys.stderr, flush=True)
            self.broker_event("ingest_failed", reason)
        self.receiver.stop()
        self.flushed.set()
        if self._loop:
            self._loop.call_soon_threadsafe(self.stop_event.set)

    # -- the flusher ---------------------------------------------------------------------
    def _store(self, outputs: list[BatchOutput], acks: list[tuple[int, int]]) -> None:
        """Commit one part, then let the receiver acknowledge its frames."""
        telemetry: dict[str, list[pa.Table]] = {}
        tables: dict[str, list[pa.Table]] = {}
        for output in outputs:
            for name, table in output.telemetry.items():
                telemetry.setdefault(name, []).append(table)
            for name, table in output.tables.items():
                tables.setdefault(name, []).append(table)
        merged_telemetry = {k: pa.concat_tables(v) for k, v in telemetry.items()}
        part = self.writer.write(merged_telemetry, {k: pa.concat_tables(v) for k, v in tables.items()})
        self.receiver.acknowledge(part, acks)
        with self._progress_lock:
            for msg_type, table in merged_telemetry.items():
                self.stats.by_type[msg_type] += table.num_rows
                self.stats.rejected += table.num_rows - (pc.sum(table.column("decode_ok").cast(pa.int64())).as_py() or 0)
            self.stats.stored = self.writer.rows_written
            self.stats.unchecked_after_error = self.processor.unchecked_after_error
        self.write_progress()

    def _oversize(self, taken: Taken) -> tuple[Received, list[BatchOutput]]:
        """Frames over :data:`MAX_FRAME_BYTES` become reject rows; the rest go on."""
        big = [i for i, size in enumerate(taken.sizes) if size > self.max_frame_bytes]
        if not big:
            return taken.frames, []
        frames = taken.frames
        outputs = []
        for i in big:
            reason = f"frame of {taken.sizes[i]} octets exceeds the ingest's limit of {self.max_frame_bytes} (policy); first 256 octets kept"
            outputs.append(self.processor.rejected(frames.part(i, i + 1), reason, [taken.sizes[i]]))
        small = [i for i in range(len(frames)) if i not in set(big)]
        return Received(
            [frames.topics[i] for i in small], [frames.frames[i] for i in small], [frames.received_us[i] for i in small]
        ), outputs

    def _begin(self, batch: Received) -> tuple[BatchInProgress | None, Exception | None]:
        if not len(batch):
            return None, None
        try:
            return self.processor.begin(batch), None
        except Exception as exc:
            return None, exc

    def _finish(self, ahead: BatchInProgress, flush_checks: bool) -> list[BatchOutput]:
        try:
            return [self.processor.finish(ahead, flush_checks=flush_checks)]
        except Exception as exc:
            self.processor.forget_unchecked()
            return self.processor.process_isolating(ahead.batch, exc)

    def flush(self, taken: Taken | None, ahead: tuple[BatchInProgress, list[BatchOutput], list[tuple[int, int]]] | None):
        """Begin the new batch, then finish and commit the one ahead of it (the workers verify
        the new batch's signatures meanwhile); returns the new batch in progress.  The message
        checks wait for more batches while batches keep coming, and run once none is waiting."""
        begun = None
        if taken is not None:
            batch, rejected = self._oversize(taken)
            in_progress, error = self._begin(batch)
            if in_progress is None and ahead is not None:  # keep commits (and stream state) in arrival order
                self._store(self._finish(ahead[0], True) + ahead[1], ahead[2])
                ahead = None
            done = self.processor.process_isolating(batch, error) if error is not None else []
            if in_progress is None and (done or rejected):
                self._store(done + rejected, taken.acks)
            elif in_progress is None:  # only acknowledgements of redeliveries, owed once what is ahead is stored
                self.receiver.acknowledge(self.writer.sequence, taken.acks)
            else:
                begun = (in_progress, rejected, taken.acks)
        if ahead is not None:
            self._store(self._finish(ahead[0], begun is None) + ahead[1], ahead[2])
        return begun

    async def _flusher(self) -> None:
        assert self._arrived is not None
        ahead = None
        while True:
            if self.stats.failure:
                return
            done = self.receiver.finished_receiving.is_set()
            taken = self.inbox.take(MAX_BATCH)
            if taken is not None or ahead is not None:
                try:
                    ahead = await asyncio.to_thread(self.flush, taken, ahead)
                except BaseException as exc:
                    self.fail(f"storing a batch: {type(exc).__name__}: {exc}", traceback.format_exc())
                    return
            if done and ahead is None and not len(self.inbox):
                self.flushed.set()
                return
            if done or len(self.inbox) >= MAX_BATCH:  # a backlog: the next batch at once
                await asyncio.sleep(0)
                continue
            try:
                await asyncio.wait_for(self._arrived.wait(), FLUSH_INTERVAL_S)
            except TimeoutError:
                pass
            self._arrived.clear()
            await asyncio.sleep(0 if len(self.inbox) >= MAX_BATCH else FLUSH_INTERVAL_S / 5)

    async def run(self) -> IngestStats:
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        await asyncio.to_thread(self.signature_workers.start, self.verifier.store.suites if self.verifier else [])
        self.write_progress()
        flush_task = asyncio.create_task(self._flusher())
        receive_task = asyncio.create_task(asyncio.to_thread(self.receiver.run))
        await self.stop_event.wait()
        self.receiver.stop()
        self._arrived.set()
        try:
            await flush_task
        finally:
            self.flushed.set()
            await receive_task
            self.signature_workers.close()
        stats = self.stats
        stats.ended_at = time.time()
        if stats.failure is None and stats.end_cause == "running":
            stats.end_cause = "stopped"
        write_json_atomic(self.rundir.ingest / "summary.json", stats.as_dict())
        self.write_progress()
        return stats


async def ingest(
    address: BrokerAddress,
    run: RunDir,
    *,
    verifier: Verifier | None,
    topic_prefix: str = "",
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
    client_id: str | None = None,
    verify_workers: int = 0,
    tls: ClientTls | None = None,
    stats: IngestStats | None = None,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> IngestStats:
    """Ingest until ``stop`` is set, then flush what was received and return the counts.

    ``client_id``: the MQTT client id (default: the one this output used before, else a new
    random one; see :func:`ingest_client_id`).  ``verify_workers`` > 0 verifies signatures in
    that many worker processes (:class:`~v2x.security.workers.SignatureWorkers`); 0 verifies
    inline.  ``tls`` is the ingest's client certificate for an ``mqtts`` broker.  Pass ``stats``
    to watch the counts while it runs (see :func:`progress_line`).  If a stage fails, the
    ingest stops and ``stats.failure`` says why."""
    session = IngestSession(
        address,
        run,
        verifier=verifier,
        topic_prefix=topic_prefix,
        stop=stop,
        on_ready=on_ready,
        client_id=client_id,
        verify_workers=verify_workers,
        tls=tls,
        stats=stats if stats is not None else IngestStats(),
        max_frame_bytes=max_frame_bytes,
    )
    return await session.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest", description="Ingest V2X uplinks into a run directory")
    parser.add_argument("--run", required=True, type=Path, help="run directory to write")
    parser.add_argument("--broker", required=True, help="mqtt://host:port")
    parser.add_argument("--prefix", default="", help="zone topic prefix")
    parser.add_argument("--trust", action="append", type=Path, default=[], help="trusted root certificate (COER); repeatable")
    parser.add_argument(
        "--ca", action="append", type=Path, default=[], help="CA certificate under a trusted root (COER); repeatable"
    )
    parser.add_argument("--crl", type=Path, default=None, help="signed CRL (COER SecuredCrl) to apply")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--verify-workers", type=int, default=0, help="parallel signature verifiers (0: inline)")
    parser.add_argument("--client-id", default=None, help="MQTT client id (default: kept per output in ingest/client_id)")
    parser.add_argument("--tls-ca", type=Path, help="CA of an mqtts broker")
    parser.add_argument("--tls-cert", type=Path, help="the ingest's client certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    try:
        verifier = (
            verifier_from_files(args.trust, args.ca, args.crl)
            if args.trust
            else (verifier_from_pki(run.pki) if run.pki.exists() else None)
        )
    except ValueError as exc:
        print(f"ingest: trust store: {exc}", file=sys.stderr)
        return 2
    address = BrokerAddress.parse(args.broker)
    warm_up()

    async def _main() -> IngestStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        return await ingest(
            address,
            run,
            verifier=verifier,
            topic_prefix=args.prefix,
            stop=stop,
            on_ready=lambda: print("READY", flush=True),
            verify_workers=args.verify_workers,
            tls=client_tls(args.tls_ca, args.tls_cert, args.tls_key),
            client_id=args.client_id,
        )

    stats = asyncio.run(_main())
    print(f"ingest: received {stats.received}, stored {stats.stored}, rejected {stats.rejected}", file=sys.stderr)
    return 1 if stats.failure else 0


if __name__ == "__main__":
    exit_stage(main())
