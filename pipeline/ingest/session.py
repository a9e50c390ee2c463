"""Ingest: subscribe to every uplink, batch, decode, verify and write telemetry Parquet.

Works the same for a simulated run and for real devices on a zone broker.  The subscription is
QoS 1 on a persistent session (clean_session false) under a client id of its own (kept in
``ingest/client_id``, so a restart on the same output resumes the same session).

At-least-once end to end, exactly-once rows:

* a frame is acknowledged to the broker (PUBACK) only once the Parquet part holding it has
  committed (:mod:`pipeline.ingest.store`), so a frame the ingest had not stored when it died, or when
  its connection dropped, is redelivered by the broker;
* a redelivery (DUP set) of a frame that was already stored, or is already on its way to
  storage, is acknowledged but not stored twice: the frames acknowledged on a lost connection,
  and the parts of an earlier session whose acknowledgements were not all sent, are remembered
  by (topic, payload) digest (:class:`Redeliveries`);
* a restart on the same output continues ``rx_seq`` and part numbers after the last commit and
  keeps every session's start, end, cause of end and counts in ``ingest/summary.json``.

No input can stop it: a batch whose processing raises is processed again in halves until the
frames at fault are alone, each stored as a reject row with the error
(:meth:`~pipeline.ingest.batch.BatchProcessor.process_isolating`).  If a stage fails anyway (the disk
is full, the receiver thread dies) the ingest stops receiving and acknowledging, records the
failure in the summary, says so on stderr and exits 1.

A receiver thread reads the broker in bulk and takes each frame's receipt time from the kernel
(:mod:`v2x.mqtt.subscribe`); the flusher turns what it received into batches every
``FLUSH_INTERVAL_S`` (:mod:`pipeline.ingest.batch`, one batch ahead) and commits Parquet.

As a worker of a NATS JetStream cluster (``stream``), the same session reads the partitions the
worker owns instead (:mod:`pipeline.ingest.stream_receiver`), with the same commits and the same
acknowledgement after them; its records are under ``ingest/workers/<worker>/``.

Run as a process: ``python -m pipeline.ingest --run RUN --broker mqtt://host:port``.  It prints
``READY`` once subscribed and stops cleanly (final batch flushed) on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable

import pyarrow as pa

from v2x.framing.sources import ENVELOPE_ONLY
from v2x.mqtt import topics
from v2x.mqtt.access import ClientTls
from v2x.mqtt.subscribe import SubscribeConnection
from v2x.mqtt.transport import BrokerAddress
from v2x.rundir import RunDir
from v2x.security import Verifier
from v2x.security.workers import SignatureWorkers
from v2x.stage_log import PROGRESS_EVERY_S

from pipeline.ingest.batch import BatchInProgress, BatchOutput, BatchProcessor, Received
from pipeline.ingest.bucket_store import BucketTelemetryWriter
from pipeline.ingest.inbox import MAX_BATCH, Inbox, Redeliveries, Taken
from pipeline.ingest.receiver import MAX_FRAME_BYTES, Receiver
from pipeline.ingest.record_writer import RecordWriter
from pipeline.ingest.resume import catch_up_records, stored_certificate_frames, stored_tail, unacknowledged_tail
from pipeline.ingest.sources import Framings
from pipeline.ingest.store import TelemetryWriter
from pipeline.ingest.stream_receiver import StreamReceiver, StreamSource
from pipeline.ingest.summary import IngestStats, earlier_sessions, event_time

LOG = logging.getLogger("pipeline.ingest")  # RUN/logs/ingest.log in a run; `v2x ingest --verbose`
LOG.addHandler(logging.NullHandler())
FLUSH_INTERVAL_S = 0.5


CLIENT_ID_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,64}")  # MQTT 3.1.1 3.1.3.1: servers must accept these


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


class IngestSession:
    """One ingest on one output: the flusher (batches, Parquet commits) on the event loop's
    worker thread and the :class:`Receiver` on its own."""

    def __init__(
        self,
        address: BrokerAddress | None,
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
        sources: Framings = ENVELOPE_ONLY,
        stream: StreamSource | None = None,
    ):
        if (address is None) == (stream is None):
            raise ValueError("an ingest reads either a broker or a stream")
        if address is not None and address.tls and tls is None:
            raise ValueError(f"{address.url} needs TLS client credentials (CA, certificate, key)")
        if stream is not None and not sources.envelope_only():
            raise ValueError("a stream worker reads the envelope uplinks only (framed sources go through an MQTT broker)")
        self.rundir, self.stop_event, self.on_ready, self.stats = run, stop, on_ready, stats
        self.where = address.url if address is not None else stream.where if stream is not None else ""
        self.filters = (
            list(dict.fromkeys([topics.subscription(topic_prefix), *sources.filters()]))
            if stream is None
            else stream.subjects(topic_prefix)
        )
        self.max_frame_bytes = max_frame_bytes
        run.create()
        bucket = run.bucket
        records = run.ingest_records()
        self.state = records if stream is None else stream.state(records)  # this ingest's own records
        stats.earlier = earlier_sessions(self.state)
        worker = stream.worker if stream is not None else None
        self.writer: TelemetryWriter | BucketTelemetryWriter
        if bucket is not None:
            self.writer = BucketTelemetryWriter(bucket, worker, on_outage=self.storage_event)
        elif stream is None:
            self.writer = TelemetryWriter(run.telemetry, run.tables)
        else:
            self.writer = TelemetryWriter(
                run.telemetry, run.tables, run.ingest / "workers" / str(worker) / "commits.jsonl", worker=worker
            )
        catch_up_records(stats.earlier, self.writer)
        if stream is None:
            stats.client_id = ingest_client_id(run, client_id)
        else:
            stats.source = stream.describe()
        self.signature_workers = SignatureWorkers(verify_workers if verifier else 0)
        self.verifier = verifier
        self.processor = BatchProcessor(
            verifier,
            topic_prefix,
            first_rx_seq=self.writer.next_rx_seq,
            signature_workers=self.signature_workers,
            sources=sources,
        )
        self.processor.resume(*stored_tail(self.writer))
        self.processor.remember_certificates(stored_certificate_frames(self.writer))
        crl = verifier.store.crl if verifier else None
        stats.crl = dataclasses.asdict(crl) if crl else None
        self.inbox = Inbox()
        self.flushed = threading.Event()  # the flusher has stored its last batch (or failed)
        self._progress_lock = threading.Lock()  # the flusher and the receiver thread both count and report progress
        self.receiver: Receiver | StreamReceiver
        if address is not None:
            redeliveries = Redeliveries()
            redeliveries.expect(unacknowledged_tail(self.writer, self.state))
            connection = SubscribeConnection(
                address.host,
                address.port,
                stats.client_id,
                self.filters,
                qos=1,
                clean_session=False,
                tls=tls.context() if address.tls and tls else None,
                defer_acks=True,
                max_payload=max_frame_bytes,
            )
            self.receiver = Receiver(self, connection, redeliveries)
        else:
            assert stream is not None
            self.receiver = StreamReceiver(self, stream, topic_prefix)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self.subscribed = False  # whether the receiver ever subscribed at the broker
        self._logged_at = time.monotonic()
        self.records = RecordWriter(self.state, on_error=self.fail)  # progress.json and acked.json, in the background

    # -- called from either thread -------------------------------------------------------
    def ready(self) -> None:
        if not self.subscribed:
            LOG.info("subscribed at %s to %s", self.where, ", ".join(self.filters))
        self.subscribed = True
        if self.on_ready and self._loop:
            self._loop.call_soon_threadsafe(self.on_ready)

    def wake(self) -> None:
        if self._loop and self._arrived:
            self._loop.call_soon_threadsafe(self._arrived.set)

    def write_progress(self) -> None:
        with self._progress_lock:
            self.records.post("progress.json", self.stats.as_dict())
            if time.monotonic() - self._logged_at >= PROGRESS_EVERY_S:
                self._logged_at = time.monotonic()
                s = self.stats
                LOG.info(
                    "progress: received %d, stored %d, rejected %d, acknowledged %d",
                    s.received,
                    s.stored,
                    s.rejected,
                    s.acknowledged,
                )

    def write_acked(self, through: int, unconfirmed: list[int]) -> None:
        self.records.post("acked.json", {"through": through, "unconfirmed": list(unconfirmed)})

    def broker_event(self, event: str, detail: str) -> None:
        with self._progress_lock:
            self.stats.events.append({"at": event_time(), "event": event, "detail": detail})
        LOG.log(logging.INFO if event.endswith("reconnected") else logging.WARNING, "%s: %s", event, detail)
        self.write_progress()

    def storage_event(self, event: str, detail: str) -> None:
        """The destination's bucket stopped answering, or answers again: recorded with the next
        progress record."""
        with self._progress_lock:
            self.stats.events.append({"at": event_time(), "event": event, "detail": detail})
        LOG.log(logging.INFO if event == "storage_back" else logging.WARNING, "%s: %s", event, detail)

    def fail(self, reason: str, details: str = "") -> None:
        """A stage failed: stop receiving and acknowledging at once, record it and say so."""
        if self.stats.failure is None:
            self.stats.failure = reason
            self.stats.end_cause = f"failed: {reason}"
            print(f"ingest FAILED: {reason}" + (f"\n{details}" if details else ""), file=sys.stderr, flush=True)
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
            self.stats.count_part(merged_telemetry, self.writer.rows_written)
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
        return frames.pick(small), outputs

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
            self.writer.close()
            self.records.close()
        stats = self.stats
        stats.ended_at = time.time()
        if not self.subscribed and stats.failure is None:  # a wrong host or port: nothing was ever listened to
            last = next((e["detail"] for e in reversed(stats.events) if e["event"] == "broker_disconnected"), "no answer")
            self.fail(f"never subscribed at the broker {self.where}: {last}")
        if stats.failure is None and stats.end_cause == "running":
            stats.end_cause = "stopped"
        self.state.write("summary.json", stats.as_dict())
        self.write_progress()
        LOG.info(
            "done (%s): received %d, stored %d, rejected %d, acknowledged %d",
            stats.end_cause,
            stats.received,
            stats.stored,
            stats.rejected,
            stats.acknowledged,
        )
        return stats


async def ingest(
    address: BrokerAddress | None,
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
    sources: Framings = ENVELOPE_ONLY,
    stream: StreamSource | None = None,
) -> IngestStats:
    """Ingest until ``stop`` is set, then flush what was received and return the counts.

    From an MQTT broker at ``address``, or, with ``address`` None, as a worker of a NATS
    JetStream cluster's uplink stream (``stream``: its servers and partitions,
    :mod:`pipeline.ingest.stream_receiver`).

    ``client_id``: the MQTT client id (default: the one this output used before, else a new
    random one; see :func:`ingest_client_id`).  ``verify_workers`` > 0 verifies signatures in
    that many worker processes (:class:`~v2x.security.workers.SignatureWorkers`); 0 verifies
    inline.  ``tls`` is the ingest's client certificate for an ``mqtts`` broker.  Pass ``stats``
    to watch the counts while it runs (see :func:`progress_line`).  ``sources``: the framing of
    each uplink topic (:mod:`pipeline.ingest.sources`; its filters are subscribed to as well).
    If a stage fails, the ingest stops and ``stats.failure`` says why."""
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
        sources=sources,
        stream=stream,
    )
    return await session.run()
