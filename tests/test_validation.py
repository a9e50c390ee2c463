"""Field validation: each injected fault is flagged by its named check, and only by it."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import asn1tools
import duckdb
import pyarrow as pa
import pytest

from v2x import clock, messages
from v2x.asn1 import ASN1_DIR, MESSAGE_SET
from v2x.device import faults
from v2x.messages import MessageType
from v2x.run import run_scenario
from v2x.rundir import RunDir
from v2x.scenario.model import Fault, load_scenario
from v2x.security import unsecured

from pipeline.ingest.batch import BatchProcessor, Received, UncheckedBatches
from pipeline.ingest.store import TelemetryWriter
from pipeline.report.build import build_report
from pipeline.sql import views
from pipeline.sql.field_checks import CHECKS, checks_connection

from tests.conftest import REPO
from tests.corpus import corpus

EXPECTED = {
    "bsm_speed_unavailable": "BSM.speed_range",
    "bsm_elevation": "BSM.elevation_forbidden",
    "bsm_missing_angle": "BSM.mandatory_fields",
    "bsm_missing_pos_accuracy": "BSM.mandatory_fields",
    "spat_likely_after_max": "SPAT.timing_order",
    "rsm_without_self": "RSM.self_entry",
    "rsm_duplicate_ptc_id": "RSM.ptc_id_unique",
    "rsm_stale_participant": "RSM.participant_age",
    "rsi_priority_low_bits": "RSI.priority_low_bits",
    "map_duplicate_lane_id": "MAP.lane_id_unique",
    "map_unknown_connecting_lane": "MAP.connection_target",
}
TOPIC = {MessageType.BSM: "V2X/OBU/OBU-1/BSM/UP"} | {
    t: f"V2X/RSU/RSU-1/{t.value}/UP" for t in MessageType if t is not MessageType.BSM
}


def received_frames(frames: list[tuple[MessageType, bytes]]) -> Received:
    batch = Received()
    now = clock.now_unix_us()
    for msg_type, frame in frames:
        batch.add(TOPIC[msg_type], unsecured(frame), now)
    return batch


def received(contents: list[tuple[MessageType, dict]]) -> Received:
    return received_frames([(t, messages.encode(t, c)) for t, c in contents])


def write_run(root: Path, contents: list[tuple[MessageType, dict]]) -> Path:
    """A run directory holding ``contents`` as the ingest stores them."""
    run = RunDir(root)
    out = BatchProcessor(None).process(received(contents))
    TelemetryWriter(run.telemetry, run.tables).write(out.telemetry, out.tables)
    return root


def violations_of(contents: list[tuple[MessageType, dict]], root: Path) -> list[tuple[int, str, str]]:
    """Violations of message and run checks, as the ``violations`` view of their run has them."""
    con = views.connect(write_run(root, contents))
    return [
        dict(zip(("rx_seq", "check_name", "detail"), r))
        for r in con.execute("SELECT rx_seq, check_name, detail FROM violations ORDER BY rx_seq, check_name").fetchall()
    ]


def clean_corpus() -> list[tuple[MessageType, dict]]:
    # The corpus's first (typical) BSM, its MAPs, first SPAT, RSI and RSM are clean; its other
    # BSMs probe limits, and its SPATs are minutes apart (no countdown to follow).
    items = corpus()
    first_spat = next(item for item in items if item[0] is MessageType.SPAT)
    return [items[0], first_spat] + [(t, c) for t, c in items if t not in (MessageType.BSM, MessageType.SPAT)]


def test_clean_messages_have_no_violations(tmp_path):
    assert violations_of(clean_corpus(), tmp_path) == []


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_fault_is_flagged_by_its_check_only(kind, tmp_path):
    target, _ = faults.FAULTS[kind]
    contents = []
    for msg_type, content in clean_corpus():
        content = copy.deepcopy(content)
        if msg_type is target:
            faults.inject([Fault(kind=kind)], msg_type, 0, 0, content)
        contents.append((msg_type, content))
    found = violations_of(contents, tmp_path)
    faulted = sum(1 for t, _ in contents if t is target)
    assert [v["check_name"] for v in found] == [EXPECTED[kind]] * faulted, found
    assert all(v["detail"] for v in found)


def test_a_run_with_bsm_only_has_every_view_and_a_report(tmp_path):
    # Real devices may send one message type only; every view and run check still works.
    root = write_run(tmp_path, [item for item in corpus() if item[0] is MessageType.BSM])
    con = views.connect(root)
    for name in views.CONTENT_TABLES:
        columns = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        assert "rx_seq" in columns and len(columns) > 6, name
    assert con.execute("SELECT count(*) FROM map_lanes").fetchone() == (0,)
    checks = {c["id"]: c for c in build_report(root).to_data()["checks"] if c.get("kind") == "field"}
    assert checks["BSM.speed_range"]["verdict"] == "FAIL" and checks["SPAT.phase_in_map"]["verdict"] == "N/A"


def test_map_beyond_its_asn1_structure_limits_is_a_stored_reject():
    # PointList SIZE(2..31): 33 points still fit the 5-bit length field, so only the constraint
    # check of the decode stands between such a MAP and the tables.
    content = copy.deepcopy(next(c for t, c in corpus() if t is MessageType.MAP))
    link = content["nodes"][0]["inLinks"][0]
    link["points"] = [link["points"][0]] * 33
    loose = asn1tools.compile_files([str(ASN1_DIR / name) for name in MESSAGE_SET], "uper")
    frame = loose.encode("MessageFrame", ("mapFrame", content), check_constraints=False)
    out = BatchProcessor(None).process(received_frames([(MessageType.MAP, frame)]))
    rows = out.telemetry["MAP"].to_pylist()
    assert len(rows) == 1 and rows[0]["reject_reason"] and "33" in rows[0]["reject_reason"]
    assert "map_lanes" not in out.tables or out.tables["map_lanes"].num_rows == 0


DOCS = "".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").glob("*.md")))


def test_every_check_is_documented_with_basis_and_source():
    assert len({c.name for c in CHECKS}) == len(CHECKS)
    for c in CHECKS:
        assert c.basis in ("std", "derived", "policy", "unverified") and c.source and c.name.split(".")[0] == c.msg_type
        assert c.name in DOCS, f"{c.name} is not in docs/ (Field checks in the user guide, signer rules in security.md)"


@pytest.mark.broker
@pytest.mark.slow  # 26 s: two scenario runs (.ci/run runs it with the slow tests)
def test_fault_scenario_report_names_each_fault_and_a_clean_run_none(mosquitto, tmp_path):
    scenario = load_scenario("faults")
    result = run_scenario(scenario, tmp_path / "faulty", broker_url=mosquitto.address.url)
    report = build_report(result.run.root).to_data()
    flagged = {c["id"]: c["value"] for c in report["checks"] if c.get("kind") == "field" and c["verdict"] in ("FAIL", "WARN")}
    assert set(flagged) == {EXPECTED[f.kind] for f in scenario.faults}
    assert flagged["BSM.speed_range"] == 6  # vehicle 0, every 10th of 60 BSMs
    assert flagged["BSM.elevation_forbidden"] == 6  # vehicles 0 and 1, every 20th
    assert flagged["BSM.mandatory_fields"] == 9  # vehicle 0, every 7th: k = 0, 7, ..., 56
    assert flagged["SPAT.timing_order"] == 6
    assert flagged["RSI.priority_low_bits"] == report_count(result.run.root, "RSI")
    assert flagged["MAP.lane_id_unique"] == 3  # RSU 0, MAP 1 Hz for 6 s: k = 0, 2, 4
    assert flagged["MAP.connection_target"] == 2  # k = 0, 3
    assert report["verdict"] == "FAIL"

    clean = scenario.model_copy(update={"faults": [], "name": "clean"})
    result = run_scenario(clean, tmp_path / "clean", broker_url=mosquitto.address.url)
    report = build_report(result.run.root).to_data()
    field = [c for c in report["checks"] if c.get("kind") == "field"]
    assert field and all(c["verdict"] in ("PASS", "N/A") for c in field) and report["verdict"] == "PASS"


def report_count(run_root, msg_type: str) -> int:
    return (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM read_parquet('{run_root}/telemetry/**/*.parquet', hive_partitioning = true) WHERE msg_type = '{msg_type}'"
        )
        .fetchone()[0]
    )


def faulted_corpus() -> list[tuple[MessageType, dict]]:
    """A copy of each message fault of EXPECTED's target with the fault injected, then the clean corpus."""
    contents = []
    for kind in sorted(EXPECTED):
        target, _ = faults.FAULTS[kind]
        msg_type, content = copy.deepcopy(next(item for item in clean_corpus() if item[0] is target))
        faults.inject([Fault(kind=kind)], msg_type, 0, 0, content)
        contents.append((msg_type, content))
    return contents + clean_corpus()


def stored_violations(outputs) -> list[tuple[int, str, str]]:
    return sorted(
        (r["rx_seq"], r["check_name"], r["detail"])
        for out in outputs
        if "violations" in out.tables
        for r in out.tables["violations"].to_pylist()
    )


def test_message_checks_run_over_several_batches_find_what_batch_by_batch_finds():
    """In a stream the message checks wait for later batches (their cost is per query, not per
    row) and still find every violation, each once, the last batch flushing the rest."""
    contents = faulted_corpus()
    batches = [received(contents[k : k + 3]) for k in range(0, len(contents), 3)]
    one_by_one = BatchProcessor(None)
    expected = stored_violations([one_by_one.process(b) for b in batches])
    assert len({name for _, name, _ in expected}) >= 8
    streamed = list(BatchProcessor(None).process_stream(batches))
    assert "violations" in one_by_one.process(batches[0]).tables
    assert "violations" not in streamed[0].tables  # waited for the later batches
    assert stored_violations(streamed) == expected


def test_waiting_message_checks_are_due_by_rows_or_age():
    waiting = UncheckedBatches(rows=5, seconds=0.2)
    assert not waiting.due()
    out = BatchProcessor(None).process(received(clean_corpus()[:3]))
    messages = pa.concat_tables(list(out.telemetry.values()))
    waiting.add({"messages": messages})
    assert not waiting.due()
    time.sleep(0.25)
    assert waiting.due()
    waiting.check(checks_connection())
    assert not waiting.due()
    for _ in range(2):
        waiting.add({"messages": messages})
    assert waiting.due()  # 6 rows >= 5
