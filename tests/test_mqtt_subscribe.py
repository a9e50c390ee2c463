"""The subscribe-only MQTT connection (v2x.mqtt.subscribe) against Mosquitto, with an
independent client (paho-mqtt) publishing."""

from __future__ import annotations

import time

import paho.mqtt.client as paho
import pytest

from v2x import clock
from v2x.mqtt.broker import MAX_PACKET_BYTES, free_port, start_broker
from v2x.mqtt.subscribe import Deliveries, MqttError, SubscribeConnection, subscribe_packet

pytestmark = pytest.mark.broker


def test_subscribe_packet_layout():
    packet = subscribe_packet(7, ["V2X/+/+/+/UP", "z/#"], 1)
    assert packet[0] == 0x82  # SUBSCRIBE with the reserved flags 0010 (3.8.1)
    assert packet[1] == len(packet) - 2
    assert packet[2:4] == b"\x00\x07"
    assert packet[4:6] == b"\x00\x0c" and packet[6:18] == b"V2X/+/+/+/UP" and packet[18] == 1
    assert packet[19:21] == b"\x00\x03" and packet[21:24] == b"z/#" and packet[24] == 1


def publisher(port: int, qos: int) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def receive_until(conn: SubscribeConnection, n: int, timeout_s: float = 20.0) -> Deliveries:
    got = Deliveries()
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        d = conn.receive(0.05)
        got.topics += d.topics
        got.payloads += d.payloads
        got.received_us += d.received_us
    return got


@pytest.mark.parametrize("qos", [0, 1])
def test_every_frame_arrives_intact_in_order_with_its_receipt_time(mosquitto, qos):
    conn = SubscribeConnection("127.0.0.1", mosquitto.address.port, f"sub-{qos}", ["V2X/#", "z/#"], qos=qos)
    conn.connect()
    assert conn.kernel_stamps  # plain TCP on Linux: the kernel stamps arrival
    pub = publisher(mosquitto.address.port, qos)
    sizes = [
        0,
        1,
        100,
        122,
        123,
        124,
        125,
        126,
        127,
        128,
        200,
        16_350,
        16_384,
        70_000,
        MAX_PACKET_BYTES - 100,
    ]  # the broker's largest
    frames = [
        (f"V2X/OBU/OBU-{i:04d}/BSM/UP" if i % 2 else f"z/V2X/RSU/RSU-{i}/SPAT/UP", bytes([i % 251]) * size)
        for i, size in enumerate(sizes * 20)
    ]
    before = clock.now_unix_us()
    for topic, payload in frames:
        pub.publish(topic, payload, qos)
    got = receive_until(conn, len(frames))
    after = clock.now_unix_us()
    pub.loop_stop()
    pub.disconnect()
    conn.close()
    assert list(zip(got.topics, got.payloads)) == frames
    assert got.received_us == sorted(got.received_us)
    assert before <= got.received_us[0] and got.received_us[-1] <= after


def test_receipt_is_when_the_frame_arrived_not_when_it_was_read(mosquitto):
    conn = SubscribeConnection("127.0.0.1", mosquitto.address.port, "late-reader", ["V2X/#"])
    conn.connect()
    pub = publisher(mosquitto.address.port, 1)
    sent_us = clock.now_unix_us()
    pub.publish("V2X/OBU/OBU-1/BSM/UP", b"frame", 1).wait_for_publish(5)
    time.sleep(0.3)  # the ingest busy elsewhere
    got = receive_until(conn, 1)
    pub.loop_stop()
    pub.disconnect()
    conn.close()
    assert got.payloads == [b"frame"]
    assert got.received_us[0] - sent_us < 100_000  # stamped on arrival, not 300 ms later


def test_a_kept_session_gets_the_frames_sent_while_it_was_away(mosquitto):
    """QoS 1 with clean_session=False: the broker queues for the subscriber while it is gone
    (MQTT 3.1.1 3.1.2.4), and each frame acknowledged once is not delivered again."""
    port = mosquitto.address.port
    conn = SubscribeConnection("127.0.0.1", port, "ingest-kept", ["V2X/#"])
    conn.connect()
    pub = publisher(port, 1)
    for i in range(5):
        pub.publish("V2X/OBU/OBU-1/BSM/UP", bytes([i]), 1).wait_for_publish(5)
    first = receive_until(conn, 5)
    conn.close()
    for i in range(5, 12):
        pub.publish("V2X/OBU/OBU-1/BSM/UP", bytes([i]), 1).wait_for_publish(5)
    conn.connect()
    second = receive_until(conn, 7)
    extra = conn.receive(0.3)
    pub.loop_stop()
    pub.disconnect()
    conn.close()
    assert first.payloads + second.payloads == [bytes([i]) for i in range(12)]
    assert len(extra) == 0


def test_broker_going_away_is_a_clear_error_and_reconnect_works(tmp_path):
    broker = start_broker(tmp_path / "b1", kind="mosquitto")
    port = broker.address.port
    conn = SubscribeConnection("127.0.0.1", port, "ingest", ["V2X/#"])
    conn.connect()
    broker.stop()
    with pytest.raises(MqttError, match="closed the connection|lost"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn.receive(0.05)
    assert not conn.connected
    with pytest.raises(MqttError, match="cannot connect to 127.0.0.1"):
        conn.connect()
    broker2 = start_broker(tmp_path / "b2", port, kind="mosquitto")
    try:
        conn.connect()
        pub = publisher(port, 1)
        pub.publish("V2X/OBU/OBU-1/BSM/UP", b"again", 1).wait_for_publish(5)
        assert receive_until(conn, 1).payloads == [b"again"]
        pub.loop_stop()
        pub.disconnect()
        conn.close()
    finally:
        broker2.stop()


def test_no_broker_is_a_clear_error():
    with pytest.raises(MqttError, match="cannot connect to 127.0.0.1"):
        SubscribeConnection("127.0.0.1", free_port(), "nobody", ["#"]).connect()
    with pytest.raises(MqttError, match="not connected"):
        SubscribeConnection("127.0.0.1", free_port(), "nobody", ["#"]).receive()
