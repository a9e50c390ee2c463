"""Ingest workers on a real 3-node NATS JetStream cluster: devices publish MQTT QoS 1 to any node,
two workers own disjoint partitions of the uplink stream and write one destination; a worker killed
with SIGKILL and restarted, and a node killed, lose nothing and duplicate nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from v2x.nats.cluster import RunningCluster, start_cluster
from v2x.nats.uplink import STREAM, consumer_partitions, ensure_uplink_consumers, partition_consumer, uplink_leader
from v2x.rundir import RunDir

from pipeline.ingest.received import MESSAGES_PER_FRAME, stream_seq_of
from pipeline.ingest.store import read_commits
from pipeline.ingest.stream_receiver import (
    DelayReservoir,
    default_worker_name,
    parse_partitions,
    stream_source,
)
from pipeline.sql.views import connect

from tests.nats_devices import publish
from tests.test_hostile_frames import good_bsm

pytestmark = pytest.mark.cluster
DEVICES = 12


def worker_command(servers: list[str], out: Path, partitions: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline.ingest",
        "--run",
        str(out),
        "--nats",
        ",".join(servers),
        "--partitions",
        partitions,
        *extra,
    ]


def start_worker(cluster: RunningCluster, out: Path, partitions: str, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        worker_command(cluster.servers, out, partitions, *extra),
        stdout=subprocess.PIPE,
        stderr=open(out.parent / f"worker-{partitions}.log", "ab"),  # noqa: SIM115 (the child keeps it)
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"READY"
    return proc


def wait_stored(out: Path, n: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    stored = 0
    while time.monotonic() < deadline:
        stored = int(RunDir(out).ingest_progress().get("stored", 0))
        if stored >= n:
            break
        time.sleep(0.2)
    return stored


def wait_all_stored(out: Path, frames: list[tuple[str, bytes]], timeout_s: float = 60) -> set[tuple[str, bytes]]:
    """Those of ``frames`` not stored once all are or ``timeout_s`` has passed.  A count is not
    enough after a fault: a frame stored whose acknowledgement the device never got counts as
    much as one acknowledged and still on its way (a new stream leader is being elected)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            missing = set(frames) - {(t, f) for t, f, _ in stored_rows(out)}
        except duckdb.IOException:  # no part committed yet
            missing = set(frames)
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.5)


def stored_rows(out: Path) -> list[tuple[str, bytes, int]]:
    telemetry = f"read_parquet('{out}/telemetry/**/*.parquet', hive_partitioning = true)"
    return [(t, bytes(f), r) for t, f, r in duckdb.connect().execute(f"SELECT topic, frame, rx_seq FROM {telemetry}").fetchall()]


def processing_order(out: Path) -> dict[str, list[int]]:
    """Each topic's rx_seq in the order the workers stored them (commit by commit, row by row)."""
    order: dict[str, list[int]] = {}
    for journal in sorted((out / "ingest" / "workers").glob("*/commits.jsonl")):
        for commit in read_commits(journal):
            for relative in commit.files:
                if relative.startswith("telemetry/"):
                    table = pq.read_table(out / relative, columns=["topic", "rx_seq"])
                    for topic, rx_seq in zip(table.column("topic").to_pylist(), table.column("rx_seq").to_pylist(), strict=True):
                        order.setdefault(topic, []).append(rx_seq)
    return order


async def _stream_partitions(servers: list[str]) -> int | None:
    import nats

    nc = await nats.connect(servers)
    try:
        return consumer_partitions((await nc.jetstream().consumer_info(STREAM, partition_consumer(7))).config)
    finally:
        await nc.close()


def test_two_workers_a_worker_killed_and_a_node_killed_lose_nothing_and_duplicate_nothing(tmp_path: Path):
    """Worker p0-3 is killed with SIGKILL while devices publish and restarted; then the node
    leading the stream is killed while they publish: every acknowledged frame is stored once."""
    out = tmp_path / "dest"
    frames = [("V2X/OBU/odd-one/BSM/UP/extra", good_bsm(90_000 + k)) for k in range(20)]  # no partition holds these
    frames += [("V2X/OBU/OBU.dotted/BSM/UP", good_bsm(95_000 + k)) for k in range(20)]  # stored as OBU//dotted: read back as sent
    frames += [(f"V2X/OBU/OBU-{k % DEVICES:04d}/BSM/UP", good_bsm(k)) for k in range(3_000)]
    with start_cluster(tmp_path / "cluster", nodes=3) as cluster:
        a = start_worker(cluster, out, "0-3", "--strays")
        b = start_worker(cluster, out, "4-7")
        assert asyncio.run(_stream_partitions(cluster.servers)) == 8
        leader = cluster.names.index(uplink_leader(cluster.servers) or "")
        others = [k for k in range(3) if k != leader]
        acked: list[bool] = []
        sender = threading.Thread(target=lambda: acked.extend(publish(cluster, others, "devices", frames, 1000.0)))
        sender.start()
        time.sleep(0.5)
        a.send_signal(signal.SIGKILL)  # a worker dies mid-run, its parts' acknowledgements unsent
        a.wait()
        a = start_worker(cluster, out, "0-3", "--strays")  # and is restarted on the same destination
        time.sleep(0.5)
        cluster.kill(leader)  # kill -9 the node leading the stream mid-run
        sender.join()
        acknowledged = [f for f, ok in zip(frames, acked, strict=True) if ok]
        assert len(acknowledged) >= 500  # at least half a second of frames before the node was lost
        assert wait_all_stored(out, acknowledged) == set()
        time.sleep(1.0)  # a frame stored but not acknowledged to its device comes too
        for worker in (a, b):
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
    rows = stored_rows(out)
    stored = [(t, f) for t, f, _ in rows]
    assert set(acknowledged) <= set(stored) and len(set(stored)) == len(stored)  # none lost, none twice
    assert len({r for _, _, r in rows}) == len(rows)  # rx_seq unique across the workers
    assert all(r % MESSAGES_PER_FRAME == 0 and stream_seq_of(r) >= 1 for _, _, r in rows)
    # each device's frames in one worker's parts, in publish order (the stream's order)
    by_device: dict[str, list[int]] = {}
    for topic, frame, _rx_seq in sorted(rows, key=lambda row: row[2]):
        by_device.setdefault(topic, []).append(frames.index((topic, frame)))
    assert all(seen == sorted(seen) for seen in by_device.values())
    assert any("odd-one" in topic for topic in by_device)  # the strays were read
    summary = RunDir(out).ingest_summary()
    assert set(summary["workers"]) == {"p0-3-strays", "p4-7"}
    assert summary["failure"] is None and summary["stored"] == len(rows)
    killed = [s for s in summary["sessions"] if s["worker"] == "p0-3-strays"]
    assert killed[0]["cause"] == "ended without a clean stop (killed or crashed)" and killed[-1]["cause"] == "stopped"
    delay = summary["workers"]["p4-7"]["stream_delay_ms"]
    assert delay["samples"] > 0 and 0 <= delay["p50"] <= delay["p99"] <= delay["max"]
    # the destination reads as one run: every worker's parts through the SQL views
    con = connect(out)
    assert con.execute("SELECT count(*) FROM messages").fetchone()[0] == len(rows)
    # processed in the order the cluster received them, also across the restart
    assert all(seqs == sorted(seqs) for seqs in processing_order(out).values())


def test_a_worker_that_did_not_stop_cleanly_makes_the_destination_fail(tmp_path: Path):
    out = tmp_path / "dest"
    with start_cluster(tmp_path / "cluster", nodes=3) as cluster:
        a = start_worker(cluster, out, "0-7", "--strays")
        assert all(publish(cluster, [0], "dev", [(f"V2X/OBU/OBU-{k % 3}/BSM/UP", good_bsm(k)) for k in range(50)], 500.0))
        assert wait_stored(out, 50) == 50
        a.send_signal(signal.SIGKILL)
        a.wait()
    summary = RunDir(out).ingest_summary()
    assert "worker p0-7-strays: its last session did not stop cleanly" in summary["failure"]


def test_a_worker_that_falls_behind_catches_up_from_the_cluster(tmp_path: Path):
    """A worker stopped (SIGSTOP) while devices publish finds every frame waiting in the cluster
    when it runs again, stamped with the time the cluster received it, not when it was read."""
    out = tmp_path / "dest"
    frames = [(f"V2X/OBU/OBU-{k % 5}/BSM/UP", good_bsm(k)) for k in range(2_000)]
    with start_cluster(tmp_path / "cluster", nodes=3) as cluster:
        worker = start_worker(cluster, out, "0-7", "--strays")
        worker.send_signal(signal.SIGSTOP)
        published_at = time.time()
        assert all(publish(cluster, [0], "dev", frames, 2_000.0))
        time.sleep(2.0)  # the frames wait in the cluster, not in a broker queue that could drop them
        worker.send_signal(signal.SIGCONT)
        assert wait_stored(out, len(frames)) == len(frames)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    con = connect(out)
    first, last = con.execute("SELECT min(epoch(received_at)), max(epoch(received_at)) FROM messages").fetchone()
    assert published_at - 1 <= first and last < published_at + 2.0  # received when the cluster stored them
    delay = RunDir(out).ingest_summary()["workers"]["p0-7-strays"]["stream_delay_ms"]
    assert delay["max"] >= 2_000  # the wait is the worker's, reported apart


def test_a_worker_refuses_a_stream_partitioned_otherwise(tmp_path: Path):
    async def make(servers: list[str]) -> None:
        import nats

        nc = await nats.connect(servers)
        await ensure_uplink_consumers(nc.jetstream(), "", nodes=3, partitions=4)
        await nc.close()

    out = tmp_path / "dest"
    with start_cluster(tmp_path / "cluster", nodes=3) as cluster:
        asyncio.run(make(cluster.servers))
        proc = subprocess.run(
            worker_command(cluster.servers[:1], out, "0-1", "--duration", "20"),
            capture_output=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert b"reads $MQTT.msgs.part.0.V2X.> of 4 partitions, not $MQTT.msgs.part.0.V2X.> of 8" in proc.stderr


def test_worker_options():
    assert parse_partitions("0-3,6", 8) == [0, 1, 2, 3, 6]
    for bad in ("8", "3-1", "a", "-1"):
        with pytest.raises(ValueError):
            parse_partitions(bad, 8)
    assert default_worker_name([0, 1, 2, 3], False) == "p0-3"
    assert default_worker_name([0, 1, 3, 6, 7], True) == "p0-1_3_6-7-strays"
    assert default_worker_name([], True) == "strays"
    source = stream_source("nats://a:4222, nats://b:4222", "4-7")
    assert source.servers == ("nats://a:4222", "nats://b:4222") and source.partitions == (4, 5, 6, 7)
    assert source.worker == "p4-7" and source.consumers == [4, 5, 6, 7]
    for servers, partitions in (("mqtt://a:1883", "0"), ("nats://a:4222", None), ("nats://a", "0-9")):
        with pytest.raises(ValueError):
            stream_source(servers, partitions)
    reservoir = DelayReservoir(size=4)
    assert reservoir.summary() is None
    reservoir.add([1.0, 2.0, 3.0, 4.0, 100.0])  # the oldest is forgotten
    assert reservoir.summary() == {"p50": 3.5, "p99": 97.12, "max": 100.0, "samples": 5}
