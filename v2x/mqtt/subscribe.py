"""A subscribe-only MQTT 3.1.1 connection that reads in bulk and stamps receipt in the kernel.

This is the ingest's receive side, the mirror of :mod:`v2x.mqtt.publish`.  aiomqtt costs about
37 µs of CPU per received frame here (limits.md: a subscriber tops out near 27,000 frames/s on a
whole core); at 11,000 frames/s that is 0.4 of the machine's 2 cores before any frame is
decoded or verified.  This connection reads what the socket has in one call, splits the
PUBLISH packets out of it and acknowledges the QoS 1 ones in one write.

Receipt time is what latency is measured from (GB/T 45315 table 6, compliance.md), so it must
not depend on when the ingest gets round to reading.  On a plain TCP connection the kernel
stamps the time the data arrived (``SO_TIMESTAMPNS``, Linux) and each read carries it: a frame
gets the stamp of the newest data in its read, which is never earlier than its own arrival (nor
than the frame before it) and at most a few milliseconds later (reads are 32 KiB).  Over TLS the
stamp is taken when the read returns.

Packets (OASIS MQTT 3.1.1): CONNECT/CONNACK (3.1, 3.2), PUBLISH in (3.3) at QoS 0 and 1,
PUBACK (3.4), SUBSCRIBE/SUBACK (3.8, 3.9), PINGREQ/PINGRESP (3.12, 3.13), DISCONNECT (3.14).
``tests/test_mqtt_subscribe.py`` checks it against paho-mqtt and Mosquitto.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from v2x import clock
from v2x.mqtt.wire import (
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    SUBSCRIBE,
    MqttError,
    open_connection,
    packet_extent,
    remaining_length,
    split_packets,
    string,
)

__all__ = ["Deliveries", "MqttError", "SubscribeConnection", "subscribe_packet"]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux asm-generic/socket.h; not exported by Python
READ_SIZE = 32 * 1024
_TIMESPEC = struct.Struct("qq")


def subscribe_packet(packet_id: int, filters: Sequence[str], qos: int) -> bytes:
    """SUBSCRIBE (3.8): each topic filter at the requested QoS."""
    body = struct.pack(">H", packet_id) + b"".join(string(f.encode()) + bytes([qos]) for f in filters)
    return bytes([(SUBSCRIBE << 4) | 0x02]) + remaining_length(len(body)) + body


OVERSIZE_KEPT = 256  # octets of an oversize frame's payload that are kept (the reject row shows its start)


@dataclass
class Deliveries:
    """Frames received, in arrival order, with the Unix µs each was received.

    ``packet_ids``: the PUBLISH packet identifier (0 at QoS 0), to acknowledge later with
    :meth:`SubscribeConnection.acknowledge` when the connection defers acknowledgements;
    ``dup``: the broker's DUP flag (3.3.1.1, a redelivery); ``sizes``: the payload's full size,
    larger than the payload kept when the frame exceeded ``max_payload``."""

    topics: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    received_us: list[int] = field(default_factory=list)
    packet_ids: list[int] = field(default_factory=list)
    dup: list[bool] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.payloads)


class SubscribeConnection:
    """One connection to a broker, subscribing only.  :meth:`connect` subscribes to
    ``filters``; :meth:`receive` returns what has arrived.  With ``clean_session=False`` the
    broker keeps the subscription and queues QoS 1 frames while the connection is down
    (3.1.2.4), so a reconnect with the same ``client_id`` gets them.

    ``defer_acks``: QoS 1 frames are acknowledged only when the caller says so
    (:meth:`acknowledge`, once they are durable), so a frame lost before then is redelivered
    (at-least-once end to end); otherwise they are acknowledged as they are read.
    ``generation`` counts connections: packet identifiers of an earlier connection are not
    acknowledged on a later one (the broker redelivers those frames with DUP set).
    A PUBLISH whose payload exceeds ``max_payload`` octets is not buffered: its first
    :data:`OVERSIZE_KEPT` octets are delivered with its full size, the rest is read past."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        filters: Sequence[str],
        *,
        qos: int = 1,
        clean_session: bool = False,
        keepalive_s: int = 30,
        tls: ssl.SSLContext | None = None,
        connect_timeout_s: float = 5.0,
        defer_acks: bool = False,
        max_payload: int | None = None,
    ):
        if qos not in (0, 1):
            raise ValueError("QoS 0 or 1")
        self.defer_acks, self.max_payload = defer_acks, max_payload
        self.generation = 0
        self._skip = 0  # octets still to read past of an oversize PUBLISH
        self.host, self.port, self.client_id, self.filters, self.qos = host, port, client_id, list(filters), qos
        self.clean_session, self.keepalive_s, self.tls, self.connect_timeout_s = (
            clean_session,
            keepalive_s,
            tls,
            connect_timeout_s,
        )
        self.sock: socket.socket | None = None
        self.kernel_stamps = False  # receipt stamped by the kernel (plain TCP on Linux)
        self._last_stamp_us = 0  # the newest receipt stamp given on this connection
        self._in = bytearray()
        self._early = False
        self._last_write = 0.0

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def connect(self) -> None:
        """Open the socket, CONNECT and SUBSCRIBE; raises :class:`MqttError` with the reason
        (no broker, a refused CONNECT, a filter the broker refuses)."""
        sock, _ = open_connection(
            self.host,
            self.port,
            self.client_id,
            keepalive_s=self.keepalive_s,
            clean_session=self.clean_session,
            tls=self.tls,
            timeout_s=self.connect_timeout_s,
        )
        try:
            sock.sendall(subscribe_packet(1, self.filters, self.qos))
            early = bytearray()  # PUBLISH packets of a kept session may come before SUBACK
            granted = None
            while granted is None:
                chunk = sock.recv(READ_SIZE)
                if not chunk:
                    raise MqttError(f"{self.host}:{self.port} closed the connection before SUBACK")
                early += chunk
                packets, _ = split_packets(early)
                suback = next(((start, end) for first, start, end in packets if first >> 4 == SUBACK), None)
                if suback is not None:
                    start, end = suback
                    granted = bytes(early[start + 2 : end])  # after the packet identifier
                    del early[start - 2 : end]  # with its 2-byte fixed header
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise MqttError(f"subscribing at {self.host}:{self.port}: {exc}") from None
        if len(granted) != len(self.filters) or any(code == 0x80 for code in granted):
            sock.close()
            refused = [f for f, code in zip(self.filters, granted) if code == 0x80]
            raise MqttError(f"{self.host}:{self.port} refused the subscription to {', '.join(refused) or self.filters}")
        if self.tls is None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel_stamps = True
            except OSError:
                self.kernel_stamps = False
        sock.setblocking(False)
        self.sock = sock
        self.generation += 1
        self._skip = 0
        self._in = early
        self._early = bool(early)
        self._last_write = time.monotonic()

    def receive(self, timeout_s: float = 0.2) -> Deliveries:
        """The frames that have arrived, waiting up to ``timeout_s`` for the first; QoS 1
        frames are acknowledged before this returns.  Raises :class:`MqttError` when the
        connection is lost (the frames read before that are in the broker's session again
        if they were not acknowledged)."""
        if self.sock is None:
            raise MqttError("not connected")
        out = Deliveries()
        try:
            if time.monotonic() - self._last_write > self.keepalive_s / 2:
                self._send(bytes([PINGREQ << 4, 0]))
            pending_tls = self.tls is not None and self.sock.pending()  # type: ignore[attr-defined]
            if self._early or pending_tls or select.select([self.sock], [], [], timeout_s)[0]:
                self._read(out)
        except MqttError:
            self.close(send_disconnect=False)
            raise
        except (OSError, ssl.SSLError) as exc:
            self.close(send_disconnect=False)
            raise MqttError(f"connection to {self.host}:{self.port} lost: {exc}") from None
        return out

    def _read(self, out: Deliveries) -> None:
        sock = self.sock
        assert sock is not None
        acks = bytearray()
        if self._early:  # frames of a kept session that came with SUBACK
            self._early = False
            self._deliver(out, clock.now_unix_us(), acks)
        for _ in range(64):  # at most 2 MiB a call, so the caller keeps its rhythm
            try:
                if self.kernel_stamps:
                    chunk, ancillary, _, _ = sock.recvmsg(READ_SIZE, socket.CMSG_SPACE(_TIMESPEC.size))
                    received_us = (
                        next(
                            (
                                sec * 1_000_000 + nsec // 1000
                                for level, kind, data in ancillary
                                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                                for sec, nsec in [_TIMESPEC.unpack_from(data)]
                            ),
                            None,
                        )
                        or clock.now_unix_us()
                    )
                else:
                    chunk = sock.recv(READ_SIZE)
                    received_us = clock.now_unix_us()
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                raise MqttError("the broker closed the connection")
            # A frame is whole once every byte before its end has arrived, so stamps follow the
            # stream's order; the kernel's may not, by a few µs (segments stamped on two CPUs).
            received_us = self._last_stamp_us = max(received_us, self._last_stamp_us)
            self._in += chunk
            self._deliver(out, received_us, acks)
            if len(chunk) < READ_SIZE and not (self.tls is not None and sock.pending()):  # type: ignore[attr-defined]
                break
        if acks:
            self._send(bytes(acks))

    def acknowledge(self, packet_ids: Sequence[int], generation: int) -> int:
        """PUBACK (3.4) the QoS 1 frames ``packet_ids`` (0s are QoS 0 frames and skipped) that
        connection ``generation`` delivered, in one write; returns how many were sent (none if
        that connection is gone).  Raises :class:`MqttError` when the connection is lost."""
        if self.sock is None or generation != self.generation:
            return 0
        acks = b"".join(bytes([PUBACK << 4, 2]) + struct.pack(">H", k) for k in packet_ids if k)
        if acks:
            try:
                self._send(acks)
            except (OSError, ssl.SSLError) as exc:
                self.close(send_disconnect=False)
                raise MqttError(f"connection to {self.host}:{self.port} lost: {exc}") from None
        return len(acks) // 4

    def _read_past_oversize(self, out: Deliveries, received_us: int) -> None:
        """Deliver the head of an oversize PUBLISH at the start of the buffer and read past the
        rest of it (the caller acknowledges it like any frame)."""
        buf = self._in
        if self._skip:
            taken = min(self._skip, len(buf))
            del buf[:taken]
            self._skip -= taken
        if self.max_payload is None or len(buf) < 2 or buf[0] >> 4 != PUBLISH:
            return
        extent = packet_extent(buf, 0)
        if extent is None or extent[0] + 2 > len(buf):
            return
        start, end = extent
        body = start + 2 + ((buf[start] << 8) | buf[start + 1]) + (2 if (buf[0] >> 1) & 3 else 0)
        if end - body <= self.max_payload or body + OVERSIZE_KEPT > len(buf):
            return
        self._add_publish(out, buf[0], start, end, received_us, bytearray())
        self._skip = max(0, end - len(buf))
        del buf[: min(end, len(buf))]

    def _add_publish(self, out: Deliveries, first: int, start: int, end: int, received_us: int, acks: bytearray) -> None:
        """One PUBLISH (3.3) whose variable header starts at ``start`` of the buffer and which
        ends at ``end`` (possibly beyond what is buffered, for an oversize one): its topic, its
        payload (the first :data:`OVERSIZE_KEPT` octets when over ``max_payload``), packet id
        and DUP flag; its PUBACK goes into ``acks`` unless acknowledgements are deferred."""
        buf = self._in
        qos = (first >> 1) & 3
        topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
        body = topic_end + (2 if qos else 0)
        if qos > 1 or body > end:
            raise MqttError(f"malformed PUBLISH from the broker (QoS {qos})")
        oversize = self.max_payload is not None and end - body > self.max_payload
        out.topics.append(buf[start + 2 : topic_end].decode("utf-8", "replace"))
        out.payloads.append(bytes(buf[body : body + OVERSIZE_KEPT if oversize else end]))
        out.received_us.append(received_us)
        out.packet_ids.append((buf[topic_end] << 8) | buf[topic_end + 1] if qos else 0)
        out.dup.append(bool(first & 0x08))
        out.sizes.append(end - body)
        if qos and not self.defer_acks:
            acks += bytes([PUBACK << 4, 2]) + buf[topic_end:body]

    def _deliver(self, out: Deliveries, received_us: int, acks: bytearray) -> None:
        self._read_past_oversize(out, received_us)
        buf = self._in
        packets, used = split_packets(buf)
        for first, start, end in packets:
            kind = first >> 4
            if kind == PUBLISH:
                self._add_publish(out, first, start, end, received_us, acks)
            elif kind not in (PINGRESP, SUBACK):
                raise MqttError(f"unexpected packet type {kind} from the broker")
        del buf[:used]
        if self.max_payload is not None and buf:
            self._read_past_oversize(out, received_us)

    def _send(self, data: bytes) -> None:
        sock = self.sock
        assert sock is not None
        sock.setblocking(True)
        sock.settimeout(5.0)
        try:
            sock.sendall(data)
        finally:
            sock.setblocking(False)
        self._last_write = time.monotonic()

    def close(self, send_disconnect: bool = True) -> None:
        """DISCONNECT (3.14) and close; the broker keeps the session if it is not clean."""
        if self.sock is None:
            return
        if send_disconnect:
            try:
                self._send(bytes([DISCONNECT << 4, 0]))
            except (OSError, ssl.SSLError):
                pass
        self.sock.close()
        self.sock = None
        self._in = bytearray()
