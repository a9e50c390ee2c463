"""``v2x ingest --replay``: recorded traffic (a run directory or a capture file) through today's
decoders and verifier with its original receive times (pipeline/ingest/replay.py)."""

from __future__ import annotations

import base64
import json

import duckdb
import pytest
from click.testing import CliRunner

from v2x import messages
from v2x.cli import main as v2x
from v2x.messages import MessageType
from v2x.security.sign import unsecured

from pipeline.ingest.replay import Recorded, ReplayError, batches, recorded_in_capture, recorded_in_run, replay, write_capture
from pipeline.ingest.trust import verifier_from_pki
from pipeline.report.build import build_report

from tests.corpus import bsm_variants
from tests.test_gate import generated_run

COLUMNS = "rx_seq, topic, epoch_us(received_at) AS received_us, frame, decode_ok, auth, reject_reason, msg_cnt_gap"


def stored(run) -> list[tuple]:
    return (
        duckdb.connect().execute(f"SELECT {COLUMNS} FROM read_parquet('{run}/telemetry/*/*.parquet') ORDER BY rx_seq").fetchall()
    )


def _checks(report) -> dict:
    return {c.id: (c.verdict, c.value) for c in report.checks}


ONE_SUITE = pytest.mark.parametrize("pki", ["ecdsa-p256-sha256"], indirect=True)  # both suites: tests/test_security.py


@ONE_SUITE
def test_a_replayed_run_is_stored_and_graded_as_the_original(pki, tmp_path):
    source = generated_run(tmp_path / "source", pki, lose_every=8, late_every=20, late_ms=150.0)
    (source / "pki").symlink_to(pki, target_is_directory=True)  # a run keeps its PKI beside its data
    out = tmp_path / "replayed"
    result = CliRunner().invoke(v2x, ["ingest", "--replay", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stored(out) == stored(source)  # same rows, same verdicts (the source's PKI), same receive times
    again, before = _checks(build_report(out)), _checks(build_report(source))
    assert again.pop("run.ingest") == ("PASS", 1.0) and before.pop("run.ingest") == ("N/A", None)  # a generated run had no ingest
    assert again == before and again["BSM.pdr"][0] == "FAIL"
    summary = json.loads((out / "ingest" / "summary.json").read_text())
    assert summary["received"] == len(stored(source)) and summary["sessions"][-1]["cause"] == "stopped"
    assert any(e["event"] == "replay" and str(source) in e["detail"] for e in summary["events"])


@ONE_SUITE
def test_a_capture_file_replays_to_the_same_rows(pki, tmp_path):
    source = generated_run(tmp_path / "source", pki, lose_every=8)
    capture = tmp_path / "capture.jsonl"
    assert write_capture(capture, recorded_in_run(source)) == len(stored(source))
    stats = replay(capture, tmp_path / "replayed", verifier_from_pki(pki))
    assert stats.stored == stats.received == len(stored(source)) and stats.rejected == 0
    assert stored(tmp_path / "replayed") == stored(source)


def test_a_replay_grades_old_frames_with_todays_decoders(tmp_path):
    """A frame stored before the strict end-of-payload check is refused when replayed."""
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    records = [Recorded("V2X/OBU/OBU-7/BSM/UP", 1_764_500_000_000_000 + k, unsecured(frame + bytes(k))) for k in range(3)]
    capture = tmp_path / "old.jsonl"
    write_capture(capture, records)
    replay(capture, tmp_path / "out", None)
    rows = stored(tmp_path / "out")
    assert [r[4] for r in rows] == [True, False, False]
    assert "1 trailing octet " in rows[1][6] and "2 trailing octets" in rows[2][6]


def test_batches_follow_the_receive_times_of_the_recording():
    times = [0, 100_000, 499_999, 500_000, 900_000, 1_200_000, 1_200_001]
    got = [b.received_us for b in batches(Recorded("t", t, b"") for t in times)]
    assert got == [[0, 100_000, 499_999], [500_000, 900_000], [1_200_000, 1_200_001]]
    assert [len(b) for b in batches((Recorded("t", 0, b"") for _ in range(5)), most=2)] == [2, 2, 1]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "capture.jsonl:2: not a recorded frame (JSONDecodeError"),
        ('{"topic": "t", "received_us": 1}', "capture.jsonl:2: not a recorded frame (KeyError"),
        ('{"topic": "t", "received_us": 1, "payload": "***"}', "capture.jsonl:2: not a recorded frame (Error"),
        ('{"topic": "t", "received_us": -5, "payload": ""}', "received_us -5 is not a Unix time"),
        ('{"topic": 7, "received_us": 1, "payload": ""}', "topic must be a string"),
        ('{"topic": "t", "received_us": "soon", "payload": ""}', "received_us an integer"),
    ],
)
def test_a_broken_capture_is_refused_naming_its_line(tmp_path, line, says):
    capture = tmp_path / "capture.jsonl"
    good = json.dumps({"topic": "t", "received_us": 1, "payload": base64.b64encode(b"x").decode()})
    capture.write_text(good + "\n" + line + "\n")
    with pytest.raises(ReplayError, match=says.replace("(", r"\(")):
        list(recorded_in_capture(capture))
    result = CliRunner().invoke(v2x, ["ingest", "--replay", str(capture), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "capture.jsonl:2" in result.output


@ONE_SUITE
def test_replay_refuses_an_output_that_holds_telemetry_and_needs_one_source(pki, tmp_path):
    source = generated_run(tmp_path / "source", pki)
    runner = CliRunner()
    again = runner.invoke(v2x, ["ingest", "--replay", str(source), "--out", str(source)])
    assert again.exit_code == 2 and "already holds telemetry" in again.output
    both = runner.invoke(v2x, ["ingest", "--replay", str(source), "--broker", "mqtt://127.0.0.1:1", "--out", str(tmp_path / "o")])
    neither = runner.invoke(v2x, ["ingest", "--out", str(tmp_path / "o")])
    assert both.exit_code == neither.exit_code == 2 and "give one of --broker, --nats or --replay" in both.output + neither.output
    (tmp_path / "empty").mkdir()
    nothing = runner.invoke(v2x, ["ingest", "--replay", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")])
    assert nothing.exit_code == 2 and "no stored frames" in nothing.output
