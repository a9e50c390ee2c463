"""The ingest's own record: counts of this session and of every earlier one on the same output
(``ingest/summary.json``), and the progress line."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from v2x.records import Records


@dataclass
class IngestStats:
    """Counts of this session, the sessions before it on the same output, and broker events."""

    received: int = 0
    stored: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    redelivered: int = 0  # redeliveries of frames already stored (acknowledged, not stored again)
    acknowledged: int = 0
    unchecked_after_error: int = 0  # messages whose field checks were lost to a processing failure
    events: list[dict[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    crl: dict[str, object] | None = None  # the CRL applied (CrlStatus), if any
    client_id: str = ""
    earlier: list[dict[str, Any]] = field(default_factory=list)  # sessions before this one, ended
    ended_at: float | None = None
    end_cause: str = "running"
    failure: str | None = None
    on_part: Callable[[dict[str, pa.Table]], None] | None = None  # told of each committed part (metrics)
    source: dict[str, object] = field(default_factory=dict)  # a stream worker: servers, worker, partitions
    # A stream worker: how long frames waited in the cluster before the worker read them (ms,
    # p50/p99/max of the session): the delay the ingest adds, apart from the devices' latency.
    stream_delay_ms: dict[str, float] | None = None

    def count_part(self, telemetry: dict[str, pa.Table], rows_written: int) -> None:
        """Count a committed part: its rows per message type and its rejects (``decode_ok`` false)."""
        if self.on_part is not None:
            self.on_part(telemetry)
        for msg_type, table in telemetry.items():
            self.by_type[msg_type] += table.num_rows
            self.rejected += table.num_rows - (pc.sum(table.column("decode_ok").cast(pa.int64())).as_py() or 0)
        self.stored = rows_written

    def session(self) -> dict[str, object]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "cause": self.end_cause,
            "received": self.received,
            "stored": self.stored,
            "rejected": self.rejected,
            "redelivered": self.redelivered,
            "acknowledged": self.acknowledged,
            "updated_at": time.time(),
        }

    def as_dict(self) -> dict[str, object]:
        """Totals over every session on this output (``received`` counts a frame once even when
        a restart received it again), this session's counts and every session's record."""
        stored_before = sum(int(s["stored"]) for s in self.earlier)
        by_type = Counter(self.by_type)
        for s in self.earlier:
            by_type.update(s.get("stored_by_type") or {})
        return {
            "received": stored_before + self.received - self.redelivered,
            "stored": stored_before + self.stored,
            "stored_by_type": dict(by_type),
            "rejected": sum(int(s["rejected"]) for s in self.earlier) + self.rejected,
            "events": list(self.events),  # a copy: the record is written on another thread
            "crl": self.crl,
            "client_id": self.client_id,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "failure": self.failure,
            "unchecked_after_error": self.unchecked_after_error,
            **({"source": self.source} if self.source else {}),
            **({"stream_delay_ms": self.stream_delay_ms} if self.stream_delay_ms is not None else {}),
            "sessions": [*self.earlier, {**self.session(), "stored_by_type": dict(self.by_type)}],
        }


def event_time() -> str:
    """Now, as an event of the summary records it: ISO 8601 in UTC with milliseconds
    (``2026-12-01T03:59:21.123+00:00``), so the report can place it on its time axis."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def earlier_sessions(state: Records) -> list[dict[str, object]]:
    """The sessions of earlier ingests with their records in ``state`` (``RUN/ingest``, or a
    worker's folder under it, in the folder or the bucket), from the last record any of them
    left (``progress.json`` is rewritten after every batch, ``summary.json`` at a clean end):
    one still marked running ended without a clean stop (killed or crashed)."""
    records = []
    for name in ("summary.json", "progress.json"):
        try:
            data = state.read(name)
        except (OSError, ValueError):
            continue
        if data is not None:
            records.append(data)
    if not records:
        return []
    records = [d for d in records if isinstance(d, dict)]
    if not records:
        return []
    latest = max(records, key=lambda d: _number(d.get("updated_at")))
    sessions = latest.get("sessions")
    if not isinstance(sessions, list):  # written before sessions were recorded: one session
        sessions = [
            {
                "started_at": latest.get("started_at"),
                "ended_at": latest.get("updated_at"),
                "cause": "unknown",
                "received": latest.get("received"),
                "stored": latest.get("stored"),
                "rejected": latest.get("rejected"),
                "stored_by_type": latest.get("stored_by_type"),
            }
        ]
    out = []
    for s in sessions:
        if not isinstance(s, dict):
            continue
        s = dict(s)
        if s.get("cause") == "running":
            s["cause"] = "ended without a clean stop (killed or crashed)"
            s["ended_at"] = s.get("updated_at")
        for key in ("received", "stored", "rejected"):
            s[key] = int(_number(s.get(key)))
        by_type = s.get("stored_by_type")
        s["stored_by_type"] = {str(k): int(_number(v)) for k, v in by_type.items()} if isinstance(by_type, dict) else {}
        out.append(s)
    return out


def _number(value: object) -> float:
    """A count or time read from an earlier session's record (0 when it is not a number)."""
    try:
        return float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else 0.0
    except ValueError:
        return 0.0


@dataclass
class Progress:
    """What :func:`progress_line` saw last, to give rates since then."""

    at: float
    received: int = 0


def progress_line(stats: IngestStats, since: Progress, now: float) -> tuple[str, Progress]:
    """One line of ingest progress: counts, the receive rate since ``since``, stored per type,
    rejects and whether the broker is connected (from the last broker event)."""
    rate = (stats.received - since.received) / max(now - since.at, 1e-9)
    types = " ".join(f"{t} {n}" for t, n in sorted(stats.by_type.items()))
    if stats.failure:
        broker = f"FAILED: {stats.failure}"
    else:
        broker = "broker disconnected" if stats.events and stats.events[-1]["event"] == "broker_disconnected" else "connected"
    line = (
        f"{now - stats.started_at:6.0f} s  received {stats.received} ({rate:.0f}/s)  stored {stats.stored}"
        f"{'  [' + types + ']' if types else ''}  rejected {stats.rejected}  unacknowledged {stats.received - stats.acknowledged}  {broker}"
    )
    return line, Progress(now, stats.received)
