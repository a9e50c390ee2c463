"""The publish-only MQTT connection (v2x.mqtt.publish) and the simulators' publisher, against
Mosquitto and an independent client (paho-mqtt) on the receiving side."""

from __future__ import annotations

import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

from v2x.device.publisher import Publisher
from v2x.mqtt.broker import MAX_PACKET_BYTES, find_mosquitto, free_port, start_broker
from v2x.mqtt.publish import MqttError, PublishConnection, publish_packet, remaining_length
from v2x.mqtt.transport import BrokerAddress

pytestmark = pytest.mark.broker


@pytest.mark.parametrize(
    "n,encoded",
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_remaining_length_matches_the_table_of_mqtt_311(n, encoded):
    # MQTT 3.1.1 table 2.4: the boundaries of 1 to 4 length bytes.
    assert remaining_length(n).hex() == encoded


def test_publish_packet_layout():
    packet = publish_packet(b"V2X/OBU/OBU-0001/BSM/UP", b"\x01\x02", 1, 0x1234)
    assert packet[0] == 0x32  # PUBLISH, QoS 1
    assert packet[1] == 2 + 23 + 2 + 2
    assert packet[2:4] == b"\x00\x17" and packet[4:27] == b"V2X/OBU/OBU-0001/BSM/UP"
    assert packet[27:29] == b"\x12\x34" and packet[29:] == b"\x01\x02"
    assert publish_packet(b"t", b"", 0)[0] == 0x30 and len(publish_packet(b"t", b"", 0)) == 5  # no packet id at QoS 0


class Subscriber:
    """A paho-mqtt subscriber on its own network thread, keeping (topic, payload, qos)."""

    def __init__(self, address: BrokerAddress, topic: str = "#", qos: int = 1):
        self.received: list[tuple[str, bytes, int]] = []
        self.ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"sub-{time.time_ns()}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload, m.qos))
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def wait_for(self, n: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _serve(publisher: Publisher, done, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        publisher.service(0.05)


def _drain(conn: PublishConnection, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while conn.in_flight() and time.monotonic() < deadline:
        assert conn.service(0.01) is None


@pytest.mark.parametrize("qos", [0, 1])
def test_every_frame_arrives_intact_in_order_and_is_acknowledged(mosquitto, qos):
    sub = Subscriber(mosquitto.address)
    conn = PublishConnection(mosquitto.address.host, mosquitto.address.port, f"pub-{qos}", qos=qos)
    conn.connect()
    # Payload sizes around the remaining-length boundaries, topics of several lengths.
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
    ]  # up to the broker's largest
    frames = [
        (f"V2X/OBU/OBU-{i:04d}/BSM/UP" if i % 2 else f"z/V2X/RSU/RSU-{i}/SPAT/UP", bytes([i % 251]) * size)
        for i, size in enumerate(sizes * 20)
    ]
    outcomes: list[bool] = []
    for topic, payload in frames:
        conn.publish(topic.encode(), payload, outcomes.append)
    _drain(conn)
    sub.wait_for(len(frames))
    conn.disconnect()
    sub.close()
    assert outcomes == [True] * len(frames)
    assert [(t, p) for t, p, _ in sub.received] == frames
    assert {q for _, _, q in sub.received} == {qos}


def test_broker_going_away_loses_frames_in_flight_and_the_publisher_reconnects(tmp_path):
    broker = start_broker(tmp_path / "b1", kind="mosquitto")
    port = broker.address.port
    publisher = Publisher(broker.address, {"shared": None}, qos=1)
    assert publisher.start(10)
    outcomes: list[bool] = []
    for _ in range(50):
        publisher.publish("shared", "V2X/OBU/OBU-0001/BSM/UP", bytes(100), outcomes.append)
    _serve(publisher, lambda: len(outcomes) == 50)
    assert outcomes.count(True) == 50
    broker.stop()
    for _ in range(20):  # the first writes may still go to the dead socket; the loss is noticed and counted
        publisher.publish("shared", "V2X/OBU/OBU-0001/BSM/UP", bytes(100), outcomes.append)
        publisher.service(0.05)
    assert len(outcomes) == 70 and outcomes.count(True) == 50  # each frame reported once, the 20 lost
    broker2 = start_broker(tmp_path / "b2", port, kind="mosquitto")
    try:
        sub = Subscriber(broker2.address)
        _serve(publisher, lambda: publisher.connections["shared"].mqtt.connected)
        for i in range(10):
            publisher.publish("shared", "V2X/OBU/OBU-0001/BSM/UP", bytes([i]), outcomes.append)
        publisher.stop(5)
        sub.wait_for(10)
        sub.close()
    finally:
        broker2.stop()
    assert outcomes[70:] == [True] * 10 and len(sub.received) == 10
    events = " | ".join(publisher.events())
    assert "connection lost" in events and "reconnected" in events


def test_no_broker_is_a_clear_error():
    conn = PublishConnection("127.0.0.1", free_port(), "nobody")
    with pytest.raises(MqttError, match="cannot connect to 127.0.0.1"):
        conn.connect()
    outcomes: list[bool] = []
    conn.publish(b"t", b"x", outcomes.append)
    assert outcomes == [False]


def test_refused_connection_names_the_connack_code(tmp_path):
    mosquitto = find_mosquitto()
    assert mosquitto is not None, "apt-get install mosquitto"
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = PublishConnection("127.0.0.1", port, "anonymous")
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.connect()
            except MqttError as exc:
                if "refused the connection" in str(exc) or time.monotonic() > deadline:
                    assert "not authorized" in str(exc)
                    break
                time.sleep(0.05)
            else:
                pytest.fail("an anonymous client was let in")
    finally:
        proc.terminate()
        proc.wait()
