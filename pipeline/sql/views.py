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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from v2x.objectstore.bucket import Bucket
from v2x.rundir import RunDir

from pipeline.decode import day_ii, map_rsi
from pipeline.decode.content import FAST_PATH, to_arrow
from pipeline.ingest.bucket_store import destination_commits
from pipeline.sql import fidelity
from pipeline.sql.columns import annotate
from pipeline.sql.field_checks import CHECKS, union_sql
from pipeline.sql.macros import create_macros
from pipeline.sql.window import Window


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


def _violations(con: duckdb.DuckDBPyConnection, parquet: _Parquet, schema: str) -> None:
    con.execute(
        f"CREATE TABLE {schema}.field_checks (name VARCHAR, msg_type VARCHAR, basis VARCHAR, source VARCHAR, scope VARCHAR)"
    )
    con.executemany(
        f"INSERT INTO {schema}.field_checks VALUES (?, ?, ?, ?, ?)",
        [(c.name, c.msg_type, c.basis, c.source, c.scope) for c in CHECKS],
    )
    if parquet.has(VIOLATIONS_TABLE):
        source = parquet.source(con, VIOLATIONS_TABLE, f"{schema}_{VIOLATIONS_TABLE}")
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


def _register(
    con: duckdb.DuckDBPyConnection,
    name: str,
    files: list[str],
    base: str,
    hive: ds.Partitioning | None,
    fs: pafs.FileSystem | None,
) -> str:
    """An Arrow dataset of ``files`` registered as ``_ds_<name>`` (DuckDB then reads no file itself,
    and pushes its filters, partition columns included, into the dataset's scan)."""
    options: dict[str, Any] = {"format": "parquet", "filesystem": fs, "partitioning": hive}
    options["partition_base_dir"] = base if hive else None
    first = ds.dataset(files, **options)  # its schema is the first part's: parts from before a column was added differ
    with ThreadPoolExecutor(SCHEMA_READS) as pool:  # one request each in a bucket
        schemas = list(pool.map(lambda f: pq.read_schema(f, filesystem=fs), files))
    dataset = ds.dataset(files, schema=pa.unify_schemas([first.schema, *schemas]), **options)
    con.register(f"_ds_{name}", dataset)
    return f"_ds_{name}"


SCHEMA_READS = 8
# The Hive partitions of a destination in a bucket (pipeline.ingest.bucket_store)
HOUR_PARTITIONS = [("day", pa.string()), ("hour", pa.int32())]


@dataclass
class _Parquet:
    """Where a run's Parquet is: its folder (DuckDB's own reader, or, ``sandboxed``, Arrow
    datasets), or the files committed in its bucket (Arrow datasets over pyarrow's S3 filesystem)."""

    run: RunDir
    sandboxed: bool
    window: Window | None = None  # only the files that may hold its rows
    committed: dict[str, list[str]] | None = None  # in a bucket: "telemetry" or a table name -> files
    bucket: Bucket | None = None

    def __post_init__(self) -> None:
        bucket = self.bucket = self.run.bucket
        if bucket is None:
            return
        self.committed = {}
        for commits in destination_commits(bucket).values():
            for commit in commits:
                for relative in commit.files:
                    top, _, rest = relative.partition("/")
                    key = "telemetry" if top == "telemetry" else rest.partition("/")[0] if top == "tables" else ""
                    if key and relative.endswith(".parquet") and (self.window is None or self.window.holds_file(relative)):
                        self.committed.setdefault(key, []).append(bucket.path(relative))

    def has(self, table: str) -> bool:
        """Whether the run has Parquet of ``table`` (``telemetry``, or a content table)."""
        if self.committed is not None:
            return bool(self.committed.get(table))
        if table == "telemetry":
            return any(self.run.telemetry.glob("msg_type=*/*.parquet"))
        return any((self.run.tables / table).glob("*.parquet"))

    def where(self) -> str:
        return self.bucket.url if self.bucket else str(self.run.root)

    def source(self, con: duckdb.DuckDBPyConnection, table: str, name: str) -> str:
        """The SQL source of ``table``'s Parquet, registered under ``name`` if it is a dataset."""
        hive = table == "telemetry"
        bucket = self.bucket
        if bucket is not None and self.committed is not None:
            base = bucket.path("telemetry" if hive else f"tables/{table}")
            fields = HOUR_PARTITIONS + ([("msg_type", pa.string())] if hive else [])
            partitioning = ds.partitioning(pa.schema(fields), flavor="hive")
            return _register(con, name, sorted(self.committed[table]), base, partitioning, bucket.filesystem)
        folder = self.run.telemetry if hive else self.run.tables / table
        if not self.sandboxed:
            pattern = str(folder / ("**" if hive else "") / "*.parquet").replace("'", "''")
            return f"read_parquet('{pattern}', union_by_name = true{', hive_partitioning = true' if hive else ''})"
        files = sorted(str(p) for p in folder.glob("msg_type=*/part-*.parquet" if hive else "part-*.parquet"))
        return _register(con, name, files, str(folder), ds.partitioning(flavor="hive") if hive else None, None)


# Telemetry columns added after the first runs were written, with what they were then.
ADDED_COLUMNS = {
    "framing": "'envelope'",  # every frame was a YD/T 3957 envelope
    "edition": "CASE WHEN decode_ok THEN 'csae53-2020' END",  # only the 2020 edition was decoded
    "relay": "NULL::VARCHAR",  # no platform's copies were kept apart
}
# Telemetry columns renamed since, old name to new: degrees say so in the name (``bsm.lat`` is raw).
RENAMED_COLUMNS = {"lat": "lat_deg", "lon": "lon_deg"}


def attach(
    con: duckdb.DuckDBPyConnection, run_dir: Path, schema: str = "main", sandboxed: bool = False, window: Window | None = None
) -> None:
    """Create the views of the run in ``run_dir`` in ``schema`` of ``con`` (views resolve the
    names they read in their own schema, so several runs live side by side, one schema each).
    ``sandboxed``: the views read Arrow datasets, so that the connection can be locked away from
    the file system (:func:`lock_down`).  ``window``: ``messages`` and the views joined to it keep
    the frames received in it, and in a bucket only the files of its hours are read.  Raises
    FileNotFoundError if the directory has no telemetry (in the window)."""
    run = RunDir(Path(run_dir))
    parquet = _Parquet(run, sandboxed, window)
    if not parquet.has("telemetry"):
        within = f" in {window}" if window else ""
        raise FileNotFoundError(
            f"{parquet.where()} has no telemetry Parquet{within} (not a run directory, or nothing was received)"
        )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    telemetry = parquet.source(con, "telemetry", f"{schema}_messages")
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
    inside = f" AND {window.sql()}" if window else ""
    con.execute(f"CREATE VIEW {schema}.messages AS SELECT * FROM _received WHERE relay IS NULL{inside}")
    con.execute(f"CREATE VIEW {schema}.relayed AS SELECT * FROM _received WHERE relay IS NOT NULL{inside}")
    for name in CONTENT_TABLES:
        if parquet.has(name):
            source = parquet.source(con, name, f"{schema}_{name}")
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
    _violations(con, parquet, schema)
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


def connect(
    run_dir: Path, sandboxed: bool = False, time_zone: str = "UTC", window: Window | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the run's views and the macros (:mod:`pipeline.sql.macros`);
    ``sandboxed``: locked away from the file system (:func:`lock_down`); times in ``time_zone``
    (:func:`set_time_zone`); ``window``: the frames received in it (:func:`attach`).  Raises
    FileNotFoundError if it has no telemetry."""
    con = _new_connection()
    set_time_zone(con, time_zone)
    attach(con, run_dir, sandboxed=sandboxed, window=window)
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


def connect_runs(
    run_dirs: list[Path], sandboxed: bool = False, time_zone: str = "UTC", window: Window | None = None
) -> duckdb.DuckDBPyConnection:
    """Views over several runs: run k (from 1) in schema ``run<k>`` with every view of
    :func:`connect`, and in the main schema each view over all runs with a ``run`` column
    (``run1``, ``run2``, ...; the table ``runs`` maps them to directories).  ``rx_seq`` is
    per run, so join the all-runs views on ``(run, rx_seq)``.  One run: same as :func:`connect`."""
    if len(run_dirs) == 1:
        return connect(run_dirs[0], sandboxed, time_zone, window)
    con = _new_connection()
    set_time_zone(con, time_zone)
    con.execute("CREATE TABLE runs (run VARCHAR, directory VARCHAR, name VARCHAR)")
    for k, run_dir in enumerate(run_dirs, start=1):
        attach(con, run_dir, f"run{k}", sandboxed, window)
        where = RunDir(Path(run_dir).resolve()).where
        con.execute("INSERT INTO runs VALUES (?, ?, ?)", [f"run{k}", where, Path(where).name])
    for view in VIEWS:
        union = " UNION ALL BY NAME ".join(f"SELECT 'run{k}' AS run, * FROM run{k}.{view}" for k in range(1, len(run_dirs) + 1))
        con.execute(f"CREATE VIEW main.{view} AS {union}")
    annotate(con)
    create_macros(con, several_runs=True)
    return lock_down(con) if sandboxed else con
