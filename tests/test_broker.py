"""The broker seam: the config we generate, the embedded fallback, and a broker that goes away."""

from __future__ import annotations

import asyncio
import json
import time

import duckdb
import numpy as np
import pytest

from v2x import broker as broker_module
from v2x.broker import mosquitto_config, start_broker
from v2x.rundir import RunDir
from v2x.run import run_scenario
from v2x.scenario import obu_id, parse_scenario
from v2x.security import DeviceRequest, create_pki
from v2x.simulator_main import simulate

from pipeline.ingest import ingest, verifier_from_pki
from tests.test_scenario import GOOD
from vehicles.simulator import build_vehicles

pytestmark = pytest.mark.broker


def test_generated_mosquitto_config_never_drops_queued_messages():
    # Mosquitto's default max_queued_messages 1000 silently drops for a slow subscriber (mosquitto.conf(5)).
    lines = mosquitto_config(1883).splitlines()
    assert "max_queued_messages 0" in lines
    assert "listener 1883 127.0.0.1" in lines


def test_embedded_broker_is_the_fallback_without_mosquitto(tmp_path, monkeypatch):
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    b = start_broker(tmp_path / "broker")
    try:
        assert b.kind == "iotcore" and b.address.host == "127.0.0.1"
        scenario = parse_scenario(GOOD)
        result = run_scenario(scenario, tmp_path, broker_url=b.address.url)
    finally:
        b.stop()
    assert result.published == result.received == result.stored == 2 * 30 + 2 * 30 + 2 * 30 + 2 * 3  # BSM, SPAT, RSM, MAP


def test_no_broker_at_all_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    monkeypatch.setattr(broker_module, "iotcore_available", lambda: False)
    with pytest.raises(broker_module.BrokerError, match="apt-get install mosquitto"):
        start_broker(tmp_path / "broker")


def test_broker_going_away_mid_run_is_recorded_and_survived(mosquitto, tmp_path):
    """Kill the broker for ~1.5 s during a run: devices count what they could not publish, the
    ingest records the disconnect, reconnects and stores everything it received."""
    scenario = parse_scenario(GOOD.replace("duration_s: 3", "duration_s: 7"))
    run = RunDir(tmp_path / "run").create()
    create_pki(run.pki, [DeviceRequest(obu_id(i), [111, 112]) for i in range(scenario.vehicle_count)], valid_from_unix_s=time.time())
    devices = build_vehicles(scenario, run)
    address = mosquitto.address
    port = address.port

    async def play() -> tuple[dict, float]:
        stop = asyncio.Event()
        ready = asyncio.Event()
        verifier = verifier_from_pki(run.pki)
        task = asyncio.create_task(ingest(address, run, verifier=verifier, stop=stop, on_ready=ready.set, verify_workers=2))
        await asyncio.wait_for(ready.wait(), 30)
        sim = asyncio.create_task(asyncio.to_thread(simulate, "vehicles", scenario, run, devices, address, time.time() + 0.5))
        await asyncio.sleep(2.0)
        mosquitto.stop()
        await asyncio.sleep(1.5)
        restarted = await asyncio.to_thread(start_broker, tmp_path / "broker2", port)
        restarted_at = time.time()
        await sim
        await asyncio.sleep(1.5)
        stop.set()
        stats = await task
        restarted.stop()
        return stats.as_dict(), restarted_at

    stats, restarted_at = asyncio.run(play())
    generated = sum(sum(up.generated.values()) for up, _ in devices)
    published = sum(sum(up.published.values()) for up, _ in devices)
    failed = sum(sum(up.failed.values()) for up, _ in devices)
    assert generated == scenario.vehicle_count * 70
    assert published + failed == generated and failed > 0  # every frame accounted for
    events = [e["event"] for e in stats["events"]]
    assert "broker_disconnected" in events and events[-1] == "broker_reconnected"
    summary = json.loads((run.ingest / "summary.json").read_text())
    assert summary["received"] == summary["stored"] == stats["stored"]  # the ingest lost nothing it received

    rows = duckdb.connect().execute(
        f"SELECT sender_id, msg_cnt, msg_cnt_gap, auth, epoch_us(received_at) FROM read_parquet('{run.telemetry}/**/*.parquet', hive_partitioning = true) "
        "ORDER BY sender_id, generated_at"
    ).fetchall()
    assert len(rows) == stats["stored"] and all(r[3] == "success" for r in rows)
    # Messages arrive from after the restart, and the outage shows as msgCnt gaps (PDR < 1).
    assert any(r[4] > restarted_at * 1e6 for r in rows)
    assert int(np.sum([r[2] or 0 for r in rows])) >= failed
