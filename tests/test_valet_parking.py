"""Automated valet parking (T/CSAE 157-2020 GSPA): the car park's layout as PAM describes it, the
conversation of the world model (requests, answers, slots changing status), what the RSU and the
cars put in their PAM, RSC and VIR, the RTCM reference station against pyrtcm, and the parking
checks judged on signed frames with chosen times."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from pyrtcm import RTCMReader

from v2x import messages
from v2x.dayii import pam, rtcm, vir
from v2x.dayii.rtcm import rtcm3_frame, rtcm3_number, rtcm3_problem
from v2x.device import faults
from v2x.messages import MessageType
from v2x.scenario.model import Fault, ScenarioError, load_scenario, with_changes
from v2x.security import Signer

from pipeline.sql import views
from roadside.car_park import pam_content
from roadside.coordination import parking_answers, rsc_content
from roadside.reference_station import LIGHT_MS, ReferenceStation, ecef, station_position
from vehicles.car_park import ENTRANCE, EXIT, CarParkLayout, aisle_end, junction
from vehicles.priority_requests import vir_content
from vehicles.traffic import TICK_S, Traffic
from vehicles.valet_parking import AIR_S, COMPLETE_S, DETECT_S, RSC_PERIOD_S

from tests.signed_flows import flagged, flow_signers, signed_run

# --- the car park's layout -----------------------------------------------------------------------


def _valet(**changes) -> Traffic:
    scenario = load_scenario("valet-parking")
    if changes:
        inter = scenario.intersections[0]
        park = inter.car_park.model_dump() | changes.pop("car_park", {})
        scenario = with_changes(scenario, intersections=[inter.model_dump() | {"car_park": park}], **changes)
    return Traffic(scenario, np.random.default_rng(scenario.seed))


def test_every_slot_lies_beside_the_last_drive_of_its_entry_path_and_the_pam_says_so():
    traffic = _valet()
    layout = traffic.valet.layout
    assert layout is not None and len(layout.slots) == 24
    value = pam.pam(msg_cnt=1, lot=layout.lot, moy=1, status={})
    msg_type, decoded = messages.decode(messages.encode(MessageType.PAM, value), check_constraints=True)
    listed = {
        slot["slotID"]: (drive["upstreamPAMNodeId"], node["id"])
        for node in decoded["pamNodes"]
        for drive in node.get("inDrives", [])
        for slot in drive.get("parkingSlots", [])
    }
    assert msg_type is MessageType.PAM and sorted(listed) == sorted(layout.slots)
    for slot_id in layout.slots:
        path = layout.entry_path(slot_id)
        assert path[0] == ENTRANCE and listed[slot_id] == path[-2:], slot_id
        assert layout.exit_path(slot_id)[-1] == EXIT
        a = layout.slots[slot_id].aisle
        assert path[-2:] == (junction(a), aisle_end(a))
    attributes = {node["id"]: node.get("attributes") for node in decoded["pamNodes"]}
    assert attributes[ENTRANCE] == pam.bits("PAMNodeAttributes", ("entrance",))
    assert attributes[EXIT] == pam.bits("PAMNodeAttributes", ("exit",))


def test_a_slot_is_2_5_m_wide_and_5_m_deep_where_the_pam_puts_its_corners():
    layout = CarParkLayout(load_scenario("valet-parking").intersections[0].car_park, 39.07, 117.06)
    slot = next(s for s in layout.lot.nodes for d in s.drives for s in d.slots)
    (tl, tr, bl) = slot.corners
    assert messages.distance_m(*tl, *tr) == pytest.approx(2.5, abs=0.01)
    assert messages.distance_m(*tl, *bl) == pytest.approx(5.0, abs=0.01)


# --- the conversation ----------------------------------------------------------------------------


def _run_model(traffic: Traffic, seconds: float) -> dict[int, list[tuple[float, str, int, int | None]]]:
    """Each valet car's VIR requests tick by tick: (time, status, reqID, slot)."""
    seen: dict[int, list[tuple[float, str, int, int | None]]] = {i: [] for i in traffic.valet.cars}
    for tick in range(round(seconds / TICK_S)):
        traffic.advance_to(tick)
        for i in traffic.valet.cars:
            for view in traffic.valet.of_vehicle(i, tick):
                seen[i].append((tick * TICK_S, view.status, view.req_id, view.slot_id))
    return seen


def test_each_arriving_car_is_answered_given_its_own_free_slot_and_parks_in_it_under_one_req_id():
    traffic = _valet()
    valet = traffic.valet
    seen = _run_model(traffic, 22.0)
    arriving = [i for i in valet.cars if i not in valet.home]
    slots = {}
    for i in arriving:
        statuses = [s for _, s, _, _ in seen[i]]
        assert statuses[0] == "request" and "comfirmed" in statuses, i
        assert len({r for _, _, r, _ in seen[i]}) == 1, "one reqID throughout"
        slots[i] = {slot for _, s, _, slot in seen[i] if s != "request"}
        assert len(slots[i]) == 1
    assigned = [next(iter(s)) for s in slots.values()]
    assert len(set(assigned)) == len(arriving), "no two cars get one slot"
    for request in valet.history:
        assert request.answered_s - request.sent_s <= 0.1 - AIR_S + 1e-9  # GSPA 100 ms, the way back included
        assert request.answered_s >= request.sent_s + AIR_S
    parked = [i for i in arriving if any(s == "complete" for _, s, _, _ in seen[i])]
    assert len(parked) >= 3
    for i in parked:
        slot = next(iter(slots[i]))
        centre = valet.layout.latlon(valet.layout.slots[slot].centre)
        lat, lon, _ = traffic.positions()
        assert messages.distance_m(float(lat[i]), float(lon[i]), *centre) < 0.1, "stopped in its slot"
        completes = [t for t, s, _, _ in seen[i] if s == "complete"]
        assert len(completes) <= round(COMPLETE_S / TICK_S)


def test_slots_go_available_reserved_occupied_and_a_departure_frees_its_slot():
    traffic = _valet()
    valet = traffic.valet
    traffic.advance_to(round(22.0 / TICK_S))
    park = next(r for r in valet.history if r.purpose == "park" and r.slot_id in valet.parked_s)
    slot = park.slot_id
    assert valet.status(slot, park.answered_s - 0.01) == "available"
    assert valet.status(slot, park.answered_s) == "reserved"
    stopped = valet.parked_s[slot]
    assert valet.status(slot, stopped + DETECT_S - 0.01) == "reserved"
    assert valet.status(slot, stopped + DETECT_S) == "occupied"
    leave = next(r for r in valet.history if r.purpose == "exit")
    assert leave.slot_id in valet.occupied_at_start
    left = valet.left_s[leave.slot_id]
    assert valet.status(leave.slot_id, left) == "occupied"
    later = left + DETECT_S
    assert valet.status(leave.slot_id, later) in ("available", "reserved")  # free, or given to an arriving car
    statuses = valet.statuses(0.0)
    assert sum(s == "occupied" for s in statuses.values()) == round(0.5 * 24)


def test_a_car_the_full_car_park_has_no_slot_for_is_told_to_stop_and_waits_at_the_entrance():
    full = {"car_park": {"occupied": 1.0}, "fleet": [{"kind": "car", "count": 1, "valet": "arrive"}]}
    asking = _valet(**copy.deepcopy(full))
    asking.advance_to(2)
    denied = asking.valet.history[0]
    answer = parking_answers(asking, denied.answered_s)
    assert [a.suggestion for a in answer] == [("stop",)] and not answer[0].path
    assert "parkingAreaGuidance" not in pam_content(asking, denied.answered_s, 0, 0)
    traffic = _valet(**copy.deepcopy(full))
    valet = traffic.valet
    seen = _run_model(traffic, 4.0)
    statuses = [s for _, s, _, _ in seen[0]]
    assert statuses[0] == "request" and "cancel" in statuses and "comfirmed" not in statuses
    assert len({r for _, _, r, _ in seen[0]}) >= 2, "it asks again, under a new reqID"
    lat, lon, _ = traffic.positions()
    entrance = valet.layout.latlon(valet.layout.nodes[ENTRANCE])
    assert messages.distance_m(float(lat[0]), float(lon[0]), *entrance) < 0.2, "held at the barrier"


def test_the_roadside_and_the_cars_put_the_same_conversation_in_pam_rsc_and_vir():
    cars, rsu = _valet(), _valet()  # two processes, each with the world model from the seed
    request = None
    for tick in range(40):
        cars.advance_to(tick)
        for i in cars.valet.cars:
            v = vir_content(cars, i, tick, 0, 0)
            for r in v["intAndReq"].get("reqs", []):
                if r["status"] == "comfirmed" and request is None:
                    request = (v["id"], r["info"][1]["expectedParkingSlotID"], r["reqID"])
    assert request is not None
    vehicle, slot, _ = request
    t = 3.0
    pam_value = pam_content(rsu, t, 0, 0)
    guides = {g["vehId"]: g for g in pam_value["parkingAreaGuidance"]}
    assert guides[vehicle]["targetParkingSlot"] == slot
    status = {
        s["slotID"]: s["status"] for n in pam_value["pamNodes"] for d in n.get("inDrives", []) for s in d.get("parkingSlots", [])
    }
    assert status[slot] == "reserved"
    rsc_value = rsc_content(rsu.scenario, rsu, 0, t, 0, 0)
    answers = {c["vehId"]: c for c in rsc_value["coordinates"]}
    assert answers[vehicle]["driveSuggestion"]["suggestion"] == vir.bits("DriveBehavior", ("parking",))
    path = answers[vehicle]["pathGuidance"]
    end = rsu.valet.layout.latlon(rsu.valet.layout.slots[slot].centre)
    last = path[-1]["pos"]["offsetLL"][1]
    ref_lat, ref_lon = rsu.scenario.intersections[0].lat, rsu.scenario.intersections[0].lon
    assert messages.distance_m(ref_lat + last["lat"] / 1e7, ref_lon + last["lon"] / 1e7, *end) < 0.2, "the path ends in the slot"


def test_valet_scenario_keys_are_checked():
    scenario = load_scenario("valet-parking")
    with pytest.raises(ScenarioError, match="valet cars need an intersection with a car_park"):
        inter = scenario.intersections[0].model_dump() | {"car_park": None}
        with_changes(scenario, intersections=[inter])
    with pytest.raises(ScenarioError, match="3 valet cars depart, but only 0 of the car park's 24 slots are occupied"):
        inter = scenario.intersections[0].model_dump()
        inter["car_park"]["occupied"] = 0.0
        with_changes(scenario, intersections=[inter], fleet=[{"kind": "car", "count": 3, "valet": "depart"}])
    with pytest.raises(ScenarioError, match="valet parking is for car, logistics_van"):
        with_changes(scenario, fleet=[{"kind": "bus", "count": 1, "valet": "arrive"}])
    with pytest.raises(ScenarioError, match="car_park: the RSU sends Day-II messages"):
        with_changes(scenario, intersections=[scenario.intersections[0].model_dump() | {"uplink": "openv2x-json"}])


# --- RTCM 3 frames -------------------------------------------------------------------------------


def test_the_reference_station_frames_read_back_in_pyrtcm_field_by_field():
    station = ReferenceStation(1601, 39.072, 117.063, 5.0, np.random.default_rng(2))
    unix_ms = 1_780_000_123_456
    frames = dict(station.corrections(unix_ms, 2.5))
    assert sorted(frames) == [1005, 1074, 1124]
    arp = RTCMReader.parse(frames[1005])
    x, y, z = ecef(39.072, 117.063, 5.0)
    assert (arp.DF002, arp.DF003, arp.DF022) == (1005, 1601, 1)
    assert pytest.approx((x, y, z), abs=1e-4) == (arp.DF025, arp.DF026, arp.DF027)
    gps_tow = (unix_ms - 315_964_800_000 + 18_000) % (7 * 86_400_000)
    for number, tow_field, sky in ((1074, "DF004", station.sky["GPS"]), (1124, "DF427", station.sky["BDS"])):
        msm = RTCMReader.parse(frames[number])
        assert number == msm.DF002 and msm.NSat == len(sky) and msm.NCell == len(sky)
        assert getattr(msm, tow_field) == (gps_tow if number == 1074 else gps_tow - 14_000)
        for k, sat in enumerate(sky, start=1):
            assert int(getattr(msm, f"PRN_{k:02d}")) == sat.prn
            rough = getattr(msm, f"DF397_{k:02d}") + getattr(msm, f"DF398_{k:02d}")
            fine = getattr(msm, f"DF400_{k:02d}")
            assert (rough + fine) * LIGHT_MS == pytest.approx(sat.range_m + sat.rate_mps * 2.5, abs=0.01)
            assert getattr(msm, f"DF403_{k:02d}") == sat.cnr_dbhz


def test_ecef_of_points_whose_coordinates_are_known():
    assert ecef(0.0, 0.0, 0.0) == pytest.approx((6_378_137.0, 0.0, 0.0), abs=1e-6)
    assert ecef(90.0, 0.0, 0.0) == pytest.approx((0.0, 0.0, 6_356_752.314245), abs=1e-5)
    assert ecef(0.0, 90.0, 100.0) == pytest.approx((0.0, 6_378_237.0, 0.0), abs=1e-6)


def test_a_frame_that_is_not_a_whole_rtcm3_frame_is_named():
    good = station_position(7, 39.0, 117.0, 0.0)
    assert rtcm3_problem(good) is None and rtcm3_number(good) == 1005
    assert rtcm3_frame(good[3:-3]) == good
    assert "preamble 0x00" in (rtcm3_problem(b"\x00" + good[1:]) or "")
    assert "length field 19 octets, but 18 follow" in (rtcm3_problem(good[:-1]) or "")
    assert "CRC-24Q" in (rtcm3_problem(good[:-1] + bytes([good[-1] ^ 1])) or "")
    assert "reserved bits" in (rtcm3_problem(good[:1] + b"\x04" + good[2:]) or "")
    assert "shorter" in (rtcm3_problem(b"\xd3\x00") or "")
    assert rtcm3_number(good[:-1]) is None
    rng = np.random.default_rng(5)
    for _ in range(2000):
        octets = bytes(rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8))
        problem = rtcm3_problem(octets)
        assert problem is None or isinstance(problem, str)
    with pytest.raises(ValueError, match="2 to 1023 octets"):
        rtcm3_frame(b"\x01")


# --- the parking checks over signed frames with chosen times -------------------------------------


@pytest.fixture(scope="module")
def signers(tmp_path_factory) -> dict[str, Signer]:
    rsu_aids = [3618, MessageType.RSC.aid, MessageType.PAM.aid, MessageType.RTCM.aid]
    return flow_signers(tmp_path_factory.mktemp("pki-valet"), [111, MessageType.VIR.aid], rsu_aids)


CAR = b"CAR00001"
LOT = CarParkLayout(load_scenario("valet-parking").intersections[0].car_park, 39.072, 117.063)


def _car_vir(status: str, cnt: int, slot: int | None = None, req_id: int = 9, wants: tuple[str, ...] = ("enter", "park")) -> dict:
    ask = vir.ParkingArea(10, wants, ("ordinary",), slot)
    return vir.vir(
        msg_cnt=cnt,
        vehicle_id=CAR,
        sec_mark=0,
        lat_deg=39.0723,
        lon_deg=117.063,
        speed_mps=2.5,
        heading_deg=0,
        requests=[vir.DriveRequest(req_id, status, ask, 2, target_rsu=b"RSU-0001", life_time_s=30.0)],
    )


def _pam(cnt: int, status: dict[int, str], slot: int | None = None, leaving: int | None = None) -> dict:
    guide = [pam.ParkingGuide(CAR, LOT.entry_path(slot), slot)] if slot is not None else []
    guide += [pam.ParkingGuide(CAR, LOT.exit_path(leaving))] if leaving is not None else []
    return pam.pam(msg_cnt=cnt, lot=LOT.lot, moy=1, status=status, guidance=guide)


def _violations(run: Path) -> set[tuple[str, str]]:
    return flagged(run, "PAM", "RTCM", "VIR")


def test_a_clean_parking_conversation_breaks_no_parking_check(tmp_path, signers):
    slot = 102
    items = [
        (0.00, MessageType.PAM, _pam(0, {slot: "available"})),
        (0.10, MessageType.VIR, _car_vir("request", 0)),
        (0.15, MessageType.PAM, _pam(1, {slot: "reserved"}, slot)),
        (0.20, MessageType.VIR, _car_vir("comfirmed", 1, slot)),
        (5.00, MessageType.VIR, _car_vir("complete", 2, slot)),
        (5.50, MessageType.PAM, _pam(2, {slot: "reserved"})),  # within 1.5 s of parking: not judged yet
        (6.60, MessageType.PAM, _pam(3, {slot: "occupied"})),
        (7.00, MessageType.RTCM, rtcm.rtcm(msg_cnt=0, corrections=[(1005, station_position(1, 39.0, 117.0, 0.0))])),
    ]
    assert _violations(signed_run(tmp_path, signers, items)) == set()


def test_each_parking_check_flags_the_message_that_breaks_it(tmp_path, signers):
    good = station_position(1, 39.0, 117.0, 0.0)
    items = [
        (0.10, MessageType.VIR, _car_vir("request", 0)),
        (0.15, MessageType.PAM, _pam(1, {102: "occupied"}, 102)),  # guided to a taken slot
        (0.20, MessageType.VIR, _car_vir("comfirmed", 1, 102)),
        (5.00, MessageType.VIR, _car_vir("complete", 2, 102)),
        (6.60, MessageType.PAM, _pam(2, {102: "available"})),  # the car parked 1.6 s ago
        (7.00, MessageType.VIR, _car_vir("request", 3, req_id=10, wants=("exit",))),  # it asks to leave
        (7.05, MessageType.PAM, _pam(3, {102: "available"}, leaving=102)),  # no longer judged: the car asked again
        (7.10, MessageType.RTCM, rtcm.rtcm(msg_cnt=4, corrections=[(1005, good[:-1] + bytes([good[-1] ^ 1]))])),
        (7.20, MessageType.RTCM, rtcm.rtcm(msg_cnt=5, corrections=[(1074, good)])),  # the frame holds a 1005
        (8.00, MessageType.PAM, _pam(6, {})),
    ]
    found = _violations(signed_run(tmp_path, signers, items))
    assert found == {
        ("PAM.guidance_to_free_slot", "PAM 1"),
        ("PAM.slot_status_parked", "PAM 2"),
        ("RTCM.frame", "RTCM 4"),
        ("RTCM.frame", "RTCM 5"),
    }, found


def test_a_guidance_path_that_does_not_end_beside_its_slot_is_flagged(tmp_path, signers):
    value = _pam(1, {203: "available"}, 203)
    value["parkingAreaGuidance"][0]["drivePath"] = [ENTRANCE, junction(1), aisle_end(1)]  # slot 203 is on aisle 2
    items = [(0.1, MessageType.VIR, _car_vir("request", 0)), (0.15, MessageType.PAM, value)]
    con = views.connect(signed_run(tmp_path, signers, items))
    detail = con.execute("SELECT detail FROM violations WHERE check_name = 'PAM.guidance_to_free_slot'").fetchone()
    assert detail == (f"vehicle {CAR.hex()} guided to slot 203 on the drive 12->22, not beside the path's last drive 11->21",)


def test_the_parking_faults_break_what_they_name():
    traffic = _valet()
    traffic.advance_to(round(15 / TICK_S))
    value = pam_content(traffic, 1.0, 0, 0)
    lost = faults.inject([Fault(kind="pam_occupancy_lost")], MessageType.PAM, 0, 0, copy.deepcopy(value))
    statuses = [s["status"] for n in lost["pamNodes"] for d in n.get("inDrives", []) for s in d.get("parkingSlots", [])]
    assert set(statuses) == {"available"}
    taken = faults.inject([Fault(kind="pam_guide_to_occupied")], MessageType.PAM, 0, 0, copy.deepcopy(value))
    targets = {g["targetParkingSlot"] for g in taken["parkingAreaGuidance"] if "targetParkingSlot" in g}
    shown = {
        s["slotID"]: s["status"] for n in taken["pamNodes"] for d in n.get("inDrives", []) for s in d.get("parkingSlots", [])
    }
    assert targets and all(shown[t] == "occupied" for t in targets)
    corrections = rtcm.rtcm(msg_cnt=0, corrections=[(1005, station_position(1, 39.0, 117.0, 0.0))])
    damaged = faults.inject([Fault(kind="rtcm_bad_crc")], MessageType.RTCM, 0, 0, copy.deepcopy(corrections))
    assert rtcm3_problem(damaged["corrections"][0]["payload"]) == "CRC-24Q does not match"
    assert RSC_PERIOD_S <= 0.1


def test_the_car_park_rsu_and_the_valet_cars_are_granted_what_they_send():
    from v2x.run import _device_requests

    granted = {d.device_id: set(d.app_aids) for d in _device_requests(load_scenario("valet-parking"))}
    day_ii = {MessageType.RSC.aid, MessageType.PAM.aid, MessageType.RTCM.aid}
    assert day_ii <= granted["RSU-XQ-1601"] and MessageType.SSM.aid not in granted["RSU-XQ-1601"]
    assert MessageType.VIR.aid in granted["OBU-0001"] and MessageType.VIR.aid in granted["OBU-0006"]  # arriving, departing
    assert MessageType.VIR.aid not in granted["OBU-0007"]  # a car on the access road
