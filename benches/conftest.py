"""Benchmark fixtures and the ratio summary.

``pytest benches --benchmark-enable`` measures with a batch of 100,000 frames (override with
``V2X_BENCH_FRAMES``).  Without ``--benchmark-enable`` (the project's default) each benchmark
runs once on a small batch and only its correctness checks count: that keeps the benchmarks
working as part of the test suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v2x.mqtt.broker import start_broker

from benches.frames import bench_pki

FULL_BATCH = 100_000
SMOKE_BATCH = 2_000

# (group, implementation) -> seconds per frame, filled by the benchmarks of this session.
PER_FRAME_S: dict[tuple[str, str], float] = {}
# (suite, what) -> frames/s of signature verification, filled by test_verify.
VERIFY_RATE: dict[tuple[str, str], float] = {}
# (suite, what) -> frames/s of BSM generation and signing, filled by test_generate.
GENERATE_RATE: dict[tuple[str, str], float] = {}
# implementation -> frames acknowledged per CPU second of the publisher, filled by test_publish.
PUBLISH_RATE: dict[str, float] = {}
# client -> frames received per CPU second of the receiving thread, filled by test_subscribe.
SUBSCRIBE_RATE: dict[str, float] = {}
# (pace, what) -> value, filled by test_scale.
SCALE: dict[tuple[str, str], object] = {}
# (what, messages in the run) -> seconds (best round), filled by test_report.
REPORT_SECONDS: dict[tuple[str, int], float] = {}
# (measure, path) -> value, filled by test_cluster.
CLUSTER: dict[tuple[str, str], object] = {}
STORAGE: dict[tuple[str, str], float] = {}  # (measure, what) -> seconds, test_object_storage.py


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory):
    """A Mosquitto process for the tests of one module."""
    b = start_broker(tmp_path_factory.mktemp("broker"), kind="mosquitto")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def benchmark_enabled(request: pytest.FixtureRequest) -> bool:
    """Whether this is a measuring run (``--benchmark-enable``) or a one-shot smoke run."""
    return bool(request.config.getoption("benchmark_enable"))


@pytest.fixture(scope="session")
def batch_size(request: pytest.FixtureRequest) -> int:
    if not request.config.getoption("benchmark_enable"):
        return SMOKE_BATCH
    return int(os.environ.get("V2X_BENCH_FRAMES", FULL_BATCH))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bench_pki(tmp_path_factory.mktemp("pki"), vehicles=20)


def record(benchmark, group: str, implementation: str, frames: int) -> None:
    """Keep the mean time per frame of a finished benchmark for the summary."""
    if benchmark.stats is not None:
        PER_FRAME_S[(group, implementation)] = benchmark.stats.stats.mean / frames


def _generate_summary(terminalreporter) -> None:
    if not GENERATE_RATE:
        return
    terminalreporter.section("BSM generation and signing (same process, best round)")
    for suite in sorted({s for s, _ in GENERATE_RATE}):
        bare = GENERATE_RATE.get((suite, "bare sign"))
        for (s, what), rate in sorted(GENERATE_RATE.items()):
            if s == suite:
                ratio = f"  {rate / bare:6.2f} of bare sign" if bare and what != "bare sign" else ""
                terminalreporter.write_line(f"{suite:<18} {what:<18} {rate:12,.0f} frames/s{ratio}")


def _client_rates(terminalreporter, title: str, rates: dict[str, float], base: str) -> None:
    if not rates:
        return
    terminalreporter.section(title)
    for what, rate in sorted(rates.items()):
        ratio = f"  {rate / rates[base]:5.1f}x {base}" if base in rates and what != base else ""
        terminalreporter.write_line(f"{what:<18} {rate:12,.0f} frames per CPU second{ratio}")


def _scale_summary(terminalreporter) -> None:
    if not SCALE:
        return
    terminalreporter.section("scale runs (v2x run of benches/scale.py)")
    for (pace, what), value in sorted(SCALE.items()):
        terminalreporter.write_line(f"{pace:<9} {what:<28} {value}")


def _cluster_summary(terminalreporter) -> None:
    if not CLUSTER:
        return
    terminalreporter.section("Mosquitto and a 3-node NATS cluster, same frames (best round)")
    for (measure, what), value in sorted(CLUSTER.items()):
        if isinstance(value, float):
            base = CLUSTER.get((measure, "mosquitto, 1 ingest"))  # the baseline of rates: the one-machine path
            ratio = f"  {value / base:5.2f}x mosquitto" if isinstance(base, float) and what != "mosquitto, 1 ingest" else ""
            terminalreporter.write_line(f"{measure:<34} {what:<22} {value:10,.0f}{ratio}")
        else:
            terminalreporter.write_line(f"{measure:<34} {what:<22} {value}")


def _storage_summary(terminalreporter) -> None:
    if not STORAGE:
        return
    terminalreporter.section("telemetry in a folder and in an S3 bucket, same rows (best round)")
    for (measure, what), seconds in STORAGE.items():
        base = STORAGE.get((measure, "folder, DuckDB reader")) or STORAGE.get((measure, "folder"))
        ratio = f"  {seconds / base:5.2f}x the folder" if base and not what.startswith("folder") else ""
        terminalreporter.write_line(f"{measure:<20} {what:<34} {seconds:8.3f} s{ratio}")


def pytest_terminal_summary(terminalreporter) -> None:
    _client_rates(terminalreporter, "publishing to Mosquitto, QoS 1 (same process, best round)", PUBLISH_RATE, "paho-mqtt")
    _client_rates(
        terminalreporter, "receiving from Mosquitto, QoS 1 (receiving thread's CPU, best round)", SUBSCRIBE_RATE, "aiomqtt"
    )
    _scale_summary(terminalreporter)
    _cluster_summary(terminalreporter)
    _storage_summary(terminalreporter)
    _generate_summary(terminalreporter)
    _verify_summary(terminalreporter)
    _report_summary(terminalreporter)
    groups = sorted({group for group, _ in PER_FRAME_S})
    if not groups:
        return
    terminalreporter.section("decode throughput (same process)")
    for group in groups:
        base = PER_FRAME_S.get((group, "asn1tools"))
        for (g, impl), per_frame in sorted(PER_FRAME_S.items()):
            if g != group:
                continue
            ratio = f"  {base / per_frame:8.1f}x asn1tools" if base and impl != "asn1tools" else ""
            terminalreporter.write_line(f"{group:<16} {impl:<10} {1 / per_frame:14,.0f} msgs/s{ratio}")


VERIFY_BASELINE = {"sm2-sm3": "library: gmalglib", "ecdsa-p256-sha256": "library: pyca (OpenSSL)"}


def _verify_summary(terminalreporter) -> None:
    if not VERIFY_RATE:
        return
    terminalreporter.section("verify throughput (same process, best round)")
    for suite in sorted({suite for suite, _ in VERIFY_RATE}):
        raw = VERIFY_RATE.get((suite, "raw, 1 core"))  # ours, with key tables
        baseline = VERIFY_RATE.get((suite, VERIFY_BASELINE.get(suite, "")))
        for (s, what), rate in sorted(VERIFY_RATE.items()):
            if s != suite:
                continue
            workers = int(what.split()[1]) if what.split()[0] in ("ingest,", "pool,") else 0
            if workers:
                ratio = f"  {rate / raw:5.2f}x raw, {rate / raw / workers:5.2f} per worker" if raw else ""
            else:
                ratio = f"  {rate / baseline:5.2f}x {VERIFY_BASELINE[suite][9:]}" if baseline else ""
            terminalreporter.write_line(f"{suite:<18} {what:<28} {rate:10,.0f} frames/s{ratio}")


def _report_summary(terminalreporter) -> None:
    if not REPORT_SECONDS:
        return
    terminalreporter.section("report generation (same process)")
    floor = {n: s for (what, n), s in REPORT_SECONDS.items() if what == "floor scan"}
    for (what, n), seconds in sorted(REPORT_SECONDS.items()):
        ratio = f"  {seconds / floor[n]:5.1f}x the floor scan" if what != "floor scan" and n in floor else ""
        terminalreporter.write_line(f"{what:<12} {n:>12,} messages {seconds:8.2f} s{ratio}")
