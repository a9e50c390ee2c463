"""Range-aware metrics (pipeline.report.slices) and Day-1 application checks (pipeline.report.applications) on
a generated run of one vehicle driving east past a receiver, against an independent count."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from v2x.cli import main as v2x

from pipeline.report.build import build_report
from pipeline.report.slices import ReceiversError, load_receivers

from tests.test_gate import LAT, LON, generated_run

METRES_PER_DEG_LAT = 111_320.0
RECEIVER = {
    "name": "mast-1",
    "lat": LAT,
    "lon": LON - 80 / (METRES_PER_DEG_LAT * math.cos(math.radians(LAT))),
}  # 80 m west of the start


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))


@pytest.fixture
def run_with_receiver(pki, tmp_path):
    """4 s of BSMs at 10 Hz moving 0.86 m per message east, 1 in 8 lost, 1 in 20 150 ms late;
    a receiver 80 m west of the start (the vehicle leaves its 100 m range after about 20 m)."""
    run = generated_run(tmp_path / "run", pki, lose_every=8, late_every=20, late_ms=150.0)
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text(json.dumps([RECEIVER]))
    return run, receivers


def test_ranged_metrics_equal_an_independent_count(run_with_receiver):
    run, receivers = run_with_receiver
    report = build_report(run, receivers_path=receivers).to_data()
    assert report["receivers"]["positions"] == [RECEIVER] and str(receivers) in report["receivers"]["source"]
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT lat_deg AS lat, lon_deg AS lon, latency_ms, msg_cnt_gap FROM read_parquet('{run}/telemetry/**/*.parquet', hive_partitioning = true)"
        )
        .fetchnumpy()
    )
    d = haversine_m(rows["lat"], rows["lon"], RECEIVER["lat"], RECEIVER["lon"])
    ranges = {r["range_m"]: r for r in report["ranges"]}
    for metres in (100.0, 300.0):
        inside = d <= metres
        gaps = np.nan_to_num(np.asarray(rows["msg_cnt_gap"], dtype=float)[inside])
        assert ranges[metres]["messages"] == inside.sum()
        assert ranges[metres]["pdr"] == pytest.approx(inside.sum() / (inside.sum() + gaps.sum()))
        assert ranges[metres]["latency_p99_ms"] == pytest.approx(np.quantile(rows["latency_ms"][inside], 0.99))
    assert 0 < ranges[100.0]["messages"] < ranges[300.0]["messages"] == 35
    checks = {c["id"]: c for c in report["checks"]}
    assert (
        checks["BSM.pdr_within_100m"]["verdict"] == "FAIL" and checks["BSM.pdr_within_300m"]["verdict"] == "WARN"
    )  # unverified basis
    assert checks["FCW.BSM.latency_p99"]["value"] == pytest.approx(ranges[300.0]["latency_p99_ms"])


def test_without_receivers_ranged_checks_are_na(run_with_receiver):
    run, _ = run_with_receiver
    report = build_report(run).to_data()
    assert report["receivers"]["positions"] == []
    checks = {c["id"]: c for c in report["checks"]}
    assert {checks[k]["verdict"] for k in ("BSM.pdr_within_100m", "BSM.latency_p99_within_300m", "FCW.BSM.latency_p99")} == {
        "N/A"
    }


def test_applications_are_inferred_from_the_messages_or_declared(run_with_receiver):
    run, receivers = run_with_receiver
    report = build_report(run, receivers_path=receivers).to_data()
    apps = {a["id"]: a for a in report["applications"]["graded"]}
    assert report["applications"]["declared"] is None
    assert {k for k, a in apps.items() if a["graded"]} == {"FCW", "BSW_LCW", "DNPW"}  # plain BSMs only
    assert apps["ICW"]["note"] == "the run carries no MAP"
    assert apps["EBW"]["note"] == "the run carries no BSM where aid IN (112, 114)"
    assert apps["HLW"]["note"] == "graded only when a run declares it"
    assert apps["FCW"]["verdict"] == "FAIL"  # the 150 ms late frames: p99 > 100 ms
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["FCW.BSM.rate"]["threshold"] == 9.5 and checks["FCW.BSM.rate"]["verdict"] == "PASS"
    assert "T/CSAE 53" in checks["FCW.BSM.latency_p99"]["source"] and checks["FCW.BSM.latency_p99"]["kind"] == "application"

    only = build_report(run, receivers_path=receivers, applications=["DNPW", "HLW"]).to_data()
    graded = {a["id"]: a for a in only["applications"]["graded"] if a["graded"]}
    assert set(graded) == {"DNPW", "HLW"} and only["applications"]["declared"] == ["DNPW", "HLW"]
    hlw = {c["id"]: c for c in only["checks"] if c.get("application") == "HLW"}
    assert hlw["HLW.RSI.rate"]["verdict"] == "N/A"  # declared, but the run has no RSI: no value, not a pass
    with pytest.raises(ValueError, match="unknown application 'XYZ'"):
        build_report(run, applications=["XYZ"])


def test_cli_grading_options_and_bad_receivers(run_with_receiver, tmp_path):
    run, receivers = run_with_receiver
    out = CliRunner().invoke(v2x, ["report", str(run), "--format", "json", "--receivers", str(receivers), "--application", "FCW"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [a["id"] for a in data["applications"]["graded"] if a["graded"]] == ["FCW"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("[{name: x, lat: 95, lon: 1}]")
    with pytest.raises(ReceiversError, match="not a position"):
        load_receivers(bad)
    bad.write_text("{name: x}")
    result = CliRunner().invoke(v2x, ["report", str(run), "--receivers", str(bad)])
    assert result.exit_code == 2 and "expected a non-empty list" in result.output  # the input cannot be judged
    gate = CliRunner().invoke(v2x, ["gate", str(run), "--application", "NOPE"])
    assert gate.exit_code == 2 and "unknown application 'NOPE'" in gate.output
