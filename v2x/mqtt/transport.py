"""MQTT transport over aiomqtt: broker addresses and client settings shared by all stages."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import aiomqtt

from v2x.mqtt.access import ClientTls

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int = DEFAULT_PORT
    tls: bool = False  # mqtts: TLS with a client certificate

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]``; raises ValueError with the reason."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port or mqtts://host:port, got {url!r}")
        tls = parsed.scheme == "mqtts"
        return cls(parsed.hostname, parsed.port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT), tls)


def client(
    address: BrokerAddress, identifier: str, *, clean_session: bool = True, max_inflight: int = 100, tls: ClientTls | None = None
) -> aiomqtt.Client:
    """An aiomqtt client for ``address`` (MQTT 3.1.1); ``tls`` is required for an mqtts address."""
    if address.tls and tls is None:
        raise ValueError(f"{address.url} needs TLS client credentials (CA, certificate, key)")
    c = aiomqtt.Client(
        address.host,
        address.port,
        tls_context=tls.context() if address.tls and tls else None,
        identifier=identifier,
        clean_session=clean_session,
        max_inflight_messages=max_inflight,
        max_queued_incoming_messages=0,
        keepalive=30,
    )
    c.pending_calls_threshold = 1_000_000  # we bound concurrency ourselves; silence aiomqtt's warning
    return c
