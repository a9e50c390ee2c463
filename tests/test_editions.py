"""Editions of the message set (v2x/editions.py): our own schemas of the 2019-07 pre-release and
of T/CSAE 53-2017, written from the differences, read the frames their reference modules make
bit for bit; the ingest identifies each frame's edition, stores it in the ``edition`` column and
decodes its content into the same tables; the profile's edition checks FAIL a device that sends
another edition than the zone requires.  Golden copies (tests/golden/other_editions.json) stand
in for the reference modules on a clone without them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from v2x import editions, messages
from v2x.editions import Edition
from v2x.messages import MessageType
from v2x.security.sign import unsecured

from pipeline.decode.content import FAST_PATH, to_arrow
from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.store import TelemetryWriter
from pipeline.report.build import build_report

from tests.corpus import corpus
from tests.golden_vectors import EDITIONS, OTHER_EDITIONS, edition_values, from_json, load

EDITION = {"csae53_2019": Edition.CSAE53_2019_07, "csae53_2017": Edition.CSAE53_2017}
TYPE_OF_CHOICE = {t.frame_choice: t for t in MessageType}
VECTORS = [(v["edition"], bytes.fromhex(v["frame"]), from_json(v["value"])) for v in load(OTHER_EDITIONS)]
RECEIVED_US = 1_764_500_000_000_000

# A T/CSAE 53-2017 BSM (made by the 2017 reference module from VALUE_2017) that a 2020 decoder
# reads whole, with other values: only its sender's edition tells it apart.
AMBIGUOUS_2017_BSM = bytes.fromhex("0000854c2f0286db3be9" + "00" * 26)
VALUE_2017 = (
    "bsmFrame",
    {
        "msgCnt": 0,
        "id": bytes.fromhex("854c2f0286db3be9"),
        "secMark": 0,
        "pos": {"lat": -900000000, "long": -1799999999},
        "accuracy": {"pos": "unavailable"},
        "transmission": "neutral",
        "speed": 0,
        "heading": 0,
        "accelSet": {"long": -2000, "lat": -2000, "vert": -127, "yaw": -32767},
        "brakes": {},
        "size": {"width": 0, "length": 0},
        "vehicleClass": {"classification": 0},
    },
)


def differences(built: Any, ours: Any, path: str = "") -> list[str]:
    """Where a value the reference module built and ours read differ, over the fields both name
    alike: integers, octet strings and bit strings (names the editions renamed, and enumeration
    names, are not compared; the bit-for-bit round trip covers them)."""
    if isinstance(built, dict) and isinstance(ours, dict):
        return [d for k in built.keys() & ours.keys() for d in differences(built[k], ours[k], f"{path}.{k}")]
    if isinstance(built, list) and isinstance(ours, list):
        if len(built) != len(ours):
            return [f"{path}: {len(built)} elements built, {len(ours)} read"]
        return [d for k, (b, o) in enumerate(zip(built, ours)) for d in differences(b, o, f"{path}[{k}]")]
    if isinstance(built, tuple) and isinstance(ours, tuple) and isinstance(built[0], str):  # a CHOICE
        return (
            differences(built[1], ours[1], f"{path}.{built[0]}") if built[0] == ours[0] else [f"{path}: {built[0]} != {ours[0]}"]
        )
    if isinstance(built, (int, bytes, tuple)) and not isinstance(built, bool):
        return [] if built == ours else [f"{path}: {built!r} built, {ours!r} read"]
    return []


def _read_back(edition: Edition, frame: bytes, built: tuple[str, Any]) -> None:
    spec = editions.specification(edition)
    raw = spec.decode("MessageFrame", frame, check_constraints=True)
    assert spec.encode("MessageFrame", raw) == frame, "our edition module does not give the reference module's bits"
    msg_type, content = editions.decode(frame, edition)
    assert msg_type.frame_choice == built[0]
    assert not differences(built[1], content), differences(built[1], content)


@pytest.mark.parametrize(("edition", "frame", "built"), VECTORS, ids=[f"{e}-{k}" for k, (e, _, _) in enumerate(VECTORS)])
def test_our_edition_schemas_read_the_golden_frames_of_their_edition_bit_for_bit(edition, frame, built):
    _read_back(EDITION[edition], frame, built)


@pytest.mark.slow
@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_our_edition_schemas_read_any_frame_their_reference_module_makes(edition, reference_modules):
    spec = reference_modules[edition]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(edition_values(edition))
    def check(built):
        try:
            frame = spec.encode("MessageFrame", built, check_constraints=True)
        except Exception:
            return  # a value the reference module's own constraints refuse
        _read_back(EDITION[edition], frame, built)

    check()


def test_the_golden_frames_of_other_editions_are_what_their_reference_modules_make(reference_modules):
    for v in load(OTHER_EDITIONS):
        assert reference_modules[v["edition"]].encode("MessageFrame", from_json(v["value"])).hex() == v["frame"]
    assert reference_modules["csae53_2017"].encode("MessageFrame", VALUE_2017) == AMBIGUOUS_2017_BSM


def _topic(msg_type: MessageType, sender: str) -> str:
    return f"V2X/{'OBU' if msg_type is MessageType.BSM else 'RSU'}/{sender}/{msg_type.value}/UP"


def _ingest(frames: list[tuple[str, bytes]], processor: BatchProcessor | None = None) -> tuple[list[dict[str, Any]], Any]:
    """(telemetry rows in arrival order, the batch output) of unsecured frames, each (sender, MessageFrame)."""
    batch = Received()
    for k, (sender, frame) in enumerate(frames):
        msg_type = messages.MESSAGE_TYPE_BY_INDEX[frame[0] >> 4 & 0x7]
        batch.add(_topic(msg_type, sender), unsecured(frame), RECEIVED_US + k)
    out = (processor or BatchProcessor(None)).process(batch)
    return sorted((r for t in out.telemetry.values() for r in t.to_pylist()), key=lambda r: r["rx_seq"]), out


def test_the_ingest_identifies_each_frame_s_edition_and_decodes_it_into_the_same_tables():
    """One device per edition and message type, as in the field: each frame is decode_ok in its
    own edition (or in 2020 where the 2020 reading is the same message), and its content rows are
    those of its edition's reading."""
    frames = [(f"{EDITION[e].value}-{built[0]}", frame) for e, frame, built in VECTORS]
    rows, out = _ingest(frames)
    assert [r["reject_reason"] for r in rows if not r["decode_ok"]] == []
    stored: dict[int, dict[str, Any]] = {}
    for msg_type in FAST_PATH:
        table = out.tables.get(msg_type.value.lower())
        stored |= {r["rx_seq"]: r for r in (table.to_pylist() if table is not None else [])}
    editions_seen = set()
    for (edition, frame, built), row in zip(VECTORS, rows):
        got = Edition(row["edition"])
        editions_seen.add(got)
        msg_type, content = editions.decode(frame, got)
        assert got in (EDITION[edition], editions.CURRENT), (edition, got)
        assert not differences(built[1], content), (edition, got, differences(built[1], content))
        if msg_type in FAST_PATH:  # the message row is the one its edition's reading gives
            dec = FAST_PATH[msg_type]
            expected, _ = dec.reference(content)
            [want] = to_arrow(dec.columns, np.array([expected], dtype=np.int64), np.array([row["rx_seq"]])).to_pylist()
            assert stored[row["rx_seq"]] == want
    assert set(EDITION.values()) <= editions_seen


def test_an_older_edition_map_is_never_decode_ok_as_a_2020_map():
    older = [(e, f, b) for e, f, b in VECTORS if b[0] == "mapFrame"]
    misread = []
    for e, frame, built in older:
        try:
            _, content = messages.decode(frame, check_constraints=True)
        except Exception:
            misread.append((e, frame))  # 2020 refuses it
            continue
        if differences(built[1], content):
            misread.append((e, frame))
    assert misread, "the golden MAPs should hold some that 2020 cannot read as built"
    rows, _ = _ingest([(f"RSU-{e}", f) for e, f in misread])
    assert [(r["decode_ok"], r["edition"]) for r in rows] == [(True, EDITION[e].value) for e, _ in misread]


def test_a_2017_frame_that_2020_reads_whole_is_read_in_its_sender_s_edition():
    _, as_2020 = messages.decode(AMBIGUOUS_2017_BSM, check_constraints=True)
    assert differences(VALUE_2017[1], as_2020)  # 2020 reads other values
    only_2017 = next(f for e, f, b in VECTORS if e == "csae53_2017" and b[0] == "bsmFrame" and _refused_by_2020(f))
    processor = BatchProcessor(None)
    [alone], _ = _ingest([("OBU-17", AMBIGUOUS_2017_BSM)], processor)
    assert alone["edition"] == "csae53-2020"  # nothing yet says this sender is a 2017 device
    rows, out = _ingest([("OBU-17", only_2017), ("OBU-17", AMBIGUOUS_2017_BSM), ("OBU-20", AMBIGUOUS_2017_BSM)], processor)
    assert [r["edition"] for r in rows] == ["csae53-2017", "csae53-2017", "csae53-2020"]
    bsm = {r["rx_seq"]: r for r in out.tables["bsm"].to_pylist()}
    assert bsm[rows[1]["rx_seq"]]["id"] == "854c2f0286db3be9" and rows[1]["msg_cnt"] == 0  # as built
    assert bsm[rows[2]["rx_seq"]]["id"] != "854c2f0286db3be9" and rows[2]["msg_cnt"] == 4  # as 2020 reads it


def _refused_by_2020(frame: bytes) -> bool:
    try:
        messages.decode(frame, check_constraints=True)
    except Exception:
        return True
    return False


def test_a_frame_no_edition_reads_is_rejected_naming_why_each_refused_it():
    map_frame = next(f for e, f, b in VECTORS if e == "csae53_2019" and b[0] == "mapFrame" and _refused_by_2020(f))
    [row], _ = _ingest([("RSU-9", map_frame[:-3])])
    assert not row["decode_ok"] and row["edition"] is None
    reason = row["reject_reason"]
    assert "(nor as an older edition: the 2019-07 pre-release of T/CSAE 53-2020: " in reason and "; T/CSAE 53-2017: " in reason, (
        reason
    )


def test_a_2017_spat_s_count_down_lands_in_the_phase_states():
    spat = next((f, b) for e, f, b in VECTORS if e == "csae53_2017" and b[0] == "spatFrame" and _has_timing(b[1]))
    _, content = editions.decode(spat[0], Edition.CSAE53_2017)
    timings = [s["timing"] for i in content["intersections"] for p in i["phases"] for s in p["phaseStates"] if "timing" in s]
    assert timings and all(kind == "counting" for kind, _ in timings)
    rows, out = _ingest([("RSU-17", spat[0])])
    assert rows[0]["decode_ok"] and rows[0]["edition"] == "csae53-2017"
    assert out.tables["spat_phase_states"].num_rows == sum(
        len(p["phaseStates"]) for i in content["intersections"] for p in i["phases"]
    )


def _has_timing(spat: dict[str, Any]) -> bool:
    return any("timing" in s for i in spat["intersections"] for p in i["phases"] for s in p["phaseStates"])


def _run_of(tmp_path: Path, frames: list[tuple[str, bytes]]) -> Path:
    _, out = _ingest(frames)
    run = tmp_path / "run"
    (run / "telemetry").mkdir(parents=True)
    TelemetryWriter(run / "telemetry", run / "tables").write(out.telemetry, out.tables)
    return run


CURRENT_BSMS = [messages.encode(t, c) for t, c in corpus() if t is MessageType.BSM]


def test_the_edition_check_fails_a_device_sending_another_edition_and_names_it(tmp_path):
    old = [f for e, f, b in VECTORS if e == "csae53_2017" and b[0] == "bsmFrame"]
    run = _run_of(tmp_path, [("OBU-NEW", f) for f in CURRENT_BSMS] + [("OBU-OLD", f) for f in old])
    report = build_report(run)
    check = report.check("BSM.edition")
    assert check is not None and check.verdict == "FAIL" and check.value == len(old)
    assert check.note == f"csae53-2020 required; {len(old)} frames of csae53-2017 from OBU-OLD"
    bsm = report.metrics_of("BSM")
    assert bsm is not None and bsm.other_edition == len(old) and bsm.decoded == len(old) + len(CURRENT_BSMS)
    # a profile that requires the 2017 edition fails the other device instead
    profile = yaml.safe_load((Path(__file__).parents[1] / "pipeline/report/profiles/xiqing.yaml").read_text())
    profile["edition"] = "csae53-2017"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    check_2017 = build_report(run, profile_path=path).check("BSM.edition")
    assert check_2017 is not None and check_2017.value == len(CURRENT_BSMS) and "from OBU-NEW" in (check_2017.note or "")


def test_a_run_of_the_required_edition_passes_the_edition_check_also_one_written_before_the_column(tmp_path):
    run = _run_of(tmp_path, [("OBU-NEW", f) for f in CURRENT_BSMS])
    assert build_report(run).check("BSM.edition").verdict == "PASS"  # type: ignore[union-attr]
    for part in (run / "telemetry").rglob("*.parquet"):  # as a run of before: no framing, edition or relay
        table = pq.read_table(part, partitioning=None)
        pq.write_table(table.drop_columns([c for c in ("framing", "edition", "relay") if c in table.column_names]), part)
    assert "edition" not in pq.read_schema(next((run / "telemetry").rglob("*.parquet"))).names
    check = build_report(run).check("BSM.edition")
    assert check is not None and check.verdict == "PASS" and check.value == 0


def test_a_profile_naming_an_unknown_edition_is_refused(tmp_path):
    from pipeline.report.profile import ProfileError, load_profile

    profile = yaml.safe_load((Path(__file__).parents[1] / "pipeline/report/profiles/xiqing.yaml").read_text())
    profile["edition"] = "csae53-2016"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match="edition"):
        load_profile(path)


def test_a_simulated_rsu_writes_the_pre_release_which_the_ingest_reads_back():
    """What an RSU of the 2019-07 pre-release sends (intersection ``edition:``): the 2020 decoders
    refuse its MAP (NodeList's length takes one bit more), the pre-release reads it back whole."""
    _, value = next((t, c) for t, c in corpus() if t is MessageType.MAP)
    frame = editions.encode(MessageType.MAP, value, Edition.CSAE53_2019_07)
    assert frame != messages.encode(MessageType.MAP, value) and _refused_by_2020(frame)
    assert editions.identify(frame) == (Edition.CSAE53_2019_07, MessageType.MAP, value)
    with pytest.raises(ValueError, match="not written"):
        editions.encode(MessageType.MAP, value, Edition.CSAE53_2017)


def test_a_scenario_rsu_of_an_edition_the_simulators_do_not_write_is_refused():
    from v2x.scenario.model import ScenarioError, parse_scenario

    text = "name: t\nduration_s: 2\nintersections:\n  - {id: 1901, name: A, lat: 39.085, lon: 117.056, rsu_id: R1, edition: %s}\n"
    assert parse_scenario(text % "csae53-2019-07").intersections[0].edition is Edition.CSAE53_2019_07
    with pytest.raises(ScenarioError, match="a simulated RSU sends csae53-2020 or csae53-2019-07, not csae53-2017"):
        parse_scenario(text % "csae53-2017")
