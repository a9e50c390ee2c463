"""Zone scale, side by side in one run: the ingest draining the same backlog of signed BSMs through
Mosquitto and as workers of a 3-node NATS JetStream cluster, 1 worker and 2; and the latency the
cluster adds between a device's PUBLISH and a reader.

Throughput: ``n`` distinct signed BSMs are queued first (Mosquitto keeps them for the ingest's
persistent session, the cluster in its MQTT stream under the partitions' consumers), then the
ingest process(es) start and the figure is ``n`` over the seconds from READY to the last frame
stored (``ingest/progress.json``): receive, decode, checks and commit, per worker.  Signature
verification is left out here on purpose: a backlog's frames are older than the 1 s generation
window when Mosquitto hands them over (its receipt time is when the ingest reads), so they would
be judged late without their signatures being checked, and the two paths would not do the same
work.  Verification costs the same on both paths and is measured per core by
``test_verify.py``; the capacity model in ``benches/README.md`` adds the two.

Latency: a device publishes at a steady rate; a reader in the same process (an MQTT subscriber
on Mosquitto; a durable pull consumer of the cluster fetching as the workers do) stamps each frame
when it has it; the figures are the p50 and p99 of (stamp - publish time) and of the PUBACK round trip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from v2x.mqtt.broker import RunningBroker
from v2x.mqtt.publish import PublishConnection
from v2x.mqtt.subscribe import SubscribeConnection
from v2x.nats.cluster import RunningCluster, start_cluster
from v2x.nats.uplink import STREAM, create_uplink_consumers
from v2x.rundir import RunDir
from v2x.scenario.model import obu_id

from benches.conftest import CLUSTER
from benches.frames import signed_bsms

FULL, SMOKE = 20_000, 1_000
LATENCY_FULL, LATENCY_SMOKE = 3_000, 300
LATENCY_RATE = 500.0  # frames/s of the latency device: a tenth of the zone's per-node share, far below saturation


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = start_cluster(tmp_path_factory.mktemp("cluster"), nodes=3)
    create_uplink_consumers(running.servers, "", 3, 8)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def frames(pki, benchmark_enabled) -> list[tuple[str, bytes]]:
    """Distinct signed BSMs (SM2, the zone's suite) of 20 vehicles at 10 Hz, each on its vehicle's uplink topic."""
    n = FULL if benchmark_enabled else SMOKE
    signed = signed_bsms(pki, vehicles=20, per_vehicle=n // 20)
    return [(f"V2X/OBU/{obu_id(k % 20)}/BSM/UP", frame) for k, frame in enumerate(signed)]


def _publish(host: str, port: int, frames: list[tuple[str, bytes]], client_id: str) -> int:
    conn = PublishConnection(host, port, client_id, qos=1, connect_timeout_s=5)
    conn.connect()
    acked = [0]
    for start in range(0, len(frames), 200):
        for topic, payload in frames[start : start + 200]:
            conn.publish(topic.encode(), payload, lambda ok: acked.__setitem__(0, acked[0] + ok))
        conn.service(0.0)
    deadline = time.monotonic() + 120
    while conn.in_flight() and time.monotonic() < deadline:
        conn.service(0.01)
    conn.disconnect()
    return acked[0]


def _ingest(out: Path, source: list[str]) -> subprocess.Popen[bytes]:
    """An ingest process on ``out`` without a trust store (module docstring: no verification)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.ingest", "--run", str(out), *source],
        stdout=subprocess.PIPE,
        stderr=(out / "ingest.log").open("ab"),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"READY"
    return proc


def _drain(out: Path, procs: list[subprocess.Popen[bytes]], n: int) -> float:
    """Seconds from now until ``n`` frames are stored in ``out``; then stop the processes."""
    began = time.monotonic()
    deadline = began + 600
    while RunDir(out).ingest_progress().get("stored", 0) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    took = time.monotonic() - began
    for proc in procs:
        proc.terminate()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    assert RunDir(out).ingest_summary()["stored"] == n
    return took


def _published(host: str, port: int, frames: list[tuple[str, bytes]], what: str) -> None:
    """Publish the backlog from one device connection; keep its acknowledged frames per second."""
    began = time.monotonic()
    assert _publish(host, port, frames, f"bench-dev-{time.time_ns()}") == len(frames)
    rate = len(frames) / (time.monotonic() - began)
    CLUSTER[("publish QoS 1, acknowledged/s", what)] = max(rate, float(CLUSTER.get(("publish QoS 1, acknowledged/s", what), 0.0)))


def _stored_bytes_per_row(out: Path) -> float:
    files = [*(out / "telemetry").rglob("*.parquet"), *(out / "tables").rglob("*.parquet")]
    return sum(p.stat().st_size for p in files) / max(1, int(RunDir(out).ingest_summary()["stored"]))


def _mosquitto_round(broker: RunningBroker, frames: list[tuple[str, bytes]], out: Path) -> float:
    client_id = f"bench-ingest-{time.time_ns()}"
    first = _ingest(out, ["--broker", broker.address.url, "--client-id", client_id])  # makes the session
    first.terminate()
    assert first.wait(timeout=60) == 0
    _published(broker.address.host, broker.address.port, frames, "mosquitto")
    proc = _ingest(out, ["--broker", broker.address.url, "--client-id", client_id])
    return _drain(out, [proc], len(frames))


def _cluster_round(cluster: RunningCluster, frames: list[tuple[str, bytes]], out: Path, workers: int) -> float:
    _published(cluster.host, cluster.ports[0].mqtt, frames, "nats cluster (3 nodes)")
    shares = ["0-7"] if workers == 1 else ["0-3", "4-7"]
    procs = [_ingest(out, ["--nats", ",".join(cluster.servers), "--partitions", share]) for share in shares]
    return _drain(out, procs, len(frames))


@pytest.mark.parametrize("what", ["mosquitto, 1 ingest", "nats, 1 worker", "nats, 2 workers"])
def test_ingest_throughput(benchmark, what, module_broker, cluster, pki, frames, benchmark_enabled, tmp_path):
    seconds: list[float] = []

    def run():
        out = tmp_path / f"round-{len(seconds)}"
        if what.startswith("mosquitto"):
            seconds.append(_mosquitto_round(module_broker, frames, out))
        else:
            seconds.append(_cluster_round(cluster, frames, out, int(what.split()[1])))

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    CLUSTER[("frames/s", what)] = len(frames) / min(seconds)
    CLUSTER[("Parquet bytes per stored frame", what)] = f"{_stored_bytes_per_row(tmp_path / 'round-0'):,.0f}"


# Verification on: the same live load through each path, paced so that every frame is fresh when
# it is received (a backlog on Mosquitto would be received late and judged so unverified; module
# docstring), and the ingest processes' CPU time per frame is the measure (a worker's capacity per core).
VERIFIED_FULL, VERIFIED_SMOKE = 10_000, 400
VERIFIED_RATE = 1_000.0  # frames/s: half a core of SM2 verification, so each ingest keeps up with room to spare
SIGNING_S = 0.0005  # per frame: the frames are signed for a start 1 s + this ahead (10,000 SM2 frames take 2-3 s here)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (proc(5): /proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paced_publish(host: str, port: int, frames: list[tuple[str, bytes]], start: float, tick_s: float, per_tick: int) -> int:
    """Publish each tick's frames at the time they were generated for (their generationTime)."""
    conn = PublishConnection(host, port, f"bench-live-{time.time_ns()}", qos=1, connect_timeout_s=5)
    conn.connect()
    acked = [0]
    for first in range(0, len(frames), per_tick):
        due = start + (first // per_tick) * tick_s
        while time.time() < due:
            conn.service(min(0.002, max(0.0, due - time.time())))
        for topic, payload in frames[first : first + per_tick]:
            conn.publish(topic.encode(), payload, lambda ok: acked.__setitem__(0, acked[0] + ok))
        conn.service(0.0)
    while conn.in_flight():
        conn.service(0.01)
    conn.disconnect()
    return acked[0]


def _verified_round(what: str, broker: RunningBroker, cluster: RunningCluster, pki: Path, out: Path, n: int) -> float:
    """Ingest CPU seconds for ``n`` fresh signed BSMs published live through ``what``, every one verified."""
    shutil.copytree(pki, out / "pki")  # the ingest's trust store: RUN/pki
    if what.startswith("mosquitto"):
        procs, host, port = [_ingest(out, ["--broker", broker.address.url])], broker.address.host, broker.address.port
    else:
        shares = ["0-7"] if what.endswith("1 worker") else ["0-3", "4-7"]
        procs = [_ingest(out, ["--nats", ",".join(cluster.servers), "--partitions", share]) for share in shares]
        host, port = cluster.host, cluster.ports[0].mqtt
    vehicles = 20
    tick_s = vehicles / VERIFIED_RATE
    start = time.time() + 1.0 + n * SIGNING_S  # signed once the ingest runs, for a start just ahead
    signed = signed_bsms(pki, vehicles, n // vehicles, start_unix_us=int(start * 1e6), period_us=int(tick_s * 1e6))
    frames = [(f"V2X/OBU/{obu_id(k % vehicles)}/BSM/UP", frame) for k, frame in enumerate(signed)]
    assert time.time() < start - 0.2, "signing took longer than the margin"
    cpu = [_cpu_s(p.pid) for p in procs]
    assert _paced_publish(host, port, frames, start, tick_s, vehicles) == n
    deadline = time.monotonic() + 120
    while RunDir(out).ingest_progress().get("stored", 0) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    used = sum(_cpu_s(p.pid) - c for p, c in zip(procs, cpu, strict=True))
    for proc in procs:
        proc.terminate()
    assert [proc.wait(timeout=120) for proc in procs] == [0] * len(procs)
    telemetry = f"read_parquet('{out}/telemetry/**/*.parquet', hive_partitioning = true)"
    verified = duckdb.connect().execute(f"SELECT count(*) FILTER (auth = 'success'), count(*) FROM {telemetry}").fetchone()
    assert verified == (n, n), f"{what}: {verified} of {n} stored and verified"  # fresh, so every signature checked
    return used


@pytest.mark.slow  # live loads paced in real time: its smoke run goes with the slow tests in CI
@pytest.mark.parametrize("what", ["mosquitto, 1 ingest", "nats, 1 worker", "nats, 2 workers"])
def test_ingest_cpu_per_frame_with_verification(benchmark, what, module_broker, cluster, pki, benchmark_enabled, tmp_path):
    n = VERIFIED_FULL if benchmark_enabled else VERIFIED_SMOKE
    used: list[float] = []

    def run():
        used.append(_verified_round(what, module_broker, cluster, pki, tmp_path / f"round-{len(used)}", n))

    benchmark.pedantic(run, rounds=3 if benchmark_enabled else 1, iterations=1)
    CLUSTER[("verified frames per ingest CPU-s", what)] = n / min(used)


def _percentiles(ms: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(ms), [50, 99])
    return float(p50), float(p99)


LATENCY_TOPIC = "LAT/V2X/OBU/OBU-{:04d}/BSM/UP"  # a prefix of its own: no partition consumer keeps these


def _steady_device(host: str, port: int, n: int, sent: dict[int, float], acked: list[float]) -> None:
    """Publish ``n`` frames at :data:`LATENCY_RATE`, each carrying its number; the send times in
    ``sent``, the PUBACK round trips (ms) in ``acked``."""
    conn = PublishConnection(host, port, f"bench-latency-{time.time_ns()}", qos=1)
    conn.connect()
    start = time.monotonic()
    for k in range(n):
        while time.monotonic() < start + k / LATENCY_RATE:
            conn.service(0.0005)
        at = time.time()
        sent[k] = at
        payload = k.to_bytes(8, "big") * 25
        conn.publish(LATENCY_TOPIC.format(k % 20).encode(), payload, lambda ok, at=at: acked.append((time.time() - at) * 1000))
    while conn.in_flight():
        conn.service(0.01)
    conn.disconnect()


def _through_mosquitto(broker: RunningBroker, n: int) -> tuple[list[float], list[float]]:
    reader = SubscribeConnection(broker.address.host, broker.address.port, f"bench-reader-{time.time_ns()}", ["LAT/#"])
    reader.connect()
    sent: dict[int, float] = {}
    acked: list[float] = []
    device = threading.Thread(target=_steady_device, args=(broker.address.host, broker.address.port, n, sent, acked))
    device.start()
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while len(seen) < n and time.monotonic() < deadline:
        got = reader.receive(0.01)
        now = time.time()
        seen += [(now - sent[int.from_bytes(p[:8], "big")]) * 1000 for p in got.payloads]
    device.join()
    reader.close()
    return seen, acked


async def _read_cluster(cluster: RunningCluster, n: int, sent: dict[int, float]) -> list[float]:
    """Read as a worker does (a durable pull consumer, fetches of 2,000 waiting up to 0.2 s)."""
    import nats
    from nats.errors import Error as NatsError
    from nats.js.api import AckPolicy, ConsumerConfig

    from pipeline.ingest.stream_receiver import FETCH_BATCH, FETCH_WAIT_S

    nc = await nats.connect(cluster.servers)
    js = nc.jetstream()
    name = f"bench-latency-{time.time_ns()}"
    await js.add_consumer(
        STREAM, ConsumerConfig(durable_name=name, filter_subject="$MQTT.msgs.LAT.>", ack_policy=AckPolicy.EXPLICIT)
    )
    sub = await js.pull_subscribe_bind(name, stream=STREAM)
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while len(seen) < n and time.monotonic() < deadline:
        try:
            got = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
        except (TimeoutError, NatsError):
            continue
        now = time.time()
        for m in got:
            seen.append((now - sent[int.from_bytes(m.data[:8], "big")]) * 1000)
            await m.ack()
    await js.delete_consumer(STREAM, name)
    await nc.close()
    return seen


def _through_cluster(cluster: RunningCluster, n: int) -> tuple[list[float], list[float]]:
    sent: dict[int, float] = {}
    acked: list[float] = []
    device = threading.Thread(target=_steady_device, args=(cluster.host, cluster.ports[0].mqtt, n, sent, acked))
    reading = threading.Thread(target=lambda: seen.extend(asyncio.run(_read_cluster(cluster, n, sent))))
    seen: list[float] = []
    reading.start()
    time.sleep(1.0)  # the reader's consumer exists before the first frame
    device.start()
    device.join()
    reading.join()
    return seen, acked


def test_latency_the_broker_adds(benchmark, module_broker, cluster, benchmark_enabled):
    n = LATENCY_FULL if benchmark_enabled else LATENCY_SMOKE
    results: dict[str, tuple[list[float], list[float]]] = {}

    def run():
        results["mosquitto"] = _through_mosquitto(module_broker, n)
        results["nats cluster"] = _through_cluster(cluster, n)

    benchmark.pedantic(run, rounds=1, iterations=1)
    for what, (seen, acked) in results.items():
        assert len(seen) == n and len(acked) == n
        CLUSTER[("read after publish, ms p50 / p99", what)] = "{:.1f} / {:.1f}".format(*_percentiles(seen))
        CLUSTER[("PUBACK round trip, ms p50 / p99", what)] = "{:.1f} / {:.1f}".format(*_percentiles(acked))
