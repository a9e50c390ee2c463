"""What a sign-off needs to know of a run (:class:`pipeline.report.model.About`): when it ran, in
the zone's time, with which tool, which scenario (its description, seed and the SHA-256 of the
file as run) and which devices under test."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import duckdb

from v2x.rundir import RunDir
from v2x.scenario.model import Scenario, ScenarioError, parse_scenario

from pipeline.report.model import About, DeviceGroup

ZONE_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")  # China Standard Time: no daylight saving
TIME_ZONE = "Asia/Shanghai (UTC+08:00)"
MAX_IDS = 100


def zone_time(unix_s: float) -> str:
    """A Unix time as RFC 3339 in the zone's time, to the second."""
    return datetime.fromtimestamp(unix_s, ZONE_TIME).isoformat(timespec="seconds")


def _tool() -> str:
    try:
        return f"xiqing-v2x {version('xiqing-v2x')}"
    except PackageNotFoundError:
        return "xiqing-v2x (not installed)"


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_scenario_file(run: RunDir) -> tuple[Scenario, bytes] | None:
    """The scenario a run ran (RUN/scenario.yaml) and its bytes; None for an ingest of live
    traffic or a file that no longer reads."""
    path = run.root / "scenario.yaml"
    try:
        data = path.read_bytes()
        return parse_scenario(data.decode("utf-8"), str(path)), data
    except (OSError, UnicodeDecodeError, ScenarioError):
        return None


def device_kinds(scenario: Scenario) -> dict[str, str]:
    """Each simulated device's kind: ``RSU``, or its fleet group's vehicle kind (car, bus, ambulance ...)."""
    return {i.rsu_id: "RSU" for i in scenario.intersections} | scenario.obu_kinds()


def _devices_of_scenario(run: RunDir) -> tuple[list[DeviceGroup], str | None, int | None, str | None]:
    found = run_scenario_file(run)
    if found is None:
        return [], None, None, None
    scenario, data = found
    by_kind: dict[str, list[str]] = {}
    for device, kind in device_kinds(scenario).items():
        by_kind.setdefault(kind, []).append(device)
    groups = [DeviceGroup(kind=kind, count=len(ids), ids=ids[:MAX_IDS]) for kind, ids in by_kind.items()]
    return groups, scenario.description, scenario.seed, hashlib.sha256(data).hexdigest()


def _devices_heard(con: duckdb.DuckDBPyConnection) -> list[DeviceGroup]:
    rows = con.execute(
        "SELECT device_kind, list(DISTINCT sender_id ORDER BY sender_id) FROM messages "
        "WHERE decode_ok AND device_kind IS NOT NULL AND sender_id IS NOT NULL GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return [DeviceGroup(kind=str(kind), count=len(ids), ids=list(ids)[:MAX_IDS]) for kind, ids in rows]


def about_run(run: RunDir, manifest: dict[str, Any], ingest: dict[str, Any], con: duckdb.DuckDBPyConnection) -> About:
    """The sign-off facts of ``run``: from its scenario file and ``run.json`` when it has them (a
    ``v2x run``), else from the ingest's summary and the devices heard (a ``v2x ingest``)."""
    devices, description, seed, digest = _devices_of_scenario(run)
    started = _seconds(manifest.get("started_at")) or _seconds(ingest.get("started_at"))
    ended = _seconds(manifest.get("ended_at")) or _seconds(ingest.get("ended_at"))
    return About(
        tool=_tool(),
        made_at=zone_time(time.time()),
        time_zone=TIME_ZONE,
        run_started_at=zone_time(started) if started is not None else None,
        run_ended_at=zone_time(ended) if ended is not None else None,
        scenario_description=description,
        seed=seed,
        scenario_sha256=digest,
        devices=devices or _devices_heard(con),
    )
