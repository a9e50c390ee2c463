"""The operator's commands for object storage: ``v2x s3 serve`` runs a local S3 server and prints
what clients need, two ``v2x ingest --nats ... --out s3://...`` workers write one destination in
the bucket, and ``v2x sql`` / ``v2x gate`` read it in place."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from v2x.nats.cluster import start_cluster
from v2x.nats.uplink import create_uplink_consumers

from tests.test_hostile_frames import good_bsm
from tests.test_nats_cli import _publish

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]  # processes of every kind: with the slow ones in CI
V2X = [sys.executable, "-m", "v2x.cli"]


def _worker(servers: str, partitions: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [*V2X, "ingest", "--nats", servers, *partitions, "--out", "s3://telemetry/zone"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert worker.stderr is not None
    while "subscribed to" not in (said := worker.stderr.readline()):
        assert said, "the worker ended before it subscribed"
    return worker


def test_workers_write_a_bucket_that_sql_and_gate_read_in_place(tmp_path: Path):
    server = subprocess.Popen(
        [*V2X, "s3", "serve", str(tmp_path / "s3"), "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        exports = dict(server.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(4))
        assert "s3://telemetry/PREFIX" in server.stderr.readline() and server.stderr.readline().strip() == "READY"
        assert set(exports) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
        env = {**os.environ, **exports}
        with start_cluster(tmp_path / "cluster", nodes=1) as cluster:
            create_uplink_consumers(cluster.servers, "", 1, 8)
            servers = ",".join(cluster.servers)
            workers = [_worker(servers, ["--partitions", "0-3", "--strays"], env), _worker(servers, ["--partitions", "4-7"], env)]
            frames = [(f"V2X/OBU/OBU-{k % 7}/BSM/UP", good_bsm(k)) for k in range(300)]
            assert _publish(cluster.mqtt(0).url, frames) == 300
            time.sleep(2)
            for worker in workers:
                worker.send_signal(2)  # Ctrl-C: a clean stop
            assert [w.wait(timeout=60) for w in workers] == [0, 0]

        def sql(query: str) -> list[str]:
            done = subprocess.run(
                [*V2X, "sql", "s3://telemetry/zone", query, "--format", "csv"], capture_output=True, text=True, env=env
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.split()

        assert sql("SELECT count(*) AS n, count(DISTINCT rx_seq) AS k FROM messages") == ["n,k", "300,300"]
        assert sql("SELECT count(DISTINCT sender_id) AS s FROM messages") == ["s", "7"]
        gate = subprocess.run([*V2X, "gate", "s3://telemetry/zone"], capture_output=True, text=True, env=env)
        assert "(s3://telemetry/zone)" in gate.stdout and gate.returncode in (0, 1), gate.stderr
        wrong = subprocess.run(
            [*V2X, "ingest", "--nats", servers, "--partitions", "0-7", "--out", "s3://telemetry/zone"],
            capture_output=True,
            text=True,
            env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"},
        )
        assert wrong.returncode == 2 and "--out s3://telemetry/zone:" in wrong.stderr and "ACCESS_DENIED" in wrong.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
