"""A session killed after a commit and before its next progress record: the restart counts the
parts the records missed from the commit log (the frames themselves are recognised as stored and
not stored again, so without this the totals would fall short of the rows).  In a folder and in
an S3 bucket."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from v2x.objectstore.bucket import Bucket
from v2x.records import BucketRecords, FolderRecords

from pipeline.ingest.bucket_store import BucketTelemetryWriter
from pipeline.ingest.resume import catch_up_records
from pipeline.ingest.store import TelemetryWriter
from pipeline.ingest.summary import IngestStats, earlier_sessions


def _part(first: int, n: int, bad: int = 0) -> dict[str, pa.Table]:
    return {
        "BSM": pa.table(
            {
                "rx_seq": pa.array(range(first, first + n), pa.int64()),
                "received_at": pa.array([1_795_000_000_000_000] * n, pa.timestamp("us", tz="UTC")),
                "decode_ok": [k >= bad for k in range(n)],
            }
        )
    }


def _killed_after_three_commits(writer, records) -> None:
    """Three parts committed (10, 20 and 5 rows, 2 of the 20 rejects); the records saw the first only."""
    writer.write(_part(1, 10))
    stats = IngestStats()
    stats.count_part(_part(1, 10), writer.rows_written)
    records.write("progress.json", stats.as_dict())  # then killed before recording the next parts
    writer.write(_part(11, 20, bad=2))
    writer.write(_part(31, 5))


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_the_restart_counts_the_parts_the_killed_session_did_not_record(tmp_path: Path, where, request):
    if where == "folder":
        writer = TelemetryWriter(
            tmp_path / "telemetry", tmp_path / "tables", tmp_path / "ingest/workers/w1/commits.jsonl", worker="w1"
        )
        records = FolderRecords(tmp_path / "ingest/workers/w1")
    else:
        bucket = Bucket.parse(request.getfixturevalue("s3_url"))
        writer = BucketTelemetryWriter(bucket, "w1")
        records = BucketRecords(bucket, "ingest/workers/w1")
    _killed_after_three_commits(writer, records)
    restarted = (
        TelemetryWriter(writer.root, writer.tables, writer.journal, worker="w1")
        if where == "folder"
        else BucketTelemetryWriter(bucket, "w1")
    )

    stats = IngestStats()
    stats.earlier = earlier_sessions(records)
    assert stats.as_dict()["stored"] == 10  # what the records say
    catch_up_records(stats.earlier, restarted)
    totals = stats.as_dict()
    assert (totals["stored"], totals["received"], totals["rejected"], totals["stored_by_type"]) == (35, 35, 2, {"BSM": 35})
    assert stats.earlier[-1]["counted_from_commits"] == 25
    catch_up_records(stats.earlier, restarted)  # nothing more to count
    assert stats.as_dict()["stored"] == 35


def test_records_that_saw_every_commit_are_left_as_they_are(tmp_path: Path):
    writer = TelemetryWriter(tmp_path / "telemetry", tmp_path / "tables")
    records = FolderRecords(tmp_path / "ingest")
    writer.write(_part(1, 10))
    stats = IngestStats()
    stats.count_part(_part(1, 10), writer.rows_written)
    records.write("progress.json", stats.as_dict())
    again = IngestStats()
    again.earlier = earlier_sessions(records)
    catch_up_records(again.earlier, TelemetryWriter(tmp_path / "telemetry", tmp_path / "tables"))
    assert again.as_dict()["stored"] == 10 and "counted_from_commits" not in again.earlier[-1]
