"""`v2x ingest` against a real broker shows its progress while it runs."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import aiomqtt
import duckdb
import pytest

from pipeline.ingest.summary import IngestStats, Progress, progress_line


def test_progress_line_gives_counts_rate_types_and_broker_state():
    stats = IngestStats(received=250, stored=200, rejected=3, acknowledged=200, started_at=100.0)
    stats.by_type.update({"BSM": 180, "SPAT": 20})
    line, seen = progress_line(stats, Progress(at=110.0, received=50), now=112.0)
    assert line == "    12 s  received 250 (100/s)  stored 200  [BSM 180 SPAT 20]  rejected 3  unacknowledged 50  connected"
    assert seen == Progress(112.0, 250)
    stats.events.append({"at": "t", "event": "broker_disconnected", "detail": "gone"})
    assert progress_line(stats, seen, 113.0)[0].endswith(
        "received 250 (0/s)  stored 200  [BSM 180 SPAT 20]  rejected 3  unacknowledged 50  broker disconnected"
    )


@pytest.mark.broker
def test_ingest_command_prints_progress_while_it_runs(mosquitto, tmp_path):
    out = tmp_path / "live"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "v2x.cli",
            "ingest",
            "--broker",
            mosquitto.address.url,
            "--out",
            str(out),
            "--duration",
            "4",
            "--progress-every",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "subscribed to" in proc.stderr.readline()

        async def publish() -> None:
            async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
                for k in range(30):
                    await client.publish("V2X/OBU/OBU-7/BSM/UP", b"\x03\x81not a frame" + bytes([k]), qos=1)

        asyncio.run(publish())
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, rest
    finally:
        proc.kill()
    lines = re.findall(
        r"^\s*\d+ s  received (\d+) \((\d+)/s\)  stored (\d+).*rejected (\d+)  unacknowledged \d+  (connected|broker disconnected)$",
        rest,
        re.M,
    )
    assert len(lines) >= 3, rest  # one a second for 4 s
    assert lines[-1][0] == "30" and lines[-1][2] == "30" and lines[-1][3] == "30" and lines[-1][4] == "connected"
    assert any(int(rate) > 0 for _, rate, _, _, _ in lines)
    assert "received 30, stored 30, rejected 30" in rest
    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{out}/telemetry/**/*.parquet')").fetchone()
    assert rows == (30,)


@pytest.mark.broker
def test_frames_received_are_reported_when_traffic_pauses_before_their_batch_is_stored(mosquitto, tmp_path, monkeypatch):
    """A run waits for ``received`` in progress.json to reach what was published; the receiver
    reports it once a read brings nothing new, without waiting for the batch to be processed."""
    from v2x.rundir import RunDir, read_json

    import pipeline.ingest.session as ingest_module

    monkeypatch.setattr(ingest_module, "FLUSH_INTERVAL_S", 10.0)  # no batch is processed during the test
    run = RunDir(tmp_path / "run")
    progress = run.ingest / "progress.json"

    async def scenario() -> tuple[dict, IngestStats]:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ingest_module.ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 30)
        async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
            for k in range(25):
                await client.publish("V2X/OBU/OBU-5/BSM/UP", b"\x03\x81not a frame" + bytes([k]), qos=1)
        seen: dict = {}
        for _ in range(40):
            await asyncio.sleep(0.05)
            seen = read_json(progress) if progress.exists() else {}
            if seen.get("received") == 25:
                break
        stop.set()
        return seen, await task

    seen, stats = asyncio.run(scenario())
    assert seen.get("received") == 25 and seen.get("stored") == 0, seen
    assert stats.received == stats.stored == 25 and read_json(progress)["stored"] == 25


def test_an_ingest_that_never_reached_its_broker_fails_and_says_why(tmp_path):
    """A wrong host or port once 'succeeded': nothing stored, exit 0, the reason only in summary.json."""
    import json
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "nowhere"
    command = [sys.executable, "-m", "v2x.cli", "ingest", "--broker", f"mqtt://127.0.0.1:{port}", "--out", str(out)]
    proc = subprocess.run([*command, "--duration", "2", "--verbose"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "ingest WARNING broker_disconnected: cannot connect to" in proc.stderr  # --verbose: the session's events
    assert f"ingest FAILED: never subscribed at the broker mqtt://127.0.0.1:{port}: cannot connect" in proc.stderr
    assert proc.stderr.count("ingest FAILED") == 1
    summary = json.loads((out / "ingest" / "summary.json").read_text())
    assert summary["failure"].startswith("never subscribed at the broker")
