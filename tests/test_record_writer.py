"""An ingest's running records are written in the background: storage that is slow or away
(a bucket during an outage) never stops the receiver reading, and no version is lost."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import aiomqtt
import pytest

from pipeline.ingest.record_writer import RecordWriter


class SlowRecords:
    """Records in memory whose writes wait for ``gate`` (a bucket that does not answer)."""

    where = "memory://records"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.written: list[tuple[str, Any]] = []
        self.fail_next = False

    def write(self, name: str, data: Any) -> None:
        self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("the server is away")
        self.written.append((name, data))


def test_a_post_returns_while_storage_waits_and_only_the_latest_version_is_written_after():
    records, errors = SlowRecords(), []
    writer = RecordWriter(records, on_error=errors.append)  # type: ignore[arg-type]
    writer.post("progress.json", {"received": 1})
    time.sleep(0.1)  # the thread is now waiting on the first write
    started = time.monotonic()
    for k in range(2, 50):
        writer.post("progress.json", {"received": k})
    writer.post("acked.json", {"through": 3})
    assert time.monotonic() - started < 0.5 and records.written == []
    records.gate.set()
    writer.drain()
    assert records.written == [
        ("progress.json", {"received": 1}),
        ("progress.json", {"received": 49}),
        ("acked.json", {"through": 3}),
    ]
    writer.close()
    writer.post("progress.json", {"received": 50})  # closed: written before post returns
    assert records.written[-1] == ("progress.json", {"received": 50}) and errors == []


def test_a_failed_write_is_reported_and_the_next_version_is_written():
    records, errors = SlowRecords(), []
    records.gate.set()
    records.fail_next = True
    writer = RecordWriter(records, on_error=errors.append)  # type: ignore[arg-type]
    writer.post("acked.json", {"through": 1})
    writer.drain()
    assert errors == ["writing the record acked.json: OSError: the server is away"] and records.written == []
    writer.post("acked.json", {"through": 2})
    writer.close()
    assert records.written == [("acked.json", {"through": 2})]


@pytest.mark.broker
def test_the_receiver_keeps_reading_while_its_records_take_seconds_to_write(mosquitto, tmp_path, monkeypatch):
    """Each write of a record takes 1.5 s (a bucket retrying through an outage); frames arrive
    every 0.1 s, so a receiver that wrote its own progress would stall and stamp them late."""
    from v2x.records import FolderRecords
    from v2x.rundir import RunDir

    import pipeline.ingest.session as ingest_module

    slow_write = FolderRecords.write

    def write(self: FolderRecords, name: str, data: Any) -> None:
        if name != "summary.json":
            time.sleep(1.5)
        slow_write(self, name, data)

    monkeypatch.setattr(FolderRecords, "write", write)
    run = RunDir(tmp_path / "run")

    async def scenario() -> ingest_module.IngestStats:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ingest_module.ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 30)
        async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
            for k in range(40):
                await client.publish("V2X/OBU/OBU-5/BSM/UP", b"\x03\x81not a frame" + bytes([k]), qos=1)
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop.set()
        return await task

    stats = asyncio.run(scenario())
    assert [e for e in stats.events if e["event"] == "receiver_stalled"] == []
    assert stats.received == stats.stored == stats.acknowledged == 40 and stats.failure is None
    assert run.ingest_summary()["stored"] == 40
