"""Ingest: subscribe to every uplink, batch, decode, verify and write telemetry Parquet.

Works the same for a simulated run and for real devices on a zone broker.  The subscription is
QoS 1 on a persistent session (clean_session false), so if the connection drops the broker
keeps our messages and we resume; every disconnect is recorded in ``ingest/summary.json``.

A receiver thread reads the broker in bulk and takes each frame's receipt time from the kernel
(:mod:`v2x.mqtt_subscribe`); the flusher turns what it received into batches every
``FLUSH_INTERVAL_S`` (:mod:`pipeline.batch`, one batch ahead) and writes Parquet.

Run as a process: ``python -m pipeline.ingest --run RUN --broker mqtt://host:port``.  It prints
``READY`` once subscribed and stops cleanly (final batch flushed) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from v2x import topics
from v2x.broker_access import ClientTls
from v2x.mqtt_subscribe import Deliveries, MqttError, SubscribeConnection
from v2x.rundir import RunDir, exit_stage, write_json_atomic
from v2x.security import CertificateStore, Verifier
from v2x.security.workers import SignatureWorkers
from v2x.transport import BrokerAddress


from pipeline.batch import BatchInProgress, BatchOutput, BatchProcessor, Received, warm_up
from pipeline.store import TelemetryWriter

FLUSH_INTERVAL_S = 0.5
MAX_BATCH = 20_000
RECONNECT_DELAY_S = 0.5


class Inbox:
    """Frames received and not yet taken by the flusher: the receiver thread adds, the flusher takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch = Received()

    def add_many(self, topics: list[str], frames: list[bytes], received_us: list[int]) -> int:
        """Add frames in arrival order; returns how many are waiting."""
        with self._lock:
            self._batch.topics += topics
            self._batch.frames += frames
            self._batch.received_us += received_us
            return len(self._batch)

    def take(self) -> Received | None:
        """Everything waiting, or None."""
        with self._lock:
            if not len(self._batch):
                return None
            batch, self._batch = self._batch, Received()
            return batch

    def __len__(self) -> int:
        return len(self._batch)


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    events: list[dict[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    crl: dict[str, object] | None = None  # the CRL applied (CrlStatus), if any

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "stored": self.stored,
            "stored_by_type": dict(self.by_type),
            "rejected": self.rejected,
            "events": self.events,
            "crl": self.crl,
            "started_at": self.started_at,
            "updated_at": time.time(),
        }


def verifier_from_files(trust: list[Path], cas: list[Path] = (), crl: Path | None = None) -> Verifier | None:
    """A verifier trusting the root certificates ``trust``, holding the CA certificates ``cas``
    and applying the signed CRL ``crl``; None without trust anchors."""
    if not trust:
        return None
    store = CertificateStore([p.read_bytes() for p in trust], [p.read_bytes() for p in cas])
    if crl is not None:
        store.load_crl(crl.read_bytes())
    return Verifier(store)


def verifier_from_pki(pki: Path) -> Verifier | None:
    """The verifier of a PKI directory (root, its CAs, its CRL if one was written)."""
    if not (pki / "root-ca.oer").exists():
        return None
    crl = pki / "crl.oer"
    return verifier_from_files([pki / "root-ca.oer"], sorted((pki / "ca").glob("*.oer")), crl if crl.exists() else None)


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
    broker = "broker disconnected" if stats.events and stats.events[-1]["event"] == "broker_disconnected" else "connected"
    line = (f"{now - stats.started_at:6.0f} s  received {stats.received} ({rate:.0f}/s)  stored {stats.stored}"
            f"{'  [' + types + ']' if types else ''}  rejected {stats.rejected}  {broker}")
    return line, Progress(now, stats.received)


async def ingest(
    address: BrokerAddress,
    run: RunDir,
    *,
    verifier: Verifier | None,
    topic_prefix: str = "",
    stop: asyncio.Event,
    on_ready: callable | None = None,  # type: ignore[valid-type]
    client_id: str = "xiqing-v2x-ingest",
    verify_workers: int = 0,
    tls: ClientTls | None = None,
    stats: IngestStats | None = None,
) -> IngestStats:
    """Ingest until ``stop`` is set, then flush what was received and return the counts.

    ``verify_workers`` > 0 verifies signatures in that many worker processes
    (:class:`~v2x.security.workers.SignatureWorkers`); 0 verifies inline.
    ``tls`` is the ingest's client certificate for an ``mqtts`` broker.  Pass ``stats`` to
    watch the counts while it runs (see :func:`progress_line`).
    """
    run.create()
    stats = stats if stats is not None else IngestStats()
    writer = TelemetryWriter(run.telemetry, run.tables)
    signature_workers = SignatureWorkers(verify_workers if verifier else 0)
    await asyncio.to_thread(signature_workers.start, verifier.store.suites if verifier else [])
    processor = BatchProcessor(verifier, topic_prefix, first_rx_seq=writer.next_rx_seq, signature_workers=signature_workers)
    crl = verifier.store.crl if verifier else None
    stats.crl = dataclasses.asdict(crl) if crl else None
    pending = Inbox()
    arrived = asyncio.Event()

    progress_lock = threading.Lock()  # the flusher and the receiver thread both report progress

    def write_progress() -> None:
        with progress_lock:
            write_json_atomic(run.ingest / "progress.json", stats.as_dict())

    def write(output: BatchOutput) -> None:
        writer.write(output.telemetry, output.tables)
        with progress_lock:
            for msg_type, table in output.telemetry.items():
                stats.by_type[msg_type] += table.num_rows
                stats.rejected += table.num_rows - sum(table.column("decode_ok").to_pylist())
            stats.stored = writer.rows_written
        write_progress()

    def flush_sync(batch: Received | None, ahead: BatchInProgress | None) -> BatchInProgress | None:
        """Begin the new batch, then finish and write the one ahead of it (the workers verify
        the new batch's signatures meanwhile); returns the new batch in progress.  The message
        checks wait for more batches while batches keep coming, and run once none is waiting."""
        begun = processor.begin(batch) if batch is not None else None
        if ahead is not None:
            write(processor.finish(ahead, flush_checks=begun is None))
        return begun

    async def flusher() -> None:
        ahead: BatchInProgress | None = None
        while True:
            done = stop.is_set()
            batch = pending.take()
            if batch is not None or ahead is not None:
                ahead = await asyncio.to_thread(flush_sync, batch, ahead)
            if done and ahead is None:
                return
            if done:
                continue
            try:
                await asyncio.wait_for(arrived.wait(), FLUSH_INTERVAL_S)
            except TimeoutError:
                pass
            arrived.clear()
            await asyncio.sleep(0 if len(pending) >= MAX_BATCH else FLUSH_INTERVAL_S / 5)

    def receive() -> None:
        """The receiver thread: a bulk subscriber whose reads carry the kernel's arrival time
        (:mod:`v2x.mqtt_subscribe`), so the flusher's work cannot make receipt late."""
        ready_sent, was_connected = False, False
        conn = SubscribeConnection(address.host, address.port, client_id, [topics.subscription(topic_prefix)], qos=1,
                                   clean_session=False, tls=tls.context() if address.tls and tls else None)
        while not receiving_stop.is_set():
            try:
                conn.connect()
            except MqttError as exc:
                if was_connected or not stats.events or stats.events[-1]["event"] != "broker_disconnected":
                    broker_event("broker_disconnected", str(exc))
                was_connected = False
                receiving_stop.wait(RECONNECT_DELAY_S)
                continue
            if stats.events and stats.events[-1]["event"] == "broker_disconnected":
                broker_event("broker_reconnected", address.url)
            was_connected = True
            if not ready_sent:
                ready_sent = True
                if on_ready:
                    loop.call_soon_threadsafe(on_ready)
            try:
                while not receiving_stop.is_set():
                    take(conn.receive(0.1))
                take(conn.receive(0.0))  # what has arrived by the stop
                conn.close()
            except MqttError as exc:
                broker_event("broker_disconnected", str(exc))
                was_connected = False
                receiving_stop.wait(RECONNECT_DELAY_S)

    reported_received = 0

    def take(deliveries: Deliveries) -> None:
        """Queue what arrived; when a read brings nothing new, report the count received so far
        (a run waiting for its last frames sees them arrive without waiting for their batch)."""
        nonlocal reported_received
        if deliveries:
            full = pending.add_many(deliveries.topics, deliveries.payloads, deliveries.received_us) >= MAX_BATCH
            stats.received += len(deliveries)
            if full:
                loop.call_soon_threadsafe(arrived.set)
        elif stats.received != reported_received:
            reported_received = stats.received
            write_progress()

    def broker_event(event: str, detail: str) -> None:
        with progress_lock:
            stats.events.append({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event, "detail": detail})
        write_progress()

    if address.tls and tls is None:
        raise ValueError(f"{address.url} needs TLS client credentials (CA, certificate, key)")
    loop = asyncio.get_running_loop()
    receiving_stop = threading.Event()
    flush_task = asyncio.create_task(flusher())
    receive_task = asyncio.create_task(asyncio.to_thread(receive))
    await stop.wait()
    receiving_stop.set()
    await receive_task
    arrived.set()
    try:
        await flush_task
    finally:
        signature_workers.close()
    write_json_atomic(run.ingest / "summary.json", stats.as_dict())
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest", description="Ingest V2X uplinks into a run directory")
    parser.add_argument("--run", required=True, type=Path, help="run directory to write")
    parser.add_argument("--broker", required=True, help="mqtt://host:port")
    parser.add_argument("--prefix", default="", help="zone topic prefix")
    parser.add_argument("--trust", action="append", type=Path, default=[], help="trusted root certificate (COER); repeatable")
    parser.add_argument("--ca", action="append", type=Path, default=[], help="CA certificate under a trusted root (COER); repeatable")
    parser.add_argument("--crl", type=Path, default=None, help="signed CRL (COER SecuredCrl) to apply")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--verify-workers", type=int, default=0, help="parallel signature verifiers (0: inline)")
    parser.add_argument("--tls-ca", type=Path, help="CA of an mqtts broker")
    parser.add_argument("--tls-cert", type=Path, help="the ingest's client certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    verifier = verifier_from_files(args.trust, args.ca, args.crl) if args.trust else verifier_from_pki(run.pki)
    address = BrokerAddress.parse(args.broker)
    warm_up()

    async def _main() -> IngestStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        return await ingest(address, run, verifier=verifier, topic_prefix=args.prefix, stop=stop,
                            on_ready=lambda: print("READY", flush=True), verify_workers=args.verify_workers,
                            tls=client_tls(args.tls_ca, args.tls_cert, args.tls_key))

    stats = asyncio.run(_main())
    print(f"ingest: received {stats.received}, stored {stats.stored}, rejected {stats.rejected}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_stage(main())
