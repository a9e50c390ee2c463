"""A real 3-node NATS JetStream cluster started by the project's own code: devices publish MQTT
QoS 1 to any node, the cluster keeps every frame it acknowledged, also across a node killed with
SIGKILL in the middle (the one leading the stream, or one keeping a replica), and a durable consumer
reads them back in order."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from v2x.nats.cluster import NodePorts, node_config, start_cluster
from v2x.nats.uplink import (
    STREAM,
    consumer_partitions,
    ensure_uplink_consumers,
    partition_consumer,
    partition_mapping,
    subject_of,
    topic_of,
    uplink_leader,
    uplink_subjects,
)

from tests.nats_devices import publish

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # two clusters with a node killed under load: with the slow ones in CI


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
                sub = await js.pull_subscribe(">", durable="test-reader", stream=STREAM)  # every partition
                break
            except (NatsTimeout, TimeoutError):
                assert time.monotonic() < deadline, "no consumer within 90 s"
        out: list[tuple[str, bytes, int]] = []
        while time.monotonic() < deadline:
            try:
                batch = await sub.fetch(250, timeout=2)
            except (NatsTimeout, TimeoutError):
                if len(out) >= expected:
                    break  # all acknowledged frames are there, and nothing more came for 2 s
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
        js = nc.jetstream()
        info = await ensure_uplink_consumers(js, "zone", nodes=3)
        await ensure_uplink_consumers(js, "zone", nodes=3)  # idempotent
        consumers = [(await js.consumer_info(STREAM, partition_consumer(p))).config for p in range(8)]
        assert all(consumer_partitions(c) == 8 for c in consumers)
        assert [c.filter_subject for c in consumers[:2]] == ["$MQTT.msgs.part.0.zone.V2X.>", "$MQTT.msgs.part.1.zone.V2X.>"]
        return int(info.config.num_replicas)
    finally:
        await nc.close()


def _leader(servers: list[str]) -> str:
    leader = uplink_leader(servers)
    assert leader is not None
    return leader


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_frames_acknowledged_by_the_cluster_survive_a_node_killed_mid_run(tmp_path: Path, victim: str):
    """The node leading the stream that holds the acknowledged frames, or one that only keeps a
    replica, is killed while a device publishes: every frame the device was acknowledged is read
    back once, in each device's order; one it was not may be there (at most once)."""
    frames = _frames(0, 1_500)
    with start_cluster(tmp_path / "cluster", nodes=3, topic_prefix="zone") as cluster:
        assert asyncio.run(_make_stream(cluster.servers)) == 3
        leader = cluster.names.index(_leader(cluster.servers))
        killed = leader if victim == "leader" else next(k for k in range(3) if k != leader)
        others = [k for k in range(3) if k != killed]
        outcomes: list[bool] = []
        device = threading.Thread(target=lambda: outcomes.extend(publish(cluster, others, "dev-a", frames, 500.0)))
        device.start()
        time.sleep(1.0)
        cluster.kill(killed)  # kill -9
        device.join()
        read = asyncio.run(_read_all([cluster.servers[k] for k in others], sum(outcomes)))
    stored = [(topic_of(s), d) for s, d, _ in read]
    acknowledged = [f for f, ok in zip(frames, outcomes, strict=True) if ok]
    assert len(acknowledged) >= 300  # most of the first second at least
    assert set(acknowledged) <= set(stored) and len(set(stored)) == len(stored)  # none lost, none twice
    assert stored == sorted(stored, key=frames.index)  # in publish order
    if victim == "follower":
        assert acknowledged == frames  # a replica lost: the devices do not notice


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
    mapping = partition_mapping("xiqing/test", 16)
    assert mapping == (
        "$MQTT.msgs.xiqing.test.V2X.*.*.*.*",
        "$MQTT.msgs.part.{{partition(16,1,2)}}.xiqing.test.V2X.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}",
    )
    assert f'mappings = {{ "{mapping[0]}": "{mapping[1]}" }}' in node_config("n1", mine, [mine], Path("/d"), mapping=mapping)
    assert topic_of("$MQTT.msgs.part.3.xiqing.test.V2X.OBU.O-1.BSM.UP") == "xiqing/test/V2X/OBU/O-1/BSM/UP"
    assert topic_of("$MQTT.msgs.V2X.odd") == "V2X/odd"
    # as the MQTT listener stores a dot within a level and an empty level (seen on nats-server 2.15.1)
    assert topic_of("$MQTT.msgs.part.2.V2X.OBU.a//b.BSM.UP") == "V2X/OBU/a.b/BSM/UP"
    assert topic_of("$MQTT.msgs.part.4.V2X.OBU./.BSM.UP") == "V2X/OBU//BSM/UP"
    with pytest.raises(ValueError, match="partitions"):
        partition_mapping("", 0)
