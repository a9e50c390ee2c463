"""The receiver of an ingest worker: frames of its partitions of the cluster's uplink stream,
acknowledged to the stream once stored.

A worker owns partitions of the cluster's uplink stream (:mod:`v2x.nats.uplink`) through one durable
pull consumer each, and may also read the strays (uplink subjects the partitioning does not cover).
Every frame it reads becomes rows numbered from its stream sequence
(:func:`~pipeline.ingest.received.stream_rx_seq`) and received at the time the cluster stored it
(the stream's timestamp); how long it then waited for the worker is kept apart (``stream_delay_ms``
in the summary).  A frame is acknowledged to its consumer only after the Parquet part holding it
has committed (fsync and rename, :mod:`pipeline.ingest.store`).

In order.  A worker starting on a partition first resets its consumer to the acknowledgement floor
(JetStream 2.14 consumer reset), so that the frames a killed worker held are delivered again at once
and in stream order, before newer ones: each sender's frames reach the batch stage in the order the
cluster received them (msgCnt continuity, inter-packet gaps, replay windows).

Exactly-once rows.  The stream delivers a frame again after a reset, and when its acknowledgement
did not arrive in :data:`~v2x.nats.uplink.ACK_WAIT_S` (the connection dropped, the acknowledgement
was lost).  A delivery whose stream sequence is already stored (by this session, by an earlier one
of this worker or by another worker that owned the partition before) is acknowledged and not
stored again; one whose first delivery is still on its way to storage is passed over (that one is
acknowledged when it is stored).  The stored sequences above each consumer's acknowledgement floor
are read back from the destination's committed parts when the worker starts.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from v2x.nats.uplink import (
    PARTITIONS,
    STRAYS,
    STREAM,
    ensure_uplink_consumers,
    partition_consumer,
    partition_subject,
    topic_of,
    unreported,
)
from v2x.records import Records

from pipeline.ingest.inbox import MAX_BATCH
from pipeline.ingest.received import stream_rx_seq, stream_seq_of
from pipeline.ingest.resume import StoredParts, stored_rx_seqs
from pipeline.ingest.store import WORKER_NAME, Commit

if TYPE_CHECKING:  # the session owns the receiver; imported for the annotation only
    from pipeline.ingest.session import IngestSession

FETCH_BATCH = 2_000  # frames asked of a consumer at a time
FETCH_WAIT_S = 0.2  # how long a pull waits for frames when the partition is idle (its frames' delay is the stream's timestamp)
RECONNECT_DELAY_S = 0.5
FLOORS_EVERY_S = 10.0  # how often the consumers' acknowledgement floors are asked, to forget sequences below them
DELAY_SAMPLES = 200_000  # the most recent waits kept for the delay percentiles


def parse_partitions(text: str, count: int) -> list[int]:
    """``0-3,6`` → [0, 1, 2, 3, 6]; each within ``0..count-1``; ValueError otherwise."""
    out: set[int] = set()
    for piece in text.split(","):
        first, _, last = piece.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"partitions {text!r}: numbers and ranges such as 0-3,6") from None
        if not 0 <= low <= high < count:
            raise ValueError(f"partitions {text!r}: each between 0 and {count - 1} (the stream has {count})")
        out.update(range(low, high + 1))
    return sorted(out)


class ConsumerResetError(RuntimeError):
    """The cluster refused to deliver a partition again from its acknowledgement floor."""


@dataclass(frozen=True)
class StreamSource:
    """Where a worker reads: the cluster's servers, the stream's partition count, the partitions
    it owns, whether it reads the strays, and its name (its parts and records in the destination)."""

    servers: tuple[str, ...]
    partitions: tuple[int, ...]
    partition_count: int
    worker: str
    strays: bool = False

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("a stream worker needs at least one nats:// server")
        if not WORKER_NAME.fullmatch(self.worker):
            raise ValueError(f"worker name {self.worker!r}: 1 to 40 of a-z 0-9 _ -")
        if not self.partitions and not self.strays:
            raise ValueError("a stream worker must own at least one partition or the strays")
        bad = [p for p in self.partitions if not 0 <= p < self.partition_count]
        if bad:
            raise ValueError(f"partitions {bad} are not among the stream's {self.partition_count}")

    @property
    def where(self) -> str:
        return ",".join(self.servers)

    @property
    def consumers(self) -> list[int]:
        return [*self.partitions, *([STRAYS] if self.strays else [])]

    def subjects(self, topic_prefix: str) -> list[str]:
        """The stored subjects the worker's consumers read."""
        return [partition_subject(p, topic_prefix) for p in self.consumers]

    def state(self, ingest: Records) -> Records:
        """The worker's records among the destination's ingest records."""
        return ingest.child("workers").child(self.worker)

    def describe(self) -> dict[str, object]:
        return {
            "kind": "nats",
            "servers": list(self.servers),
            "worker": self.worker,
            "partitions": list(self.partitions),
            "partition_count": self.partition_count,
            "strays": self.strays,
        }


class DestinationParts(StoredParts, Protocol):
    """A writer that also reads the commits of the other workers of its destination."""

    def destination_commits(self) -> dict[str, list[Commit]]: ...


def default_worker_name(partitions: Iterable[int], strays: bool) -> str:
    """A name from what the worker owns (``p0-3``, ``p0-3_6-strays``, ``strays``): the same on
    every restart of the worker."""
    ranges: list[list[int]] = []
    for p in sorted(partitions):
        if ranges and ranges[-1][1] == p - 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    names = [str(low) if low == high else f"{low}-{high}" for low, high in ranges]
    owned = "p" + "_".join(names) if names else ""
    return "-".join(n for n in (owned, "strays" if strays else "") if n)


def stored_stream_seqs(parts: DestinationParts, above: int) -> set[int]:
    """The stream sequences above ``above`` that parts committed in this destination hold, by
    any worker (each worker's commits, in the folder or the bucket)."""
    out: set[int] = set()
    for commits in parts.destination_commits().values():
        later = [c for c in commits if stream_seq_of(c.rx_seq_max) > above]
        out.update(seq for seq in map(stream_seq_of, stored_rx_seqs(parts, later)) if seq > above)
    return out


def stream_source(
    servers: str, partitions: str | None, partition_count: int = PARTITIONS, strays: bool = False, worker: str | None = None
) -> StreamSource:
    """A worker's source from its command line: ``nats://a:4222,nats://b:4222``, partitions such
    as ``0-3`` (None: none, for a worker of the strays alone); ValueError saying what is wrong."""
    urls = tuple(u.strip() for u in servers.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("nats://", "tls://")) or not url.split("://", 1)[1]:
            raise ValueError(f"{url!r} is not a nats://host:port URL")
    owned = tuple(parse_partitions(partitions, partition_count)) if partitions else ()
    return StreamSource(urls, owned, partition_count, worker or default_worker_name(owned, strays), strays)


class DelayReservoir:
    """The most recent waits (ms) between the stream's timestamp and the worker's read."""

    def __init__(self, size: int = DELAY_SAMPLES):
        self._ms = np.zeros(size, dtype=np.float64)
        self._n = 0

    def add(self, delays_ms: list[float]) -> None:
        values = np.asarray(delays_ms, dtype=np.float64)[-self._ms.size :]
        self._n += len(delays_ms) - values.size  # counted, though older than what is kept
        self._ms[(self._n + np.arange(values.size)) % self._ms.size] = values
        self._n += values.size

    def summary(self) -> dict[str, float] | None:
        if not self._n:
            return None
        kept = self._ms[: min(self._n, self._ms.size)]
        p50, p99 = np.percentile(kept, [50, 99])
        return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "max": round(float(kept.max()), 2), "samples": self._n}


@dataclass
class _Consumer:
    partition: int
    subscription: Any
    stored: set[int] = field(default_factory=set)  # sequences committed and not below the ack floor


class StreamReceiver:
    """The receiver thread of a stream worker (module docstring).  Its methods run on its own
    thread (an event loop of its own) except :meth:`acknowledge` and :meth:`stop`."""

    def __init__(self, session: IngestSession, source: StreamSource, topic_prefix: str):
        self.session, self.source, self.topic_prefix = session, source, topic_prefix
        self.stopping = threading.Event()
        self.finished_receiving = threading.Event()
        self._acks: queue.SimpleQueue[list[tuple[int, int]]] = queue.SimpleQueue()
        self._pending: dict[int, Any] = {}  # stream sequence -> message received and not yet acknowledged
        self._earlier: set[int] = set()  # sequences stored before this session, above the floors at its start
        self._consumers: dict[int, _Consumer] = {}
        self.delays = DelayReservoir()
        self._nc: Any = None

    def acknowledge(self, part: int, acks: list[tuple[int, int]]) -> None:
        """Called by the flusher once ``part`` has committed: acknowledge its frames
        (``acks``: (partition, stream sequence) pairs)."""
        self._acks.put(acks)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.finished_receiving.set()
            self.session.fail(f"stream receiver: {type(exc).__name__}: {exc}", traceback.format_exc())

    async def _connect(self) -> Any:
        """Connect to any of the servers, retrying (and saying so) until connected or stopped."""
        import nats
        from nats.errors import Error as NatsError

        session = self.session

        async def disconnected() -> None:
            if not self.stopping.is_set():  # not the worker's own close
                session.broker_event("broker_disconnected", f"lost the NATS server; reconnecting to {self.source.where}")

        async def reconnected() -> None:
            url = self._nc.connected_url.netloc if self._nc and self._nc.connected_url else self.source.where
            session.broker_event("broker_reconnected", url)

        said = False
        while not self.stopping.is_set():
            try:
                return await nats.connect(
                    list(self.source.servers),
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_DELAY_S,
                    allow_reconnect=True,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    error_cb=unreported,  # each loss is said by disconnected(); the client retries on its own
                )
            except (TimeoutError, NatsError, OSError) as exc:
                if not said:
                    session.broker_event("broker_disconnected", f"{self.source.where}: {type(exc).__name__}: {exc}")
                    said = True
                await asyncio.sleep(RECONNECT_DELAY_S)
        return None

    async def _subscribe(self, js: Any) -> None:
        """Make sure of the uplink consumers (every partition's, so that no frame goes unkept);
        bind to the owned ones; read back the sequences stored above their floors."""
        await ensure_uplink_consumers(
            js,
            self.topic_prefix,
            nodes=len(self.source.servers),
            partitions=self.source.partition_count,
        )
        floors = []
        for partition in self.source.consumers:
            name = partition_consumer(partition)
            info = await js.consumer_info(STREAM, name)
            floors.append(info.ack_floor.stream_seq if info.ack_floor else 0)
            await self._reset(name)
            subscription = await js.pull_subscribe_bind(name, stream=STREAM)
            self._consumers[partition] = _Consumer(partition, subscription)
        self._earlier = await asyncio.to_thread(stored_stream_seqs, self.session.writer, min(floors, default=0))

    async def _reset(self, consumer: str) -> None:
        """Deliver again, in stream order, everything after the consumer's acknowledgement floor
        (JetStream 2.14 consumer reset): the frames a killed worker held come first, not after
        :data:`~v2x.nats.uplink.ACK_WAIT_S` and behind newer ones, so each sender stays in order."""
        reply = await self._nc.request(f"$JS.API.CONSUMER.RESET.{STREAM}.{consumer}", b"{}", timeout=5)
        answer = json.loads(reply.data or b"{}")
        if answer.get("error"):
            raise ConsumerResetError(f"resetting consumer {consumer} to its acknowledgement floor: {answer['error']}")

    async def _main(self) -> None:
        from nats.errors import Error as NatsError

        self._nc = nc = await self._connect()
        if nc is None:
            self.finished_receiving.set()
            self.session.wake()
            return
        js = nc.jetstream(timeout=5)
        while not self.stopping.is_set():
            try:
                await self._subscribe(js)
                break
            except (TimeoutError, NatsError, OSError) as exc:  # a stream or consumer leader being elected
                self.session.broker_event("broker_disconnected", f"stream not ready: {type(exc).__name__}: {exc}")
                await asyncio.sleep(RECONNECT_DELAY_S)
        if self._consumers:
            self.session.ready()
        tasks = [asyncio.create_task(self._pull(c)) for c in self._consumers.values()]
        tasks.append(asyncio.create_task(self._floors(js)))
        while not self.stopping.is_set():
            await self._send_acks()
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.finished_receiving.set()
        self.session.wake()
        while not self.session.flushed.is_set():  # acknowledge the last parts as they are stored
            await self._send_acks()
            await asyncio.sleep(0.05)
        await self._send_acks()
        try:
            await nc.flush(timeout=5)  # the last acknowledgements reach the server before the connection closes
        except (TimeoutError, NatsError, OSError):
            pass  # not acknowledged: delivered again, and recognised as stored, when the partition is read next
        await nc.close()

    async def _pull(self, consumer: _Consumer) -> None:
        from nats.errors import Error as NatsError

        while not self.stopping.is_set():
            if len(self.session.inbox) >= 2 * MAX_BATCH:  # the flusher is behind: leave frames in the stream
                await asyncio.sleep(0.05)
                continue
            try:
                messages = await consumer.subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except (TimeoutError, NatsError, OSError):
                continue  # nothing waiting (a timeout), or the connection is being re-established
            self._take(consumer, messages)

    def _take(self, consumer: _Consumer, messages: list[Any]) -> None:
        """Queue new frames; acknowledge redeliveries of stored ones; pass over redeliveries of
        frames still on their way to storage."""
        session, stats = self.session, self.session.stats
        now_us = time.time_ns() // 1000
        topics: list[str] = []
        frames: list[bytes] = []
        received: list[int] = []
        numbers: list[int] = []
        acks: list[tuple[int, int]] = []
        stored_again: list[tuple[int, int]] = []
        for m in messages:
            meta = m.metadata
            seq = meta.sequence.stream
            if seq in self._pending or seq in consumer.stored or seq in self._earlier:  # a delivery again
                if seq not in self._pending:
                    stored_again.append((consumer.partition, seq))
                    self._pending[seq] = m
                stats.redelivered += 1
                continue
            self._pending[seq] = m
            topics.append(topic_of(m.subject))
            frames.append(m.data)
            received.append(int(meta.timestamp.timestamp() * 1_000_000))
            numbers.append(stream_rx_seq(seq))
            acks.append((consumer.partition, seq))
        if stored_again:
            session.inbox.add_acks(stored_again)
        stats.received += len(messages)
        if frames:
            self.delays.add([(now_us - r) / 1000 for r in received])
            if session.inbox.add_many(topics, frames, received, acks, [len(f) for f in frames], numbers) >= MAX_BATCH:
                session.wake()

    async def _send_acks(self) -> None:
        """Acknowledge the frames of committed parts (the flusher's :meth:`acknowledge`).  An
        acknowledgement the connection cannot take is given up: the frame is stored, and when the
        cluster delivers it again it is recognised by its sequence and acknowledged then."""
        from nats.errors import Error as NatsError

        sent = 0
        while True:
            try:
                acks = self._acks.get_nowait()
            except queue.Empty:
                break
            for partition, seq in acks:
                message = self._pending.pop(seq, None)
                consumer = self._consumers.get(partition)
                if consumer is not None:
                    consumer.stored.add(seq)
                if message is not None:
                    try:
                        await message.ack()
                        sent += 1
                    except (NatsError, OSError):
                        continue
        if sent:
            self.session.stats.acknowledged += sent
            self.session.stats.stream_delay_ms = self.delays.summary()  # with each progress record, not each fetch
            self.session.write_progress()

    async def _floors(self, js: Any) -> None:
        """Forget stored sequences the consumers will not deliver again (at or below their floors)."""
        from nats.errors import Error as NatsError

        while not self.stopping.is_set():
            await asyncio.sleep(FLOORS_EVERY_S)
            floors = []
            for consumer in self._consumers.values():
                try:
                    info = await js.consumer_info(STREAM, partition_consumer(consumer.partition))
                except (TimeoutError, NatsError, OSError):
                    floors.append(0)
                    continue
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                floors.append(floor)
                consumer.stored = {s for s in consumer.stored if s > floor}
            lowest = min(floors, default=0)
            if lowest:
                self._earlier = {s for s in self._earlier if s > lowest}
