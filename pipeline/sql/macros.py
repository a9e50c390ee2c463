"""DuckDB macros for analysts, created with the views (:mod:`pipeline.sql.views`).

Scalar:

``pdr(received, missing)``                    received / (received + missing), GB/T 45315 Annex C
``tx_rate_hz(received, missing, span_s)``      messages a sender sent per second over ``span_s``, counting
                                               the ones lost (msgCnt gaps): loss does not lower it
``p95(x)``, ``p99(x)``                         quantile_cont(x, 0.95 / 0.99), usable as aggregates
                                               (without FILTER: filter in WHERE)
``distance_m(lat1, lon1, lat2, lon2)``         metres between two points in degrees
                                               (equirectangular; well within 0.1 % over a few km)
``dsecond(ts)``                                the DSecond (ms within the minute, YD/T 3709) of a timestamp

Tables (``FROM sender_summary()``):

``sender_summary()``      per sender and message type: messages, rate, latency p50/p95/p99 (of the
                          timed frames, :mod:`pipeline.sql.judged`; receiver stalls included: the
                          report leaves them out), PDR, verification failures, field-check violations
``loss_per_minute()``     per sender, message type and minute: received, missing, PDR
``rsu_positions()``       per RSU: the reference point of its RSMs (degrees)
``bsm_near_rsu(metres)``  every verified BSM within ``metres`` of an RSU, with the distance

Over several runs (``v2x sql RUN_A RUN_B ...``) the table macros carry a ``run`` column first.
"""

from __future__ import annotations

import duckdb

from pipeline.sql.judged import COUNTED, RATED, SENT_AT, TIMED

SCALAR = {
    "pdr(received, missing)": "received / nullif(received + missing, 0)",
    "tx_rate_hz(received, missing, span_s)": "(received + missing - 1) / nullif(span_s, 0)",
    "p95(x)": "quantile_cont(x, 0.95)",
    "p99(x)": "quantile_cont(x, 0.99)",
    "distance_m(lat1, lon1, lat2, lon2)": "111320 * sqrt(power(lat2 - lat1, 2) + power((lon2 - lon1) * cos(radians((lat1 + lat2) / 2)), 2))",
    "dsecond(ts)": "(epoch_ms(ts) % 60000)::INTEGER",
}

# {run} becomes "run, " over several runs, "" over one
TABLE = {
    "sender_summary()": """
        WITH m AS (
            SELECT {run}sender_id, msg_type, count(*) AS messages,
                   tx_rate_hz(count(*) FILTER (WHERE {rated}), coalesce(sum(msg_cnt_gap) FILTER (WHERE {rated}), 0),
                              (epoch_us(max({sent_at}) FILTER (WHERE {rated}))
                               - epoch_us(min({sent_at}) FILTER (WHERE {rated}))) / 1e6) AS rate_hz,
                   quantile_cont(latency_ms, 0.5) FILTER (WHERE {timed}) AS latency_p50_ms,
                   quantile_cont(latency_ms, 0.95) FILTER (WHERE {timed}) AS latency_p95_ms,
                   quantile_cont(latency_ms, 0.99) FILTER (WHERE {timed}) AS latency_p99_ms,
                   pdr(count(*) FILTER (WHERE {counted}), coalesce(sum(msg_cnt_gap) FILTER (WHERE decode_ok), 0)) AS pdr,
                   count(*) FILTER (WHERE auth <> 'success') AS not_verified
            FROM messages GROUP BY ALL),
        v AS (SELECT {run}sender_id, msg_type, count(*) AS violations FROM violations GROUP BY ALL)
        SELECT m.*, coalesce(v.violations, 0) AS violations FROM m LEFT JOIN v USING ({run}sender_id, msg_type)
        ORDER BY ALL""",
    "loss_per_minute()": """
        SELECT {run}sender_id, msg_type, date_trunc('minute', received_at) AS minute,
               count(*) FILTER (WHERE {counted}) AS received,
               coalesce(sum(msg_cnt_gap) FILTER (WHERE decode_ok), 0) AS missing,
               pdr(received, missing) AS pdr
        FROM messages GROUP BY ALL ORDER BY ALL""",
    "rsu_positions()": """
        SELECT {run}sender_id AS rsu, any_value(ref_lat) * 1e-7 AS lat_deg, any_value(ref_lon) * 1e-7 AS lon_deg
        FROM rsm GROUP BY ALL ORDER BY ALL""",
    "bsm_near_rsu(metres)": """
        SELECT {r_run}r.rsu, b.rx_seq, b.sender_id, b.received_at, b.latency_ms,
               distance_m(r.lat_deg, r.lon_deg, b.lat_deg, b.lon_deg) AS distance_m
        FROM bsm b JOIN rsu_positions() r ON {join}
        WHERE b.auth = 'success' AND distance_m(r.lat_deg, r.lon_deg, b.lat_deg, b.lon_deg) <= metres""",
}


def create_macros(con: duckdb.DuckDBPyConnection, several_runs: bool = False) -> None:
    """Create the macros in the main schema of ``con``, after its views."""
    for signature, body in SCALAR.items():
        con.execute(f"CREATE OR REPLACE MACRO {signature} AS {body}")
    fill = {
        "run": "run, " if several_runs else "",
        "r_run": "r.run, " if several_runs else "",
        "join": "r.run = b.run" if several_runs else "true",
        "timed": TIMED,
        "counted": COUNTED,
        "rated": RATED,
        "sent_at": SENT_AT,
    }
    for signature, body in TABLE.items():
        con.execute(f"CREATE OR REPLACE MACRO {signature} AS TABLE {body.format(**fill)}")
