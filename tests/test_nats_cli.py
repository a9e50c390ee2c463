"""The operator's commands on a real cluster: ``v2x nats cluster`` runs one, ``v2x ingest --nats``
runs a worker of it into a destination that ``v2x sql`` reads, ``v2x nats consumers`` refuses a
partition count the cluster's consumers were not made for, ``v2x nats mapping`` prints the line a
node's configuration needs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from v2x.mqtt.publish import PublishConnection
from v2x.mqtt.transport import BrokerAddress

from tests.test_hostile_frames import good_bsm

pytestmark = pytest.mark.cluster
V2X = [sys.executable, "-m", "v2x.cli"]


def _publish(mqtt_url: str, frames: list[tuple[str, bytes]]) -> int:
    address = BrokerAddress.parse(mqtt_url)
    acked: list[bool] = []
    conn = PublishConnection(address.host, address.port, "cli-device", qos=1)
    conn.connect()
    for topic, payload in frames:
        conn.publish(topic.encode(), payload, acked.append)
    deadline = time.monotonic() + 30
    while len(acked) < len(frames) and time.monotonic() < deadline:
        conn.service(0.05)
    conn.disconnect()
    return sum(acked)


@pytest.mark.slow  # a 3-node cluster and a worker as processes: with the slow ones in CI
def test_a_cluster_and_a_worker_from_the_command_line(tmp_path: Path):
    cluster = subprocess.Popen(
        [*V2X, "nats", "cluster", str(tmp_path / "cluster"), "--nodes", "3", "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cluster.stdout is not None and cluster.stderr is not None
        nodes = [cluster.stdout.readline().split() for _ in range(3)]
        workers_line = cluster.stderr.readline()
        assert [n[0] for n in nodes] == ["n1", "n2", "n3"] and cluster.stderr.readline().strip() == "READY"
        servers = ",".join(n[1] for n in nodes)
        assert f"--nats {servers} --partition-count 8" in workers_line
        out = tmp_path / "dest"
        worker = subprocess.Popen(
            [*V2X, "ingest", "--nats", servers, "--partitions", "0-7", "--strays", "--out", str(out)],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stderr is not None
        while "subscribed to" not in (said := worker.stderr.readline()):
            assert said, "the worker ended before it subscribed"
        assert "as worker p0-7-strays" in said
        frames = [(f"V2X/OBU/OBU-{k % 5}/BSM/UP", good_bsm(k)) for k in range(200)]
        assert _publish(nodes[1][2], frames) == 200
        time.sleep(2)
        worker.send_signal(2)  # Ctrl-C: a clean stop
        assert worker.wait(timeout=60) == 0
        counted = subprocess.run(
            [*V2X, "sql", str(out), "SELECT count(*) AS n FROM messages", "--format", "csv"], capture_output=True, text=True
        )
        assert counted.returncode == 0 and counted.stdout.split() == ["n", "200"]
        refused = subprocess.run(
            [*V2X, "nats", "consumers", "--nats", servers, "--partitions", "4"], capture_output=True, text=True
        )
        assert refused.returncode == 1 and "of 8 partitions, not" in refused.stderr
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
    assert cluster.returncode == 0


def test_the_mapping_line_for_a_node_configuration():
    shown = subprocess.run([*V2X, "nats", "mapping", "--partitions", "16", "--prefix", "xq"], capture_output=True, text=True)
    assert shown.stdout.strip() == (
        'mappings = { "$MQTT.msgs.xq.V2X.*.*.*.*": '
        '"$MQTT.msgs.part.{{partition(16,1,2)}}.xq.V2X.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}" }'
    )


def test_a_cluster_that_does_not_answer_is_one_line_not_a_traceback():
    """The NATS client logs every refused connection with its traceback unless told otherwise;
    an operator's command (and ``v2x nats cluster`` while its nodes start) says why in one line."""
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [*V2X, "nats", "consumers", "--nats", f"nats://127.0.0.1:{port}"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: nats://127.0.0.1:{port}: ") and proc.stderr.count("\n") == 1, proc.stderr
