"""Parts committed into an S3 bucket without a rename (pipeline.ingest.bucket_store) against a real
SeaweedFS: nothing is visible before its commit object, a crash between the files and the commit
is rolled back on restart, and rows land in the hour (UTC) they reached the cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from v2x.objectstore.bucket import Bucket

from pipeline.ingest.bucket_store import BucketTelemetryWriter, destination_commits, hour_partition
from pipeline.ingest.store import StoreError

pytestmark = pytest.mark.s3

T0 = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)  # a batch across midnight: two days, two hours


def _batch(first_seq: int, times: list[datetime]) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    seqs = list(range(first_seq, first_seq + len(times)))
    telemetry = pa.table(
        {
            "rx_seq": pa.array(seqs, pa.int64()),
            "received_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "topic": ["t"] * len(seqs),
        }
    )
    content = pa.table({"rx_seq": pa.array(seqs[::-1], pa.int64()), "speed": pa.array([s * 10 for s in seqs[::-1]], pa.int64())})
    return {"BSM": telemetry}, {"bsm": content}


def _read(bucket: Bucket, files: list[str], base: str, fields: list[tuple[str, pa.DataType]]) -> pa.Table:
    dataset = ds.dataset(
        [bucket.path(f) for f in files],
        filesystem=bucket.filesystem,
        partitioning=ds.partitioning(pa.schema(fields), flavor="hive"),
        partition_base_dir=bucket.path(base),
    )
    return dataset.to_table().sort_by("rx_seq")


def test_rows_land_in_the_hour_they_reached_the_cluster_and_content_follows_them(s3_url):
    bucket = Bucket.parse(s3_url)
    writer = BucketTelemetryWriter(bucket, "w0")
    times = [T0 - timedelta(minutes=1), T0, T0 + timedelta(seconds=2), T0 + timedelta(hours=1, seconds=2)]
    telemetry, tables = _batch(1, times)
    assert writer.write(telemetry, tables) == 1
    [commit] = destination_commits(bucket)["w0"]
    assert (commit.part, commit.rows, commit.rx_seq_max) == (1, 4, 4)
    assert sorted(commit.files) == sorted(
        [
            "telemetry/day=2026-12-01/hour=23/msg_type=BSM/part-w0-000001.parquet",
            "telemetry/day=2026-12-02/hour=00/msg_type=BSM/part-w0-000001.parquet",
            "telemetry/day=2026-12-02/hour=01/msg_type=BSM/part-w0-000001.parquet",
            "tables/bsm/day=2026-12-01/hour=23/part-w0-000001.parquet",
            "tables/bsm/day=2026-12-02/hour=00/part-w0-000001.parquet",
            "tables/bsm/day=2026-12-02/hour=01/part-w0-000001.parquet",
        ]
    )
    hive = [("day", pa.string()), ("hour", pa.int32())]
    rows = _read(bucket, [f for f in commit.files if f.startswith("telemetry/")], "telemetry", [*hive, ("msg_type", pa.string())])
    assert rows.column("rx_seq").to_pylist() == [1, 2, 3, 4]
    assert rows.column("received_at").to_pylist() == times
    assert list(zip(rows.column("day").to_pylist(), rows.column("hour").to_pylist(), strict=True)) == [
        ("2026-12-01", 23),
        ("2026-12-01", 23),
        ("2026-12-02", 0),
        ("2026-12-02", 1),
    ]
    content = _read(bucket, [f for f in commit.files if f.startswith("tables/")], "tables/bsm", hive)
    assert content.column("speed").to_pylist() == [10, 20, 30, 40]  # each row beside its telemetry row
    assert content.column("hour").to_pylist() == rows.column("hour").to_pylist()


def test_a_part_is_visible_only_once_committed_and_a_crash_before_the_commit_rolls_back(s3_url, monkeypatch):
    bucket = Bucket.parse(s3_url)
    writer = BucketTelemetryWriter(bucket, "w0")
    writer.write(*_batch(1, [T0, T0]))
    real_put = Bucket.put

    def crash_at_the_commit(self, relative, data):
        if "/commits/" in relative:
            raise KeyboardInterrupt("killed between the files and the commit")
        real_put(self, relative, data)

    monkeypatch.setattr(Bucket, "put", crash_at_the_commit)
    with pytest.raises(KeyboardInterrupt):
        writer.write(*_batch(3, [T0, T0 + timedelta(hours=2)]))
    monkeypatch.setattr(Bucket, "put", real_put)
    orphans = [f for f in bucket.files() if "part-w0-000002" in f]
    assert len(orphans) == 4  # written, not committed
    assert [c.part for c in destination_commits(bucket)["w0"]] == [1]  # what readers see

    again = BucketTelemetryWriter(bucket, "w0")
    assert again.recovered == {"rolled_forward": 0, "rolled_back": 4, "commits": 1}
    assert not [f for f in bucket.files() if "part-w0-000002" in f]
    assert again.next_rx_seq == 3  # continues after the last commit
    assert again.write(*_batch(3, [T0])) == 3  # a part number is never used twice


def test_each_worker_has_its_own_commits_and_a_damaged_commit_commits_nothing(s3_url):
    bucket = Bucket.parse(s3_url)
    BucketTelemetryWriter(bucket, "w0").write(*_batch(1, [T0]))
    BucketTelemetryWriter(bucket, "w1").write(*_batch(4096, [T0]))
    bucket.put("ingest/workers/w1/commits/000000002.json", b"{not json")
    bucket.put(
        "ingest/workers/w1/commits/000000003.json", json.dumps({"part": 9, "files": [], "rx_seq_max": 1, "rows": 0}).encode()
    )
    commits = destination_commits(bucket)
    assert {w: [c.part for c in cs] for w, cs in commits.items()} == {"w0": [1], "w1": [1]}
    assert BucketTelemetryWriter(bucket, "w1").sequence == 1


@pytest.mark.parametrize(
    "writing",
    [
        {"part": 2, "files": ["telemetry/day=2026-12-01/hour=23/msg_type=BSM/part-w1-000001.parquet"]},  # another worker's
        {"part": 2, "files": ["ingest/workers/w0/commits/000000001.json"]},
        {"part": 2, "files": ["../../other-zone/telemetry/part-w0-000002.parquet"]},
        {"part": "two", "files": []},
    ],
)
def test_a_foreign_writing_record_deletes_nothing(s3_url, writing):
    bucket = Bucket.parse(s3_url)
    BucketTelemetryWriter(bucket, "w0").write(*_batch(1, [T0]))
    BucketTelemetryWriter(bucket, "w1").write(*_batch(4096, [T0]))
    before = bucket.files()
    bucket.put("ingest/workers/w0/writing.json", json.dumps(writing).encode())
    with pytest.raises((StoreError, ValueError)):
        BucketTelemetryWriter(bucket, "w0")
    assert set(before) <= set(bucket.files())


def test_hour_partitions_are_named_in_utc():
    assert hour_partition(0) == "day=1970-01-01/hour=00"
    assert hour_partition(int(T0.timestamp()) // 3600) == "day=2026-12-01/hour=23"
