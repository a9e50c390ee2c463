"""Prometheus metrics of a running ingest (``v2x ingest --metrics-port``), so that a zone can put
Grafana on its ingest: frames received, stored, acknowledged and rejected (by reason), verdicts
and latency histograms per message type, and the broker connection.

Counted from each committed Parquet part (what is stored is what is counted), with numpy over the
part's columns; prometheus_client serves them in its text exposition format.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pipeline.ingest.summary import IngestStats

# Latency buckets in ms (policy): around the 100 ms bound of the Day-1 applications (T/CSAE 53)
# and the 500 ms of the informational ones, up to the verifier's 1 s window (GB/T 45315 7.4.3.4).
LATENCY_BUCKETS_MS = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
MAX_REASONS = 50  # policy: distinct reject reasons kept as labels; the rest are counted as "other"


def reason_class(reason: str | None) -> str:
    """A reject reason without its particulars, to be a label of bounded cardinality: the text
    before its first colon, numbers as N (``MessageFrame ends after N of N octets``)."""
    head = (reason or "unknown").split(":", 1)[0].strip()
    return re.sub(r"\d+", "N", head)[:80] or "unknown"


class IngestMetrics(Collector):
    """Counts of the parts an ingest commits, served to Prometheus."""

    def __init__(self, stats: IngestStats):
        self.stats = stats
        self._lock = threading.Lock()
        self._verdicts: Counter[tuple[str, str]] = Counter()  # (msg_type, auth) -> frames
        self._reasons: Counter[str] = Counter()
        self._buckets: dict[str, np.ndarray] = {}  # msg_type -> frames per bucket (the last: above every bound)
        self._sums: dict[str, float] = {}
        stats.on_part = self.count_part

    def count_part(self, telemetry: dict[str, pa.Table]) -> None:
        """Count one committed part (message type -> its telemetry rows)."""
        with self._lock:
            for msg_type, table in telemetry.items():
                auths = table.column("auth").to_pylist()
                self._verdicts.update((msg_type, a or "none") for a in auths)
                ok = table.column("decode_ok").to_numpy(zero_copy_only=False)
                for reason in (r for r, good in zip(table.column("reject_reason").to_pylist(), ok) if not good):
                    name = reason_class(reason)
                    self._reasons[name if name in self._reasons or len(self._reasons) < MAX_REASONS else "other"] += 1
                latency = table.column("latency_ms").to_numpy(zero_copy_only=False).astype(np.float64)
                latency = latency[np.isfinite(latency)]
                counts = np.bincount(
                    np.searchsorted(LATENCY_BUCKETS_MS, latency, side="left"), minlength=len(LATENCY_BUCKETS_MS) + 1
                )
                self._buckets[msg_type] = self._buckets.get(msg_type, np.zeros(len(counts), np.int64)) + counts
                self._sums[msg_type] = self._sums.get(msg_type, 0.0) + float(latency.sum())

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        for name, text, value in (
            ("v2x_ingest_frames_received", "frames received from the broker", s.received),
            ("v2x_ingest_frames_stored", "frames stored in Parquet (rejects included)", s.stored),
            ("v2x_ingest_frames_acknowledged", "frames acknowledged to the broker once stored", s.acknowledged),
            ("v2x_ingest_frames_rejected", "frames stored as rejects (not decoded)", s.rejected),
        ):
            yield CounterMetricFamily(name, text, value=value)
        with self._lock:
            verdicts = CounterMetricFamily(
                "v2x_ingest_messages", "stored frames by message type and verdict", labels=["msg_type", "auth"]
            )
            for (msg_type, auth), n in sorted(self._verdicts.items()):
                verdicts.add_metric([msg_type, auth], n)
            reasons = CounterMetricFamily("v2x_ingest_rejects", "rejected frames by reason", labels=["reason"])
            for reason, n in sorted(self._reasons.items()):
                reasons.add_metric([reason], n)
            latency = HistogramMetricFamily(
                "v2x_ingest_latency_ms", "receive time minus generationTime, ms", labels=["msg_type"], unit=""
            )
            for msg_type, counts in sorted(self._buckets.items()):
                cumulative = np.cumsum(counts).tolist()
                bounds = [(f"{b:g}", c) for b, c in zip(LATENCY_BUCKETS_MS, cumulative)] + [("+Inf", cumulative[-1])]
                latency.add_metric([msg_type], bounds, sum_value=self._sums[msg_type])
        yield verdicts
        yield reasons
        yield latency
        connected = not (s.events and s.events[-1]["event"] == "broker_disconnected")
        yield GaugeMetricFamily("v2x_ingest_broker_connected", "1 while the broker is connected", value=int(connected))
        yield GaugeMetricFamily(
            "v2x_ingest_unacknowledged", "frames received and not yet acknowledged", value=s.received - s.acknowledged
        )


def serve(metrics: IngestMetrics, host: str, port: int) -> Any:
    """Serve ``metrics`` at http://host:port/metrics in a thread of its own; returns the server
    (``shutdown()`` stops it).  Raises OSError when the port cannot be bound."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
