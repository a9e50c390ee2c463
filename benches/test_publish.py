"""Publishing signed frames to Mosquitto: the simulators' publish-only connection
(v2x.mqtt.publish, a slot of frames per write) against paho-mqtt driven from the same thread
(its synchronous loop, the cheaper of its two modes here), QoS 1, same process, same frames.
The figure is frames acknowledged per second of the publishing thread's CPU.

Each round publishes the batch in slots of 100 frames (a 10 ms slot of 10,000 frames/s), on
per-device topics, and waits for every PUBACK.
"""

from __future__ import annotations

import time

import paho.mqtt.client as paho
import pytest

from v2x.mqtt.publish import PublishConnection

from benches.conftest import PUBLISH_RATE

SLOT = 100
FULL, SMOKE = 50_000, 2_000


@pytest.fixture(scope="module")
def broker(module_broker):
    return module_broker


@pytest.fixture(scope="module")
def frames(benchmark_enabled):
    n = FULL if benchmark_enabled else SMOKE
    return [(f"V2X/OBU/OBU-{i % 1000 + 1:04d}/BSM/UP", bytes([i % 256]) * 205) for i in range(n)]  # 205 B: a signed BSM


def _record(benchmark, what: str, n: int, cpu_s: list[float]) -> None:
    if benchmark.stats is not None and cpu_s:
        PUBLISH_RATE[what] = n / min(cpu_s)


def test_publish_connection(benchmark, broker, frames, benchmark_enabled):
    conn = PublishConnection(broker.address.host, broker.address.port, "bench-ours", qos=1)
    conn.connect()
    acked: list[bool] = []
    cpu: list[float] = []

    def run():
        acked.clear()
        t0 = time.process_time()
        for start in range(0, len(frames), SLOT):
            for topic, payload in frames[start : start + SLOT]:
                conn.publish(topic.encode(), payload, acked.append)
            conn.service(0.0)
        while conn.in_flight():
            assert conn.service(0.01) is None
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    conn.disconnect()
    assert acked == [True] * len(frames)
    _record(benchmark, "v2x.mqtt.publish", len(frames), cpu)


def test_paho(benchmark, broker, frames, benchmark_enabled):
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-paho")
    client.max_inflight_messages_set(1000)
    acked = [0]
    client.on_publish = lambda *_: acked.__setitem__(0, acked[0] + 1)
    client.connect(broker.address.host, broker.address.port)
    while not client.is_connected():
        client.loop(0.05)
    cpu: list[float] = []

    def run():
        acked[0] = 0
        t0 = time.process_time()
        for start in range(0, len(frames), SLOT):
            for topic, payload in frames[start : start + SLOT]:
                client.publish(topic, payload, qos=1)
            client.loop(0.0)
        while acked[0] < len(frames):
            client.loop(0.01)
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    client.disconnect()
    assert acked[0] == len(frames)
    _record(benchmark, "paho-mqtt", len(frames), cpu)
