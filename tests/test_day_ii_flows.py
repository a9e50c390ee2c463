"""The Day-II request / response flows: the bus-priority conversation of the world model, the
flow faults, the Day-II AIDs, and the flow checks judged on signed frames with chosen times."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from v2x import clock, messages
from v2x.dayii import rsc, vir
from v2x.device import faults
from v2x.messages import MessageType
from v2x.scenario.model import Fault, load_scenario
from v2x.security import Signer

from pipeline.sql import views
from vehicles.signal_priority import AIR_S, COMPLETE_S, RSC_PERIOD_S, SignalPriority

from tests.signed_flows import flagged, flow_signers, signed_run

# --- the conversation in the world model ---------------------------------------------------------


def _priority(kinds: list[str], detect: list[float | None]) -> SignalPriority:
    return SignalPriority(kinds, np.full(len(kinds), 0.03), detect, 0.1, np.random.default_rng(1))


def test_a_bus_asks_is_answered_confirms_and_completes_under_one_req_id():
    p = _priority(["bus", "car"], [150.0])
    first_id = int(p.next_req_id[0])
    statuses, answered_at = [], None
    for tick in range(60):
        d = np.array([[200.0 - 5 * tick], [100.0]])  # the bus approaches, passes at tick 40; the car sits within 100 m
        p.update(tick, d, np.array([5.0, 0.0]))
        views_ = p.of_vehicle(0, tick)
        statuses += [(tick, v.status, v.req_id) for v in views_]
        for m in range(int(tick * 0.1 / RSC_PERIOD_S), int((tick + 1) * 0.1 / RSC_PERIOD_S)):
            t_rsc = float(p.rsc_offset_s[0]) + m * RSC_PERIOD_S
            if answered_at is None and any(a.vehicle == 0 for a in p.answers(0, t_rsc)):
                answered_at = t_rsc
        assert not p.of_vehicle(1, tick), "a car does not ask"
    opened = statuses[0]
    assert opened == (11, "request", first_id)  # within 150 m from tick 11 (200 - 55 = 145)
    sent = 0.03 + 11 * 0.1
    assert answered_at is not None and sent + AIR_S <= answered_at < sent + AIR_S + RSC_PERIOD_S + 1e-9
    assert answered_at - sent <= 0.1  # within CHPVP's 100 ms
    kinds = [s for _, s, _ in statuses]
    assert kinds[1:] and set(kinds[1 : kinds.index("complete")]) == {"comfirmed"}
    assert {r for _, _, r in statuses} == {first_id}  # one reqID throughout
    completes = [t for t, s, _ in statuses if s == "complete"]
    assert completes[0] == 40 and len(completes) == round(COMPLETE_S / 0.1)  # at the stop line at tick 40
    assert not p.of_vehicle(0, 59) and not p.answers(0, 5.9)
    assert int(p.next_req_id[0]) == (first_id + 1) % 256


def test_a_request_whose_life_time_runs_out_is_cancelled_and_the_next_one_gets_a_new_req_id():
    p = _priority(["bus"], [150.0])
    ids = []
    for tick in range(400):  # the bus stays 100 m from the stop line for 40 s (its speed says 5 s away)
        p.update(tick, np.array([[100.0]]), np.array([20.0]))
        ids += [(v.req_id, v.status) for v in p.of_vehicle(0, tick)]
    cancelled = [r for r, s in ids if s == "cancel"]
    assert cancelled and len({r for r, _ in ids}) >= 2
    first, second = sorted({r for r, _ in ids}, key=[r for r, _ in ids].index)[:2]
    assert second == (first + 1) % 256


def test_an_intersection_without_priority_gets_no_request_and_a_car_is_denied_if_it_asks():
    p = _priority(["bus"], [None])
    p.update(0, np.array([[50.0]]), np.array([5.0]))
    assert not p.of_vehicle(0, 0) and p.senders() == [] and p.offering() == []
    q = _priority(["bus", "bus"], [150.0])
    q.kinds = ["bus", "car"]  # as if the second asked: the RSU decides by kind
    q.asking[:] = True
    q.update(0, np.array([[50.0], [60.0]]), np.array([5.0, 5.0]))
    answers = {a.vehicle: a.granted for a in q.answers(0, 1.0)}
    assert answers == {0: True, 1: False}


def test_the_roadside_and_the_vehicles_see_the_same_conversation():
    """Two world models from the seed (as the two simulator processes run them) agree on every
    request and answer, whichever order they are advanced in."""
    from vehicles.traffic import Traffic

    scenario = load_scenario("bus-route")
    a = Traffic(scenario, np.random.default_rng(scenario.seed))
    b = Traffic(scenario, np.random.default_rng(scenario.seed))
    b.advance_to(80)
    a.advance_to(80)
    assert {k: (r.req_id, r.sent_s, r.answered_s) for k, r in a.priority.requests.items()} == {
        k: (r.req_id, r.sent_s, r.answered_s) for k, r in b.priority.requests.items()
    }
    assert a.priority.requests  # buses asked within 8 s


# --- faults and AIDs -----------------------------------------------------------------------------


def _bus_vir(req_id: int, status: str, msg_cnt: int = 0, vehicle: bytes = b"BUS00001") -> dict:
    request = vir.DriveRequest(req_id, status, vir.SignalPriority(1201, 1201, 1, eta_s=8.0, distance_m=80.0), life_time_s=2.0)
    return vir.vir(
        msg_cnt=msg_cnt,
        vehicle_id=vehicle,
        sec_mark=0,
        lat_deg=39.085,
        lon_deg=117.056,
        speed_mps=8,
        heading_deg=90,
        requests=[request],
    )


def test_the_flow_faults_break_what_they_name():
    per_message = [Fault(kind="vir_req_id_per_message", devices=1, every=1)]
    ids = [
        faults.inject(per_message, MessageType.VIR, 0, k, _bus_vir(7, "request"))["intAndReq"]["reqs"][0]["reqID"]
        for k in range(3)
    ]
    assert ids == [7, 8, 9]
    answer = rsc.rsc(
        msg_cnt=0,
        rsu_id=b"RSU-0001",
        sec_mark=0,
        lat_deg=39.085,
        lon_deg=117.056,
        vehicles=[rsc.VehicleCoordination(b"BUS00001")],
    )
    silent = faults.inject([Fault(kind="rsc_no_answer")], MessageType.RSC, 0, 0, copy.deepcopy(answer))
    assert "coordinates" not in silent
    stray = faults.inject([Fault(kind="rsc_unrequested")], MessageType.RSC, 0, 0, copy.deepcopy(answer))
    assert [c["vehId"] for c in stray["coordinates"]] == [b"BUS00001", faults.UNREQUESTED_VEHICLE]
    for content in (silent, stray):
        assert messages.decode(messages.encode(MessageType.RSC, content)) == (MessageType.RSC, content)


def test_day_ii_aids_are_configuration_with_defaults_and_clear_errors():
    assert messages.day_ii_aids(None) == messages.DAY_II_DEFAULT_AIDS
    assert messages.day_ii_aids(" vir=4001 ,RSC=4002")[MessageType.VIR] == 4001
    for bad, says in (
        ("VIR", "TYPE=AID"),
        ("VPM=5", "TYPE=AID"),
        ("VIR=3618", "two messages"),
        ("VIR=9,RSC=9", "two"),
        ("VIR=0", "outside"),
    ):
        with pytest.raises(ValueError, match=says):
            messages.day_ii_aids(bad)
    assert messages.aid_misfit(MessageType.VIR, MessageType.VIR.aid) is None
    assert "policy default" in (messages.aid_misfit(MessageType.VIR, 111) or "")


# --- the flow checks over signed frames with chosen times ----------------------------------------


@pytest.fixture(scope="module")
def signers(tmp_path_factory) -> dict[str, Signer]:
    return flow_signers(tmp_path_factory.mktemp("pki-flows"), [111, MessageType.VIR.aid], [3618, MessageType.RSC.aid])


def _answer(vehicle: bytes, msg_cnt: int = 0, suggestion: tuple[str, ...] = ("intersectionStraightThrough",)) -> dict:
    coordination = rsc.VehicleCoordination(vehicle, suggestion, 1.0, info=("signalPriority",))
    return rsc.rsc(msg_cnt=msg_cnt, rsu_id=b"RSU-0001", sec_mark=0, lat_deg=39.085, lon_deg=117.056, vehicles=[coordination])


def _violations(run: Path) -> set[tuple[str, str]]:
    return flagged(run, "VIR", "RSC")


def test_a_clean_conversation_breaks_no_flow_check(tmp_path, signers):
    items = [
        (0.00, MessageType.VIR, _bus_vir(7, "request", 0)),
        (0.04, MessageType.RSC, _answer(b"BUS00001")),
        (0.10, MessageType.VIR, _bus_vir(7, "comfirmed", 1)),
        (0.20, MessageType.VIR, _bus_vir(7, "complete", 2)),
        (0.40, MessageType.VIR, _bus_vir(0, "unknown", 3)),  # the run goes on past the answer window
    ]
    assert _violations(signed_run(tmp_path, signers, items)) == set()


def test_each_flow_check_flags_the_message_that_breaks_it(tmp_path, signers):
    bsm_car = messages.bsm(
        msg_cnt=0,
        vehicle_id=b"CAR00001",
        sec_mark=0,
        lat_deg=39.085,
        lon_deg=117.056,
        speed_mps=5,
        heading_deg=90,
        width_m=1.8,
        length_m=4.7,
        vehicle_class=10,
    )
    items = [
        (0.00, MessageType.VIR, _bus_vir(7, "request", 0)),  # answered at 0.15 s: too late
        (0.10, MessageType.VIR, _bus_vir(8, "request", 1)),  # same request, new reqID
        (0.15, MessageType.RSC, _answer(b"BUS00001")),
        (2.50, MessageType.VIR, _bus_vir(8, "comfirmed", 2)),  # after reqID 8's lifeTime (0.1 + 2.0 s)
        (2.60, MessageType.RSC, _answer(b"NOBODY00", 1)),  # nobody asked
        (2.70, MessageType.BSM, bsm_car),
        (2.80, MessageType.VIR, _bus_vir(3, "request", 3, vehicle=b"CAR00001")),
        (2.82, MessageType.RSC, _answer(b"CAR00001", 2)),  # a car granted priority
        (3.00, MessageType.VIR, _bus_vir(0, "unknown", 4)),
    ]
    found = _violations(signed_run(tmp_path, signers, items))
    assert found == {
        ("VIR.request_answered", "VIR 0"),
        ("VIR.req_id_kept", "VIR 1"),
        ("VIR.life_time", "VIR 2"),
        ("RSC.answer_requested", "RSC 1"),
        ("RSC.priority_class", "RSC 2"),
    }, found


# --- sanitation and road works: SSM, RSC lanes, PSM --------------------------------------------


def test_the_rsu_sees_the_road_workers_where_their_own_psm_puts_them():
    from roadside.sensing import RoadsideSensing
    from vehicles.road_workers import position, psm_stream, road_workers
    from vehicles.traffic import Traffic

    scenario = load_scenario("sanitation")
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    workers = road_workers(scenario)
    assert [w.device_id for w in workers] == scenario.worker_ids() == ["WKR-1401-1", "WKR-1401-2"]
    stream = psm_stream(scenario, traffic.corridor, workers[0], np.random.default_rng(0))
    frame = stream.build(30, clock.now_unix_us())
    msg_type, content = messages.decode(frame.frame)
    t_s = stream.offset_s + 30 * stream.period_s
    x, y, _, _ = position(scenario, traffic.corridor, workers[0], t_s)
    lat, lon = traffic.corridor.frame.to_latlon(x, y)
    assert msg_type is MessageType.PSM and content["non-motorData"]["basicType"] == "aROADWORKER"
    assert content["pos"] == messages.position3d(float(lat), float(lon))
    sensing = RoadsideSensing(scenario, 0, traffic, np.random.default_rng(1))
    seen = {p.key: p for _, p in sensing.detect(t_s)}
    assert (seen["worker0"].x, seen["worker0"].y) == (x, y) and seen["worker0"].ptc_type == "pedestrian"
    shared = sensing.ssm(t_s, 5, 1000)
    assert len(shared["detectedRegion"][0]) == 4 and shared["equipmentType"] == "rsu"
    assert {d["detectedPTCType"] for d in shared["participants"]} >= {"pedestrian", "truck"}
    assert messages.decode(messages.encode(MessageType.SSM, shared)) == (MessageType.SSM, shared)


def test_detected_types_follow_the_participant_and_its_class():
    from roadside.sensing import detected_type

    def motor(cls: int) -> dict:
        return {"ptcType": "motor", "vehicleClass": {"classification": cls}}

    assert [detected_type(motor(c)) for c in (10, 20, 26, 40, 54, 70, 60)] == [
        "car",
        "van",
        "truck",
        "truck",
        "bus",
        "bus",
        "car",
    ]
    assert detected_type({"ptcType": "pedestrian"}) == "pedestrian" and detected_type({"ptcType": "non-motor"}) == "cyclist"
    assert detected_type({"ptcType": "motor"}) == "unknown-movable"


def test_the_rsu_reserves_the_kerb_lane_of_both_corridor_links():
    from roadside.coordination import lane_coordinations

    scenario = load_scenario("sanitation")
    lanes = [c.value() for c in lane_coordinations(scenario, 0)]
    assert len(lanes) == 2 and {lane["targetLane"]["downstreamNodeId"]["id"] for lane in lanes} == {1401}
    assert all(lane["targetLane"]["referenceLanes"] == (b"\x20\x00", 16) for lane in lanes)  # lane2: the kerb lane of two
    assert {lane["recommendedSpeed"] for lane in lanes} == {messages.speed_units(8 / 3.6)}


def test_each_device_is_granted_the_day_ii_aids_of_what_it_sends():
    from v2x.run import _device_requests

    granted = {d.device_id: set(d.app_aids) for d in _device_requests(load_scenario("sanitation"))}
    assert {MessageType.RSC.aid, MessageType.SSM.aid} <= granted["RSU-XQ-1401"] and MessageType.VIR.aid not in granted[
        "RSU-XQ-1401"
    ]
    assert granted["WKR-1401-1"] == {MessageType.PSM.aid}
    assert granted["OBU-0001"] == {111, 112}  # a sweeper sends no Day-II message
    buses = {d.device_id: set(d.app_aids) for d in _device_requests(load_scenario("bus-route"))}
    assert MessageType.VIR.aid in buses["OBU-0001"] and MessageType.VIR.aid not in buses["OBU-0016"]  # buses first, then cars


def test_day_ii_roadside_keys_need_an_uplink_that_carries_day_ii():
    from v2x.scenario.model import ScenarioError, with_changes

    scenario = load_scenario("sanitation")
    inter = scenario.intersections[0].model_dump() | {"uplink": "openv2x-json"}
    with pytest.raises(ScenarioError, match="lane_management, sensors.share: the RSU sends Day-II messages"):
        with_changes(scenario, intersections=[inter])


def test_the_day_ii_permission_attack_falls_on_day_ii_messages_only_and_needs_a_day_ii_sender():
    from v2x.device.attacks import AttackPlan
    from v2x.scenario.model import Attack, ScenarioError, with_changes

    plan = AttackPlan("vehicle", [Attack(kind="day_ii_not_permitted", every=2), Attack(kind="unsigned", every=3)])
    assert [plan.due(k, day_ii=False) for k in range(4)] == [["unsigned"], [], [], ["unsigned"]]
    assert [plan.due(k, day_ii=True) for k in range(4)] == [
        ["day_ii_not_permitted", "unsigned"],
        [],
        ["day_ii_not_permitted"],
        ["unsigned"],
    ]
    demo = load_scenario("demo")  # its RSUs and cars send no Day-II message
    for target in ("vehicle", "rsu"):
        with pytest.raises(ScenarioError, match="send no Day-II message"):
            with_changes(demo, attacks=[{"kind": "day_ii_not_permitted", "target": target}])
    assert with_changes(load_scenario("bus-route"), attacks=[{"kind": "day_ii_not_permitted", "devices": 6}]).attacks


def _rsm_and_ssm_run(root: Path, omit: bool) -> list[tuple[str, int, str]]:
    """Six RSMs of the sanitation RSU at 10 Hz and its SSMs 50 ms after each, the SSMs leaving out
    their last participant if ``omit``: the SSM.covers_rsm violations."""
    from roadside.sensing import RoadsideSensing
    from vehicles.traffic import Traffic

    signers = flow_signers(root / "pki", [111], [*messages.RSU_AIDS, MessageType.SSM.aid])
    scenario = load_scenario("sanitation")
    sensing = RoadsideSensing(scenario, 0, Traffic(scenario, np.random.default_rng(scenario.seed)), np.random.default_rng(1))
    items: list[tuple[float, MessageType, dict]] = []
    for k in range(6):
        t = 3.0 + 0.1 * k
        items.append((t, MessageType.RSM, sensing.rsm(t, k, 0)))
        shared = sensing.ssm(t + 0.05, k, 0)
        if omit:
            shared = faults.inject([Fault(kind="ssm_omits_participant")], MessageType.SSM, 0, 0, shared)
        items.append((t + 0.05, MessageType.SSM, shared))
    con = views.connect(signed_run(root / "run", signers, items))
    assert con.execute("SELECT count(*) FROM rsm_participants").fetchone()[0] > 12
    return con.execute(
        "SELECT m.msg_type, m.msg_cnt, v.detail FROM violations v JOIN messages m USING (rx_seq) WHERE v.check_name = 'SSM.covers_rsm'"
    ).fetchall()


def test_an_ssm_covering_the_rsm_beside_it_breaks_no_check_and_one_leaving_out_a_participant_does(tmp_path):
    assert _rsm_and_ssm_run(tmp_path / "clean", omit=False) == []
    found = _rsm_and_ssm_run(tmp_path / "omits", omit=True)
    assert found and {t for t, _, _ in found} == {"SSM"}, found
    assert all("in no SSM within 100 ms" in detail for _, _, detail in found)
