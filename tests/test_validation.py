"""Field validation: each injected fault is flagged by its named check, and only by it."""

from __future__ import annotations

import copy

import duckdb
import pytest

from v2x import clock, faults, messages
from v2x.messages import MessageType
from v2x.run import run_scenario
from v2x.scenario import Fault, load_scenario
from v2x.security import unsecured

from pipeline.batch import BatchProcessor, Received
from pipeline.report import build_report
from pipeline.validation import CHECKS
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
    "rsi_priority_low_bits": "RSI.priority_low_bits",
}
TOPIC = {MessageType.BSM: "V2X/OBU/OBU-1/BSM/UP"} | {t: f"V2X/RSU/RSU-1/{t.value}/UP" for t in MessageType if t is not MessageType.BSM}


def violations_of(contents: list[tuple[MessageType, dict]]) -> list[tuple[int, str, str]]:
    batch = Received()
    now = clock.now_unix_us()
    for msg_type, content in contents:
        batch.add(TOPIC[msg_type], unsecured(messages.encode(msg_type, content)), now)
    out = BatchProcessor(None).process(batch)
    table = out.tables.get("violations")
    return sorted(table.to_pylist(), key=lambda r: r["rx_seq"]) if table is not None else []


def clean_corpus() -> list[tuple[MessageType, dict]]:
    # The corpus's first (typical) BSM, SPAT, RSI and RSM are clean; its other BSMs probe limits.
    items = corpus()
    return [items[0]] + [(t, c) for t, c in items if t is not MessageType.BSM and t is not MessageType.MAP]


def test_clean_messages_have_no_violations():
    assert violations_of(clean_corpus()) == []


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_fault_is_flagged_by_its_check_only(kind):
    target, _ = faults.FAULTS[kind]
    contents = []
    for msg_type, content in clean_corpus():
        content = copy.deepcopy(content)
        if msg_type is target:
            faults.inject([Fault(kind=kind)], msg_type, 0, 0, content)
        contents.append((msg_type, content))
    found = violations_of(contents)
    faulted = sum(1 for t, _ in contents if t is target)
    assert [v["check_name"] for v in found] == [EXPECTED[kind]] * faulted, found
    assert all(v["detail"] for v in found)


def test_every_check_is_documented_with_basis_and_source():
    assert len({c.name for c in CHECKS}) == len(CHECKS)
    for c in CHECKS:
        assert c.basis in ("std", "derived", "policy", "unverified") and c.source and c.name.split(".")[0] == c.msg_type
        assert c.name in (REPO / "README.md").read_text(encoding="utf-8"), f"{c.name} is not in the README"


@pytest.mark.broker
def test_fault_scenario_report_names_each_fault_and_a_clean_run_none(mosquitto, tmp_path):
    scenario = load_scenario("faults")
    result = run_scenario(scenario, tmp_path / "faulty", broker_url=mosquitto.address.url)
    report = build_report(result.run.root)
    flagged = {c["id"]: c["value"] for c in report["checks"] if c.get("kind") == "field" and c["verdict"] in ("FAIL", "WARN")}
    assert set(flagged) == {EXPECTED[f.kind] for f in scenario.faults}
    assert flagged["BSM.speed_range"] == 6  # vehicle 0, every 10th of 60 BSMs
    assert flagged["BSM.elevation_forbidden"] == 6  # vehicles 0 and 1, every 20th
    assert flagged["BSM.mandatory_fields"] == 9  # vehicle 0, every 7th: k = 0, 7, ..., 56
    assert flagged["SPAT.timing_order"] == 6
    assert flagged["RSI.priority_low_bits"] == report_count(result.run.root, "RSI")
    assert report["verdict"] == "FAIL"

    clean = scenario.model_copy(update={"faults": [], "name": "clean"})
    result = run_scenario(clean, tmp_path / "clean", broker_url=mosquitto.address.url)
    report = build_report(result.run.root)
    field = [c for c in report["checks"] if c.get("kind") == "field"]
    assert field and all(c["verdict"] in ("PASS", "N/A") for c in field) and report["verdict"] == "PASS"


def report_count(run_root, msg_type: str) -> int:
    return duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{run_root}/telemetry/**/*.parquet', hive_partitioning = true) WHERE msg_type = '{msg_type}'"
    ).fetchone()[0]
