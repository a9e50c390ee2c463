"""A destination several stream workers wrote reads as one ingest: their records merged, and a
worker that did not stop cleanly (or failed) failing the whole."""

from __future__ import annotations

import json
from pathlib import Path

from v2x.rundir import RunDir, merge_worker_records


def _session(cause: str, stored: int, started: float) -> dict:
    return {"started_at": started, "cause": cause, "received": stored, "stored": stored, "rejected": 0, "acknowledged": stored}


def _record(sessions: list[dict], updated: float, **extra) -> dict:
    stored = sum(s["stored"] for s in sessions)
    return {
        "received": stored,
        "stored": stored,
        "rejected": 1,
        "stored_by_type": {"BSM": stored},
        "events": [{"at": f"2026-12-01T10:00:0{len(sessions)}.000+00:00", "event": "broker_disconnected", "detail": "lost"}],
        "started_at": sessions[0]["started_at"],
        "updated_at": updated,
        "failure": None,
        "sessions": sessions,
        **extra,
    }


def test_records_of_clean_workers_are_summed():
    merged = merge_worker_records(
        {
            "p0-3": _record(
                [_session("ended without a clean stop (killed or crashed)", 10, 1.0), _session("stopped", 5, 3.0)], 9.0
            ),
            "p4-7": _record([_session("stopped", 7, 2.0)], 8.0),
        }
    )
    assert merged["failure"] is None
    assert (merged["stored"], merged["received"], merged["rejected"]) == (22, 22, 2)
    assert merged["stored_by_type"] == {"BSM": 22}
    assert [(s["worker"], s["started_at"]) for s in merged["sessions"]] == [("p0-3", 1.0), ("p4-7", 2.0), ("p0-3", 3.0)]
    assert merged["sessions"][-1]["cause"] == "stopped" and merged["started_at"] == 1.0 and merged["updated_at"] == 9.0
    assert [e["detail"] for e in merged["events"]] == ["worker p4-7: lost", "worker p0-3: lost"]  # in time order
    assert set(merged["workers"]) == {"p0-3", "p4-7"}


def test_a_worker_still_running_or_failed_fails_the_destination():
    merged = merge_worker_records(
        {
            "a": _record([_session("running", 3, 1.0)], 2.0),
            "b": _record([_session("stopped", 3, 1.0)], 2.0, failure="storing a batch: disk full"),
            "c": _record([_session("stopped", 3, 1.0)], 2.0),
        }
    )
    assert merged["failure"] == (
        "worker a: its last session did not stop cleanly (killed, crashed, or still running); "
        "worker b: storing a batch: disk full"
    )


def test_the_run_directory_reads_each_worker_from_its_latest_record(tmp_path: Path):
    run = RunDir(tmp_path)
    worker = run.ingest / "workers" / "w0"
    worker.mkdir(parents=True)
    (worker / "summary.json").write_text(json.dumps(_record([_session("stopped", 4, 1.0)], 5.0)))
    assert run.ingest_summary()["failure"] is None
    # restarted after that clean stop, then killed: its progress is newer than its summary
    (worker / "progress.json").write_text(json.dumps(_record([_session("stopped", 4, 1.0), _session("running", 2, 6.0)], 7.0)))
    assert "worker w0: its last session did not stop cleanly" in run.ingest_summary()["failure"]
    assert run.ingest_progress()["stored"] == 6
    assert RunDir(tmp_path / "single").ingest_summary() == {}  # no workers, no summary: as before


class _ReplacingBucket:
    """A bucket whose object is being replaced: the first reads get the start of the new version."""

    url = "s3://telemetry/zone"

    def __init__(self, versions: list[bytes]):
        self.versions = versions
        self.reads = 0

    def get(self, relative: str) -> bytes | None:
        self.reads += 1
        return self.versions[min(self.reads, len(self.versions)) - 1]


def test_a_torn_read_of_a_record_being_replaced_is_read_again():
    from v2x.records import TORN_READ_ATTEMPTS, BucketRecords, RecordError

    whole = json.dumps({"stored": 12, "events": []}, indent=2).encode()
    bucket = _ReplacingBucket([whole[: len(whole) // 2], whole[:-1], whole])
    assert BucketRecords(bucket, "ingest/workers/w0").read("progress.json") == {"stored": 12, "events": []}
    assert bucket.reads == 3
    # a record that is really not JSON is reported, after a few reads, naming it
    broken = _ReplacingBucket([b'{"stored": 1'])
    try:
        BucketRecords(broken, "ingest/workers/w0").read("progress.json")
    except RecordError as exc:
        assert "s3://telemetry/zone/ingest/workers/w0/progress.json is not JSON" in str(exc)
    else:
        raise AssertionError("a record that is not JSON was read")
    assert broken.reads == TORN_READ_ATTEMPTS
