"""What the receiver hands the flusher: frames in arrival order with the acknowledgements they owe,
in bounded batches, and the digests that recognise a redelivery of a stored frame."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass

from pipeline.ingest.batch import Received

MAX_BATCH = 20_000


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
        rx_seq: list[int] | None = None,
    ) -> int:
        """Add frames in arrival order with what each is owed (and their numbers, from a
        stream); returns how many are waiting."""
        with self._lock:
            self._batch.extend(Received(topics, frames, received_us, rx_seq or []))
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
            frames, self._batch = b.part(0, k), b.part(k, len(b))
            acks, self._acks = self._acks[:k], self._acks[k:]
            sizes, self._sizes = self._sizes[:k], self._sizes[k:]
            acks += [ack for at, ack in self._ack_only if at <= k]
            self._ack_only = [(at - k, ack) for at, ack in self._ack_only if at > k]
            return Taken(frames, acks, sizes)

    def __len__(self) -> int:
        return len(self._batch)
