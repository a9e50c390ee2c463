"""What the HTML report's charts and device table show, queried from the run's views (plain data,
JSON-serialisable): latency CDFs, delivery over time, each device judged on its own messages,
positions.  The drawing is :mod:`pipeline.render.html`'s."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pipeline.report.build import one_value
from pipeline.report.model import CheckSpec, Report
from pipeline.report.verdicts import verdict_of
from pipeline.sql.judged import (
    COUNTED,
    COUNTED_LATE_IN_STALL,
    IN_STALL,
    LATE_IN_STALL,
    RATED,
    SENT_AT,
    TIMED,
    judging,
    mark_stalled_seconds,
    pdr_excusing_stalls,
)
from pipeline.sql.views import connect

VERDICT_ORDER = {"FAIL": 0, "WARN": 1, "N/A": 2, "PASS": 3}


DEVICE_METRICS = ("rate_hz_min", "latency_p95_ms", "latency_p99_ms", "pdr", "auth_success_rate")


CDF_POINTS = 200


TIME_BUCKETS = 120  # points per over-time series at most


MAP_POINTS = 20_000


LATENCY_CDF_SQL = f"""
SELECT msg_type, quantile_cont(latency_ms, [{", ".join(f"{k / CDF_POINTS}" for k in range(CDF_POINTS + 1))}]) AS q
FROM messages WHERE decode_ok AND {TIMED} AND NOT {IN_STALL} AND latency_ms IS NOT NULL GROUP BY ALL ORDER BY msg_type
"""


OVER_TIME_SQL = f"""
SELECT msg_type, (epoch_us(received_at) - $start) // $bucket AS k, count(*) AS n, count(DISTINCT sender_id) AS senders,
       sum(msg_cnt_gap) FILTER (WHERE decode_ok) AS missing, count(*) FILTER (WHERE {COUNTED}) AS counted
FROM messages GROUP BY ALL ORDER BY msg_type, k
"""


DEVICE_SQL = f"""
WITH marked AS (SELECT *, {IN_STALL} AS in_stall FROM messages WHERE sender_id IS NOT NULL)
SELECT sender_id, any_value(device_kind) AS kind, msg_type, count(*) AS messages,
       count(*) FILTER (WHERE auth = 'success') AS auth_ok,
       quantile_cont(latency_ms, [0.95, 0.99]) FILTER (WHERE decode_ok AND {TIMED} AND NOT in_stall) AS latency,
       sum(msg_cnt_gap) FILTER (WHERE decode_ok) AS missing,
       count(*) FILTER (WHERE {COUNTED}) AS counted,
       count(*) FILTER (WHERE {COUNTED_LATE_IN_STALL}) AS counted_late,
       count(*) FILTER (WHERE auth = 'signer_certificate_not_found' OR ({LATE_IN_STALL})) AS unjudged,
       tx_rate_hz(count(*) FILTER (WHERE {RATED}), coalesce(sum(msg_cnt_gap) FILTER (WHERE {RATED}), 0),
                  (epoch_us(max({SENT_AT}) FILTER (WHERE {RATED}))
                   - epoch_us(min({SENT_AT}) FILTER (WHERE {RATED}))) / 1e6) AS rate
FROM marked GROUP BY ALL ORDER BY sender_id, msg_type
"""


DEVICE_VIOLATIONS_SQL = "SELECT sender_id, check_name, basis, count(DISTINCT rx_seq) FROM violations GROUP BY ALL"


VEHICLE_TRACKS_SQL = """
SELECT sender_id, avg(lat) AS lat, avg(lon) AS lon FROM messages
WHERE msg_type = 'BSM' AND decode_ok AND lat IS NOT NULL AND lon IS NOT NULL
GROUP BY sender_id, epoch_us(received_at) // $bucket ORDER BY ALL
"""


RSU_SQL = "SELECT sender_id, any_value(ref_lat) * 1e-7, any_value(ref_lon) * 1e-7 FROM rsm GROUP BY ALL ORDER BY ALL"


def _time_bucket_us(con: Any) -> tuple[int, int, int]:
    """(first receive time, bucket width, span) in µs: at most TIME_BUCKETS buckets, whole seconds."""
    start, end = con.execute("SELECT epoch_us(min(received_at)), epoch_us(max(received_at)) FROM messages").fetchone()
    span = max((end or 0) - (start or 0), 1)
    return start or 0, max(1_000_000, math.ceil(span / TIME_BUCKETS / 1_000_000) * 1_000_000), span


def _finding(spec: CheckSpec, value: float | None) -> dict[str, Any]:
    """A check judged on one device's messages (id, verdict, value, op, threshold)."""
    return {"id": spec.id, "verdict": verdict_of(spec, value), "value": value, "op": spec.op, "threshold": spec.threshold}


def _device_rows(con: Any, report: Report) -> list[dict[str, Any]]:
    """One row per device: its metrics, the profile checks judged on its own messages and its
    field-check violations, the worst verdict first."""
    profile = [
        c for c in report.checks if c.kind is None and c.metric in DEVICE_METRICS and c.range_m is None and not c.where
    ]  # ranged checks are judged over all senders only
    devices: dict[str, dict[str, Any]] = {}
    for sender, kind, msg_type, messages, auth_ok, latency, missing, counted, counted_late, unjudged, rate in con.execute(
        judging(con, DEVICE_SQL)
    ).fetchall():
        d = devices.setdefault(
            sender,
            {
                "device": sender,
                "kind": kind,
                "types": [],
                "messages": 0,
                "latency_p99_ms": None,
                "pdr": None,
                "auth_failures": 0,
                "checks": [],
            },
        )
        d["types"].append(msg_type)
        d["messages"] += messages
        d["auth_failures"] += messages - auth_ok
        metrics = {
            "rate_hz_min": rate,
            "latency_p95_ms": latency[0] if latency else None,
            "latency_p99_ms": latency[1] if latency else None,
            "pdr": pdr_excusing_stalls(counted, int(missing or 0), counted_late)[1],
            "auth_success_rate": auth_ok / (messages - unjudged) if messages > unjudged else None,
        }
        if metrics["latency_p99_ms"] is not None:
            d["latency_p99_ms"] = max(d["latency_p99_ms"] or 0.0, metrics["latency_p99_ms"])
        if metrics["pdr"] is not None:
            d["pdr"] = min(d["pdr"] if d["pdr"] is not None else 1.0, metrics["pdr"])
        d["checks"] += [_finding(check, metrics[check.metric]) for check in profile if check.msg_type == msg_type]
    for sender, check_name, basis, count in con.execute(DEVICE_VIOLATIONS_SQL).fetchall():
        if sender in devices:
            spec = CheckSpec(
                id=check_name, msg_type="ALL", metric="messages_in_violation", op="<=", threshold=0, basis=basis, source=""
            )
            devices[sender]["checks"].append(_finding(spec, count))
    rows = []
    for d in devices.values():
        bad = [c for c in d.pop("checks") if c["verdict"] in ("FAIL", "WARN")]
        bad.sort(key=lambda c: (VERDICT_ORDER[c["verdict"]], c["id"]))
        d["worst"] = bad[0]["verdict"] if bad else "PASS"
        d["findings"] = bad
        d["types"] = ", ".join(d["types"])
        rows.append(d)
    rows.sort(key=lambda d: (VERDICT_ORDER[d["worst"]], -len(d["findings"]), d["device"]))
    return rows


def chart_data(run_dir: Path, report: Report) -> dict[str, Any]:
    """Everything the charts plot, from the run's views (plain data, JSON-serialisable)."""
    con = connect(Path(run_dir))
    mark_stalled_seconds(con, [s.epoch_s for s in report.receiver_stalls if s.epoch_s is not None])
    cdf = {msg_type: q for msg_type, q in con.execute(judging(con, LATENCY_CDF_SQL)).fetchall() if q is not None}
    start, bucket, span = _time_bucket_us(con)
    over_time: dict[str, dict[str, list]] = {}
    for msg_type, k, n, senders, missing, counted in con.execute(OVER_TIME_SQL, {"start": start, "bucket": bucket}).fetchall():
        s = over_time.setdefault(msg_type, {"t_s": [], "rate_hz": [], "pdr": []})
        s["t_s"].append((k + 0.5) * bucket / 1e6)
        s["rate_hz"].append(n / senders / (bucket / 1e6) if senders else None)
        missing = missing or 0
        s["pdr"].append(counted / (counted + missing) if counted else None)
    vehicles = one_value(con, "SELECT count(DISTINCT sender_id) FROM messages WHERE msg_type = 'BSM'") or 0
    map_bucket = max(200_000, math.ceil(vehicles * span / MAP_POINTS))  # one mark per vehicle per 0.2 s, ~MAP_POINTS at most
    tracks = con.execute(VEHICLE_TRACKS_SQL, {"bucket": map_bucket}).fetchall()
    rsus = con.execute(RSU_SQL).fetchall()
    return {
        "latency_cdf": cdf,
        "over_time": {"bucket_s": bucket / 1e6, "series": over_time},
        "devices": _device_rows(con, report),
        "positions": {"vehicles": [list(r) for r in tracks], "rsus": [list(r) for r in rsus]},
    }
