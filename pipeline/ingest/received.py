"""The frames an ingest received since its last batch: topic, payload and receive time of each,
and, from a stream, each frame's row number (``rx_seq``)."""

from __future__ import annotations

from dataclasses import dataclass, field

# A frame read from a JetStream stream has the ``rx_seq`` stream sequence × MESSAGES_PER_FRAME (+ k
# for the k-th message a wrapper framing carries): the same number on every delivery of the frame,
# unique across the workers writing one destination, in the order the cluster received the frames.
MESSAGES_PER_FRAME = 4096  # policy: more messages in one payload than this are rejected (sources.adapt)


def stream_rx_seq(stream_seq: int) -> int:
    """The ``rx_seq`` of the first message of the frame at ``stream_seq`` of a stream."""
    return stream_seq * MESSAGES_PER_FRAME


def stream_seq_of(rx_seq: int) -> int:
    """The stream sequence of the frame a row with ``rx_seq`` (from a stream) came from."""
    return rx_seq // MESSAGES_PER_FRAME


@dataclass
class Received:
    """Frames received since the last batch, in arrival order.  ``rx_seq`` is empty when the
    batch stage numbers the frames itself (a broker subscription, a replay), else one number per
    frame (:func:`stream_rx_seq`)."""

    topics: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    received_us: list[int] = field(default_factory=list)
    rx_seq: list[int] = field(default_factory=list)

    def add(self, topic: str, frame: bytes, received_us: int, rx_seq: int | None = None) -> None:
        self.topics.append(topic)
        self.frames.append(frame)
        self.received_us.append(received_us)
        if rx_seq is not None:
            self.rx_seq.append(rx_seq)

    def __len__(self) -> int:
        return len(self.frames)

    def part(self, start: int, stop: int) -> Received:
        """Frames ``start`` to ``stop`` of the batch."""
        return Received(self.topics[start:stop], self.frames[start:stop], self.received_us[start:stop], self.rx_seq[start:stop])

    def pick(self, indices: list[int]) -> Received:
        """The frames at ``indices``, in that order."""
        return Received(
            [self.topics[i] for i in indices],
            [self.frames[i] for i in indices],
            [self.received_us[i] for i in indices],
            [self.rx_seq[i] for i in indices] if self.rx_seq else [],
        )

    def extend(self, other: Received) -> None:
        """Add ``other``'s frames after these (both numbered, or neither)."""
        if bool(self.rx_seq) != bool(other.rx_seq) and len(self) and len(other):
            raise ValueError("a batch cannot mix numbered and unnumbered frames")
        self.topics += other.topics
        self.frames += other.frames
        self.received_us += other.received_us
        self.rx_seq += other.rx_seq
