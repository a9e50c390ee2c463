"""A real 3-node NATS JetStream cluster started by the project's own code: devices publish MQTT
QoS 1 to any node, the replicated uplink stream keeps every frame the cluster acknowledged, also
across a node killed with SIGKILL in the middle, and a durable consumer reads them back in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from v2x.mqtt.publish import PublishConnection
from v2x.mqtt.wire import MqttError
from v2x.nats.cluster import NodePorts, node_config, start_cluster
from v2x.nats.uplink import STREAM, ensure_uplink_stream, subject_of, uplink_subjects

pytestmark = pytest.mark.cluster


def _publish(host: str, port: int, client_id: str, frames: list[tuple[str, bytes]]) -> list[bool]:
    """Publish ``frames`` at QoS 1 and wait for every acknowledgement; each frame's outcome."""
    outcomes: list[bool | None] = [None] * len(frames)
    conn = PublishConnection(host, port, client_id, qos=1, connect_timeout_s=5.0)
    for attempt in range(6):  # as a device does: after a node is lost the MQTT sessions' stream elects a new leader
        try:
            conn.connect()
            break
        except MqttError:
            if attempt == 5:
                raise
    for k, (topic, payload) in enumerate(frames):
        conn.publish(topic.encode(), payload, lambda ok, k=k: outcomes.__setitem__(k, ok))
    deadline = time.monotonic() + 30
    while any(o is None for o in outcomes) and time.monotonic() < deadline:
        conn.service(0.05)
    conn.disconnect()
    return [bool(o) for o in outcomes]


def _frames(first: int, n: int) -> list[tuple[str, bytes]]:
    return [(f"zone/V2X/OBU/OBU-{k % 7:04d}/BSM/UP", k.to_bytes(4, "big") * 10) for k in range(first, first + n)]


async def _read_all(servers: list[str], expected: int) -> list[tuple[str, bytes, int]]:
    """Every frame of the uplink stream through a durable pull consumer.  Right after a node is lost
    the stream and consumer may still be electing leaders: a fetch that times out is tried again."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout

    nc = await nats.connect(servers)
    deadline = time.monotonic() + 90
    try:
        js = nc.jetstream()
        while True:
            try:
                sub = await js.pull_subscribe(uplink_subjects("zone")[0], durable="test-reader", stream=STREAM)
                break
            except NatsTimeout:
                assert time.monotonic() < deadline, "no consumer within 90 s"
        out: list[tuple[str, bytes, int]] = []
        while len(out) < expected and time.monotonic() < deadline:
            try:
                batch = await sub.fetch(250, timeout=5)
            except NatsTimeout:
                continue
            for m in batch:
                out.append((m.subject, m.data, m.metadata.sequence.stream))
                await m.ack()
        return out
    finally:
        await nc.close()


async def _make_stream(servers: list[str]) -> int:
    import nats

    nc = await nats.connect(servers)
    try:
        info = await ensure_uplink_stream(nc.jetstream(), "zone", nodes=3)
        again = await ensure_uplink_stream(nc.jetstream(), "zone", nodes=3)  # idempotent
        assert again.config.subjects == info.config.subjects == ["zone.V2X.>"]
        return int(info.config.num_replicas)
    finally:
        await nc.close()


def test_frames_acknowledged_by_the_cluster_survive_a_node_killed_mid_run(tmp_path: Path):
    with start_cluster(tmp_path / "cluster", nodes=3) as cluster:
        assert asyncio.run(_make_stream(cluster.servers)) == 3
        before, after = _frames(0, 400), _frames(400, 400)
        assert all(_publish(cluster.host, cluster.ports[0].mqtt, "dev-a", before))
        cluster.kill(1)  # kill -9 a node that holds a replica
        assert all(_publish(cluster.host, cluster.ports[2].mqtt, "dev-b", after))
        read = asyncio.run(_read_all([cluster.servers[0], cluster.servers[2]], 800))
    assert [(s, d) for s, d, _ in read] == [(subject_of(t), p) for t, p in before + after]
    assert [seq for _, _, seq in read] == list(range(1, 801))  # stream order: each device's frames in order


def test_node_configuration_and_subjects():
    mine, other = NodePorts(4222, 6222, 1883), NodePorts(4223, 6223, 1884)
    text = node_config("n1", mine, [mine, other], Path("/data/n1"))
    assert "server_name: n1" in text and "listen: 127.0.0.1:4222" in text and "mqtt { listen: 127.0.0.1:1883 }" in text
    assert "routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223]" in text
    assert 'store_dir: "/data/n1"' in text
    assert subject_of("V2X/RSU/RSU-XQ-1201/MAP/UP") == "V2X.RSU.RSU-XQ-1201.MAP.UP"
    assert uplink_subjects() == ["V2X.>"] and uplink_subjects("xiqing/test") == ["xiqing.test.V2X.>"]
    with pytest.raises(ValueError, match="dot"):
        subject_of("V2X/OBU/a.b/BSM/UP")
