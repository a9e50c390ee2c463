"""End to end through a real Mosquitto broker on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiomqtt
import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from v2x.messages import MessageType
from v2x.run import run_scenario
from v2x.rundir import RunDir
from v2x.scenario.model import parse_scenario
from v2x.security import load_credential

from pipeline.decode.content import FAST_PATH, to_arrow
from pipeline.decode.map_rsi import map_rows, rsi_rows
from pipeline.ingest.session import ingest
from pipeline.report.build import build_report

from tests.independent import verify_spdu
from tests.test_scenario import GOOD

pytestmark = pytest.mark.broker


WITH_RSI = GOOD.replace("count: 2", "count: 4").replace(
    "rsu_id: RSU-B}",
    "rsu_id: RSU-B, traffic_info: [{kind: event, code: 401, description: road works}, {kind: sign, code: 38}]}",
)


def test_short_run_through_mosquitto(mosquitto, tmp_path, reference_modules):
    scenario = parse_scenario(WITH_RSI)
    seen: list = []
    result = run_scenario(scenario, tmp_path, broker_url=mosquitto.address.url, progress=seen.append)
    # BSM 4 x 10 Hz, SPAT and RSM 2 x 10 Hz, MAP 2 x 1 Hz, RSI 1 x 1 Hz, for 3 s
    assert result.published == result.received == result.stored == 4 * 30 + 2 * 30 + 2 * 30 + 2 * 3 + 3

    # Progress while it ran: the clock advanced, publication was seen growing, and the last word is the total.
    running = [p for p in seen if p.phase == "running"]
    assert len(running) >= 8 and running[-1].elapsed_s >= 2.5 and running[-1].nominal_per_s == pytest.approx(4 * 10 + 2 * 21 + 1)
    assert [p.published for p in running] == sorted(p.published for p in running) and 0 < running[
        len(running) // 2
    ].published < result.published
    assert seen[-1].phase == "done" and seen[-1].published == seen[-1].received == result.published

    report = build_report(result.run.root).to_data()
    assert report["verdict"] == "PASS"
    # The schedule: every due frame within the run, none 100 ms late.
    kept = report["schedule"]
    assert kept["pace"] == "realtime" and set(kept["simulators"]) == {"roadside", "vehicles"}
    assert kept["due"] == result.published and kept["nominal_per_s"] == pytest.approx(4 * 10 + 2 * 21 + 1)
    assert kept["achieved_over_nominal"] == 1.0 and kept["late_100ms"] == 0 and 0 <= kept["lateness_p99_ms"] < 100
    assert report["overall"]["schedule_achieved_over_nominal"] == 1.0
    types = {m["msg_type"]: m for m in report["message_types"]}
    assert set(types) == {"BSM", "MAP", "SPAT", "RSM", "RSI"}
    assert types["BSM"]["senders"] == 4 and types["BSM"]["stored"] == 120
    assert 9.9 <= types["BSM"]["rate_hz_min"] <= 10.1 and 9.9 <= types["SPAT"]["rate_hz_min"] <= 10.1
    assert types["BSM"]["pdr"] == 1.0 and types["BSM"]["auth_success_rate"] == 1.0
    assert 0 <= types["BSM"]["latency_p99_ms"] <= 100

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT msg_type, sender_id, received_at, generated_at, latency_ms, msg_cnt, auth, frame, lat_deg, lon_deg, speed_mps, heading_deg "
        f"FROM read_parquet('{result.run.telemetry}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert len(rows) == result.stored
    sec, msgs = reference_modules["ydt3957"], reference_modules["ydt3709"]
    certificates = {}
    for msg_type, sender, _, _, _, msg_cnt, auth, frame, lat, lon, speed, heading in rows:
        assert auth == "success"
        signed = sec.decode("V2XSecData", frame)["content"][1]
        choice, content = msgs.decode("MessageFrame", signed["tbsData"]["payload"]["data"]["content"][1])
        assert (
            choice == {"BSM": "bsmFrame", "MAP": "mapFrame", "SPAT": "spatFrame", "RSM": "rsmFrame", "RSI": "rsiFrame"}[msg_type]
        )
        assert content["msgCnt"] == msg_cnt
        kind, signer = signed["signer"]
        if kind == "certificate":
            certificates[sender] = sec.encode("CertificateBase", signer[0])
        cert = certificates.get(sender) or load_credential(RunDir(result.run.root).pki, sender).certificate
        assert verify_spdu(frame, cert, reference_modules, tmp_path)  # SM2 with OpenSSL, outside the project
        if msg_type == "BSM":
            assert lat == pytest.approx(content["pos"]["lat"] * 1e-7) and lon == pytest.approx(content["pos"]["long"] * 1e-7)
            assert speed == pytest.approx(content["speed"] * 0.02) and heading == pytest.approx(content["heading"] * 0.0125)
            assert "elevation" not in content["pos"]


def test_garbage_frames_are_stored_with_reason(mosquitto, tmp_path):
    run = RunDir(tmp_path / "run")

    async def scenario() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 30)
        async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as c:
            await c.publish("V2X/OBU/OBU-9/BSM/UP", b"\x03\x81garbage", qos=1)
            await c.publish("V2X/RSU/RSU-9/SPAT/UP", b"", qos=1)
            await c.publish("not/a/v2x/topic", b"\x00\x01", qos=1)
        await asyncio.sleep(1.5)
        stop.set()
        stats = await task
        assert stats.received == 2  # the subscription is V2X/#: the third topic is not ours

    asyncio.run(scenario())
    rows = (
        duckdb.connect()
        .execute(
            "SELECT msg_type, sender_id, decode_ok, auth, reject_reason, frame "
            f"FROM read_parquet('{run.telemetry}/**/*.parquet', hive_partitioning = true) ORDER BY msg_type"
        )
        .fetchall()
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("BSM", "OBU-9", False, "malformed"),
        ("SPAT", "RSU-9", False, "malformed"),
    ]
    assert "out of data" in rows[0][4] and rows[0][5] == b"\x03\x81garbage"
    assert "truncated" in rows[1][4]


def test_cli_run_starts_its_own_broker_and_prints_report(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(GOOD.replace("duration_s: 3", "duration_s: 2"))
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "run", str(scenario), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", **__import__("os").environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert "started mosquitto broker" in proc.stderr
    assert "verdict PASS" in proc.stdout and "BSM.latency_p99" in proc.stdout
    run_dir = next((tmp_path / "runs").iterdir())
    assert f"HTML report with charts: {run_dir / 'report.html'}" in proc.stderr.replace("\n", "")
    assert '<span class="verdict PASS" id=verdict>' in (run_dir / "report.html").read_text(encoding="utf-8")
    sql = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run_dir), "SELECT count(*) AS n FROM bsm"], capture_output=True, text=True
    )
    assert sql.returncode == 0 and "40" in sql.stdout


def test_stored_tables_equal_an_independent_reference_decode(mosquitto, tmp_path, reference_modules):
    """Frames of all five types, decoded with the CSAE 53 reference copy (not our module),
    give the field values stored in the content tables."""
    result = run_scenario(parse_scenario(WITH_RSI), tmp_path, broker_url=mosquitto.address.url)
    con = duckdb.connect()

    def table(name: str) -> dict[int, list[dict]]:
        rows: dict[int, list[dict]] = {}
        for r in pq.read_table(result.run.tables / name).to_pylist():
            rows.setdefault(r["rx_seq"], []).append(r)
        return rows

    names = [
        "bsm",
        "bsm_path_points",
        "spat",
        "spat_phase_states",
        "rsm",
        "rsm_participants",
        "map_lanes",
        "map_movements",
        "rsi_items",
    ]
    stored = {name: table(name) for name in names}
    frames = con.execute(
        f"SELECT rx_seq, msg_type, frame FROM read_parquet('{result.run.telemetry}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    sec, msgs = reference_modules["ydt3957"], reference_modules["csae53_vss"]
    seen = set()
    for rx_seq, msg_type, frame in frames:
        signed = sec.decode("V2XSecData", frame)["content"][1]
        _, content = msgs.decode("MessageFrame", signed["tbsData"]["payload"]["data"]["content"][1])
        seen.add(msg_type)
        if msg_type in ("BSM", "SPAT", "RSM"):
            decoder = FAST_PATH[MessageType(msg_type)]
            row, kids = decoder.reference(content)
            assert stored[msg_type.lower()][rx_seq] == to_arrow(decoder.columns, np.array([row]), np.array([rx_seq])).to_pylist()
            if kids:
                expected = to_arrow(decoder.child_columns, np.array(kids), np.full(len(kids), rx_seq)).to_pylist()
                assert stored[decoder.child_table][rx_seq] == expected
            else:
                assert rx_seq not in stored[decoder.child_table]
        elif msg_type == "MAP":
            lanes, movements = map_rows(content)
            assert stored["map_lanes"][rx_seq] == [{"rx_seq": rx_seq, **r} for r in lanes]
            assert stored["map_movements"][rx_seq] == [{"rx_seq": rx_seq, **r} for r in movements]
        else:
            assert stored["rsi_items"][rx_seq] == [{"rx_seq": rx_seq, **r} for r in rsi_rows(content)]
    assert seen == {"BSM", "MAP", "SPAT", "RSM", "RSI"}
    # The RSM carries the RSU itself first and the vehicles it sees with their BSM ids.
    bsm_ids = {r[0]["id"] for r in stored["bsm"].values()}
    participants = [p for ps in stored["rsm_participants"].values() for p in ps]
    assert all(ps[0]["ptc_type"] == 4 and ps[0]["ptc_id"] == 0 for ps in stored["rsm_participants"].values())
    assert {p["id"] for p in participants if p["source"] == 2} <= bsm_ids
    assert {p["ptc_type"] for p in participants} >= {1, 3, 4}


def test_as_fast_as_possible_sends_the_whole_run_and_relates_it_to_the_bare_sign_rate(mosquitto, tmp_path):
    scenario = parse_scenario(GOOD.replace("duration_s: 3", "duration_s: 20"))  # 20 s of traffic, sent in far less
    result = run_scenario(scenario, tmp_path, broker_url=mosquitto.address.url, pace="max")
    assert result.published == result.received == result.stored == 20 * (2 * 10 + 2 * 21)
    report = build_report(result.run.root).to_data()
    kept = report["schedule"]
    assert kept["pace"] == "max" and kept["due"] == result.published
    assert kept["wall_s"] < 20 and kept["generated_per_wall_s"] == pytest.approx(kept["due"] / kept["wall_s"], rel=0.01)
    assert kept["bare_sign_per_s"] > 0 and kept["generated_over_bare_sign"] == pytest.approx(
        kept["generated_per_wall_s"] / kept["bare_sign_per_s"], rel=0.01
    )
    assert "schedule_achieved_over_nominal" not in report["overall"]
    assert report["message_types"][0]["auth_success_rate"] == 1.0
