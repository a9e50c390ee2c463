"""The numba BSM encoder and the fleet's batch BSM fields against asn1tools.

Two oracles: the per-vehicle path (v2x.messages.bsm encoded by asn1tools) on a simulated fleet,
and, for arbitrary raw values, asn1tools decoding our bytes to the values we put in and
re-encoding them to the same bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2x import messages
from v2x.messages import MessageType
from v2x.scenario.model import load_scenario, with_changes

from pipeline.decode.bsm import BSM_COLUMNS, PATH_POINT_COLUMNS
from pipeline.decode.reference_rows import bsm_rows
from vehicles.bsm_encoder import FIELDS, MAX_POINTS, NO_EVENTS, POINT_FIELDS, encode_bsms, frames
from vehicles.fleet_bsm import bsm_fields
from vehicles.simulator import bsm_content
from vehicles.traffic import Traffic

F = {name: k for k, name in enumerate(FIELDS)}


def _fleet_scenario():
    return with_changes(
        load_scenario("corridor"),
        fleet=[
            {"kind": "car", "count": 30},
            {"kind": "bus", "count": 4, "lane": "kerb"},
            {"kind": "sanitation_truck", "count": 2, "hazard_lights": True, "speed_kmh": 8},
            {"kind": "logistics_van", "count": 3},
            {"kind": "ambulance", "count": 1},
        ],
        security={"suite": "ecdsa-p256-sha256", "pseudonyms": {"certificates": 3, "max_s": 2, "min_distance_m": 10}},
    )


def test_fleet_batch_is_byte_identical_to_the_per_vehicle_asn1tools_path():
    scenario = _fleet_scenario()
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    n = len(traffic)
    seen = {"events": 0, "emergency": 0, "points": set(), "changes": 0, "braking": 0}
    for tick in (0, 1, 9, 10, 11, 25, 40, 61, 90):
        traffic.advance_to(tick)
        idx = np.arange(n)
        msg_cnt = (traffic.msg_cnt0 + tick) % 128
        sec_mark = (np.arange(n) * 137 + tick) % 60000
        fields, points, start = bsm_fields(traffic, idx, msg_cnt, sec_mark)
        ours = frames(*encode_bsms(fields, points, start))
        for i in range(n):
            expected = messages.encode(MessageType.BSM, bsm_content(traffic, i, int(msg_cnt[i]), int(sec_mark[i])))
            assert ours[i] == expected, f"vehicle {i} at tick {tick}"
        seen["events"] += int((fields[:, F["events"]] != NO_EVENTS).sum())
        seen["emergency"] += int(fields[:, F["emergency"]].sum())
        seen["points"] |= set(np.diff(start).tolist())
        seen["braking"] += int((fields[:, F["wheel_brakes"]] != 0).sum())
    seen["changes"] = int(traffic.pseudonym_changes.sum())
    # The comparison covered event flags, the emergency extension, empty and full path histories
    # and path histories cut at a pseudonym change.
    assert seen["events"] and seen["emergency"] and seen["changes"]
    assert {0, 5} <= seen["points"] and len(seen["points"]) >= 3


def test_a_subset_of_vehicles_gives_their_rows():
    scenario = _fleet_scenario()
    traffic = Traffic(scenario, np.random.default_rng(3))
    traffic.advance_to(30)
    n = len(traffic)
    everyone = frames(*encode_bsms(*bsm_fields(traffic, np.arange(n), np.zeros(n, int), np.zeros(n, int))))
    some = np.array([3, 17, 39])
    chosen = frames(*encode_bsms(*bsm_fields(traffic, some, np.zeros(3, int), np.zeros(3, int))))
    assert chosen == [everyone[i] for i in some]


def _ranges() -> dict[str, tuple[int, int]]:
    r = dict.fromkeys(FIELDS, (0, 3))
    r.update(
        msg_cnt=(0, 127),
        id_hi=(0, 2**32 - 1),
        id_lo=(0, 2**32 - 1),
        sec_mark=(0, 65535),
        time_confidence=(0, 39),
        lat=(-900000000, 900000001),
        lon=(-1799999999, 1800000001),
        semi_major=(0, 255),
        semi_minor=(0, 255),
        orientation=(0, 65535),
        pos_confidence=(0, 15),
        transmission=(0, 7),
        speed=(0, 8191),
        heading=(0, 28800),
        angle=(-126, 127),
        speed_confidence=(0, 7),
        heading_confidence=(0, 7),
        steer_confidence=(0, 3),
        accel_long=(-2000, 2001),
        accel_lat=(-2000, 2001),
        accel_vert=(-127, 127),
        yaw_rate=(-32767, 32767),
        brake_pedal=(0, 2),
        wheel_brakes=(0, 31),
        brake_boost=(0, 2),
        width=(0, 1023),
        length=(0, 4095),
        vehicle_class=(0, 255),
        events=(NO_EVENTS, 8191),
        radius_of_curve=(-32767, 32767),
        prediction_confidence=(0, 200),
        emergency=(0, 1),
        response_type=(0, 6),
        lights_use=(0, 7),
    )
    return r


_OFFSET = [(12, 0), (14, 1), (16, 2), (18, 3), (22, 4), (24, 5)]


@st.composite
def _bsm_raw(draw):
    row = [draw(st.integers(*_ranges()[name])) for name in FIELDS]
    points = []
    for _ in range(draw(st.sampled_from([0, 1, 2, 5, MAX_POINTS]))):
        kind = draw(st.integers(0, 6))
        if kind < 6:
            half = 2 ** (_OFFSET[kind][0] - 1)
            lon, lat = draw(st.integers(-half, half - 1)), draw(st.integers(-half, half - 1))
        else:
            lon, lat = draw(st.integers(-1799999999, 1800000001)), draw(st.integers(-900000000, 900000001))
        points.append([kind, lon, lat, draw(st.integers(1, 65535)), draw(st.one_of(st.just(-1), st.integers(0, 8191)))])
    return row, points


@settings(max_examples=300, deadline=None)
@given(st.lists(_bsm_raw(), min_size=1, max_size=4))
def test_any_values_in_range_decode_to_themselves_and_reencode_identically(batch):
    fields = np.array([row for row, _ in batch], dtype=np.int64)
    pts = [p for _, ps in batch for p in ps]
    points = np.array(pts, dtype=np.int64).reshape(len(pts), len(POINT_FIELDS))
    start = np.concatenate([[0], np.cumsum([len(ps) for _, ps in batch])])
    encoded = frames(*encode_bsms(fields, points, start))
    col = {c: k for k, c in enumerate(BSM_COLUMNS)}
    pcol = {c: k for k, c in enumerate(PATH_POINT_COLUMNS)}
    for (row, ps), frame in zip(batch, encoded):
        msg_type, content = messages.decode(frame, check_constraints=True)
        assert msg_type is MessageType.BSM
        assert messages.encode(MessageType.BSM, content) == frame
        decoded, decoded_points = bsm_rows(content)
        for name in FIELDS:
            value = row[F[name]]
            if name == "events":
                assert decoded[col["events"]] == (value if value != NO_EVENTS else decoded[col["events"]])
                assert ("events" in content["safetyExt"]) == (value != NO_EVENTS)
            elif name == "emergency":
                assert decoded[col["emergency_ext"]] == value
            elif name in ("response_type", "siren_use", "lights_use"):
                if row[F["emergency"]]:
                    assert decoded[col[name]] == value
            else:
                assert decoded[col[name]] == value, name
        assert len(decoded_points) == len(ps)
        for p, d in zip(ps, decoded_points):
            assert [d[pcol["offset_kind"]], d[pcol["offset_lon"]], d[pcol["offset_lat"]], d[pcol["time_offset"]]] == p[:4]
            assert d[pcol["speed"]] == (p[4] if p[4] >= 0 else d[pcol["speed"]]) and (p[4] >= 0) == (d[pcol["speed"]] >= 0)


def test_more_path_points_than_the_standard_allows_are_refused():
    fields = np.zeros((1, len(FIELDS)), dtype=np.int64)
    points = np.ones((MAX_POINTS + 1, len(POINT_FIELDS)), dtype=np.int64)
    with pytest.raises(ValueError, match="path points"):
        encode_bsms(fields, points, np.array([0, MAX_POINTS + 1]))


def test_each_vehicles_stream_sends_the_frame_the_asn1tools_path_would_and_faults_still_apply():
    from v2x.device import faults

    from vehicles.fleet_bsm import FleetBsms
    from vehicles.simulator import bsm_stream

    scenario = with_changes(_fleet_scenario(), faults=[{"kind": "bsm_missing_angle", "devices": 2, "every": 3}])
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    reference = Traffic(scenario, np.random.default_rng(scenario.seed))
    fleet = FleetBsms(traffic)
    streams = [bsm_stream(fleet, i) for i in range(len(traffic))]
    faulted = 0
    for k in range(14):
        reference.advance_to(k)
        for i, stream in enumerate(streams):
            now = 1_700_000_000_000_000 + k * 100_000 + i * 1000
            payload = stream.build(k, now)
            content = bsm_content(reference, i, int(reference.msg_cnt0[i] + k) % 128, (now // 1000) % 60000)
            content = faults.inject(scenario.faults, MessageType.BSM, i, k, content)
            faulted += "angle" not in content
            assert payload.frame == messages.encode(MessageType.BSM, content), (i, k)
    assert faulted == 2 * 5  # vehicles 0 and 1, messages 0, 3, 6, 9, 12


def test_a_bsm_comes_with_the_flags_of_its_own_tick_when_built_a_tick_late():
    """The AID and the full certificate of an event BSM follow the frame's events, not the
    model's: in a slot that holds messages of ticks k and k+1 the model is at k+1 when the
    tick-k frames are handed out (GB/T 45315 7.4.3.5, table 7)."""
    from vehicles.fleet_bsm import FleetBsms

    scenario = _fleet_scenario()
    traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
    fleet = FleetBsms(traffic)
    n = len(traffic)
    keys = np.concatenate([np.arange(n), np.arange(n)])
    flags_seen, model_differs = set(), 0
    for k in range(0, 60, 2):
        ks = np.concatenate([np.full(n, k), np.full(n, k + 1)])
        fleet.prepare(keys, ks, np.zeros(2 * n, dtype=np.int64))
        for i, kk in zip(keys.tolist(), ks.tolist()):
            frame, event, emergency = fleet.bsm(i, kk, 0)
            msg_type, content = messages.decode(frame)
            assert msg_type is MessageType.BSM
            assert event == ("events" in content.get("safetyExt", {})), (i, kk)
            assert emergency == ("emergencyExt" in repr(content)), (i, kk)
            flags_seen.add((event, emergency))
            model_differs += kk == k and event != bool(traffic.events[i])
    assert {(True, False), (False, False)} <= flags_seen
    assert model_differs  # the case that signed an event BSM with a digest and AID 111
