"""Receiving frames from Mosquitto: the ingest's subscribe-only connection (v2x.mqtt.subscribe,
bulk reads, kernel receipt stamps) against aiomqtt (what the ingest used before) and paho-mqtt,
QoS 1, same frames.  The figure is frames received per second of the receiving thread's CPU
(``time.thread_time``); a publisher thread in the same process feeds the broker with the
project's publish-only connection.
"""

from __future__ import annotations

import asyncio
import threading
import time

import aiomqtt
import paho.mqtt.client as paho
import pytest

from v2x.mqtt.publish import PublishConnection
from v2x.mqtt.subscribe import SubscribeConnection

from benches.conftest import SUBSCRIBE_RATE

FULL, SMOKE = 50_000, 2_000
TOPIC = "V2X/OBU/{}/BSM/UP"


@pytest.fixture(scope="module")
def broker(module_broker):
    return module_broker


@pytest.fixture(scope="module")
def count(benchmark_enabled) -> int:
    return FULL if benchmark_enabled else SMOKE


def publish_in_background(broker, n: int) -> threading.Thread:
    """Publish ``n`` signed-BSM-sized frames (205 B) at QoS 1 from another thread."""

    def run():
        conn = PublishConnection(broker.address.host, broker.address.port, f"bench-pub-{time.time_ns()}", qos=1)
        conn.connect()
        for start in range(0, n, 100):
            for i in range(start, min(start + 100, n)):
                conn.publish(TOPIC.format(f"OBU-{i % 1000:04d}").encode(), bytes([i % 256]) * 205, lambda ok: None)
            conn.service(0.0)
        while conn.in_flight():
            conn.service(0.01)
        conn.disconnect()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def timed_receive(broker, n: int, step, received, cpu: list[float]) -> None:
    """Publish ``n`` frames from another thread and call ``step`` until ``received()`` is ``n``,
    adding the CPU time of this thread to ``cpu``."""
    feeder = publish_in_background(broker, n)
    t0 = time.thread_time()
    deadline = time.monotonic() + 120
    while received() < n and time.monotonic() < deadline:
        step()
    cpu.append(time.thread_time() - t0)
    feeder.join()


def _record(benchmark, what: str, n: int, cpu_s: list[float]) -> None:
    if benchmark.stats is not None and cpu_s:
        SUBSCRIBE_RATE[what] = n / min(cpu_s)


def test_subscribe_connection(benchmark, broker, count, benchmark_enabled):
    conn = SubscribeConnection(broker.address.host, broker.address.port, "bench-ours", ["V2X/#"])
    conn.connect()
    cpu: list[float] = []
    got = [0]

    def run():
        got[0] = 0
        timed_receive(broker, count, lambda: got.__setitem__(0, got[0] + len(conn.receive(0.05))), lambda: got[0], cpu)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    conn.close()
    assert got[0] == count
    _record(benchmark, "v2x.mqtt.subscribe", count, cpu)


def test_aiomqtt(benchmark, broker, count, benchmark_enabled):
    cpu: list[float] = []
    got = [0]

    async def receive():
        async with aiomqtt.Client(
            broker.address.host, broker.address.port, identifier="bench-aiomqtt", max_queued_incoming_messages=0
        ) as client:
            await client.subscribe("V2X/#", qos=1)
            feeder = publish_in_background(broker, count)
            t0 = time.thread_time()
            async for _ in client.messages:
                got[0] += 1
                if got[0] == count:
                    break
            cpu.append(time.thread_time() - t0)
            await asyncio.to_thread(feeder.join)

    def run():
        got[0] = 0
        asyncio.run(asyncio.wait_for(receive(), 120))

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    assert got[0] == count
    _record(benchmark, "aiomqtt", count, cpu)


def test_paho(benchmark, broker, count, benchmark_enabled):
    got = [0]
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-paho-sub")
    client.on_message = lambda *_: got.__setitem__(0, got[0] + 1)
    client.connect(broker.address.host, broker.address.port)
    client.subscribe("V2X/#", qos=1)
    for _ in range(20):
        client.loop(0.05)
    cpu: list[float] = []

    def run():
        got[0] = 0
        timed_receive(broker, count, lambda: client.loop(0.05), lambda: got[0], cpu)

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    client.disconnect()
    assert got[0] == count
    _record(benchmark, "paho-mqtt", count, cpu)
