"""The SQL interface: every SQL example of the README, the macros, several runs at once and the
interactive shell, on a run through a real Mosquitto broker."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from v2x.mqtt.broker import start_broker
from v2x.run import run_scenario
from v2x.scenario.model import parse_scenario

from pipeline.report.build import build_report
from pipeline.sql.views import connect, connect_runs

from tests.conftest import REPO
from tests.test_integration import WITH_RSI

pytestmark = pytest.mark.broker

README_SQL = re.findall(r"```sql\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sql")
    broker = start_broker(root / "broker", kind="mosquitto")
    try:
        return run_scenario(parse_scenario(WITH_RSI), root, broker_url=broker.address.url).run.root
    finally:
        broker.stop()


def test_every_sql_example_of_the_readme_runs(run):
    con = connect(run)
    results = {}
    for block in README_SQL:
        rows = con.execute(block).fetchall()
        number = re.match(r"-- (\d+)\. ", block)
        if number:
            results[int(number.group(1))] = rows
    assert sorted(results) == list(range(1, 11))  # the ten questions
    assert all(results[k] for k in (1, 2, 3, 4, 5, 8, 9)), {k: len(v) for k, v in results.items()}
    assert len(results[1]) == 4  # four vehicles
    assert {r[1] for r in results[2]} == {1101, 1102} and all(r[5] == 1.0 for r in results[2])  # no SPAT lost on loopback
    assert results[10] == []  # every published frame stored
    assert {r[0] for r in results[9]} == {"RSU-A", "RSU-B"}


def test_macros_agree_with_the_report_and_an_independent_distance(run):
    con = connect(run)
    report = {m["msg_type"]: m for m in build_report(run).to_data()["message_types"]}
    summary = con.execute("SELECT msg_type, sum(messages), min(pdr) FROM sender_summary() GROUP BY ALL").fetchall()
    assert {t: (n, pdr) for t, n, pdr in summary} == {t: (m["stored"], m["pdr"]) for t, m in report.items()}
    (p99,) = con.execute("SELECT p99(latency_ms) FROM messages WHERE msg_type = 'BSM' AND auth = 'success'").fetchone()
    assert p99 == pytest.approx(report["BSM"]["latency_p99_ms"])
    assert con.execute("SELECT pdr(95, 5), pdr(0, 0)").fetchone() == (0.95, None)

    (_, lat_a, lon_a), (_, lat_b, lon_b) = con.execute("FROM rsu_positions()").fetchall()
    (metres,) = con.execute("SELECT distance_m(?, ?, ?, ?)", [lat_a, lon_a, lat_b, lon_b]).fetchone()
    p1, p2, dl = math.radians(lat_a), math.radians(lat_b), math.radians(lon_b - lon_a)  # haversine, R = 6371 km
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    assert metres == pytest.approx(2 * 6_371_000 * math.asin(math.sqrt(h)), rel=2e-3) and metres > 100
    near = con.execute("SELECT count(*), max(distance_m) FROM bsm_near_rsu(150)").fetchone()
    everything = con.execute("SELECT count(*) FROM bsm_near_rsu(1e6)").fetchone()[0]
    assert 0 < near[0] < everything and near[1] <= 150


def test_several_runs_side_by_side(run, tmp_path):
    con = connect_runs([run, run])
    assert con.execute("SELECT run, count(*) FROM bsm GROUP BY ALL ORDER BY run").fetchall() == [("run1", 120), ("run2", 120)]
    assert con.execute("SELECT count(*) FROM run2.bsm JOIN run2.messages USING (rx_seq)").fetchone() == (120,)
    assert [r[0] for r in con.execute("SELECT run FROM runs ORDER BY run").fetchall()] == ["run1", "run2"]
    assert con.execute("SELECT count(DISTINCT run) FROM sender_summary()").fetchone() == (2,)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "v2x.cli",
            "sql",
            str(run),
            str(run),
            "--format",
            "csv",
            "SELECT run, count(*) AS n FROM messages GROUP BY ALL ORDER BY run",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == ["run,n", "run1,249", "run2,249"]  # BSM 120, SPAT 60, RSM 60, MAP 6, RSI 3


def test_the_shell_reads_statements_and_survives_errors(run):
    script = ".tables\nSELECT count(*) AS bsms\n  FROM bsm;\nSELECT no_such_column FROM bsm;\n.format csv\nFROM rsu_positions();\n.quit\nSELECT 1;\n"
    shell = subprocess.run([sys.executable, "-m", "v2x.cli", "sql", str(run)], input=script, capture_output=True, text=True)
    out = shell.stdout
    assert "sender_summary()  (table macro)" in out and "frame_security  (view)" in out
    assert re.search(r"│ 120\s+│", out)  # the two-line statement
    assert "error: Binder Error" in out and "no_such_column" in out
    assert "rsu,lat_deg,lon_deg\nRSU-A," in out  # .format csv took effect; the shell went on after the error
    assert shell.returncode == 1  # one statement failed


def test_sql_usage_errors_are_clear(run, tmp_path):
    missing = subprocess.run([sys.executable, "-m", "v2x.cli", "sql", str(tmp_path), "SELECT 1"], capture_output=True, text=True)
    assert missing.returncode == 2 and "has no telemetry Parquet" in missing.stderr  # the input cannot be judged
    two_queries = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT 1", "SELECT 2"], capture_output=True, text=True
    )
    assert two_queries.returncode == 2 and "at most one query" in two_queries.stderr


ESCAPES = [
    "SELECT * FROM read_text('/etc/hostname')",
    "COPY (SELECT 1) TO '{out}/escaped.csv'",
    "COPY (SELECT 1 AS a) TO '{run}/telemetry/msg_type=BSM/part-000001.parquet' (USE_TMP_FILE false)",
    "ATTACH '{out}/other.db'",
    "SET enable_external_access = true",
    "INSTALL httpfs",
    "SELECT * FROM glob('/*')",
]


def test_sql_sees_the_run_and_nothing_else_of_the_file_system(run, tmp_path):
    """`v2x sql`, scenario expectations and the pytest plugin run SQL written by other people:
    a COPY once wrote outside the run and read_text leaked /etc/hostname into JUnit output."""
    from pipeline.sql.views import connect

    before = {p: p.read_bytes() for p in run.rglob("*.parquet")}
    con = connect(run, sandboxed=True)
    assert con.execute("SELECT count(*) FROM bsm").fetchone()[0] == 120
    for sql in ESCAPES:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(out=tmp_path, run=run)).fetchall()
    cli = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT * FROM read_text('/etc/hostname')"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1 and "Permission Error" in cli.stderr and cli.stdout == ""
    assert not list(tmp_path.glob("escaped*")) and not (tmp_path / "other.db").exists()
    assert {p: p.read_bytes() for p in run.rglob("*.parquet")} == before
