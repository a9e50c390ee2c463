"""The receiver thread: a bulk subscriber whose reads carry the kernel's arrival time,
acknowledging frames only once they are stored."""

from __future__ import annotations

import queue
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from v2x.mqtt.access import ClientTls
from v2x.mqtt.subscribe import Deliveries, MqttError, SubscribeConnection

from pipeline.ingest.inbox import MAX_BATCH, Redeliveries, frame_digest

if TYPE_CHECKING:  # the session owns the receiver; imported for the annotation only
    from pipeline.ingest.session import IngestSession


RECONNECT_DELAY_S = 0.5


# Policy: the largest frame the ingest stores whole.  V2X messages are a few kilobytes (the
# largest Day-I message, a MAP of a big intersection, stays well under this); a larger PUBLISH
# is read past, not buffered, and stored as a reject row with its first 256 octets.
MAX_FRAME_BYTES = 64 * 1024


RECEIVER_STALL_S = 1.0  # a read loop iteration this long is a stalled receiver (the generationTime window is 1 s)


def client_tls(ca: Path | None, cert: Path | None, key: Path | None) -> ClientTls | None:
    """The TLS identity given as three files, or None if none is given; ValueError if only some are."""
    given = [p for p in (ca, cert, key) if p is not None]
    if not given:
        return None
    if len(given) != 3:
        raise ValueError("TLS needs all of CA, client certificate and key")
    return ClientTls(ca, cert, key)  # type: ignore[arg-type]


class Receiver:
    """The receiver thread: a bulk subscriber whose reads carry the kernel's arrival time
    (:mod:`v2x.mqtt.subscribe`), acknowledging frames only when the flusher says they are
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
                session.broker_event("broker_reconnected", session.where)
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
