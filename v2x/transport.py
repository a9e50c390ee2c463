"""MQTT transport over aiomqtt: broker addresses and client settings shared by all stages."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import aiomqtt

DEFAULT_PORT = 1883


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int = DEFAULT_PORT

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://host[:port]``; raises ValueError with the reason."""
        parsed = urlparse(url)
        if parsed.scheme != "mqtt" or not parsed.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
        return cls(parsed.hostname, parsed.port or DEFAULT_PORT)


def client(address: BrokerAddress, identifier: str, *, clean_session: bool = True, max_inflight: int = 100) -> aiomqtt.Client:
    """An aiomqtt client for ``address`` (MQTT 3.1.1)."""
    c = aiomqtt.Client(
        address.host,
        address.port,
        identifier=identifier,
        clean_session=clean_session,
        max_inflight_messages=max_inflight,
        max_queued_incoming_messages=0,
        keepalive=30,
    )
    c.pending_calls_threshold = 1_000_000  # we bound concurrency ourselves; silence aiomqtt's warning
    return c
