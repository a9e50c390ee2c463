"""Reports and SQL over a destination in an S3 bucket, read in place (pyarrow's S3 filesystem
feeding DuckDB): the same rows as the run's own folder, and a test window reads only the files of
its hours.  A real run through Mosquitto, its parts copied into a real SeaweedFS, half of them an
hour later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from v2x.cli import main as v2x
from v2x.mqtt.broker import start_broker
from v2x.objectstore.bucket import Bucket
from v2x.objectstore.server import start_s3_server
from v2x.run import run_scenario
from v2x.rundir import RunDir, bucket_view
from v2x.scenario.model import load_scenario, with_changes

from pipeline.ingest.bucket_store import BucketTelemetryWriter
from pipeline.sql.views import connect
from pipeline.sql.window import Window

pytestmark = [pytest.mark.broker, pytest.mark.s3, pytest.mark.slow]  # a scenario run and its copy: with the slow ones in CI

URL = "s3://telemetry/zone"
SHIFT = timedelta(hours=1)


def _parts(folder: Path, key: str) -> dict[str, pa.Table]:
    """Every table of a run's folder (telemetry by msg_type, content by table name)."""
    out = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(sub.glob("part-*.parquet"))
        if files:
            out[sub.name.removeprefix(key)] = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    return out


@pytest.fixture(scope="module")
def destination(tmp_path_factory):
    """(the run's folder, the split rx_seq, the first hour): the run's rows with ``rx_seq`` from the
    split on received an hour later, written into the bucket as two parts."""
    root = tmp_path_factory.mktemp("bucket-views")
    broker = start_broker(root / "broker", kind="mosquitto")
    try:
        run = run_scenario(with_changes(load_scenario("demo"), duration_s=3.0), root, broker_url=broker.address.url).run.root
    finally:
        broker.stop()
    server = start_s3_server(root / "s3")
    with pytest.MonkeyPatch.context() as env:
        for name, value in server.environment().items():
            env.setenv(name, value)
        telemetry, tables = _parts(run / "telemetry", "msg_type="), _parts(run / "tables", "")
        seqs = pc.unique(pa.concat_arrays([t.column("rx_seq").combine_chunks() for t in telemetry.values()]))
        split = int(pc.approximate_median(seqs).as_py())
        writer = BucketTelemetryWriter(Bucket.parse(URL), "w0")
        for later in (False, True):

            def half(table: pa.Table, later: bool = later) -> pa.Table:
                keep = pc.greater_equal(table.column("rx_seq"), split) if later else pc.less(table.column("rx_seq"), split)
                return table.filter(keep)

            moved = {}
            for msg_type, table in telemetry.items():
                rows = half(table)
                if later:
                    shifted = pc.add(rows.column("received_at"), pa.scalar(SHIFT, pa.duration("us")))
                    rows = rows.set_column(rows.schema.get_field_index("received_at"), "received_at", shifted)
                moved[msg_type] = rows
            writer.write(moved, {name: half(table) for name, table in tables.items()})
        first = min(pc.min(t.column("received_at")).as_py() for t in telemetry.values())
        yield run, split, first.replace(minute=0, second=0, microsecond=0)
    server.kill()


def _counts(con) -> dict[str, int]:
    return dict(con.execute("SELECT msg_type, count(*) FROM messages GROUP BY 1").fetchall())


def test_the_bucket_reads_as_the_runs_own_folder(destination):
    run, _, _ = destination
    local, remote = connect(run), connect(bucket_view(URL), sandboxed=True)
    assert _counts(remote) == _counts(local)
    for view in ("bsm", "spat_phase_states", "map_lanes", "violations"):
        query = f"SELECT count(*), count(DISTINCT rx_seq) FROM {view}"
        assert remote.execute(query).fetchall() == local.execute(query).fetchall(), view
    assert remote.execute("SELECT count(DISTINCT hour) FROM messages").fetchone() == (2,)
    assert RunDir(bucket_view(URL)).where == URL


def test_a_window_reads_only_the_files_of_its_hours(destination):
    run, split, hour = destination
    window = Window(hour, hour + SHIFT)
    before = dict(connect(run).execute(f"SELECT msg_type, count(*) FROM messages WHERE rx_seq < {split} GROUP BY 1").fetchall())
    assert _counts(connect(bucket_view(URL), window=window)) == before
    later = Window(hour + SHIFT, hour + 2 * SHIFT)
    assert sum(_counts(connect(bucket_view(URL), window=later)).values()) == sum(_counts(connect(run)).values()) - sum(
        before.values()
    )

    bucket = Bucket.parse(URL)
    other_hour = f"day={hour + SHIFT:%Y-%m-%d}/hour={hour + SHIFT:%H}/"
    gone = [f for f in bucket.files() if other_hour in f]
    assert len(gone) > 5
    for relative in gone:  # the other hour's files: a read of any would fail now
        bucket.delete(relative)
    con = connect(bucket_view(URL), window=window)
    assert _counts(con) == before
    assert con.execute("SELECT count(*) FROM bsm").fetchone()[0] > 0
    with pytest.raises((OSError, pa.ArrowException)):
        _counts(connect(bucket_view(URL)))


def test_the_commands_take_a_bucket_and_a_window(destination):
    _, _, hour = destination
    window = f"{hour:%Y-%m-%dT%H:%M}Z/{hour + SHIFT:%Y-%m-%dT%H:%M}Z"
    runner = CliRunner()
    result = runner.invoke(v2x, ["sql", URL, "--window", window, "--format", "csv", "SELECT count(*) > 0 FROM messages"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "True"
    empty = f"{hour - 2 * SHIFT:%Y-%m-%dT%H:%M}+00:00/{hour - SHIFT:%Y-%m-%dT%H:%M}+00:00"
    result = runner.invoke(v2x, ["gate", URL, "--window", empty])
    assert result.exit_code == 2 and f"no report: {URL}: {URL} has no telemetry Parquet in" in result.output
    result = runner.invoke(v2x, ["sql", URL, "--window", "2026-12-01T16:00/2026-12-01T17:00", "SELECT 1"])
    assert result.exit_code == 2 and "give its offset" in result.output
    result = runner.invoke(v2x, ["sql", "s3://telemetry", "SELECT 1"])
    assert result.exit_code == 2 and "give a prefix" in result.output


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-12-01T16:00Z", "expected START/END"),
        ("2026-12-01T17:00Z/2026-12-01T16:00Z", "the end must come after the start"),
        ("yesterday/today", "is not an ISO 8601"),
        ("2026-12-01T16:00/2026-12-01T17:00+08:00", "give its offset"),
    ],
)
def test_a_bad_window_is_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        Window.parse(text)


def test_a_window_in_the_zones_time_touches_the_utc_hours():
    window = Window.parse("2026-12-02T00:30+08:00/2026-12-02T02:00+08:00")
    assert window.start == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert window.hours() == {("2026-12-01", "16"), ("2026-12-01", "17")}
    assert window.holds_file("telemetry/day=2026-12-01/hour=17/msg_type=BSM/part-w0-000001.parquet")
    assert not window.holds_file("tables/bsm/day=2026-12-01/hour=18/part-w0-000001.parquet")
    assert window.holds_file("telemetry/msg_type=BSM/part-000001.parquet")  # a folder's files are not by hour
