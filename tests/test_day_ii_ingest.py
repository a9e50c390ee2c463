"""Day-II frames through the ingest's batch stage into Parquet and the SQL views: every message
of the corpus lands in its tables with the values it was built from, in the units and names the
views promise; a Day-II frame that cannot be carried is a reject with its reason."""

from __future__ import annotations

import pytest

from v2x import messages
from v2x.messages import DAY_II, MessageType

from pipeline.ingest.batch import BatchProcessor
from pipeline.sql import views

from tests.corpus import day_ii_corpus
from tests.test_validation import received_frames, write_run


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return views.connect(write_run(tmp_path_factory.mktemp("day-ii"), day_ii_corpus()))


def test_every_day_ii_frame_is_stored_decoded_with_its_type_and_msg_cnt(con):
    rows = con.execute("SELECT msg_type, msg_cnt, decode_ok, reject_reason FROM messages ORDER BY rx_seq").fetchall()
    expected = [(t.value, c["msgCnt"], True, None) for t, c in day_ii_corpus()]
    assert rows == expected
    assert {r[0] for r in rows} >= {t.value for t in DAY_II}


def test_a_bus_signal_priority_request_reads_in_units(con):
    row = con.execute(
        "SELECT vehicle_id, req_id, status, priority, kind, intersection_region, intersection_id, phase_id, turn, "
        "eta_s, distance_m, life_time_s, target_rsu FROM vir_requests WHERE kind = 'signalPriority'"
    ).fetchone()
    assert row == (
        b"BUS00001".hex(),
        7,
        "request",
        5,
        "signalPriority",
        1201,
        1101,
        2,
        "maneuverLeftTurn",
        12.4,
        96.3,
        20.0,
        b"RSU-0001".hex(),
    )
    vir = con.execute(
        "SELECT behavior, speed_mps, heading_deg, requests FROM vir WHERE vehicle_id = ?", [b"BUS00001".hex()]
    ).fetchone()
    assert vir == (["intersectionTurnLeft"], pytest.approx(9.7), 90.0, 1)


def test_parking_requests_slots_and_guidance(con):
    parking = con.execute(
        "SELECT status, parking, parking_type, slot_id, vehicle_class FROM vir_requests WHERE kind = 'parking'"
    ).fetchone()
    assert parking == ("comfirmed", ["enter", "park"], ["ordinary", "charging"], 17, 10)
    slots = con.execute("SELECT slot_id, sign, status, floor, parking_type FROM pam_slots ORDER BY slot_id").fetchall()
    assert slots == [
        (1, "B101", "available", -1, ["ordinary"]),
        (2, "B102", "occupied", -1, ["mini", "charging"]),
        (3, "B103", "reserved", -1, ["ordinary"]),
        (4, "B104", "unknown", -1, ["mini", "charging"]),
    ]
    assert con.execute("SELECT name, slots, slots_declared, floors, avp_type FROM pam").fetchone() == (
        "Xiqing P+R",
        4,
        4,
        2,
        "p4",
    )
    assert con.execute("SELECT vehicle_id, path, target_slot FROM pam_guidance").fetchone() == (b"TJ000001".hex(), [1, 2], 1)
    # the slot's centre lies between its corners
    lat, lon = con.execute("SELECT lat_deg, lon_deg FROM pam_slots WHERE slot_id = 1").fetchone()
    assert 39.0851 < lat < 39.0852 and 117.0561 < lon < 117.05613


def test_roadside_coordination_answers_and_lanes(con):
    answers = con.execute(
        "SELECT vehicle_id, suggestion, info, life_time_s, path_points FROM rsc_vehicles ORDER BY vehicle_id"
    ).fetchall()
    assert answers == [
        (b"BUS00001".hex(), ["intersectionTurnLeft"], ["signalPriority"], 20.0, 0),
        (b"TJ000001".hex(), ["parking"], None, None, 3),
    ]
    end = con.execute("SELECT path_end_lat_deg, path_end_lon_deg FROM rsc_vehicles WHERE path_points = 3").fetchone()
    assert end == (pytest.approx(39.0852), pytest.approx(117.0562))
    lane = con.execute(
        "SELECT upstream_id, downstream_id, lanes, info, recommended_speed_mps, description FROM rsc_lanes"
    ).fetchone()
    assert lane == (1102, 1101, [1, 2], ["laneReservation"], 5.0, "sanitation")


def test_people_perception_corrections_and_platoons(con):
    worker = con.execute(
        "SELECT basic_type, worker_type, activities, propulsion, radius FROM psm WHERE basic_type = 'aROADWORKER'"
    ).fetchone()
    assert worker == ("aROADWORKER", "constructionPersonnel", ["workingOnRoad", "settingUpClosures"], "human:onFoot", 5)
    objects = con.execute("SELECT object, type, source FROM ssm_objects ORDER BY object, object_id").fetchall()
    assert objects == [
        ("obstacle", "trafficcone", "lidar"),
        ("obstacle", "traffic-roadblock", "lidar"),
        ("participant", "pedestrian", "lidar"),
        ("participant", "cyclist", "video"),
        ("participant", "bus", "v2x"),
    ]
    assert con.execute(
        "SELECT equipment_type, participants, obstacles, regions FROM ssm ORDER BY participants DESC"
    ).fetchall() == [
        ("rsu", 3, 2, 1),
        ("obu", 0, 0, 0),
    ]
    assert con.execute(
        "SELECT rtcm_id, revision, payload_octets, message_number, frame_problem FROM rtcm ORDER BY correction"
    ).fetchall() == [
        (1005, "rtcmRev3-2", 25, 1005, None),
        (1074, "rtcmRev3-2", 128, 1074, None),
    ]
    assert con.execute("SELECT role, members, capacity, open_to_join FROM clpmm").fetchone() == ("leader", 2, 4, True)


def test_day_ii_frames_break_no_field_check(con):
    assert con.execute("SELECT check_name, detail FROM violations").fetchall() == []


def _ext(ext_id: int, inner: bytes) -> bytes:
    return messages.message_set().encode("MessageFrame", ("msgFrameExt", {"messageId": ext_id, "value": inner}))


def test_a_day_ii_message_the_harness_does_not_carry_or_cut_short_is_a_reject_with_its_reason():
    psm = messages.encode(MessageType.PSM, next(c for t, c in day_ii_corpus() if t is MessageType.PSM))
    frames = [
        (MessageType.PSM, _ext(17, b"\x00\x01")),  # VPM: in the standard, not in the harness
        (MessageType.PSM, psm[:-3]),  # cut
        (MessageType.PSM, _ext(15, messages.message_set().encode("PersonalSafetyMessage", day_ii_corpus()[5][1]) + b"\x00")),
    ]
    out = BatchProcessor(None).process(received_frames(frames))
    reasons = [r for t in out.telemetry.values() for r in t.column("reject_reason").to_pylist()]
    assert len(reasons) == 3 and all(reasons), reasons
    assert any("messageId 17" in r for r in reasons)
    assert any("trailing" in r or "ends after" in r for r in reasons)
    assert all(not t.num_rows for name, t in out.tables.items() if name == "psm")


# Fuzzed open-type octets under PAM's messageId that asn1tools cannot decode at all: it raises
# NotImplementedError (an extension bitmap longer than it reads, X.691 11.9.3.4), not its own error.
UNREADABLE_PAM = bytes.fromhex("911ab6a736a2d4fc9244481f107bdaa3fd7b1658cc1169e526054b6dc46adf1e0b9a9dc20b")


def test_an_encoding_the_decoder_cannot_read_is_a_clear_error_and_a_recorded_reject():
    with pytest.raises(NotImplementedError):
        messages.message_set().decode("PAMData", UNREADABLE_PAM)  # what asn1tools itself does
    with pytest.raises(ValueError, match="PAMData: the decoder cannot read this encoding"):
        messages.decode(_ext(14, UNREADABLE_PAM))
    good = messages.encode(MessageType.PAM, next(c for t, c in day_ii_corpus() if t is MessageType.PAM))
    out = BatchProcessor(None).process(received_frames([(MessageType.PAM, _ext(14, UNREADABLE_PAM)), (MessageType.PAM, good)]))
    reasons = [r for t in out.telemetry.values() for r in t.column("reject_reason").to_pylist()]
    assert len(reasons) == 2 and "cannot read this encoding" in (reasons[0] or "") and reasons[1] is None, reasons
    assert out.tables["pam"].num_rows == 1  # storage goes on with the next frame
