"""The messages of each received payload, by the framing of its source.

Which framing a topic carries is described by :class:`v2x.framing.sources.Sources` (a file the
test engineer writes, or the one ``v2x run`` writes for its scenario) or, for a replayed run, by
what each row recorded (:class:`RecordedFramings`); :func:`adapt` turns a batch of payloads into
the messages the batch stage parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from v2x.framing import Framing

from pipeline.decode.framing import unwrap
from pipeline.ingest.received import MESSAGES_PER_FRAME, Received


class Framings(Protocol):
    """What the batch stage asks of a description of sources."""

    def framing_of(self, topic: str) -> Framing: ...

    def relay_of(self, topic: str) -> str | None: ...

    def envelope_only(self) -> bool: ...

    def filters(self) -> list[str]: ...


class RecordedFramings:
    """The framing each topic was received with, as a replayed run recorded it."""

    def __init__(self) -> None:
        self.by_topic: dict[str, Framing] = {}
        self.relays: dict[str, str] = {}  # topic -> the platform that republished what arrived on it

    def framing_of(self, topic: str) -> Framing:
        return self.by_topic.get(topic, Framing.ENVELOPE)

    def relay_of(self, topic: str) -> str | None:
        return self.relays.get(topic)

    def envelope_only(self) -> bool:
        return not self.relays and all(f is Framing.ENVELOPE for f in self.by_topic.values())

    def filters(self) -> list[str]:
        return []


@dataclass
class Adapted:
    """A batch as the batch stage parses it: one entry per message, each with the payload its
    row keeps (as received), its framing, the sender and send time its framing names and why it
    could not be unwrapped."""

    received: Received
    stored: list[bytes]
    framing: list[str]
    sender: list[str | None]
    problem: list[str | None]
    sent_us: list[int]  # when the framing says the device sent it (Unix µs), -1 if it does not say
    relay: list[str | None]  # the platform that republished it; None: the device's own uplink


def adapt(batch: Received, sources: Framings) -> Adapted:
    """The messages of ``batch`` under ``sources`` (:func:`pipeline.decode.framing.unwrap`): a
    payload of the envelope stays as it is; a bare MessageFrame or each frame of a vendor wrapper
    becomes one message, with the payload's topic and receive time."""
    n = len(batch)
    if sources.envelope_only():
        return Adapted(batch, batch.frames, [Framing.ENVELOPE.value] * n, [None] * n, [None] * n, [-1] * n, [None] * n)
    out = Adapted(Received(), [], [], [], [], [], [])
    numbers: list[int | None] = list(batch.rx_seq) or [None] * n
    for topic, payload, received_us, rx_seq in zip(batch.topics, batch.frames, batch.received_us, numbers):
        framing = sources.framing_of(topic)
        relay = sources.relay_of(topic)
        messages = unwrap(framing, payload, topic)
        for k, message in enumerate(messages[:MESSAGES_PER_FRAME] if rx_seq is not None else messages):
            problem = message.problem
            if rx_seq is not None and k == MESSAGES_PER_FRAME - 1 and len(messages) > MESSAGES_PER_FRAME:
                problem = f"{len(messages)} messages in one payload; more than {MESSAGES_PER_FRAME} cannot be numbered (policy)"
            out.received.add(topic, message.frame, received_us, None if rx_seq is None else rx_seq + k)
            out.stored.append(payload)
            out.framing.append(framing.value)
            out.sender.append(message.sender)
            out.problem.append(problem)
            out.sent_us.append(-1 if message.sent_us is None else message.sent_us)
            out.relay.append(relay)
    return out
