"""The frames an ingest received since its last batch: topic, payload and receive time of each."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Received:
    """Frames received since the last batch, in arrival order."""

    topics: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    received_us: list[int] = field(default_factory=list)

    def add(self, topic: str, frame: bytes, received_us: int) -> None:
        self.topics.append(topic)
        self.frames.append(frame)
        self.received_us.append(received_us)

    def __len__(self) -> int:
        return len(self.frames)

    def part(self, start: int, stop: int) -> Received:
        """Frames ``start`` to ``stop`` of the batch."""
        return Received(self.topics[start:stop], self.frames[start:stop], self.received_us[start:stop])
