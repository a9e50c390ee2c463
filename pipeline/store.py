"""Parquet of a run, written atomically: telemetry rows and the message-content tables.

``RUN/telemetry/msg_type=BSM/part-000001.parquet`` holds one row per received frame;
``RUN/tables/<table>/part-000001.parquet`` the decoded content (``bsm``, ``bsm_path_points``,
``spat``, ``spat_phase_states``, ...), joined to telemetry by ``rx_seq``.  Files of one batch
share the part number.  Each file is written under a ``.tmp`` name and renamed into place, so a
reader never sees half a file.  ``msg_type`` lives in the path only, as Hive partitioning
expects.  A writer opened on a run that already has Parquet continues its part numbers and
``rx_seq`` instead of overwriting.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Dictionary-encode only low-cardinality columns (limits.md 4: faster and smaller).
DICTIONARY_COLUMNS = ["topic", "device_kind", "sender_id", "signer", "signer_kind", "auth", "auth_reason", "reject_reason", "vehicle_id"]
_PART = re.compile(r"part-(\d+)\.parquet$")


def _write_atomic(table: pa.Table, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd", use_dictionary=[c for c in DICTIONARY_COLUMNS if c in table.column_names])
    os.replace(tmp, final)


class TelemetryWriter:
    def __init__(self, telemetry_dir: Path, tables_dir: Path | None = None):
        self.root = telemetry_dir
        self.tables = tables_dir if tables_dir is not None else telemetry_dir.parent / "tables"
        existing = list(self.root.glob("msg_type=*/part-*.parquet"))
        self.sequence = max((int(m.group(1)) for p in existing if (m := _PART.search(p.name))), default=0)
        self.next_rx_seq = 1 + max((_max_rx_seq(p) for p in existing), default=-1)
        self.rows_written = 0

    def write(self, telemetry: dict[str, pa.Table], tables: dict[str, pa.Table] | None = None) -> None:
        """Write one batch: telemetry rows per message type, then the content tables."""
        self.sequence += 1
        name = f"part-{self.sequence:06d}.parquet"
        for table_name, table in (tables or {}).items():
            if table.num_rows:
                _write_atomic(table, self.tables / table_name / name)
        for msg_type, table in telemetry.items():
            _write_atomic(table, self.root / f"msg_type={msg_type}" / name)
            self.rows_written += table.num_rows


def _max_rx_seq(path: Path) -> int:
    column = pq.read_table(path, columns=["rx_seq"]).column("rx_seq")
    return int(pc.max(column).as_py() or -1) if len(column) else -1
