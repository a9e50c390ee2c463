"""Devices publishing MQTT QoS 1 to the nodes of a NATS cluster, as the simulators' publisher does:
a frame counts as delivered when the cluster acknowledged it; a connection that is lost or refused
is opened again on the next node; a frame due while no connection is open is not delivered."""

from __future__ import annotations

import time

from v2x.mqtt.publish import PublishConnection
from v2x.mqtt.wire import MqttError
from v2x.nats.cluster import RunningCluster

ACK_DEADLINE_S = 30.0


def publish(
    cluster: RunningCluster, nodes: list[int], client_id: str, frames: list[tuple[str, bytes]], per_s: float
) -> list[bool]:
    """Publish ``frames`` at ``per_s`` from one client, starting on node ``nodes[0]``; each
    frame's outcome (True: acknowledged by the cluster)."""
    outcomes: list[bool | None] = [None] * len(frames)
    order = list(nodes)
    conn = PublishConnection(cluster.host, cluster.ports[order[0]].mqtt, client_id, qos=1, connect_timeout_s=2.0)

    def connect() -> bool:
        try:
            conn.connect()
            return True
        except MqttError:
            order.append(order.pop(0))  # the next node
            conn.host, conn.port = cluster.host, cluster.ports[order[0]].mqtt
            return False

    connected = connect()
    start = time.monotonic()
    for k, (topic, payload) in enumerate(frames):
        while time.monotonic() < start + k / per_s:
            if connected and conn.service(0.002) is not None:
                connected = False
            if not connected:
                connected = connect()
        if not connected:
            outcomes[k] = False
            continue
        conn.publish(topic.encode(), payload, lambda ok, k=k: outcomes.__setitem__(k, ok))
    deadline = time.monotonic() + ACK_DEADLINE_S
    while connected and any(o is None for o in outcomes) and time.monotonic() < deadline:
        if conn.service(0.05) is not None:
            break
    conn.disconnect()
    return [bool(o) for o in outcomes]
