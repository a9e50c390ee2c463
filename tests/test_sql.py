"""The SQL interface: every SQL example of the SQL reference, the macros, several runs at once and the
interactive shell, on a run through a real Mosquitto broker."""

from __future__ import annotations

import json
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

DOC_SQL = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "sql.md").read_text(encoding="utf-8"), re.S)


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
    for block in DOC_SQL:
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


def test_the_readme_s_distance_rings_are_rings(run):
    """`//` is plain division on a DOUBLE in DuckDB: query 5 once gave a row per distinct distance."""
    [rings] = [q for q in DOC_SQL if "100 m rings" in q]
    rows = connect(run).execute(rings).fetchall()
    assert rows and {from_m for _, from_m, _, _ in rows} <= {0, 100, 200, 300}


def test_several_statements_on_a_line_each_print_their_result(run):
    one_shot = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT 41 AS a; SELECT 42 AS b;", "--format", "csv"],
        capture_output=True,
        text=True,
    )
    assert one_shot.returncode == 0 and one_shot.stdout == "a\n41\nb\n42\n"
    script = "SELECT 1 AS first; SELECT 2 AS second;\nSELECT count(*)\n.tables\nAS n FROM bsm;\n"
    shell = subprocess.run([sys.executable, "-m", "v2x.cli", "sql", str(run)], input=script, capture_output=True, text=True)
    assert "first" in shell.stdout and "second" in shell.stdout
    assert "frame_security  (view)" in shell.stdout and re.search(
        r"│ 120\s+│", shell.stdout
    )  # the dot command ran, the statement went on
    assert shell.returncode == 0


def test_a_query_longer_than_a_file_name_is_run_not_taken_for_a_path(run):
    query = "SELECT count(*) AS n FROM messages WHERE " + " OR ".join(["msg_type = 'BSM'"] * 30)
    assert len(query) > 255
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run), query, "--format", "csv"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout == "n\n120\n", proc.stderr
    failing = subprocess.run([sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT nope"], capture_output=True, text=True)
    assert failing.returncode == 1 and "error: Binder Error" in failing.stderr and "Traceback" not in failing.stderr


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


def test_ctrl_c_at_the_prompt_cancels_the_statement_being_typed():
    from pipeline.sql.shell import CANCEL, statements

    lines = ["SELECT\n", CANCEL, "SELECT 1;\n", "SELECT 2\n", ".tables\n", ";\n"]
    assert list(statements(lines, lambda _p: None)) == ["SELECT 1;", ".tables", "SELECT 2\n;"]


@pytest.mark.slow  # 10 s: three CLI processes (.ci/run runs it with the slow tests)
def test_times_show_in_the_time_zone_asked_for(run):
    base = [sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT min(received_at) AS t FROM messages", "--format", "csv"]
    utc = subprocess.run(base, capture_output=True, text=True)
    shanghai = subprocess.run([*base, "--time-zone", "Asia/Shanghai"], capture_output=True, text=True)
    assert utc.stdout.strip().endswith("+00:00") and shanghai.stdout.strip().endswith("+08:00")
    unknown = subprocess.run([*base, "--time-zone", "Mars/Olympus"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown time zone 'Mars/Olympus'" in unknown.stderr


@pytest.mark.slow  # 10 s: four CLI processes (.ci/run runs it with the slow tests)
def test_every_command_that_prints_results_writes_them_with_output(run, tmp_path):
    """-o/--output on sql, report, diff and expect (one CLI grammar)."""
    out = tmp_path / "n.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "sql", str(run), "SELECT count(*) AS n FROM bsm", "--format", "csv", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout == "" and out.read_text() == "n\n120\n"
    diff = tmp_path / "diff.json"
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "diff", str(run), str(run), "--format", "json", "-o", str(diff)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and json.loads(diff.read_text())["regressions"] == 0
    judged = tmp_path / "expect.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "v2x.cli", "expect", str(run), "--scenario", "demo", "-o", str(judged)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1) and "expectations of demo held" in judged.read_text() and "\x1b[" not in judged.read_text()


def test_every_column_of_every_view_says_what_it_is_and_its_unit(run):
    from pipeline.sql.columns import VIEWS, undescribed

    for con in (connect(run), connect(run, sandboxed=True), connect_runs([run, run])):
        assert undescribed(con) == []
        described = con.execute(
            "SELECT count(DISTINCT table_name) FROM duckdb_columns() WHERE schema_name = 'main' AND comment IS NOT NULL"
        ).fetchone()[0]
        assert described == len(VIEWS)
    comments = dict(
        connect(run)
        .execute("SELECT table_name || '.' || column_name, comment FROM duckdb_columns() WHERE schema_name = 'main'")
        .fetchall()
    )
    assert "1e-7 degree" in comments["bsm.lat"] and "degrees" in comments["bsm.lat_deg"]
    assert "0.1 s" in comments["spat_phase_states.likely_end_time"] and "0.02 m/s" in comments["bsm.speed"]


def test_distinct_units_have_distinct_names(run):
    """`bsm.lat` is raw (1e-7 degree); what is in degrees is called lat_deg everywhere."""
    con = connect(run)
    names = {r[0] for r in con.execute("DESCRIBE messages").fetchall()}
    assert {"lat_deg", "lon_deg"} <= names and not {"lat", "lon"} & names
    raw, deg, mps, bsm_mps = con.execute(
        "SELECT b.lat, b.lat_deg, m.speed_mps, b.speed_mps FROM bsm b JOIN messages m USING (rx_seq) LIMIT 1"
    ).fetchone()
    assert isinstance(raw, int) and deg == pytest.approx(raw * 1e-7) and 30 < deg < 45
    assert isinstance(bsm_mps, float) and bsm_mps == pytest.approx(mps)


def test_a_run_written_with_the_old_position_names_reads_with_the_new(run, tmp_path):
    """Runs stored before the rename have `lat`/`lon` in degrees; one resumed after it has both."""
    import shutil

    import pyarrow.parquet as pq

    old = tmp_path / "old"
    shutil.copytree(run, old)
    parts = sorted((old / "telemetry").rglob("*.parquet"))
    for part in parts:
        table = pq.read_table(part)
        pq.write_table(
            table.rename_columns(["lat" if n == "lat_deg" else "lon" if n == "lon_deg" else n for n in table.column_names]), part
        )
    new_part = parts[0].with_name("part-999999.parquet")
    pq.write_table(
        pq.read_table(run / "telemetry" / parts[0].relative_to(old / "telemetry")), new_part
    )  # written after the rename
    query = "SELECT count(lat_deg), round(avg(lat_deg), 3) FROM messages WHERE msg_type = 'BSM'"
    expected = connect(run).execute(query).fetchone()
    extra = pq.read_metadata(new_part).num_rows if "BSM" in str(new_part) else 0
    for sandboxed in (False, True):
        con = connect(old, sandboxed=sandboxed)
        got = con.execute(query).fetchone()
        assert got[0] == expected[0] + extra and got[1] == expected[1]
        assert "lat" not in {r[0] for r in con.execute("DESCRIBE messages").fetchall()}


def test_describe_shows_each_column_with_its_meaning(run):
    import io

    from pipeline.sql.shell import run_shell

    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "v2x.cli",
            "sql",
            f"{run}/",
            ".describe spat_phase_states",
        ],  # with its slash, as a shell completes it
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("spat_phase_states: one row per phase state")
    assert re.search(r"│ likely_end_time\s+│ BIGINT\s+│ TimeMark, 0\.1 s", cli.stdout)
    con = connect(run, sandboxed=True)
    as_csv = io.StringIO()
    assert run_shell(con, [".describe messages\n"], as_csv, fmt="csv") == 0
    assert as_csv.getvalue().splitlines()[0] == "column,type,meaning"
    assert "lat_deg,DOUBLE,BSM latitude, degrees" in as_csv.getvalue().replace('"', "")
    shell = io.StringIO()
    assert run_shell(con, [".describe run1.bsm\n", ".describe nope\n", ".describe bsm\n"], shell) == 2
    assert "no view or table 'run1.bsm'" in shell.getvalue() and "no view or table 'nope'" in shell.getvalue()
    assert "bsm: one row per BSM" in shell.getvalue()


def test_the_sql_reference_lists_every_view_and_column_as_the_code_describes_them(run):
    from pipeline.sql.columns import reference

    text = (REPO / "docs" / "sql.md").read_text(encoding="utf-8")
    generated = text.split("<!-- generated: python -m pipeline.sql.columns RUN -->\n", 1)[1].split("<!-- end generated -->", 1)[0]
    assert generated == reference(connect(run))  # regenerate: python -m pipeline.sql.columns RUN
