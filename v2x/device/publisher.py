"""The MQTT connections of a simulator process, with delivery accounting.

A simulator publishes thousands of frames per second for hundreds of devices, so it does not
give each device an asyncio task and a client: frames go out through one shared connection,
each on its own device's uplink topic (:mod:`v2x.mqtt.topics`).  A broker with TLS and a topic ACL
(:mod:`v2x.mqtt.access`) identifies the device by its client certificate, so there every
device keeps a connection of its own.

Connections are :class:`v2x.mqtt.publish.PublishConnection` (a slot's frames in one write),
driven from the simulator's own thread: :meth:`Publisher.service` runs while the schedule
waits.  A frame counts as published when the broker acknowledged it (PUBACK, QoS 1) or when it
was written to the socket (QoS 0).  A frame due while its connection is down is counted as
failed and not queued: a V2X frame delivered seconds late is not a frame the device sent on
time.  A lost connection is retried every :data:`RECONNECT_DELAY_S`; given other addresses of the
same broker (the nodes of a cluster), a connection that cannot be opened, or is lost, is tried
next on the following address, as a device behind a load balancer fails over.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from v2x.mqtt.access import ClientTls
from v2x.mqtt.publish import MqttError, Outcome, PublishConnection
from v2x.mqtt.transport import BrokerAddress

RECONNECT_DELAY_S = 0.5
KEEPALIVE_S = 30


@dataclass
class Connection:
    """One named connection, when to retry it, and what happened to it."""

    name: str
    mqtt: PublishConnection
    retry_at: float = 0.0
    ever_connected: bool = False
    events: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.events) < 50:
            self.events.append(f"{time.strftime('%H:%M:%S')} {self.name}: {what}")


class Publisher:
    """Connections to ``address``: ``groups`` maps a connection name (the MQTT client id) to
    the TLS credentials it presents (None: plain MQTT).  :meth:`publish` sends a frame on a
    named connection; :meth:`service` writes, reads acknowledgements and reconnects."""

    def __init__(
        self,
        address: BrokerAddress,
        groups: dict[str, ClientTls | None],
        qos: int = 1,
        fallbacks: list[BrokerAddress] | None = None,
    ):
        self.address = address
        self.addresses = [address, *(fallbacks or [])]
        self.qos = qos
        self.connections: dict[str, Connection] = {}
        for name, tls in groups.items():
            if address.tls and tls is None:
                raise ValueError(f"{address.url} needs TLS client credentials for {name}")
            context = tls.context() if address.tls and tls is not None else None
            self.connections[name] = Connection(
                name, PublishConnection(address.host, address.port, name, qos=qos, keepalive_s=KEEPALIVE_S, tls=context)
            )

    def _fail_over(self, conn: Connection) -> None:
        """The next address for a connection that failed (itself again when there is one)."""
        now = next((k for k, a in enumerate(self.addresses) if (a.host, a.port) == (conn.mqtt.host, conn.mqtt.port)), 0)
        following = self.addresses[(now + 1) % len(self.addresses)]
        conn.mqtt.host, conn.mqtt.port = following.host, following.port
        conn.retry_at = time.monotonic() + RECONNECT_DELAY_S

    def _open(self, conn: Connection) -> None:
        try:
            conn.mqtt.connect()
        except MqttError as exc:
            conn.note(str(exc))
            self._fail_over(conn)
            return
        if conn.ever_connected:
            conn.note("reconnected")
        conn.ever_connected = True

    def start(self, timeout_s: float = 30.0) -> bool:
        """Connect every connection, retrying for up to ``timeout_s``; True if all are connected.
        Those that are not keep retrying in :meth:`service`."""
        deadline = time.monotonic() + timeout_s
        while True:
            for conn in self.connections.values():
                if not conn.mqtt.connected:
                    self._open(conn)
            if all(c.mqtt.connected for c in self.connections.values()) or time.monotonic() >= deadline:
                return all(c.mqtt.connected for c in self.connections.values())
            time.sleep(RECONNECT_DELAY_S)

    def service(self, timeout_s: float = 0.0) -> None:
        """Process the connections' traffic for about ``timeout_s``: write what is queued, read
        acknowledgements, keep alive, reconnect a lost connection when its retry is due."""
        share = timeout_s / max(1, len(self.connections))
        for conn in self.connections.values():
            if not conn.mqtt.connected:
                if time.monotonic() >= conn.retry_at:
                    self._open(conn)
                if not conn.mqtt.connected:
                    time.sleep(share)
                    continue
            lost = conn.mqtt.service(share)
            if lost is not None:
                conn.note(f"connection lost: {lost}")
                self._fail_over(conn)

    def wait_until(self, unix_s: float) -> None:
        """Service the connections until the wall clock reaches ``unix_s``."""
        while (delay := unix_s - time.time()) > 0:
            self.service(min(delay, 0.05))

    def publish(self, connection: str, topic: str, payload: bytes, outcome: Outcome) -> None:
        """Queue ``payload`` on ``topic``; ``outcome`` is called once, now or from a later
        :meth:`service`, when the frame is delivered or lost."""
        self.connections[connection].mqtt.publish(topic.encode(), payload, outcome)

    def outstanding(self) -> int:
        """Frames queued or in flight and not yet acknowledged."""
        return sum(c.mqtt.in_flight() for c in self.connections.values())

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Wait up to ``drain_timeout_s`` for acknowledgements, then disconnect; a frame never
        acknowledged is reported lost."""
        deadline = time.monotonic() + drain_timeout_s
        while self.outstanding() and time.monotonic() < deadline:
            self.service(0.01)
        for conn in self.connections.values():
            conn.mqtt.disconnect()

    def events(self) -> Iterable[str]:
        return [e for c in self.connections.values() for e in c.events]
