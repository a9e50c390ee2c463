"""Prometheus metrics of a running ingest (pipeline/ingest/metrics.py): counted from what is
stored, served by prometheus_client, read back with its own parser, through a real Mosquitto."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.request

import aiomqtt
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.ingest.metrics import LATENCY_BUCKETS_MS, IngestMetrics, reason_class
from pipeline.ingest.summary import IngestStats

from tests.test_watch import signed_bsms


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_latency_buckets_and_reasons_are_counted_as_prometheus_reads_them():
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    stats = IngestStats(received=7, acknowledged=5)
    metrics = IngestMetrics(stats)
    latencies = [1.0, 5.0, 5.5, 99.9, 100.0, 250.0, None]
    table = pa.table(
        {
            "auth": ["success"] * 5 + ["false_signature", None],
            "decode_ok": [True] * 6 + [False],
            "reject_reason": [None] * 6 + ["MessageFrame ends after 20 of 529 octets: 509 trailing octets"],
            "latency_ms": pa.array(latencies, pa.float64()),
        }
    )
    stats.count_part({"BSM": table}, 7)  # as the ingest's flusher does for each committed part
    registry = CollectorRegistry()
    registry.register(metrics)
    got = samples(generate_latest(registry).decode())
    timed = [v for v in latencies if v is not None]
    for bound in LATENCY_BUCKETS_MS:
        assert got[("v2x_ingest_latency_ms_bucket", (("le", f"{bound:g}"), ("msg_type", "BSM")))] == sum(
            v <= bound for v in timed
        )
    assert got[("v2x_ingest_latency_ms_count", (("msg_type", "BSM"),))] == len(timed)
    assert got[("v2x_ingest_latency_ms_sum", (("msg_type", "BSM"),))] == pytest.approx(sum(timed))
    assert got[("v2x_ingest_messages_total", (("auth", "success"), ("msg_type", "BSM")))] == 5
    assert got[("v2x_ingest_rejects_total", (("reason", "MessageFrame ends after N of N octets"),))] == 1
    assert got[("v2x_ingest_unacknowledged", ())] == 2 and got[("v2x_ingest_broker_connected", ())] == 1
    assert reason_class(None) == "unknown" and reason_class("x" * 500) == "x" * 80


@pytest.mark.broker
@pytest.mark.slow  # 8 s per suite: an ingest process (.ci/run runs it with the slow tests)
def test_a_running_ingest_serves_its_counts(pki, mosquitto, tmp_path):
    command = [sys.executable, "-m", "v2x.cli", "ingest", "--broker", mosquitto.address.url, "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(
        [*command, "--pki", str(pki), "--duration", "20", "--metrics-port", "0", "--progress-every", "60"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        url = next(m.group(0) for m in (re.search(r"http://127\.0\.0\.1:\d+/metrics", x) for x in lines) if m)

        async def publish() -> None:
            frames = signed_bsms(pki, 6)
            async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
                for frame in frames:
                    await client.publish("V2X/OBU/OBU-1/BSM/UP", frame, qos=1)
                await client.publish("V2X/OBU/OBU-1/BSM/UP", b"\x00\x01", qos=1)

        asyncio.run(publish())
        deadline = time.monotonic() + 30
        while True:
            got = samples(urllib.request.urlopen(url, timeout=5).read().decode())
            if got.get(("v2x_ingest_frames_stored_total", ())) == 7 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert got[("v2x_ingest_frames_received_total", ())] == 7 and got[("v2x_ingest_frames_stored_total", ())] == 7
        assert got[("v2x_ingest_messages_total", (("auth", "success"), ("msg_type", "BSM")))] == 6
        assert sum(v for (name, _), v in got.items() if name == "v2x_ingest_rejects_total") == 1
        assert got[("v2x_ingest_latency_ms_count", (("msg_type", "BSM"),))] == 6
        assert got[("v2x_ingest_broker_connected", ())] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
