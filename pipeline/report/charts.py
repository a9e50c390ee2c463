"""What the HTML report's charts and device table show, queried from the run's views (plain data,
JSON-serialisable): latency CDFs, delivery over time, each device judged on its own messages,
positions.  The drawing is :mod:`pipeline.render.html`'s."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v2x.rundir import RunDir

from pipeline.report.about import device_kinds, run_scenario_file
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
from pipeline.sql.window import Window

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
       sum(msg_cnt_gap) FILTER (WHERE decode_ok) AS missing, count(*) FILTER (WHERE {COUNTED}) AS counted,
       quantile_cont(latency_ms, 0.99) FILTER (WHERE decode_ok AND {TIMED}) AS p99
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
SELECT sender_id, avg(lat_deg) AS lat, avg(lon_deg) AS lon FROM messages
WHERE msg_type = 'BSM' AND decode_ok AND lat_deg IS NOT NULL AND lon_deg IS NOT NULL
GROUP BY sender_id, epoch_us(received_at) // $bucket ORDER BY ALL
"""


# The latest MAP of each RSU and node: the node's refPos and each inbound link's points (degrees).
MAP_NODES_SQL = """
WITH latest AS (SELECT sender_id, node_region, node_id, max(rx_seq) AS rx_seq FROM map_links GROUP BY ALL)
SELECT l.sender_id, l.node_region, l.node_id, any_value(l.node_lat_deg), any_value(l.node_lon_deg),
       list([l.point_lat_deg, l.point_lon_deg, [l.link_width / 100.0, l.lanes]] ORDER BY l.link)
FROM map_links l JOIN latest USING (sender_id, node_region, node_id, rx_seq) GROUP BY ALL ORDER BY ALL
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


MARKED_EVENTS = ("broker_disconnected", "broker_reconnected", "receiver_stalled", "storage_unreachable", "storage_back")


def _event_unix_s(at: str) -> float | None:
    """An ingest event's time: ISO 8601; one without an offset (written before events carried
    it) is taken as UTC."""
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _markers(run: RunDir, report: Report, start_s: float) -> list[dict[str, Any]]:
    """What happened to the run besides the devices, on the charts' time axis (seconds since the
    first message): broker disconnects and reconnects and receiver stalls the ingest recorded,
    seconds in which every sender was late at once, and the devices the scenario took offline."""
    out: list[dict[str, Any]] = []
    for e in report.ingest_events:
        at = _event_unix_s(e.at) if e.event in MARKED_EVENTS else None
        if at is not None:
            out.append({"at_s": at - start_s, "until_s": None, "label": e.event.replace("_", " ")})
    for stall in report.receiver_stalls:
        if stall.source == "data" and stall.epoch_s is not None:
            out.append({"at_s": stall.epoch_s - start_s, "until_s": stall.epoch_s + 1 - start_s, "label": "senders late at once"})
    manifest = run.manifest_data()
    go = manifest.get("go_at")  # the devices' start (runs before it was recorded: the first message)
    go = go if _number(go) else start_s
    network = manifest.get("network")
    for entry in network if isinstance(network, list) else []:
        outages = entry.get("offline") if isinstance(entry, dict) else None
        for outage in outages if isinstance(outages, list) else []:
            if (
                isinstance(outage, dict) and _number(outage.get("at_s")) and _number(outage.get("for_s"))
            ):  # else not ours: left out
                at = go + outage["at_s"] - start_s
                label = f"{entry.get('devices', 'devices')} offline"
                out.append({"at_s": at, "until_s": at + outage["for_s"], "label": label})
    return sorted(out, key=lambda m: m["at_s"])


def _link(lats: list | None, lons: list | None, width_m: float | None, lanes: float | None) -> dict[str, Any]:
    """A MAP link to draw: its points (those with both coordinates), width and lanes."""
    points = [(la, lo) for la, lo in zip(lats or [], lons or []) if _number(la) and _number(lo)]
    return {"lat": [p[0] for p in points], "lon": [p[1] for p in points], "width_m": width_m, "lanes": int(lanes or 0)}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def chart_data(run_dir: Path, report: Report, window: Window | None = None) -> dict[str, Any]:
    """Everything the charts plot, from the run's views (in ``window`` if given; plain data, JSON-serialisable)."""
    con = connect(Path(run_dir), window=window)
    mark_stalled_seconds(con, [s.epoch_s for s in report.receiver_stalls if s.epoch_s is not None])
    cdf = {msg_type: q for msg_type, q in con.execute(judging(con, LATENCY_CDF_SQL)).fetchall() if q is not None}
    start, bucket, span = _time_bucket_us(con)
    over_time: dict[str, dict[str, list]] = {}
    for msg_type, k, n, senders, missing, counted, p99 in con.execute(
        OVER_TIME_SQL, {"start": start, "bucket": bucket}
    ).fetchall():
        s = over_time.setdefault(msg_type, {"t_s": [], "rate_hz": [], "pdr": [], "latency_p99_ms": []})
        s["latency_p99_ms"].append(p99)
        covered = min(bucket, span - k * bucket) / 1e6  # the last bucket is cut short by the end of the run
        s["t_s"].append((k + 0.5) * bucket / 1e6)
        s["rate_hz"].append(n / senders / covered if senders and covered >= 0.5 * bucket / 1e6 else None)
        missing = missing or 0
        s["pdr"].append(counted / (counted + missing) if counted else None)
    vehicles = one_value(con, "SELECT count(DISTINCT sender_id) FROM messages WHERE msg_type = 'BSM'") or 0
    map_bucket = max(200_000, math.ceil(vehicles * span / MAP_POINTS))  # one mark per vehicle per 0.2 s, ~MAP_POINTS at most
    tracks = con.execute(VEHICLE_TRACKS_SQL, {"bucket": map_bucket}).fetchall()
    rsus = con.execute(RSU_SQL).fetchall()
    devices = _device_rows(con, report)
    run = RunDir(Path(run_dir))
    found = run_scenario_file(run)
    kinds = device_kinds(found[0]) if found else {}
    for d in devices:  # which vehicle is the ambulance: the scenario's kind, else the topic's OBU/RSU
        d["kind"] = kinds.get(d["device"], d["kind"])
    ranges = [c.range_m for c in report.checks if c.range_m is not None]
    return {
        "latency_cdf": cdf,
        "over_time": {
            "bucket_s": bucket / 1e6,
            "series": over_time,
            "markers": _markers(run, report, start / 1e6),
        },
        "devices": devices,
        "positions": {"vehicles": [list(r) for r in tracks], "rsus": [list(r) for r in rsus]},
        "kinds": {d["device"]: d["kind"] for d in devices},
        "worst": [d["device"] for d in devices if d["worst"] == "FAIL"],
        "map": {
            "nodes": [
                {
                    "rsu": sender,
                    "node": f"{region}/{node}" if region is not None else str(node),
                    "lat": lat,
                    "lon": lon,
                    "links": [_link(la, lo, w, n) for la, lo, (w, n) in links],
                }
                for sender, region, node, lat, lon, links in con.execute(MAP_NODES_SQL).fetchall()
            ],
            "coverage_m": max(ranges) if ranges else None,
        },
    }
