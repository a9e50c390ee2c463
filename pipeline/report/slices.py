"""Metrics over slices of a run's messages: one message type, an optional SQL condition on the
``messages`` view, and an optional range around the receivers.

Range-aware requirements grade PDR and latency by the distance between sender and receiver
(compliance.md 8: PDR within 100 m / 300 m; T/CSAE 53 gives each application a range).  Messages
reach the harness through a broker, not a radio, so the receiver is a position the report
assumes: by default every RSU of the run (the reference point of its RSMs, see the
``rsu_positions()`` macro), or the positions of a receivers file.  A message is in range when its
sender's position (the BSM's own) is within the range of at least one receiver; message types
without a sender position (RSU messages) have no range metrics.  Loss is charged to the position
of the message that follows it (msgCnt gap), a few metres from where it happened at 10 Hz.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v2x.yaml_file import YamlError, load_yaml

from pipeline.report.model import SliceMetrics
from pipeline.sql.judged import (
    COUNTED,
    COUNTED_LATE_IN_STALL,
    IN_STALL,
    TIMED,
    judging,
    pdr_excusing_stalls,
)

METRES_PER_DEGREE = 111_320.0
POSITIONED = frozenset({"BSM"})  # message types whose rows carry the sender's position


@dataclass(frozen=True)
class Receiver:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Slice:
    """Messages of ``msg_type`` matching ``where`` (SQL over ``messages``; None: all) sent within
    ``range_m`` of a receiver (None: anywhere)."""

    msg_type: str
    where: str | None = None
    range_m: float | None = None


class ReceiversError(ValueError):
    """A receivers file that cannot be used."""


def run_receivers(con: Any) -> list[Receiver]:
    """The RSUs of the run at the reference point of their RSMs."""
    rows = con.execute("SELECT rsu, lat_deg, lon_deg FROM rsu_positions() WHERE lat_deg IS NOT NULL").fetchall()
    return [Receiver(str(name), float(lat), float(lon)) for name, lat, lon in rows]


def load_receivers(path: Path) -> list[Receiver]:
    """Receivers from a YAML or JSON list of ``{name, lat, lon}`` (degrees)."""
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, YamlError) as exc:
        raise ReceiversError(f"{path}: cannot read receivers: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ReceiversError(f"{path}: expected a non-empty list of {{name, lat, lon}}")
    out = []
    for k, entry in enumerate(data):
        try:
            lat, lon = float(entry["lat"]), float(entry["lon"])
            name = str(entry.get("name", f"receiver-{k + 1}"))
        except (TypeError, KeyError, ValueError):
            raise ReceiversError(f"{path}: entry {k + 1} needs numeric lat and lon: {json.dumps(entry, default=str)}") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ReceiversError(f"{path}: entry {k + 1} ({name}) is not a position in degrees: {lat}, {lon}")
        out.append(Receiver(name, lat, lon))
    return out


def _distance_sql(receivers: list[Receiver]) -> str:
    """Metres from the row's (lat_deg, lon_deg) to the nearest receiver: the ``distance_m`` macro's
    equirectangular formula with each receiver's cos(latitude) as a constant, written with
    products, which DuckDB evaluates several times faster than power() over millions of rows."""
    if not receivers:
        return "NULL::DOUBLE"
    terms = []
    for r in receivers:
        dlat, dlon = f"(lat_deg - {r.lat!r})", f"((lon_deg - {r.lon!r}) * {math.cos(math.radians(r.lat))!r})"
        terms.append(f"({dlat} * {dlat} + {dlon} * {dlon})")
    nearest = terms[0] if len(terms) == 1 else f"least({', '.join(terms)})"
    return f"{METRES_PER_DEGREE!r} * sqrt({nearest})"


def _condition(sl: Slice) -> str:
    cond = [f"msg_type = '{sl.msg_type}'"]
    if sl.where:
        cond.append(f"({sl.where})")
    if sl.range_m is not None:
        cond.append(f"d <= {float(sl.range_m)!r}")
    return " AND ".join(cond)


def slice_counts(con: Any, slices: list[Slice]) -> dict[Slice, int]:
    """Decoded messages in each unranged slice (whether a run carries what an application uses),
    counted in one pass."""
    if not slices:
        return {}
    if any(sl.range_m is not None for sl in slices):
        raise ValueError("slice_counts takes unranged slices")
    types = ", ".join(sorted({f"'{sl.msg_type}'" for sl in slices}))
    row = con.execute(
        f"SELECT {', '.join(f'count(*) FILTER (WHERE {_condition(sl)})' for sl in slices)} "
        f"FROM messages WHERE decode_ok AND msg_type IN ({types})"
    ).fetchone()
    return dict(zip(slices, row))


def _aggregates(k: int, sl: Slice) -> str:
    c = _condition(sl)
    return (
        f"count(*) FILTER (WHERE {c}) AS n{k}, count(*) FILTER (WHERE {c} AND {COUNTED}) AS c{k}, "
        f"coalesce(sum(msg_cnt_gap) FILTER (WHERE {c}), 0) AS m{k}, "
        f"count(*) FILTER (WHERE {c} AND {COUNTED_LATE_IN_STALL}) AS e{k}, "
        f"quantile_cont(latency_ms, [0.95, 0.99]) FILTER (WHERE {c} AND {TIMED} AND NOT in_stall) AS l{k}"
    )


def slice_metrics(con: Any, slices: list[Slice], receivers: list[Receiver]) -> dict[Slice, SliceMetrics]:
    """Per slice: messages, PDR (GB/T 45315 Annex C) and latency p95/p99 of the timed frames
    outside receiver stalls (:mod:`pipeline.sql.judged`), one pass over each message type's rows.  A ranged slice without receivers, or of a type
    without positions, has no messages."""
    out = {}
    for msg_type in sorted({sl.msg_type for sl in slices}):
        mine = [sl for sl in slices if sl.msg_type == msg_type]
        ranged = any(sl.range_m is not None for sl in mine) and msg_type in POSITIONED
        distance = _distance_sql(receivers) if ranged else "NULL::DOUBLE"
        sql = (
            f"WITH b AS (SELECT *, {distance} AS d, {IN_STALL} AS in_stall FROM messages "
            f"WHERE decode_ok AND msg_type = '{msg_type}') "
            f"SELECT {', '.join(_aggregates(k, sl) for k, sl in enumerate(mine))} FROM b"
        )
        row = con.execute(judging(con, sql)).fetchone()
        for k, sl in enumerate(mine):
            n, counted, missing, late_in_stall, latency = row[5 * k : 5 * k + 5]
            latency = latency or [None, None]
            out[sl] = SliceMetrics(
                messages=n,
                pdr=pdr_excusing_stalls(counted, int(missing), late_in_stall)[1],
                latency_p95_ms=latency[0],
                latency_p99_ms=latency[1],
            )
    return out
