"""Platform fidelity: a cloud platform's copies of the devices' messages, matched with the devices'
own frames and compared field by field.

When a sources file marks topics as a platform's republish (``relay:``), their rows are kept apart
from the devices' own (the ``relayed`` view; ``messages`` has the devices' frames only).  A copy is
matched with the device's frame of the same sender, message type and msgCnt received from 1 s
before to 10 s after it (the nearest; policy: msgCnt comes round every 12.8 s at 10 Hz), and
their content rows are compared, every column of every content table: what the platform dropped,
rounded or converted wrongly shows as the columns that differ (``spat.moy``, ``rsm_participants``
when a nested list differs), and ``added_latency_ms`` is the copy's receipt after the device's.

Views: ``platform_matches`` (a row per decoded copy, its device frame or NULL) and
``platform_fidelity`` (the same with ``differences``, a list of ``table.column`` or ``table``).
"""

from __future__ import annotations

import duckdb

MATCH_BEFORE_S = 1  # policy: a copy may be received up to this long before the device's frame (clock skew)
MATCH_AFTER_S = 10  # policy: and up to this long after it (a platform's queue)
MESSAGE_TABLES = ("bsm", "spat", "rsm")  # one row per message: the differing columns are named

MATCHES_SQL = f"""
SELECT r.relay, r.msg_type, r.sender_id, r.msg_cnt, r.rx_seq AS relayed_rx_seq, d.rx_seq AS device_rx_seq,
       (epoch_us(r.received_at) - epoch_us(d.received_at)) / 1000.0 AS added_latency_ms
FROM relayed r LEFT JOIN messages d
  ON d.decode_ok AND d.sender_id = r.sender_id AND d.msg_type = r.msg_type AND d.msg_cnt = r.msg_cnt
 AND r.received_at BETWEEN d.received_at - INTERVAL {MATCH_BEFORE_S} SECOND AND d.received_at + INTERVAL {MATCH_AFTER_S} SECOND
WHERE r.decode_ok
QUALIFY row_number() OVER (
    PARTITION BY r.rx_seq ORDER BY abs(epoch_us(r.received_at) - epoch_us(d.received_at)) NULLS LAST, d.rx_seq
) = 1
"""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _message_differences(table: str, columns: list[str]) -> str:
    """Per match, the columns of a one-row-per-message table whose values differ."""
    cases = ", ".join(f"CASE WHEN a.{_quoted(c)} IS DISTINCT FROM b.{_quoted(c)} THEN '{table}.{c}' END" for c in columns)
    return (
        f"SELECT m.relayed_rx_seq, list_filter([{cases}], lambda x: x IS NOT NULL) AS d FROM platform_matches m "
        f"JOIN _content_{table} a ON a.rx_seq = m.device_rx_seq JOIN _content_{table} b ON b.rx_seq = m.relayed_rx_seq"
    )


def _list_differences(table: str, columns: list[str]) -> str:
    """Per match, the table's name when its rows of the two messages differ (as sorted lists).
    Only the rows of matched messages are gathered, not the whole table."""
    fields = ", ".join(f"{_quoted(c)} := {_quoted(c)}" for c in columns)
    return (
        f"(WITH paired AS (SELECT device_rx_seq, relayed_rx_seq FROM platform_matches WHERE device_rx_seq IS NOT NULL), "
        f"rows AS (SELECT rx_seq, list(struct_pack({fields}) ORDER BY struct_pack({fields})) AS r FROM _content_{table} "
        "WHERE rx_seq IN (SELECT device_rx_seq FROM paired UNION ALL SELECT relayed_rx_seq FROM paired) GROUP BY rx_seq) "
        f"SELECT p.relayed_rx_seq, CASE WHEN a.r IS DISTINCT FROM b.r THEN ['{table}'] ELSE [] END AS d "
        "FROM paired p LEFT JOIN rows a ON a.rx_seq = p.device_rx_seq LEFT JOIN rows b ON b.rx_seq = p.relayed_rx_seq "
        "WHERE a.r IS NOT NULL OR b.r IS NOT NULL)"
    )


def attach(con: duckdb.DuckDBPyConnection, schema: str, tables: dict[str, list[str]]) -> None:
    """Create ``platform_matches`` and ``platform_fidelity`` in ``schema`` over its ``relayed``,
    ``messages`` and ``_content_<table>`` views (``tables``: each content table's columns)."""
    con.execute(f"CREATE VIEW {schema}.platform_matches AS {MATCHES_SQL}")
    parts = [
        (_message_differences if name in MESSAGE_TABLES else _list_differences)(name, [c for c in columns if c != "rx_seq"])
        for name, columns in tables.items()
    ]
    union = " UNION ALL ".join(parts)
    con.execute(
        f"CREATE VIEW {schema}.platform_fidelity AS "
        "SELECT m.*, CASE WHEN m.device_rx_seq IS NULL THEN NULL ELSE coalesce(d.differences, []) END AS differences "
        f"FROM platform_matches m LEFT JOIN (SELECT relayed_rx_seq, list_sort(flatten(list(d))) AS differences FROM ({union}) "
        "GROUP BY relayed_rx_seq) d USING (relayed_rx_seq)"
    )
