"""A destination in an S3 bucket (v2x.objectstore.bucket) against a real SeaweedFS process: URLs
checked, objects written whole, listings, and requests carried through a server restart."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from v2x.objectstore.bucket import OUTAGE_S, Bucket, BucketError, endpoint_from_environment, is_bucket_url
from v2x.records import BucketRecords, RecordError

pytestmark = pytest.mark.s3


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/data/runs", "is not s3://bucket/prefix"),
        ("s3://telemetry", "give a prefix"),
        ("s3://telemetry/", "give a prefix"),
        ("s3://Telemetry/zone", "not a valid S3 bucket name"),
        ("s3://ab/zone", "not a valid S3 bucket name"),
        ("s3://telemetry/zone/../other", "prefix part '..'"),
        ("s3://telemetry/zone/a b", "prefix part 'a b'"),
        ("s3://telemetry/zone?endpoint=x", "prefix part"),
    ],
)
def test_a_bad_destination_url_is_refused_with_the_reason(url, reason):
    with pytest.raises(ValueError, match=reason.replace("?", r"\?").replace("(", r"\(")):
        Bucket.parse(url)


def test_the_outage_limit_is_the_policy_unless_the_operator_sets_a_sane_one(monkeypatch):
    monkeypatch.delenv("V2X_STORAGE_OUTAGE_S", raising=False)
    assert Bucket.parse("s3://telemetry/zone").outage_s == OUTAGE_S == 120.0
    monkeypatch.setenv("V2X_STORAGE_OUTAGE_S", " 600 ")
    assert Bucket.parse("s3://telemetry/zone").outage_s == 600.0
    for bad in ("0.5", "86401", "nan", "inf", "-5", "2 min", "1e3x"):
        monkeypatch.setenv("V2X_STORAGE_OUTAGE_S", bad)
        with pytest.raises(ValueError, match=r"V2X_STORAGE_OUTAGE_S=.*: expected seconds, 1 to 86400"):
            Bucket.parse("s3://telemetry/zone")


def test_a_destination_url_names_bucket_and_prefix():
    bucket = Bucket.parse("s3://telemetry//zone/2026-12/")
    assert (bucket.name, bucket.prefix, bucket.url) == ("telemetry", "zone/2026-12", "s3://telemetry/zone/2026-12")
    assert bucket.path("ingest/summary.json") == "telemetry/zone/2026-12/ingest/summary.json"
    with pytest.raises(ValueError, match="leaves"):
        bucket.path("../../other/x")
    assert is_bucket_url("s3://telemetry/zone") and not is_bucket_url("runs/s3:")


def test_the_endpoint_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    assert endpoint_from_environment() == ("http", "127.0.0.1:8333")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "ftp://127.0.0.1/x")
    with pytest.raises(ValueError, match="expected http"):
        endpoint_from_environment()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert endpoint_from_environment() is None


def test_objects_are_written_read_listed_and_deleted(s3_url):
    bucket = Bucket.parse(s3_url)
    bucket.check()
    assert bucket.get("ingest/summary.json") is None and bucket.files() == [] and bucket.folders() == []
    bucket.put("ingest/workers/w0/progress.json", b"{}")
    bucket.put("ingest/workers/w1/commits/000000001.json", b"{}")
    bucket.put("telemetry/day=2026-12-01/hour=16/msg_type=BSM/part-w0-000001.parquet", b"PAR1")
    assert bucket.files("ingest") == ["ingest/workers/w0/progress.json", "ingest/workers/w1/commits/000000001.json"]
    assert bucket.folders() == ["ingest", "telemetry"] and bucket.folders("ingest/workers") == ["w0", "w1"]
    bucket.delete("ingest/workers/w0/progress.json")
    bucket.delete("ingest/workers/w0/progress.json")  # gone already: no error
    assert bucket.get("ingest/workers/w0/progress.json") is None
    assert Bucket.parse(s3_url + "-other").files() == []  # another prefix sees nothing of it


@pytest.mark.parametrize(
    ("variable", "value", "url", "code"),
    [
        ("AWS_SECRET_ACCESS_KEY", "not-the-key", "s3://telemetry/zone", "SIGNATURE_DOES_NOT_MATCH"),
        ("AWS_ACCESS_KEY_ID", "nobody", "s3://telemetry/zone", "INVALID_ACCESS_KEY_ID"),
        (None, None, "s3://no-such-bucket/zone", "NO_SUCH_BUCKET"),
    ],
)
def test_a_refusal_is_an_error_at_once_naming_the_destination(s3, monkeypatch, variable, value, url, code):
    if variable:
        monkeypatch.setenv(variable, value)
    bucket = Bucket.parse(url)
    began = time.monotonic()
    with pytest.raises(
        BucketError,
        match=f"{url}: "
        + ("no bucket 'no-such-bucket' at http://127.0.0.1:" if variable is None else "looking up the bucket: .*ACCESS_DENIED"),
    ):
        bucket.check()
    if variable:  # (SeaweedFS makes a missing bucket on a PUT)
        with pytest.raises(BucketError, match=f"{url}: writing x.json: .*{code}"):
            bucket.put("x.json", b"{}")
    assert time.monotonic() - began < 10  # not retried as an outage


def test_records_that_are_not_json_are_an_error_naming_them(s3_url):
    records = BucketRecords(Bucket.parse(s3_url), "ingest")
    records.write("progress.json", {"received": 3})
    assert records.read("progress.json") == {"received": 3} and records.read("summary.json") is None
    records.bucket.put("ingest/summary.json", b"\xff{not json")
    with pytest.raises(RecordError, match=f"{s3_url}/ingest/summary.json is not JSON"):
        records.read("summary.json")


def test_a_write_waits_through_a_server_restart(s3_alone):
    s3 = s3_alone
    bucket = Bucket.parse("s3://telemetry/zone")
    bucket.put("before.json", b"1")
    s3.kill()
    restarted = threading.Timer(2.0, s3.restart)
    restarted.start()
    began = time.monotonic()
    bucket.put("during.json", b"2")  # retried until the server is back
    restarted.join()
    assert time.monotonic() - began >= 1.5
    assert bucket.get("before.json") == b"1" and bucket.get("during.json") == b"2"


def test_an_outage_longer_than_allowed_is_an_error(s3_alone):
    s3 = s3_alone
    bucket = Bucket.parse("s3://telemetry/zone")
    s3.kill()
    began = time.monotonic()
    with pytest.raises(BucketError, match="s3://telemetry/zone: reading x.json: .*NETWORK_CONNECTION"):
        dataclasses.replace(bucket, outage_s=2.0).get("x.json")
    assert time.monotonic() - began >= 2.0  # retried for the whole outage allowed


def test_a_run_refuses_a_destination_that_holds_another_run_or_cannot_be_used(s3_url, tmp_path):
    from v2x.run import RunError, check_new_destination

    assert check_new_destination(s3_url).url == s3_url  # empty: a run may write there
    Bucket.parse(s3_url).put("telemetry/day=2026-12-01/hour=16/msg_type=BSM/part-000001.parquet", b"PAR1")
    with pytest.raises(RunError, match=f"{s3_url} already holds telemetry/: give each run a prefix of its own"):
        check_new_destination(s3_url)
    with pytest.raises(RunError, match="s3://no-such-bucket/run: .*no bucket 'no-such-bucket'"):
        check_new_destination("s3://no-such-bucket/run")
    with pytest.raises(RunError, match="give a prefix"):
        check_new_destination("s3://telemetry")
