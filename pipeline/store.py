"""Telemetry Parquet, Hive-partitioned by message type, written atomically.

``RUN/telemetry/msg_type=BSM/part-000001.parquet``: each batch is written to a ``.tmp`` name and
renamed into place, so a reader (DuckDB ``read_parquet('RUN/telemetry/**/*.parquet',
hive_partitioning=true)``) never sees half a file.  ``msg_type`` lives in the path only, as Hive
partitioning expects.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Dictionary-encode only low-cardinality columns (limits.md 4: faster and smaller).
DICTIONARY_COLUMNS = ["topic", "device_kind", "sender_id", "signer", "signer_kind", "auth", "auth_reason", "reject_reason", "vehicle_id"]


class TelemetryWriter:
    def __init__(self, telemetry_dir: Path):
        self.root = telemetry_dir
        self.sequence = 0
        self.rows_written = 0

    def write(self, msg_type: str, table: pa.Table) -> Path:
        """Write one batch of ``msg_type`` rows; returns the final path."""
        self.sequence += 1
        folder = self.root / f"msg_type={msg_type}"
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"part-{self.sequence:06d}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd", use_dictionary=DICTIONARY_COLUMNS)
        os.replace(tmp, final)
        self.rows_written += table.num_rows
        return final
