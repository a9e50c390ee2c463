"""A live tail of a broker (``v2x watch``): every frame decoded and verified as the ingest judges
it, one line each, nothing stored.

Frames are judged in short batches by the ingest's own batch stage (:class:`BatchProcessor`), so
a line says what a stored row would: the message type, the sender, msgCnt, the verification
verdict, the latency and, for a decoded message, what it carries (a BSM's position and speed, a
SPAT's lights, an RSM's participants, a MAP's links, an RSI's events and signs); a reject says
why.  Built on aiomqtt (:func:`v2x.mqtt.transport.client`), with a clean session of its own, so
watching takes nothing from the ingest's session.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from v2x.framing.sources import ENVELOPE_ONLY, Sources
from v2x.mqtt import topics
from v2x.mqtt.access import ClientTls
from v2x.mqtt.transport import BrokerAddress, client
from v2x.security import Verifier

from pipeline.ingest.batch import BatchProcessor
from pipeline.ingest.received import Received
from pipeline.sql.views import LIGHT_NAMES, PTC_TYPE_NAMES

BATCH_S = 0.2  # policy: frames are judged in batches this long (the ingest's 0.5 s would make the tail lag)
Record = dict[str, Any]


@dataclass(frozen=True)
class WatchFilter:
    """Which frames are shown: message types (empty: all) and sender ids, each a glob pattern
    (``OBU-00*``; empty: all)."""

    types: frozenset[str] = frozenset()
    devices: tuple[str, ...] = ()

    def admits(self, msg_type: str, sender: str | None) -> bool:
        if self.types and msg_type not in self.types:
            return False
        return not self.devices or any(fnmatch.fnmatchcase(sender or "", p) for p in self.devices)


def _rows_by_seq(table: pa.Table | None) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {}
    for row in table.to_pylist() if table is not None else []:
        out.setdefault(row["rx_seq"], []).append(row)
    return out


def _name(names: list[str], index: int | None) -> str:
    return names[index] if index is not None and 0 <= index < len(names) else f"#{index}"


def _bsm(row: Record, _: dict[str, dict[int, list[Record]]]) -> str:
    parts = []
    if row.get("lat_deg") is not None:
        parts.append(f"{row['lat_deg']:.6f} N {row['lon_deg']:.6f} E")
    if row.get("speed_mps") is not None:
        parts.append(f"{row['speed_mps']:.1f} m/s")
    if row.get("heading_deg") is not None:
        parts.append(f"{row['heading_deg']:.0f}°")
    if row.get("vehicle_id"):
        parts.append(f"id {row['vehicle_id']}")
    return "  ".join(parts)


def _spat(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    lights = [
        f"{s['node_id']}/{s['phase_id']} {_name(LIGHT_NAMES, s['light'])}"
        + (f" {s['likely_end_time'] / 10:.1f} s" if s.get("likely_end_time") is not None and s.get("timing_kind") == 0 else "")
        for s in content.get("spat_phase_states", {}).get(row["rx_seq"], [])
        if s["state"] == 0
    ]
    return ", ".join(lights)


def _rsm(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    kinds = Counter(_name(PTC_TYPE_NAMES, p["ptc_type"]) for p in content.get("rsm_participants", {}).get(row["rx_seq"], []))
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "no participants"


def _map(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    links = content.get("map_links", {}).get(row["rx_seq"], [])
    nodes = sorted({link["node_id"] for link in links})
    lanes = sum(link["lanes"] for link in links)
    return f"node {', '.join(map(str, nodes))}: {len(links)} links, {lanes} lanes" if links else ""


def _rsi(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    items = content.get("rsi_items", {}).get(row["rx_seq"], [])
    return ", ".join(
        f"{i['kind']} {i['event_type'] if i['kind'] == 'event' else i['sign_type']}"
        + (f" ({i['description']})" if i.get("description") else "")
        for i in items
    )


def _vir(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    requests = content.get("vir_requests", {}).get(row["rx_seq"], [])
    return (
        ", ".join(
            f"reqID {r['req_id']} {r['status']} {r['kind'] or 'no info'}"
            + (f" at {r['intersection_id']}" if r.get("intersection_id") is not None else "")
            for r in requests
        )
        or "no requests"
    )


def _rsc(row: Record, content: dict[str, dict[int, list[Record]]]) -> str:
    answers = content.get("rsc_vehicles", {}).get(row["rx_seq"], [])
    parts = [[a["vehicle_id"], "+".join(a["info"] or []), "+".join(a["suggestion"] or [])] for a in answers]
    return ", ".join(" ".join(p for p in part if p) for part in parts) or "no vehicle coordinations"


SUMMARIES: dict[str, Callable[[Record, dict[str, dict[int, list[Record]]]], str]] = {
    "VIR": _vir,
    "RSC": _rsc,
    "BSM": _bsm,
    "SPAT": _spat,
    "RSM": _rsm,
    "MAP": _map,
    "RSI": _rsi,
}


@dataclass
class Watch:
    """Judges the frames of a broker batch by batch; counts the frames judged and the lines shown."""

    verifier: Verifier | None
    sources: Sources = ENVELOPE_ONLY
    topic_prefix: str = ""
    only: WatchFilter = field(default_factory=WatchFilter)
    shown: int = 0
    judged: int = 0

    def __post_init__(self) -> None:
        self._batch = BatchProcessor(self.verifier, topic_prefix=self.topic_prefix, sources=self.sources)

    def judge(self, received: Received) -> list[Record]:
        """One record per frame the filter admits, in arrival order: the telemetry row's fields
        (no frame bytes) and ``summary``, what the message carries or why it was rejected."""
        if not len(received):
            return []
        out = self._batch.process(received)
        self.judged += len(received)
        content = {name: _rows_by_seq(table) for name, table in out.tables.items()}
        records = []
        for msg_type, table in out.telemetry.items():
            for row in table.drop_columns(["frame"]).to_pylist():
                if not self.only.admits(msg_type, row["sender_id"]):
                    continue
                row["msg_type"] = msg_type
                if row["decode_ok"]:
                    row["summary"] = SUMMARIES.get(msg_type, lambda r, c: "")(row, content)
                else:
                    row["summary"] = f"rejected: {row['reject_reason']}"
                records.append(row)
        records.sort(key=lambda r: r["rx_seq"])
        return records


def line(record: Record, zone: ZoneInfo) -> str:
    """A record as one line: time in ``zone``, type, sender, msgCnt, verdict, latency, summary."""
    at = record["received_at"]
    when = at.astimezone(zone).strftime("%H:%M:%S.%f")[:-3] if isinstance(at, datetime) else "?"
    latency = record.get("latency_ms")
    shown_latency = f"{latency:7.1f} ms" if isinstance(latency, float) and math.isfinite(latency) else "      - ms"
    cnt = record.get("msg_cnt")
    return (
        f"{when}  {record['msg_type']:<4}  {record.get('sender_id') or '?':<14} cnt {'-' if cnt is None else cnt:>3}  "
        f"{record.get('auth') or '-':<20} {shown_latency}  {record['summary']}"
    ).rstrip()


async def watch(
    address: BrokerAddress,
    judge: Watch,
    emit: Callable[[list[Record]], None],
    stop: asyncio.Event,
    on_ready: Callable[[list[str]], None] = lambda filters: None,
    count: int | None = None,
    tls: ClientTls | None = None,
) -> None:
    """Subscribe to the zone's uplinks (and a sources file's filters) at ``address`` and hand
    each batch's records to ``emit`` until ``stop`` is set or ``count`` records were shown.
    Raises aiomqtt.MqttError when the broker cannot be reached or goes away."""
    filters = list(dict.fromkeys([topics.subscription(judge.topic_prefix), *judge.sources.filters()]))
    pending = Received()

    async def receive(c: Any) -> None:
        async for message in c.messages:
            payload = message.payload if isinstance(message.payload, bytes) else bytes(str(message.payload), "utf-8")
            pending.add(message.topic.value, payload, time.time_ns() // 1000)

    async with client(address, f"xiqing-v2x-watch-{secrets.token_hex(4)}", clean_session=True, tls=tls) as c:
        await c.subscribe([(f, 0) for f in filters])
        on_ready(filters)
        reader = asyncio.create_task(receive(c))
        try:
            while not stop.is_set() and (count is None or judge.shown < count):
                try:
                    await asyncio.wait_for(stop.wait(), BATCH_S)
                except TimeoutError:
                    pass
                if reader.done():
                    reader.result()  # the broker went away: its error
                batch, pending = pending, Received()
                # judged in a thread: the event loop goes on receiving and stamping frames meanwhile
                records = await asyncio.to_thread(judge.judge, batch)
                if count is not None:
                    records = records[: max(count - judge.shown, 0)]
                judge.shown += len(records)
                if records:
                    emit(records)
        finally:
            reader.cancel()
