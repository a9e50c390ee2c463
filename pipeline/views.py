"""DuckDB views over a run directory: the SQL interface analysts and the report share.

``messages``   every stored row (telemetry Parquet, msg_type from the Hive partition)
``bsm``        the BSM rows
``published``  per simulated device and message type: generated, published, failed
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from v2x.rundir import RunDir


def _published_rows(run: RunDir) -> list[tuple[str, str, str, int, int, int]]:
    rows = []
    for path in sorted(run.published.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for device, info in data["devices"].items():
            for msg_type in sorted(set(info["generated"]) | set(info["published"])):
                rows.append((data["simulator"], device, msg_type, info["generated"].get(msg_type, 0),
                             info["published"].get(msg_type, 0), info["failed"].get(msg_type, 0)))
    return rows


def connect(run_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the run's views; raises FileNotFoundError if it has no telemetry."""
    run = RunDir(Path(run_dir))
    if not any(run.telemetry.glob("msg_type=*/*.parquet")):
        raise FileNotFoundError(f"{run.root} has no telemetry Parquet (not a run directory, or nothing was received)")
    con = duckdb.connect()
    glob = str(run.telemetry / "**" / "*.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW messages AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)")
    con.execute("CREATE VIEW bsm AS SELECT * FROM messages WHERE msg_type = 'BSM'")
    con.execute("CREATE TABLE published (simulator VARCHAR, device_id VARCHAR, msg_type VARCHAR, generated BIGINT, published BIGINT, failed BIGINT)")
    rows = _published_rows(run)
    if rows:
        con.executemany("INSERT INTO published VALUES (?, ?, ?, ?, ?, ?)", rows)
    return con
