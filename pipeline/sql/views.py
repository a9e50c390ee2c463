"""DuckDB views over a run directory: the SQL interface analysts and the report share.

``messages``           every stored row (telemetry Parquet, msg_type from the Hive partition)
``bsm``                every BSM field, raw ASN.1 values, plus lat_deg/lon_deg/speed_mps/heading_deg
``bsm_path_points``    one row per PathHistoryPoint
``spat``               SPAT header fields; ``spat_phase_states`` one row per phase state
``rsm``                RSM header; ``rsm_participants`` one row per participant
``map_links``          one row per inbound link, with its node's refPos and its points (a map's geometry)
``map_lanes``          one row per lane; ``map_movements`` one row per movement/connection with phaseId
``rsi_items``          one row per traffic event or sign
Day-II (T/CSAE 157-2020; :mod:`pipeline.decode.day_ii`): ``vir``, ``vir_requests``, ``rsc``,
``rsc_vehicles``, ``rsc_lanes``, ``pam``, ``pam_slots``, ``pam_guidance``, ``psm``, ``ssm``,
``ssm_objects``, ``rtcm``, ``clpmm``; the Day-II additions to MAP: ``map_sections``, ``map_waiting_areas``
``published``          per simulated device and message type: generated, published, failed, injected_loss
``field_checks``       the named field checks (:mod:`pipeline.sql.field_checks`): name, msg_type, basis, source, scope
``violations``         one row per violation: stored message and stream checks plus the run checks, with
                       msg_type, sender_id, basis and source
``attacks``            the attack frames a scenario injected (device, attack, expected verdict, sha256)
``frame_security``     every frame with its class (``honest`` or the attack), expected and actual verdict

Every content view carries ``rx_seq`` (the key of the ``messages`` row) and the message's
``sender_id``, ``received_at``, ``latency_ms`` and ``auth``.  Enumerations are stored as their index; the views
add their names (``light_name``, ``ptc_type_name``, ``source_name``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from v2x.rundir import RunDir

from pipeline.decode import day_ii, map_rsi
from pipeline.decode.content import FAST_PATH, to_arrow
from pipeline.sql import fidelity
from pipeline.sql.columns import annotate
from pipeline.sql.field_checks import CHECKS, union_sql
from pipeline.sql.macros import create_macros


def _published_rows(run: RunDir) -> list[tuple[str, str, str, int, int, int, int]]:
    rows = []
    for record in run.publish_records():
        for device, info in record.devices.items():
            lost = info.get("network", {}).get("lost", {})
            for msg_type in sorted(set(info["generated"]) | set(info["published"])):
                rows.append(
                    (
                        record.simulator,
                        device,
                        msg_type,
                        info["generated"].get(msg_type, 0),
                        info["published"].get(msg_type, 0),
                        info["failed"].get(msg_type, 0),
                        lost.get(msg_type, 0),
                    )
                )
    return rows


VIOLATIONS_TABLE = "violations"
CONTENT_TABLES = (
    "bsm",
    "bsm_path_points",
    "spat",
    "spat_phase_states",
    "rsm",
    "rsm_participants",
    "map_links",
    "map_lanes",
    "map_movements",
    "rsi_items",
    *day_ii.TABLES,
)

LIGHT_NAMES = [
    "unavailable",
    "dark",
    "flashing-red",
    "red",
    "flashing-green",
    "permissive-green",
    "protected-green",
    "yellow",
    "flashing-yellow",
]
PTC_TYPE_NAMES = ["unknown", "motor", "non-motor", "pedestrian", "rsu"]
_SOURCE = ["unknown", "selfinfo", "v2x", "video", "microwaveRadar", "loop", "lidar", "integrated"]


def _names(values: list[str], column: str, alias: str) -> str:
    return f", {values!r}[c.{column} + 1] AS {alias}"


_DEGREES = ", c.lat * 1e-7 AS lat_deg, c.lon * 1e-7 AS lon_deg"
_MOTION = (
    ", CASE WHEN c.speed < 8191 THEN c.speed * 0.02::DOUBLE END AS speed_mps, "
    "CASE WHEN c.heading < 28800 THEN c.heading * 0.0125::DOUBLE END AS heading_deg"
)

# Physical units and enumeration names added by the views (YD/T 3709 units).
DERIVED = {
    "bsm": ", c.lat * 1e-7 AS lat_deg, c.lon * 1e-7 AS lon_deg, CASE WHEN c.speed < 8191 THEN c.speed * 0.02::DOUBLE END AS speed_mps, "
    "CASE WHEN c.heading < 28800 THEN c.heading * 0.0125::DOUBLE END AS heading_deg",
    "map_links": ", c.node_lat * 1e-7 AS node_lat_deg, c.node_lon * 1e-7 AS node_lon_deg, "
    "list_transform(c.point_lat, lambda v: v * 1e-7) AS point_lat_deg, list_transform(c.point_lon, lambda v: v * 1e-7) AS point_lon_deg",
    "spat_phase_states": _names(LIGHT_NAMES, "light", "light_name") + ", c.likely_end_time / 10.0 AS likely_end_s",
    "rsm_participants": _names(PTC_TYPE_NAMES, "ptc_type", "ptc_type_name")
    + _names(_SOURCE, "source", "source_name")
    + ", CASE WHEN c.speed < 8191 THEN c.speed * 0.02::DOUBLE END AS speed_mps",
    **dict.fromkeys(("vir", "psm", "ssm_objects"), _DEGREES + _MOTION),
    **dict.fromkeys(("rsc", "ssm", "pam_slots"), _DEGREES),
    "vir_requests": ", c.life_time / 100.0 AS life_time_s, c.eta / 100.0 AS eta_s, c.distance / 10.0 AS distance_m",
    "rsc_vehicles": ", c.life_time / 100.0 AS life_time_s, c.path_end_lat * 1e-7 AS path_end_lat_deg, "
    "c.path_end_lon * 1e-7 AS path_end_lon_deg",
    "rsc_lanes": ", CASE WHEN c.recommended_speed < 8191 THEN c.recommended_speed * 0.02::DOUBLE END AS recommended_speed_mps",
    "map_sections": ", c.lane_width / 100.0 AS lane_width_m, c.s_from / 10.0 AS s_from_m, c.s_to / 10.0 AS s_to_m",
    "map_waiting_areas": ", c.width / 100.0 AS width_m, list_transform(c.point_lat, lambda v: v * 1e-7) AS point_lat_deg, "
    "list_transform(c.point_lon, lambda v: v * 1e-7) AS point_lon_deg",
}


def empty_content_table(name: str) -> pa.Table:
    """A content table with no rows and the columns the ingest writes, for runs without that type."""
    if name in map_rsi.SCHEMAS:
        return map_rsi.SCHEMAS[name].empty_table()
    if name in day_ii.SCHEMAS:
        return day_ii.SCHEMAS[name].empty_table()
    for msg_type, dec in FAST_PATH.items():
        for table, columns in ((msg_type.value.lower(), dec.columns), (dec.child_table, dec.child_columns)):
            if table == name:
                return to_arrow(columns, np.empty((0, len(columns)), np.int64), np.empty(0, np.int64))
    raise KeyError(name)


def _violations(con: duckdb.DuckDBPyConnection, run: RunDir, schema: str, sandboxed: bool) -> None:
    con.execute(
        f"CREATE TABLE {schema}.field_checks (name VARCHAR, msg_type VARCHAR, basis VARCHAR, source VARCHAR, scope VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {schema}.field_checks VALUES (?, ?, ?, ?, ?)",
        [(c.name, c.msg_type, c.basis, c.source, c.scope) for c in CHECKS],
    )
    folder = run.tables / VIOLATIONS_TABLE
    if any(folder.glob("*.parquet")):
        source = _parquet(con, folder, f"{schema}_{VIOLATIONS_TABLE}", sandboxed)
        stored = f"SELECT rx_seq, check_name, detail FROM {source}"
    else:
        stored = "SELECT NULL::BIGINT AS rx_seq, NULL::VARCHAR AS check_name, NULL::VARCHAR AS detail WHERE false"
    run_checks = union_sql([c for c in CHECKS if c.scope == "run"])
    con.execute(
        f"CREATE VIEW {schema}.violations AS SELECT v.rx_seq, m.msg_type, m.sender_id, v.check_name, c.basis, v.detail, c.source "
        f"FROM ({stored} UNION ALL {run_checks}) v JOIN field_checks c ON c.name = v.check_name JOIN messages m USING (rx_seq)"
    )


ATTACKS_SCHEMA = pa.schema(
    [
        ("device_id", pa.string()),
        ("attack", pa.string()),
        ("msg_type", pa.string()),
        ("expected", pa.string()),
        ("sha256", pa.string()),
    ]
)


def _security(con: duckdb.DuckDBPyConnection, run: RunDir, schema: str) -> None:
    """``attacks``: the attack frames the simulators injected (RUN/attacks); ``frame_security``:
    every stored frame with its class (``honest`` or the attack kind), expected and actual verdict.
    A replay has the bytes of an honest frame: the first copy received is the honest one."""
    rows = [{k: entry.get(k) for k in ATTACKS_SCHEMA.names} for entry in run.attack_ledger()]
    _table(con, f"{schema}.attacks", pa.Table.from_pylist(rows, schema=ATTACKS_SCHEMA))
    # Only the frames of devices that carried an attack are hashed: an attack frame goes out on
    # its device's own uplink, and hashing every frame of a large run costs seconds.
    con.execute(
        f"CREATE VIEW {schema}.frame_security AS "
        "WITH s AS (SELECT rx_seq, sha256(frame) AS sha, row_number() OVER (PARTITION BY sha256(frame) ORDER BY rx_seq) AS copy "
        "  FROM messages WHERE sender_id IN (SELECT device_id FROM attacks)), "
        "a AS (SELECT DISTINCT attack, expected, sha256 FROM attacks), "
        "c AS (SELECT s.rx_seq, a.attack, a.expected FROM s JOIN a ON a.sha256 = s.sha AND (a.attack <> 'replay' OR s.copy > 1)) "
        "SELECT m.rx_seq, m.msg_type, m.sender_id, coalesce(c.attack, 'honest') AS class, coalesce(c.expected, 'success') AS expected, "
        "m.auth, m.auth_reason, m.auth = coalesce(c.expected, 'success') AS as_expected "
        "FROM messages m LEFT JOIN c USING (rx_seq)"
    )


def _table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """A DuckDB table ``name`` (schema-qualified) holding ``table``."""
    con.register("_arrow_in", table)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_in")
    finally:
        con.unregister("_arrow_in")


def _parquet(con: duckdb.DuckDBPyConnection, folder: Path, name: str, sandboxed: bool, hive: bool = False) -> str:
    """The SQL source of the Parquet parts under ``folder``: DuckDB's own reader, or, sandboxed,
    an Arrow dataset registered as ``name`` (DuckDB then reads no file itself)."""
    if not sandboxed:
        pattern = str(folder / ("**" if hive else "") / "*.parquet").replace("'", "''")
        return f"read_parquet('{pattern}', union_by_name = true{', hive_partitioning = true' if hive else ''})"
    files = sorted(str(p) for p in folder.glob("msg_type=*/part-*.parquet" if hive else "part-*.parquet"))
    options = {"format": "parquet", "partitioning": ds.partitioning(flavor="hive") if hive else None}
    options["partition_base_dir"] = str(folder) if hive else None
    first = ds.dataset(files, **options)  # its schema is the first part's: parts from before a column was added differ
    dataset = ds.dataset(files, schema=pa.unify_schemas([first.schema, *(pq.read_schema(f) for f in files)]), **options)
    con.register(f"_ds_{name}", dataset)
    return f"_ds_{name}"


# Telemetry columns added after the first runs were written, with what they were then.
ADDED_COLUMNS = {
    "framing": "'envelope'",  # every frame was a YD/T 3957 envelope
    "edition": "CASE WHEN decode_ok THEN 'csae53-2020' END",  # only the 2020 edition was decoded
    "relay": "NULL::VARCHAR",  # no platform's copies were kept apart
}
# Telemetry columns renamed since, old name to new: degrees say so in the name (``bsm.lat`` is raw).
RENAMED_COLUMNS = {"lat": "lat_deg", "lon": "lon_deg"}


def attach(con: duckdb.DuckDBPyConnection, run_dir: Path, schema: str = "main", sandboxed: bool = False) -> None:
    """Create the views of the run in ``run_dir`` in ``schema`` of ``con`` (views resolve the
    names they read in their own schema, so several runs live side by side, one schema each).
    ``sandboxed``: the views read Arrow datasets, so that the connection can be locked away from
    the file system (:func:`lock_down`).  Raises FileNotFoundError if the directory has no telemetry."""
    run = RunDir(Path(run_dir))
    if not any(run.telemetry.glob("msg_type=*/*.parquet")):
        raise FileNotFoundError(f"{run.root} has no telemetry Parquet (not a run directory, or nothing was received)")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    telemetry = _parquet(con, run.telemetry, f"{schema}_messages", sandboxed, hive=True)
    con.execute(f"CREATE VIEW {schema}._received AS SELECT * FROM {telemetry}")
    present = {row[0] for row in con.execute(f"DESCRIBE {schema}._received").fetchall()}
    missing = [f"{sql} AS {name}" for name, sql in ADDED_COLUMNS.items() if name not in present]
    old = [name for name in RENAMED_COLUMNS if name in present]
    if missing or old:  # a run written before these columns existed or had these names
        drop = old + [RENAMED_COLUMNS[n] for n in old if RENAMED_COLUMNS[n] in present]  # both: a run resumed after the rename
        renamed = [
            f"{f'coalesce({RENAMED_COLUMNS[n]}, {n})' if RENAMED_COLUMNS[n] in present else n} AS {RENAMED_COLUMNS[n]}"
            for n in old
        ]
        columns = [f"* EXCLUDE ({', '.join(drop)})" if drop else "*", *renamed, *missing]
        con.execute(f"CREATE OR REPLACE VIEW {schema}._received AS SELECT {', '.join(columns)} FROM {telemetry}")
    # the devices' own frames; a platform's copies of them (sources file, relay) apart
    con.execute(f"CREATE VIEW {schema}.messages AS SELECT * FROM _received WHERE relay IS NULL")
    con.execute(f"CREATE VIEW {schema}.relayed AS SELECT * FROM _received WHERE relay IS NOT NULL")
    for name in CONTENT_TABLES:
        folder = run.tables / name
        if any(folder.glob("*.parquet")):
            source = _parquet(con, folder, f"{schema}_{name}", sandboxed)
        else:  # keep every view defined, empty and with its columns, on a run without that type
            _table(con, f"{schema}._empty_{name}", empty_content_table(name))
            source = f"_empty_{name}"
        extra = DERIVED.get(name, "")
        con.execute(f"CREATE VIEW {schema}._content_{name} AS SELECT * FROM {source}")  # copies included
        con.execute(
            f"CREATE VIEW {schema}.{name} AS SELECT c.*, m.sender_id, m.received_at, m.latency_ms, m.auth{extra} "
            f"FROM {source} c JOIN messages m USING (rx_seq)"
        )
    fidelity.attach(con, schema, {name: empty_content_table(name).column_names for name in CONTENT_TABLES})
    _violations(con, run, schema, sandboxed)
    _security(con, run, schema)
    con.execute(
        f"CREATE TABLE {schema}.published (simulator VARCHAR, device_id VARCHAR, msg_type VARCHAR, generated BIGINT, "
        "published BIGINT, failed BIGINT, injected_loss BIGINT)"
    )
    rows = _published_rows(run)
    if rows:
        con.executemany(f"INSERT INTO {schema}.published VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    annotate(con, schema)


def _new_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # no bar in the middle of a JSON report on stdout
    return con


def set_time_zone(con: duckdb.DuckDBPyConnection, time_zone: str) -> None:
    """Show and bucket times (``received_at`` ... are TIMESTAMP WITH TIME ZONE) in ``time_zone``
    (an IANA name: ``Asia/Shanghai``, the zone's; ``UTC``); ValueError for a name DuckDB does not know."""
    known = con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [time_zone]).fetchone()
    if not known or not known[0]:
        raise ValueError(f"unknown time zone {time_zone!r} (an IANA name such as Asia/Shanghai or UTC)")
    con.execute(f"SET TimeZone = '{time_zone}'")  # a name from DuckDB's own list: nothing to quote


def lock_down(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No file system for SQL from elsewhere (a scenario file's expectations, `v2x sql`): no
    file read or written, no extension installed, no database attached, and the setting cannot
    be turned back (DuckDB ``enable_external_access``, ``lock_configuration``)."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def connect(run_dir: Path, sandboxed: bool = False, time_zone: str = "UTC") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the run's views and the macros (:mod:`pipeline.sql.macros`);
    ``sandboxed``: locked away from the file system (:func:`lock_down`); times in ``time_zone``
    (:func:`set_time_zone`).  Raises FileNotFoundError if it has no telemetry."""
    con = _new_connection()
    set_time_zone(con, time_zone)
    attach(con, run_dir, sandboxed=sandboxed)
    create_macros(con)
    return lock_down(con) if sandboxed else con


VIEWS = (
    "messages",
    "relayed",
    "platform_fidelity",
    *CONTENT_TABLES,
    "violations",
    "field_checks",
    "attacks",
    "frame_security",
    "published",
)


def connect_runs(run_dirs: list[Path], sandboxed: bool = False, time_zone: str = "UTC") -> duckdb.DuckDBPyConnection:
    """Views over several runs: run k (from 1) in schema ``run<k>`` with every view of
    :func:`connect`, and in the main schema each view over all runs with a ``run`` column
    (``run1``, ``run2``, ...; the table ``runs`` maps them to directories).  ``rx_seq`` is
    per run, so join the all-runs views on ``(run, rx_seq)``.  One run: same as :func:`connect`."""
    if len(run_dirs) == 1:
        return connect(run_dirs[0], sandboxed, time_zone)
    con = _new_connection()
    set_time_zone(con, time_zone)
    con.execute("CREATE TABLE runs (run VARCHAR, directory VARCHAR, name VARCHAR)")
    for k, run_dir in enumerate(run_dirs, start=1):
        attach(con, run_dir, f"run{k}", sandboxed)
        con.execute("INSERT INTO runs VALUES (?, ?, ?)", [f"run{k}", str(Path(run_dir).resolve()), Path(run_dir).name])
    for view in VIEWS:
        union = " UNION ALL BY NAME ".join(f"SELECT 'run{k}' AS run, * FROM run{k}.{view}" for k in range(1, len(run_dirs) + 1))
        con.execute(f"CREATE VIEW main.{view} AS {union}")
    annotate(con)
    create_macros(con, several_runs=True)
    return lock_down(con) if sandboxed else con
