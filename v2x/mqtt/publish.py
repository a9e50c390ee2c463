"""A publish-only MQTT 3.1.1 connection that writes many PUBLISH packets per system call.

This is the hot path of a simulator: 10,000 signed frames a second at the scale of the issue.
paho-mqtt (the library under aiomqtt) costs about 44 µs of CPU per QoS 1 frame on this machine
(a Python object, properties, a lock and a ``send`` per frame, and the same again for every
PUBACK), which with the signature leaves no CPU for the broker and the ingest on 2 cores.  A
slot's frames are instead encoded into one buffer and written together; acknowledgements are
parsed from what the socket has.  Only what a publisher needs is here (OASIS MQTT 3.1.1):
CONNECT/CONNACK (3.1, 3.2), PUBLISH QoS 0 and 1 (3.3), PUBACK (3.4), PINGREQ/PINGRESP (3.12,
3.13), DISCONNECT (3.14).  ``tests/test_mqtt_publish.py`` checks it against paho-mqtt and a
real broker; ``benches/test_publish.py`` measures it against paho-mqtt.

Nothing is resent after a reconnect: the session is clean and a V2X frame late by a reconnect
is not the frame the device sent; a QoS 1 frame still unacknowledged when the connection
drops is reported lost.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Callable

from v2x.mqtt.wire import (
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    MqttError,
    open_connection,
    remaining_length,
    split_packets,
    string,
)

__all__ = ["MqttError", "PublishConnection", "publish_packet", "remaining_length"]

Outcome = Callable[[bool], None]


def publish_packet(topic: bytes, payload: bytes, qos: int, packet_id: int = 0) -> bytes:
    """PUBLISH (3.3), not retained, not a duplicate."""
    head = string(topic) + (struct.pack(">H", packet_id) if qos else b"")
    return bytes([(PUBLISH << 4) | (qos << 1)]) + remaining_length(len(head) + len(payload)) + head + payload


class PublishConnection:
    """One connection to a broker, publishing only.  :meth:`publish` queues a frame,
    :meth:`service` writes the queue and reads acknowledgements; a frame's ``outcome`` is
    called once: True when the broker acknowledged it (QoS 1) or it was written (QoS 0)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        qos: int = 1,
        keepalive_s: int = 30,
        tls: ssl.SSLContext | None = None,
        connect_timeout_s: float = 5.0,
    ):
        if qos not in (0, 1):
            raise ValueError("QoS 0 or 1")
        self.host, self.port, self.client_id, self.qos = host, port, client_id, qos
        self.keepalive_s, self.tls, self.connect_timeout_s = keepalive_s, tls, connect_timeout_s
        self.sock: socket.socket | None = None
        self._out = bytearray()
        self._written_qos0: list[tuple[int, Outcome]] = []  # (end offset in _out, outcome)
        self._in = bytearray()
        self._in_flight: dict[int, Outcome] = {}
        self._next_id = 1
        self._last_write = 0.0

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def in_flight(self) -> int:
        return len(self._in_flight) + len(self._written_qos0)

    def connect(self) -> None:
        """Open the socket, send CONNECT and wait for CONNACK; raises :class:`MqttError`."""
        sock, _ = open_connection(
            self.host,
            self.port,
            self.client_id,
            keepalive_s=self.keepalive_s,
            clean_session=True,
            tls=self.tls,
            timeout_s=self.connect_timeout_s,
        )
        sock.setblocking(False)
        self.sock = sock
        self._last_write = time.monotonic()

    def publish(self, topic: bytes, payload: bytes, outcome: Outcome) -> None:
        """Queue a frame; with no connection the frame is lost at once."""
        if self.sock is None:
            outcome(False)
            return
        if self.qos == 0:
            self._out += publish_packet(topic, payload, 0)
            self._written_qos0.append((len(self._out), outcome))
            return
        packet_id = self._next_id
        while packet_id in self._in_flight:
            packet_id = packet_id % 65535 + 1
            if packet_id == self._next_id:
                outcome(False)  # 65,535 frames unacknowledged: the broker is not keeping up
                return
        self._next_id = packet_id % 65535 + 1
        self._in_flight[packet_id] = outcome
        self._out += publish_packet(topic, payload, 1, packet_id)

    def service(self, timeout_s: float = 0.0) -> str | None:
        """Write what is queued, read what has arrived (waiting up to ``timeout_s`` for it),
        keep the connection alive.  Returns None, or why the connection was lost (every frame
        not acknowledged is then reported lost)."""
        if self.sock is None:
            return "not connected"
        try:
            if time.monotonic() - self._last_write > self.keepalive_s / 2 and not self._out:
                self._out += bytes([PINGREQ << 4, 0])
            self._write()
            if self.tls is not None and self.sock.pending():  # type: ignore[attr-defined]
                self._read()
                return None
            readable, writable, _ = select.select([self.sock], [self.sock] if self._out else [], [], timeout_s)
            if writable:
                self._write()
            if readable:
                self._read()
        except MqttError as exc:
            return self._lost(str(exc))
        except (OSError, ssl.SSLError) as exc:
            return self._lost(f"{exc}")
        return None

    def _write(self) -> None:
        if not self._out:
            return
        try:
            sent = self.sock.send(self._out)  # type: ignore[union-attr]
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return
        self._last_write = time.monotonic()
        del self._out[:sent]
        if self._written_qos0:
            done = 0
            for end, outcome in self._written_qos0:
                if end > sent:
                    break
                outcome(True)
                done += 1
            self._written_qos0 = [(end - sent, outcome) for end, outcome in self._written_qos0[done:]]

    def _read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)  # type: ignore[union-attr]
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                raise MqttError("the broker closed the connection")
            self._in += chunk
            if len(chunk) < 65536:
                break
        packets, used = split_packets(self._in)
        for first, start, end in packets:
            kind = first >> 4
            if kind == PUBACK and end - start == 2:
                outcome = self._in_flight.pop((self._in[start] << 8) | self._in[start + 1], None)
                if outcome is not None:
                    outcome(True)
            elif kind != PINGRESP:
                raise MqttError(f"unexpected packet type {kind} from the broker")
        del self._in[:used]

    def _lost(self, why: str) -> str:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self._out.clear()
        self._in.clear()
        lost = list(self._in_flight.values()) + [o for _, o in self._written_qos0]
        self._in_flight, self._written_qos0 = {}, []
        for outcome in lost:
            outcome(False)
        return why

    def disconnect(self) -> None:
        """Send DISCONNECT and close; frames not acknowledged are reported lost."""
        if self.sock is not None:
            self._out += bytes([DISCONNECT << 4, 0])
            try:
                self.sock.setblocking(True)
                self.sock.settimeout(1.0)
                self.sock.sendall(self._out)
            except (OSError, ssl.SSLError):
                pass
        self._lost("disconnected")
