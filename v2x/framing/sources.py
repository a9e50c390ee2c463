"""Sources: which framing each uplink topic uses, as the test engineer describes it.

A sources file (YAML) lists topic filters (MQTT 3.1.1 4.7: ``+`` one level, ``#`` the rest) with
their framing; the first that matches a topic wins, and a topic no entry matches is the YD/T 3957
envelope, as the harness's own devices send it::

    sources:
      - {topics: "V2X/RSU/+/+/UP", framing: bare-uper}        # RSUs that end PC5 security themselves
      - {topics: "V2X.RSU.SPAT.UP", framing: vendor-wrapper}   # a vendor's binary wrapper (one level)
      - {topics: "V2X/RSU/R9/+/UP", framing: openv2x-json}     # an OpenV2X roadside unit
      - {topics: "v2x/v1/rsu/+/+/up", framing: cloud-json}     # RSUs uplinking to a cloud road-network service
      - {topics: "V2X/OBU/#", framing: envelope}

``v2x ingest --sources FILE`` reads one; ``v2x run`` writes one into the run directory for the
RSUs of its scenario that uplink another framing than the envelope.  The ingest subscribes to
every filter it names besides its own ``V2X/#``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from aiomqtt import Topic, Wildcard
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from v2x.framing import INGESTED, Framing, one_of
from v2x.validation import problems
from v2x.yaml_file import YamlError, load_yaml


class SourcesError(ValueError):
    """A sources file that does not parse or does not describe sources."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: str = Field(description="an MQTT topic filter")
    framing: Framing
    relay: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-]{1,32}$",
        description="the platform that republishes devices' messages on these topics (platform fidelity): their rows are "
        "its copies, kept apart from the devices' own and compared with them; the device id is read from the topic's "
        "trailing V2X/{RSU|OBU}/{id}/{type}/UP",
    )

    @field_validator("topics")
    @classmethod
    def _a_filter(cls, value: str) -> str:
        """MQTT 3.1.1 4.7.1 (``#`` a whole last level, ``+`` a whole level), as aiomqtt checks it."""
        Wildcard(value)
        return value

    @field_validator("framing")
    @classmethod
    def _ingested(cls, value: Framing) -> Framing:
        return one_of(value, INGESTED, "is not ingested yet")


class Sources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[Source] = Field(default_factory=list)

    def filters(self) -> list[str]:
        """The topic filters the ingest subscribes to besides its own."""
        return list(dict.fromkeys(s.topics for s in self.sources))

    def framing_of(self, topic: str) -> Framing:
        """The framing of a topic: the first entry whose filter matches, else the envelope."""
        source = _source_of(self, topic)
        return source.framing if source is not None else Framing.ENVELOPE

    def relay_of(self, topic: str) -> str | None:
        """The platform that republishes what arrives on a topic; None for a device's own uplink."""
        source = _source_of(self, topic)
        return source.relay if source is not None else None

    def envelope_only(self) -> bool:
        return not self.sources

    def __hash__(self) -> int:
        return hash(tuple((s.topics, s.framing, s.relay) for s in self.sources))


@functools.lru_cache(maxsize=65_536)  # a zone has one topic per device and message type
def _source_of(sources: Sources, topic: str) -> Source | None:
    for source in sources.sources:
        if Topic(topic).matches(source.topics):
            return source
    return None


ENVELOPE_ONLY = Sources()


def load_sources(path: Path) -> Sources:
    """A sources file; :class:`SourcesError` naming the entry that is wrong."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourcesError(f"{path}: {str(exc).splitlines()[0]}") from None
    except YamlError as exc:
        raise SourcesError(str(exc)) from None
    try:
        return Sources.model_validate(data)
    except ValidationError as exc:
        raise SourcesError(f"{path}: {problems(exc)[0]}") from None


def dump_sources(sources: Sources) -> str:
    """The YAML text of ``sources``, as :func:`load_sources` reads it."""
    return yaml.safe_dump(sources.model_dump(mode="json"), sort_keys=False)
