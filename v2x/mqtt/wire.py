"""MQTT 3.1.1 on the wire: what the publish-only (:mod:`v2x.mqtt.publish`) and subscribe-only
(:mod:`v2x.mqtt.subscribe`) connections share.  Clause numbers are OASIS MQTT 3.1.1's."""

from __future__ import annotations

import socket
import ssl
import struct

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14
CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(ConnectionError):
    """The connection failed or was refused; the message says why."""


def remaining_length(n: int) -> bytes:
    """The variable-length 'Remaining Length' of a fixed header (2.2.3)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: bytes) -> bytes:
    """A UTF-8 encoded string field: two length bytes, then the bytes (1.5.3)."""
    return struct.pack(">H", len(s)) + s


def connect_packet(client_id: str, keepalive_s: int, clean_session: bool = True) -> bytes:
    """CONNECT (3.1): protocol "MQTT" level 4, no will, no user name."""
    body = (
        string(b"MQTT") + bytes([4, 0x02 if clean_session else 0]) + struct.pack(">H", keepalive_s) + string(client_id.encode())
    )
    return bytes([CONNECT << 4]) + remaining_length(len(body)) + body


def packet_extent(buf: bytearray | bytes, pos: int) -> tuple[int, int] | None:
    """Where the control packet whose fixed header starts at ``pos`` has its variable header
    and where it ends, from its Remaining Length (2.2.3), even if not all of it is in ``buf``
    yet; None while the Remaining Length itself is incomplete."""
    length, shift, k, n = 0, 0, pos + 1, len(buf)
    while k < n and k - pos <= 4:
        byte = buf[k]
        length |= (byte & 0x7F) << shift
        shift += 7
        k += 1
        if not byte & 0x80:
            return k, k + length
    if k - pos > 4:
        raise MqttError("malformed Remaining Length from the broker")
    return None


def split_packets(buf: bytearray | bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The complete control packets at the start of ``buf``: (first byte, start, end) of each
    one's variable header and payload, and how many bytes they take (2.2)."""
    packets = []
    pos, n = 0, len(buf)
    while n - pos >= 2:
        extent = packet_extent(buf, pos)
        if extent is None or extent[1] > n:
            break
        packets.append((buf[pos], *extent))
        pos = extent[1]
    return packets, pos


def open_connection(
    host: str, port: int, client_id: str, *, keepalive_s: int, clean_session: bool, tls: ssl.SSLContext | None, timeout_s: float
) -> tuple[socket.socket, bool]:
    """A socket past CONNECT/CONNACK (3.1, 3.2), still blocking with ``timeout_s``, and whether
    the broker kept a session for this client; raises :class:`MqttError` with the reason."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise MqttError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.sendall(connect_packet(client_id, keepalive_s, clean_session))
        ack = b""
        while len(ack) < 4:
            chunk = sock.recv(4 - len(ack))
            if not chunk:
                raise MqttError(f"{host}:{port} closed the connection before CONNACK")
            ack += chunk
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        if isinstance(exc, MqttError):
            raise
        raise MqttError(f"connecting to {host}:{port}: {exc}") from None
    if ack[0] >> 4 != CONNACK or ack[1] != 2:
        sock.close()
        raise MqttError(f"{host}:{port} answered CONNECT with packet type {ack[0] >> 4}")
    if ack[3] != 0:
        sock.close()
        raise MqttError(f"{host}:{port} refused the connection: {CONNACK_CODES.get(ack[3], ack[3])}")
    return sock, bool(ack[2] & 1)
