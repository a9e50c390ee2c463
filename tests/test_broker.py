"""The broker seam: the config we generate, the embedded fallback, and a broker that goes away."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import duckdb
import numpy as np
import pytest

from v2x import run as run_module
from v2x.device.simulator import simulate
from v2x.mqtt import broker as broker_module
from v2x.mqtt.broker import mosquitto_config, start_broker
from v2x.run import RunError, run_scenario
from v2x.rundir import RunDir
from v2x.scenario.model import obu_id, parse_scenario
from v2x.security import DeviceRequest, create_pki

from pipeline.ingest.session import ingest
from pipeline.ingest.trust import verifier_from_pki
from vehicles.simulator import build_vehicles

from tests.test_scenario import GOOD

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


def test_a_run_against_a_broker_that_is_not_there_fails_at_once_with_the_reason(tmp_path):
    url = f"mqtt://127.0.0.1:{broker_module.free_port()}"
    started = time.monotonic()
    with pytest.raises(RunError, match=f"broker {url}: cannot connect to .*refused"):
        run_scenario(parse_scenario(GOOD), tmp_path, broker_url=url)
    assert time.monotonic() - started < 10


def _stage(code: str, log) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log.open("ab"))


def test_stages_are_awaited_together_and_one_that_exits_or_hangs_fails_the_run_by_name(tmp_path):
    log = tmp_path / "stage.log"
    ready = "print('READY', flush=True); import time; time.sleep(0.3)"
    stages = {"a": (_stage(ready, log), log), "b": (_stage("import time; time.sleep(1.2); " + ready, log), log)}
    started = time.monotonic()
    ticks: list[float] = []
    run_module._await_ready(stages, 30, lambda: "", ticks.append)
    assert time.monotonic() - started < 10
    assert len(ticks) >= 3 and ticks == sorted(ticks) and ticks[-1] >= 0.9  # told about twice a second while it waits

    stages = {"ingest": (_stage(ready, log), log), "vehicles simulator": (_stage("import sys; sys.exit(3)", log), log)}
    with pytest.raises(RunError, match=r"vehicles simulator did not become ready \(exit code 3\); see .*stage.log"):
        run_module._await_ready(stages, 30, lambda: "")

    silent = _stage("import time; time.sleep(60)", log)
    started = time.monotonic()
    with pytest.raises(RunError, match=r"ingest did not become ready within 1 s \(no broker\); see"):
        run_module._await_ready({"ingest": (silent, log)}, 1, lambda: " (no broker)")
    assert time.monotonic() - started < 5
    silent.kill()
    silent.wait()


@pytest.mark.long  # 10 s; the ingest's own broker restart is covered in tests/test_mqtt_subscribe.py
def test_broker_going_away_mid_run_is_recorded_and_survived(mosquitto, tmp_path):
    """Kill the broker for ~1.5 s during a run: devices count what they could not publish, the
    ingest records the disconnect, reconnects and stores everything it received."""
    scenario = parse_scenario(GOOD.replace("duration_s: 3", "duration_s: 7"))
    run = RunDir(tmp_path / "run").create()
    create_pki(
        run.pki, [DeviceRequest(obu_id(i), [111, 112]) for i in range(scenario.vehicle_count)], valid_from_unix_s=time.time()
    )
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

    rows = (
        duckdb.connect()
        .execute(
            f"SELECT sender_id, msg_cnt, msg_cnt_gap, auth, epoch_us(received_at) FROM read_parquet('{run.telemetry}/**/*.parquet', hive_partitioning = true) "
            "ORDER BY sender_id, generated_at"
        )
        .fetchall()
    )
    assert len(rows) == stats["stored"] and all(r[3] == "success" for r in rows)
    # Messages arrive from after the restart, and the outage shows as msgCnt gaps (PDR < 1).
    assert any(r[4] > restarted_at * 1e6 for r in rows)
    assert int(np.sum([r[2] or 0 for r in rows])) >= failed


@pytest.mark.broker
def test_a_run_interrupted_mid_way_says_so_and_cannot_pass_the_gate(tmp_path):
    """A run stopped with Ctrl-C after 4.5 of 10 s once passed the gate."""
    from click.testing import CliRunner

    from v2x.cli import main as v2x

    def interrupt(progress: run_module.RunProgress) -> None:
        if progress.stored > 0 and progress.elapsed_s > 1.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scenario(parse_scenario(GOOD), tmp_path, run_dir=tmp_path / "cut", progress=interrupt)
    manifest = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert manifest["interrupted"] == "KeyboardInterrupt" and "ended_at" not in manifest
    result = CliRunner().invoke(v2x, ["gate", str(tmp_path / "cut")])
    assert result.exit_code == 1 and "FAIL run.complete" in result.output


def test_a_chosen_port_taken_before_the_broker_binds_it_is_chosen_again(tmp_path, monkeypatch):
    """Several runs at once: the free port chosen for one can be taken by another before its
    broker binds it.  The broker then starts on another port; a port the caller gave is kept."""
    import socket

    from v2x.mqtt import broker

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    ports = iter([busy, broker.free_port()])
    monkeypatch.setattr(broker, "free_port", lambda host="127.0.0.1": next(ports))
    try:
        started = broker.start_broker(tmp_path / "b", kind="mosquitto")
        try:
            assert started.address.port != busy
        finally:
            started.stop()
        with pytest.raises(broker.BrokerError, match="Address already in use"):
            broker.start_broker(tmp_path / "c", port=busy, kind="mosquitto")
    finally:
        taken.close()
