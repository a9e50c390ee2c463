"""At-least-once end to end, exactly-once rows: an ingest killed with SIGKILL at random moments,
again and again, and restarted on the same output, loses no frame the broker sent and stores
none twice; content rows always have their telemetry row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import paho.mqtt.client as paho
import pyarrow.parquet as pq
import pytest

from v2x.rundir import RunDir, read_json

from pipeline.ingest.store import TelemetryWriter, read_commits

from tests.test_hostile_frames import good_bsm

TOPIC = "V2X/OBU/OBU-{k}/BSM/UP"


def start_ingest(url: str, out: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.ingest", "--run", str(out), "--broker", url],
        stdout=subprocess.PIPE,
        stderr=open(out.parent / "ingest.log", "ab"),  # noqa: SIM115 (the child keeps it)
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"READY"
    return proc


def publish(port: int, frames: list[tuple[str, bytes]], per_s: float, done: threading.Event) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="kill-test-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.monotonic()
    infos = []
    for k, (topic, frame) in enumerate(frames):
        time.sleep(max(0.0, start + k / per_s - time.monotonic()))
        infos.append(client.publish(topic, frame, qos=1))
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()
    done.set()


def kill_and_restart(url: str, out: Path, port: int, n: int, kills: int, seed: int) -> dict:
    """Publish ``n`` distinct frames while killing the ingest ``kills`` times; returns what was stored."""
    rng = random.Random(seed)
    frames = [(TOPIC.format(k=k % 7), good_bsm(k)) for k in range(n)]
    proc = start_ingest(url, out)
    done = threading.Event()
    sender = threading.Thread(target=publish, args=(port, frames, 500.0, done))
    sender.start()
    for _ in range(kills):
        time.sleep(rng.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(rng.uniform(0.0, 0.3))
        proc = start_ingest(url, out)
    sender.join()
    progress = out / "ingest" / "progress.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and read_json(progress).get("stored", 0) < n:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    con = duckdb.connect()
    telemetry = f"read_parquet('{out}/telemetry/**/*.parquet', hive_partitioning = true)"
    rows, distinct, seqs = con.execute(
        f"SELECT count(*), count(DISTINCT frame), count(DISTINCT rx_seq) FROM {telemetry}"
    ).fetchone()
    orphans = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/tables/bsm/*.parquet') b ANTI JOIN {telemetry} t USING (rx_seq)"
    ).fetchone()[0]
    content = con.execute(f"SELECT count(*) FROM read_parquet('{out}/tables/bsm/*.parquet')").fetchone()[0]
    stored = {bytes(f) for (f,) in con.execute(f"SELECT frame FROM {telemetry}").fetchall()}
    return {
        "rows": rows,
        "distinct": distinct,
        "rx_seq": seqs,
        "orphans": orphans,
        "content": content,
        "lost": sum(f not in stored for _, f in frames),
        "summary": read_json(out / "ingest" / "summary.json"),
    }


@pytest.mark.long
@pytest.mark.broker
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(mosquitto, tmp_path):
    n, kills = 1_200, 2  # a short one; ten kills over 10,000 frames below
    got = kill_and_restart(mosquitto.address.url, tmp_path / "run", mosquitto.address.port, n, kills, seed=7)
    assert got["lost"] == 0
    assert got["rows"] == got["distinct"] == got["rx_seq"] == n  # exactly one row per frame, rx_seq unique
    assert got["content"] == n and got["orphans"] == 0
    sessions = got["summary"]["sessions"]
    assert len(sessions) == kills + 1
    assert [s["cause"] for s in sessions[:-1]] == ["ended without a clean stop (killed or crashed)"] * kills
    assert sessions[-1]["cause"] == "stopped"
    assert got["summary"]["stored"] == n and got["summary"]["received"] == n


def test_a_part_interrupted_before_its_commit_is_rolled_back_and_after_it_rolled_forward(tmp_path):
    """Content tables and telemetry of a batch commit together: files written but never
    committed disappear on restart; a committed part whose files were not all renamed is
    completed; rx_seq continues after the last commit."""
    import pyarrow as pa

    from pipeline.ingest.batch import BatchProcessor

    from tests.test_hostile_frames import batch_of

    run = RunDir(tmp_path / "run").create()
    writer = TelemetryWriter(run.telemetry, run.tables)
    out = BatchProcessor(None).process(batch_of([good_bsm(k) for k in range(10)]))
    writer.write(out.telemetry, out.tables)
    # A crash after the commit line, before the renames: roll forward.
    later = BatchProcessor(None, first_rx_seq=10).process(batch_of([good_bsm(k) for k in range(10, 15)]))
    real_replace = os.replace
    calls = []

    def crash_on_second_rename(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        real_replace(a, b)

    os.replace = crash_on_second_rename  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            writer.write(later.telemetry, later.tables)
    finally:
        os.replace = real_replace  # type: ignore[assignment]
    # A crash before the commit line: the files of part 3 are written but never committed.
    uncommitted = BatchProcessor(None, first_rx_seq=15).process(batch_of([good_bsm(k) for k in range(15, 18)]))
    for name, table in uncommitted.tables.items():
        (run.tables / name).mkdir(parents=True, exist_ok=True)
        import pyarrow.parquet as pq

        pq.write_table(table, run.tables / name / "part-000003.parquet.tmp")
    assert isinstance(uncommitted.telemetry["BSM"], pa.Table)

    reopened = TelemetryWriter(run.telemetry, run.tables)
    assert reopened.recovered["rolled_forward"] >= 1 and reopened.recovered["rolled_back"] >= 1
    assert reopened.next_rx_seq == 15 and reopened.sequence == 2
    assert not list(run.root.rglob("*.tmp"))
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet('{run.telemetry}/**/*.parquet')").fetchone()[0] == 15
    assert con.execute(f"SELECT count(*), max(rx_seq) FROM read_parquet('{run.tables}/bsm/*.parquet')").fetchone() == (15, 14)
    assert [c.part for c in read_commits(reopened.journal)] == [1, 2]


def test_a_torn_commit_line_is_not_a_commit(tmp_path):
    journal = tmp_path / "commits.jsonl"
    journal.write_bytes(b'{"part": 1, "files": [], "rx_seq_max": 4, "rows": 5}\n{"part": 2, "files": ["telemetry/x"], "rx_')
    assert [c.part for c in read_commits(journal)] == [1]


def test_a_commit_log_naming_files_outside_the_run_is_refused(tmp_path):
    from pipeline.ingest.store import StoreError

    run = RunDir(tmp_path / "run").create()
    (run.ingest / "commits.jsonl").write_text('{"part": 1, "files": ["../../etc/passwd"], "rx_seq_max": 0, "rows": 1}\n')
    with pytest.raises(StoreError, match="outside the run"):
        TelemetryWriter(run.telemetry, run.tables)


@pytest.mark.long
@pytest.mark.broker
def test_sigkill_ten_times_loses_nothing_and_duplicates_nothing(mosquitto, tmp_path):
    n, kills = 10_000, 10
    got = kill_and_restart(mosquitto.address.url, tmp_path / "run", mosquitto.address.port, n, kills, seed=2026)
    print(
        f"kills {kills}, frames published and acknowledged by the broker {n}, stored {got['rows']}, lost {got['lost']}, "
        f"duplicates {got['rows'] - got['distinct']}, orphaned content rows {got['orphans']}"
    )
    assert got["lost"] == 0 and got["rows"] == got["distinct"] == got["rx_seq"] == n and got["orphans"] == 0


@pytest.mark.parametrize("parts_of_before", [False, True], ids=["parts", "parts-without-later-columns"])
def test_a_restart_takes_up_msgcnt_continuity_where_the_last_session_left_it(tmp_path, parts_of_before):
    """The first frames after a restart get their msgCnt gap and IPG as in an uninterrupted run:
    once, a loss across a restart showed as 0 gaps because continuity started over.  Also on
    parts written before the framing, edition and relay columns existed."""
    from pipeline.ingest.batch import BatchProcessor, Received
    from pipeline.ingest.resume import stored_tail

    kept = [k for k in range(60) if k not in (10, 11, 24, 25, 26, 30)]  # 24-26 lost right at the restart
    frames = [good_bsm(k) for k in kept]

    def batch(part: list[bytes], first: int) -> Received:
        b = Received()
        for k, f in enumerate(part, start=first):
            b.add("V2X/OBU/OBU-1/BSM/UP", f, 1_700_000_000_000_000 + kept[k] * 100_000)
        return b

    def gaps(output) -> list[tuple[int | None, float | None]]:
        t = output.telemetry["BSM"]
        return list(zip(t.column("msg_cnt_gap").to_pylist(), t.column("ipg_ms").to_pylist()))

    whole = gaps(BatchProcessor(None).process(batch(frames, 0)))
    split = next(i for i, k in enumerate(kept) if k > 26)
    run = RunDir(tmp_path / "run").create()
    writer = TelemetryWriter(run.telemetry, run.tables)
    first = BatchProcessor(None).process(batch(frames[:split], 0))
    writer.write(first.telemetry, first.tables)
    if parts_of_before:
        for part in run.telemetry.rglob("*.parquet"):
            table = pq.read_table(part, partitioning=None)
            pq.write_table(table.drop_columns(["framing", "edition", "relay"]), part)
    reopened = TelemetryWriter(run.telemetry, run.tables)
    resumed = BatchProcessor(None, first_rx_seq=reopened.next_rx_seq)
    assert resumed.resume(*stored_tail(reopened)) == split
    after = gaps(resumed.process(batch(frames[split:], split)))
    assert after == whole[split:]
    assert after[0] == (3, 400.0)  # 24, 25 and 26 missing: counted, and the gap measured across the restart
    fresh = gaps(BatchProcessor(None).process(batch(frames[split:], split)))
    assert fresh[0] == (None, None)  # what a restart without resuming gave


@pytest.mark.broker
@pytest.mark.long  # 45 s; the live stall scenario below covers the report side in the same pass
def test_a_stopped_receiver_is_recorded_and_fails_the_harness_check(mosquitto, tmp_path):
    from pipeline.report.build import build_report

    out = tmp_path / "run"
    proc = start_ingest(mosquitto.address.url, out)
    frames = [(TOPIC.format(k=k % 3), good_bsm(k)) for k in range(600)]
    done = threading.Event()
    sender = threading.Thread(target=publish, args=(mosquitto.address.port, frames, 200.0, done))
    sender.start()
    time.sleep(0.8)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(2.0)
    proc.send_signal(signal.SIGCONT)
    sender.join()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and read_json(out / "ingest" / "progress.json").get("stored", 0) < len(frames):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    stalls = [e for e in read_json(out / "ingest" / "summary.json")["events"] if e["event"] == "receiver_stalled"]
    assert len(stalls) == 1 and float(stalls[0]["detail"].split(" s ")[0]) >= 1.9
    check = {c["id"]: c for c in build_report(out).to_data()["checks"]}["run.receiver"]
    assert check["verdict"] == "FAIL" and check["value"] == 1


def test_the_inbox_hands_out_bounded_batches_with_the_acknowledgements_they_owe():
    """A backlog is taken in batches of at most MAX_BATCH frames; the acknowledgement of a
    redelivery that is not stored again goes with the batch that holds the frames received
    before it (its original among them), never with an earlier one."""
    from pipeline.ingest.inbox import Inbox

    inbox = Inbox()
    inbox.add_many(["t"] * 5, [b"%d" % k for k in range(5)], list(range(5)), [(1, k + 1) for k in range(5)], [1] * 5)
    inbox.add_acks([(2, 99)])  # a redelivery of one of the first five
    inbox.add_many(["t"] * 3, [b"x"] * 3, [0] * 3, [(2, 100 + k) for k in range(3)], [1] * 3)
    first = inbox.take(3)
    assert first.frames.frames == [b"0", b"1", b"2"] and first.acks == [(1, 1), (1, 2), (1, 3)]
    second = inbox.take(3)
    assert second.frames.frames == [b"3", b"4", b"x"] and second.acks == [(1, 4), (1, 5), (2, 100), (2, 99)]
    third = inbox.take(3)
    assert len(third.frames) == 2 and third.acks == [(2, 101), (2, 102)] and inbox.take(3) is None


@pytest.mark.broker
def test_a_failed_stage_stops_receiving_and_acknowledging_and_a_restart_gets_everything(mosquitto, tmp_path, monkeypatch):
    """When storage fails (here: the disk, from the second batch on) the ingest stops at once,
    says why, and acknowledges nothing it did not store: the broker keeps those frames and the
    next ingest on the same output stores them."""
    import asyncio

    import pipeline.ingest.session as ingest_module
    from pipeline.ingest.store import TelemetryWriter as Writer

    run = RunDir(tmp_path / "run")
    frames = [(TOPIC.format(k=k % 3), good_bsm(k)) for k in range(400)]
    real_write = Writer.write
    writes = []

    def failing_write(self, telemetry, tables=None):
        writes.append(1)
        if len(writes) >= 2:
            raise OSError(28, "No space left on device")
        return real_write(self, telemetry, tables)

    async def session(fail: bool, publish_frames: bool):
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ingest_module.ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 60)
        if publish_frames:
            done = threading.Event()
            await asyncio.to_thread(publish, mosquitto.address.port, frames, 150.0, done)
        for _ in range(150):
            if task.done():
                break
            await asyncio.sleep(0.1)
            progress = read_json(run.ingest / "progress.json")
            if not fail and progress["stored"] >= len(frames):
                stop.set()
        stop.set()
        return await asyncio.wait_for(task, 60)

    monkeypatch.setattr(Writer, "write", failing_write)
    failed = asyncio.run(session(fail=True, publish_frames=True))
    assert failed.failure and "No space left on device" in failed.failure
    assert failed.acknowledged == failed.stored < len(frames)  # nothing acknowledged that was not stored
    monkeypatch.setattr(Writer, "write", real_write)
    again = asyncio.run(session(fail=False, publish_frames=False))
    assert again.failure is None
    summary = read_json(run.ingest / "summary.json")
    assert summary["stored"] == len(frames) and next(s["cause"] for s in summary["sessions"]).startswith(
        "failed: storing a batch"
    )
    con = duckdb.connect()
    assert con.execute(
        f"SELECT count(*), count(DISTINCT frame) FROM read_parquet('{run.telemetry}/**/*.parquet')"
    ).fetchone() == (400, 400)


def signed_bsms(signer, start_us: int, n: int) -> list[tuple[bytes, int]]:
    """``n`` BSMs of one vehicle at 10 Hz from ``start_us``, signed by ``signer``, each with its
    receive time 20 ms after generation."""
    from v2x import clock, messages
    from v2x.messages import MessageType

    out = []
    for k in range(n):
        gen = start_us + k * 100_000
        content = messages.bsm(
            msg_cnt=k,
            vehicle_id=b"\x02" * 8,
            sec_mark=clock.dsecond(gen),
            lat_deg=39.085,
            lon_deg=117.056,
            speed_mps=10.0,
            heading_deg=90.0,
            width_m=1.8,
            length_m=4.7,
            vehicle_class=10,
        )
        frame = signer.sign(messages.encode(MessageType.BSM, content), MessageType.BSM.aid, clock.time64_from_unix_us(gen))
        out.append((frame, gen + 20_000))
    return out


def test_a_restart_takes_up_the_signer_rules_where_the_last_session_left_them(pki, tmp_path):
    """A digest-signed BSM 450 ms or more after its certificate's last full certificate is a
    violation (GB/T 45315 7.4.3.5) also when the ingest restarted in between."""
    from v2x import clock
    from v2x.security import Signer, load_credentials

    from pipeline.ingest.batch import BatchProcessor, Received
    from pipeline.ingest.resume import stored_tail
    from pipeline.ingest.trust import verifier_from_pki

    signer = Signer(load_credentials(pki, "OBU-1")[0], full_certificate_interval_us=2_000_000)  # too rare: digests go late
    frames = signed_bsms(signer, clock.now_unix_us() - 3_000_000, 20)

    def batch(part):
        b = Received()
        for f, received in part:
            b.add("V2X/OBU/OBU-1/BSM/UP", f, received)
        return b

    def late_digests(output) -> int:
        v = output.tables.get("violations")
        return 0 if v is None else sum(1 for name in v.column("check_name").to_pylist() if "certificate" in name)

    verifier = verifier_from_pki(pki)
    whole = late_digests(BatchProcessor(verifier).process(batch(frames)))
    assert whole == 15  # 500 ms to 1.9 s after the certificate
    run = RunDir(tmp_path / "run").create()
    first = BatchProcessor(verifier).process(batch(frames[:3]))
    TelemetryWriter(run.telemetry, run.tables).write(first.telemetry, first.tables)
    reopened = TelemetryWriter(run.telemetry, run.tables)
    resumed = BatchProcessor(verifier, first_rx_seq=reopened.next_rx_seq)
    resumed.resume(*stored_tail(reopened))
    assert late_digests(resumed.process(batch(frames[3:]))) == whole
    assert late_digests(BatchProcessor(verifier).process(batch(frames[3:]))) == 0  # without resuming: none seen


def test_a_restart_knows_the_certificates_the_last_session_received(pki, tmp_path):
    """After a restart (a new process, a new trust store) a device's digest-signed frames resolve
    from the certificate it sent before the restart, instead of failing as 'never received'
    until its next certificate-signed frame."""
    from v2x import clock
    from v2x.security import Signer, load_credentials

    from pipeline.ingest.batch import BatchProcessor, Received
    from pipeline.ingest.resume import stored_certificate_frames
    from pipeline.ingest.trust import verifier_from_pki

    signer = Signer(load_credentials(pki, "OBU-1")[0], full_certificate_interval_us=5_000_000)
    batch = Received()
    for frame, received_us in signed_bsms(signer, clock.now_unix_us() - 1_000_000, 6):
        batch.add("V2X/OBU/OBU-1/BSM/UP", frame, received_us)
    run = RunDir(tmp_path / "run").create()
    first = BatchProcessor(verifier_from_pki(pki)).process(batch.part(0, 2))  # the certificate, then a digest
    assert first.telemetry["BSM"].column("signer_kind").to_pylist() == ["certificate", "digest"]
    TelemetryWriter(run.telemetry, run.tables).write(first.telemetry, first.tables)
    reopened = TelemetryWriter(run.telemetry, run.tables)

    def auth_after_restart(remember: bool) -> list[str]:
        processor = BatchProcessor(verifier_from_pki(pki), first_rx_seq=reopened.next_rx_seq)  # a new process's trust store
        if remember:
            assert processor.remember_certificates(stored_certificate_frames(reopened)) == 1
        return processor.process(batch.part(2, 6)).telemetry["BSM"].column("auth").to_pylist()

    assert auth_after_restart(remember=True) == ["success"] * 4
    assert auth_after_restart(remember=False) == ["signer_certificate_not_found"] * 4


@pytest.mark.broker
@pytest.mark.long
def test_a_scenario_whose_ingest_is_stopped_fails_the_receiver_check_and_blames_no_device(mosquitto, tmp_path):
    """SIGSTOP on the ingest of a signed scenario run once turned honest frames into
    ``invalid_timestamp`` and FAILs blamed on the devices; now only ``run.receiver`` FAILs."""
    from v2x.run import run_scenario
    from v2x.scenario.model import parse_scenario

    from pipeline.report.build import build_report

    from tests.test_scenario import GOOD
    from tests.test_soak import stage_processes

    scenario = parse_scenario(GOOD.replace("duration_s: 3", "duration_s: 9").replace("count: 2", "count: 6"))
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(
            run=run_scenario(scenario, tmp_path, broker_url=mosquitto.address.url, run_dir=tmp_path / "stopped")
        )
    )
    worker.start()
    deadline = time.monotonic() + 60
    while "pipeline.ingest" not in (found := stage_processes(tmp_path / "stopped")) and time.monotonic() < deadline:
        time.sleep(0.1)
    stopped = RunDir(tmp_path / "stopped")
    while stopped.ingest_progress().get("received", 0) < 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # until the simulators are publishing and the ingest storing
    os.kill(found["pipeline.ingest"], signal.SIGSTOP)
    time.sleep(2.5)
    os.kill(found["pipeline.ingest"], signal.SIGCONT)
    worker.join(timeout=120)
    run = result["run"]
    assert run.published == run.stored
    report = build_report(run.run.root).to_data()
    failed = [c["id"] for c in report["checks"] if c["verdict"] == "FAIL"]
    assert failed == ["run.receiver"], failed
    assert report["receiver_stalls"] and sum(t["received_in_stall"] for t in report["message_types"]) > 0
    late = (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{run.run.telemetry}/*/*.parquet') WHERE auth = 'invalid_timestamp'")
        .fetchone()[0]
    )
    assert late > 0  # the stall did make frames late: what the report no longer blames on their senders
