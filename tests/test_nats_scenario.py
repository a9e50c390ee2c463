"""A scenario end to end on a 3-node NATS JetStream cluster started by ``v2x run`` with 2 ingest
workers writing an S3 bucket, a node and a worker killed during the run (the worker restarted):
every frame the devices published is stored once, and the report's verdict is the one the same
scenario gets through Mosquitto into a folder.  And the S3 server killed and restarted mid-run, or
killed for longer than the ingest waits for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from v2x.objectstore.bucket import Bucket
from v2x.run import RunError, run_scenario
from v2x.rundir import RunDir
from v2x.scenario.model import load_scenario, with_changes

from pipeline.report.build import build_report
from pipeline.sql.views import connect

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # whole scenario runs, two of them: with the slow ones in CI

CLUSTER = {
    "kind": "nats-cluster",
    "nodes": 3,
    "workers": 2,
    # a node that neither leads the stream nor carries a device: nothing the devices notice
    "faults": [{"at_s": 3, "kill": "node", "which": "follower"}, {"at_s": 4, "kill": "worker", "index": 1, "restart_after_s": 1}],
}


def _verdicts(run: Path) -> tuple[str, dict[str, str]]:
    report = build_report(run)
    return report.verdict, {c.id: c.verdict for c in report.checks}


def _stored(run: Path) -> tuple[int, int, int]:
    """Rows, distinct rx_seq and distinct frames stored, read through the run's views (its folder or its bucket)."""
    row = connect(run).execute("SELECT count(*), count(DISTINCT rx_seq), count(DISTINCT frame) FROM _received").fetchone()
    assert row is not None
    return row


def _restart_when_parts_commit(s3, bucket: Bucket, down_s: float | None) -> threading.Thread:
    """Kill the S3 server once the ingest has committed parts into ``bucket``, start it again
    ``down_s`` later (None: leave it down)."""

    def fault() -> None:
        deadline = time.monotonic() + 120
        while not [f for f in bucket.files("ingest") if "/commits/" in f] and time.monotonic() < deadline:
            time.sleep(0.2)
        s3.kill()
        if down_s is not None:
            time.sleep(down_s)
            s3.restart()

    thread = threading.Thread(target=fault, daemon=True)
    thread.start()
    return thread


@pytest.mark.broker
@pytest.mark.s3
def test_a_scenario_through_a_cluster_into_a_bucket_with_a_node_and_a_worker_killed_matches_mosquitto(
    tmp_path, mosquitto, s3_url
):
    scenario = with_changes(load_scenario("demo"), duration_s=8.0)
    on_cluster = run_scenario(with_changes(scenario, broker=CLUSTER), tmp_path, run_dir=tmp_path / "cluster", telemetry=s3_url)
    on_mosquitto = run_scenario(scenario, tmp_path, broker_url=mosquitto.address.url, run_dir=tmp_path / "mosquitto")
    assert not list((tmp_path / "cluster" / "telemetry").iterdir())  # all of it in the bucket
    assert {f.split("/")[0] for f in Bucket.parse(s3_url).files()} == {"ingest", "telemetry", "tables"}

    manifest = json.loads((on_cluster.run.root / "run.json").read_text())
    applied = [f["what"] for f in manifest["broker"]["faults"]]
    assert applied[0].startswith("kill node") and ", follower;" in applied[0]
    assert applied[1:] == ["kill worker 1", "restart worker 1"]
    assert on_cluster.published == on_cluster.received == on_cluster.stored > 1000
    rows, rx_seqs, frames = _stored(on_cluster.run.root)
    assert rows == rx_seqs == frames == on_cluster.published  # no duplicate row, none lost
    summary = RunDir(on_cluster.run.root).ingest_summary()
    assert summary["failure"] is None and set(summary["workers"]) == {"w0", "w1"}
    assert next(s["cause"] for s in summary["sessions"] if s["worker"] == "w1").startswith("ended without a clean stop")

    verdict, checks = _verdicts(on_cluster.run.root)
    assert (verdict, checks) == _verdicts(on_mosquitto.run.root)
    assert verdict == "PASS" and checks["run.ingest"] == checks["run.delivery"] == "PASS"


def test_a_worker_killed_and_not_restarted_fails_the_run(tmp_path):
    scenario = with_changes(
        load_scenario("demo"),
        duration_s=5.0,
        broker={"kind": "nats-cluster", "nodes": 1, "workers": 2, "faults": [{"at_s": 2, "kill": "worker", "index": 0}]},
    )
    with pytest.raises(RunError, match="ingest worker 0 exited with -9"):
        run_scenario(scenario, tmp_path, run_dir=tmp_path / "run")
    verdict, checks = _verdicts(tmp_path / "run")
    assert verdict == "FAIL" and checks["run.ingest"] == checks["run.delivery"] == checks["run.complete"] == "FAIL"
    summary = RunDir(tmp_path / "run").ingest_summary()
    assert "worker w0: its last session did not stop cleanly" in summary["failure"]


@pytest.mark.broker
@pytest.mark.s3
def test_the_s3_server_restarted_mid_run_costs_a_pause_not_a_frame(tmp_path, s3_alone):
    s3 = s3_alone
    scenario = with_changes(load_scenario("demo"), duration_s=8.0)
    bucket = Bucket.parse("s3://telemetry/restarted")
    fault = _restart_when_parts_commit(s3, bucket, down_s=2.0)
    result = run_scenario(scenario, tmp_path, run_dir=tmp_path / "run", telemetry=bucket.url)
    fault.join(timeout=30)
    assert s3.restarts == 1
    assert result.published == result.received == result.stored > 1000
    rows, rx_seqs, frames = _stored(result.run.root)
    assert rows == rx_seqs == frames == result.published
    verdict, checks = _verdicts(result.run.root)
    assert verdict == "PASS", [check for check, v in checks.items() if v == "FAIL"]
    assert checks["run.ingest"] == checks["run.delivery"] == "PASS"
    events = [e["event"] for e in RunDir(result.run.root).ingest_summary()["events"]]
    assert events.count("storage_unreachable") == events.count("storage_back") == 1  # the pause, on record


@pytest.mark.broker
@pytest.mark.s3
def test_a_bucket_away_longer_than_the_ingest_waits_fails_the_run_and_its_gate(tmp_path, s3_alone):
    """Past its outage limit (V2X_STORAGE_OUTAGE_S, here 4 s instead of the 120 s policy) the
    ingest stops acknowledging and fails; ``v2x run`` says so without a traceback, and once the
    server is back the gate fails the run: what was stored is there once, and no more is claimed."""
    s3 = s3_alone
    bucket = Bucket.parse("s3://telemetry/away")
    fault = _restart_when_parts_commit(s3, bucket, down_s=None)
    env = {**os.environ, "V2X_STORAGE_OUTAGE_S": "4"}
    command = [sys.executable, "-m", "v2x.cli", "run", "demo", "--duration", "8", "--runs-dir", str(tmp_path / "runs")]
    proc = subprocess.run(
        [*command, "--telemetry", bucket.url, "--no-report"], capture_output=True, text=True, env=env, timeout=300
    )
    fault.join(timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "the run's telemetry destination stopped answering: s3://telemetry/away" in proc.stderr
    assert "Traceback" not in proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert "storage_unreachable: s3://telemetry/away" in (run / "logs" / "ingest.log").read_text()

    s3.restart()
    rows, rx_seqs, frames = _stored(run)
    assert 0 < rows == rx_seqs == frames
    verdict, checks = _verdicts(run)
    assert verdict == "FAIL" and checks["run.complete"] == checks["run.ingest"] == checks["run.delivery"] == "FAIL"
    gate = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "gate", str(run)], capture_output=True, text=True, env=env, timeout=300
    )
    assert gate.returncode == 1, gate.stdout + gate.stderr
