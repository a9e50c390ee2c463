"""Sources: which framing each uplink topic uses, as the test engineer describes it.

A sources file (YAML) lists topic filters (MQTT 3.1.1 4.7: ``+`` one level, ``#`` the rest) with
their framing; the first that matches a topic wins, and a topic no entry matches is the YD/T 3957
envelope, as the harness's own devices send it::

    sources:
      - {topics: "V2X/RSU/+/+/UP", framing: bare-uper}        # RSUs that end PC5 security themselves
      - {topics: "V2X.RSU.SPAT.UP", framing: vendor-wrapper}   # a vendor's binary wrapper (one level)
      - {topics: "V2X/OBU/#", framing: envelope}

The ingest subscribes to every filter the file names besides its own ``V2X/#``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml
from aiomqtt import Topic, Wildcard
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from v2x.validation import problems

from pipeline.decode.framing import INGESTED, Framing, unwrap
from pipeline.ingest.received import Received


class SourcesError(ValueError):
    """A sources file that does not parse or does not describe sources."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: str = Field(description="an MQTT topic filter")
    framing: Framing

    @field_validator("topics")
    @classmethod
    def _a_filter(cls, value: str) -> str:
        """MQTT 3.1.1 4.7.1 (``#`` a whole last level, ``+`` a whole level), as aiomqtt checks it."""
        Wildcard(value)
        return value

    @field_validator("framing")
    @classmethod
    def _ingested(cls, value: Framing) -> Framing:
        if value not in INGESTED:
            raise ValueError(f"{value.value} is not ingested yet; use one of {', '.join(f.value for f in INGESTED)}")
        return value


class Sources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[Source] = Field(default_factory=list)

    def filters(self) -> list[str]:
        """The topic filters the ingest subscribes to besides its own."""
        return list(dict.fromkeys(s.topics for s in self.sources))

    def framing_of(self, topic: str) -> Framing:
        """The framing of a topic: the first entry whose filter matches, else the envelope."""
        return _framing_of(self, topic)

    def envelope_only(self) -> bool:
        return not self.sources

    def __hash__(self) -> int:
        return hash(tuple((s.topics, s.framing) for s in self.sources))


@functools.lru_cache(maxsize=65_536)  # a zone has one topic per device and message type
def _framing_of(sources: Sources, topic: str) -> Framing:
    for source in sources.sources:
        if Topic(topic).matches(source.topics):
            return source.framing
    return Framing.ENVELOPE


ENVELOPE_ONLY = Sources()


class Framings(Protocol):
    """What the batch stage asks of a description of sources."""

    def framing_of(self, topic: str) -> Framing: ...

    def envelope_only(self) -> bool: ...

    def filters(self) -> list[str]: ...


class RecordedFramings:
    """The framing each topic was received with, as a replayed run recorded it."""

    def __init__(self) -> None:
        self.by_topic: dict[str, Framing] = {}

    def framing_of(self, topic: str) -> Framing:
        return self.by_topic.get(topic, Framing.ENVELOPE)

    def envelope_only(self) -> bool:
        return all(f is Framing.ENVELOPE for f in self.by_topic.values())

    def filters(self) -> list[str]:
        return []


def load_sources(path: Path) -> Sources:
    """A sources file; :class:`SourcesError` naming the entry that is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourcesError(f"{path}: {str(exc).splitlines()[0]}") from None
    try:
        return Sources.model_validate(data)
    except ValidationError as exc:
        raise SourcesError(f"{path}: {problems(exc)[0]}") from None


@dataclass
class Adapted:
    """A batch as the batch stage parses it: one entry per message, each with the payload its
    row keeps (as received), its framing, the sender its framing names and why it could not be
    unwrapped."""

    received: Received
    stored: list[bytes]
    framing: list[str]
    sender: list[str | None]
    problem: list[str | None]


def adapt(batch: Received, sources: Framings) -> Adapted:
    """The messages of ``batch`` under ``sources`` (:func:`pipeline.decode.framing.unwrap`): a
    payload of the envelope stays as it is; a bare MessageFrame or each frame of a vendor wrapper
    becomes one message, with the payload's topic and receive time."""
    n = len(batch)
    if sources.envelope_only():
        return Adapted(batch, batch.frames, [Framing.ENVELOPE.value] * n, [None] * n, [None] * n)
    out = Adapted(Received(), [], [], [], [])
    for topic, payload, received_us in zip(batch.topics, batch.frames, batch.received_us):
        framing = sources.framing_of(topic)
        for message in unwrap(framing, payload):
            out.received.add(topic, message.frame, received_us)
            out.stored.append(payload)
            out.framing.append(framing.value)
            out.sender.append(message.sender)
            out.problem.append(message.problem)
    return out
