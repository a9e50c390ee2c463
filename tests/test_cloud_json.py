"""Cloud JSON (v2x/framing/cloud_json.py): a message in degrees, metres, m/s and RFC 3339 times
on ``v2x/v1/rsu/{esn}/{type}/up`` reads back into the exact frame it was written from, its
physical values are those of the frame, the same instant in any offset gives the same frame,
and a document that is not one (another platform's form, wrong units, another RSU's) is refused
naming the place, never stored as something else."""

from __future__ import annotations

import calendar
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2x import messages
from v2x.device.uplink import Uplink
from v2x.framing import Framing, cloud_json, openv2x
from v2x.framing.sources import Sources
from v2x.messages import MessageType
from v2x.mqtt import topics
from v2x.security.sign import unsecured

from pipeline.decode.framing import describe_payload, unwrap
from pipeline.ingest.batch import BatchProcessor, Received

from tests.asn1_strategies import strategy
from tests.corpus import corpus

CORPUS = [(t, messages.encode(t, c)) for t, c in corpus()]
SENT_US = 1_764_547_200_123_456  # 2025-12-01T00:00:00.123456Z
ESN = "RSU-XQ-1904"


def _frame(msg_type: MessageType) -> bytes:
    return next(f for t, f in CORPUS if t is msg_type)


def _doc(msg_type: MessageType, frame: bytes | None = None) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(cloud_json.document(frame or _frame(msg_type), ESN, SENT_US))
    return loaded


def _read(msg_type: MessageType, doc: dict[str, Any]) -> bytes:
    return cloud_json.message_frame(msg_type, ESN, json.dumps(doc).encode())[0]


@pytest.mark.parametrize(("msg_type", "frame"), CORPUS, ids=[f"{t.value}-{i}" for i, (t, _) in enumerate(CORPUS)])
def test_a_document_reads_back_into_the_frame_it_was_written_from_with_its_send_time(msg_type, frame):
    doc = cloud_json.document(frame, ESN, SENT_US)
    assert cloud_json.message_frame(msg_type, ESN, doc) == (frame, SENT_US // 1000 * 1000)


@pytest.mark.slow  # about 40 s: drawn MAPs are large
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(min_value=1_600_000_000_000_000, max_value=1_900_000_000_000_000))
def test_any_message_of_the_message_set_round_trips_at_any_send_time(data, sent_us):
    """Every value of every field, including the reserved "unavailable" ones and times that no
    RFC 3339 time has (a leap second's DSecond), is written so that it reads back exactly."""
    choice, value = data.draw(strategy("MessageFrame"))
    msg_type = next(t for t in MessageType if t.frame_choice == choice)
    frame = messages.encode(msg_type, value)
    assert cloud_json.message_frame(msg_type, "R", cloud_json.document(frame, "R", sent_us)) == (frame, sent_us // 1000 * 1000)


def test_values_are_in_physical_units_and_times_are_the_instants_of_the_frame():
    _, bsm = messages.decode(_frame(MessageType.BSM))
    data = _doc(MessageType.BSM)["data"]
    assert data["pos"]["lat"] == pytest.approx(bsm["pos"]["lat"] * 1e-7, abs=1e-12)  # degrees
    assert data["pos"]["long"] == pytest.approx(bsm["pos"]["long"] * 1e-7, abs=1e-12)
    assert data["speed"] == pytest.approx(bsm["speed"] * 0.02)  # m/s
    assert data["heading"] == pytest.approx(bsm["heading"] * 0.0125)  # degrees
    assert data["size"]["length"] == pytest.approx(bsm["size"]["length"] / 100)  # metres
    sec_mark, _ = cloud_json.parse_time(data["secMark"], "secMark")
    assert sec_mark % 60_000 == bsm["secMark"] and abs(sec_mark - SENT_US // 1000) <= 30_000  # the nearest such instant
    assert data["secMark"].endswith("+08:00")  # written in the zone's time

    _, spat = messages.decode(_frame(MessageType.SPAT))
    moy, _ = cloud_json.parse_time(_doc(MessageType.SPAT)["data"]["moy"], "moy")
    year_began = calendar.timegm((2025, 1, 1, 0, 0, 0)) * 1000
    assert moy == year_began + spat["moy"] * 60_000  # MinuteOfTheYear: minutes since the UTC year began


def test_the_same_instant_in_any_offset_and_rounding_to_the_step_give_the_same_frame():
    frame = _frame(MessageType.BSM)
    doc = _doc(MessageType.BSM)
    at, _ = cloud_json.parse_time(doc["data"]["secMark"], "secMark")
    for text in (
        cloud_json.time_of(at).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at % 1000:03d}Z",
        (cloud_json.time_of(at) - timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at % 1000:03d}999-05:30",
    ):
        assert _read(MessageType.BSM, doc | {"data": doc["data"] | {"secMark": text}}) == frame
    lat = doc["data"]["pos"]["lat"]
    nudged = doc | {"data": doc["data"] | {"pos": doc["data"]["pos"] | {"lat": lat + 0.4e-7}}}
    assert _read(MessageType.BSM, nudged) == frame  # 0.4 of a step rounds back
    moved = doc | {"data": doc["data"] | {"pos": doc["data"]["pos"] | {"lat": lat + 0.6e-7}}}
    assert messages.decode(_read(MessageType.BSM, moved))[1]["pos"]["lat"] == messages.decode(frame)[1]["pos"]["lat"] + 1


def test_null_is_the_reserved_unavailable_value_and_a_leap_second_is_read():
    doc = _doc(MessageType.BSM)
    data = doc["data"] | {"speed": None, "secMark": "2016-12-31T23:59:60.250Z"}
    _, value = messages.decode(_read(MessageType.BSM, doc | {"data": data}))
    assert value["speed"] == 8191 and value["secMark"] == 60_250  # YD/T 3709 DSecond: 60000..60999 in a leap second


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"esn": "RSU-OTHER"}, "esn: 'RSU-OTHER' is not the topic's RSU 'RSU-XQ-1904'"),
        ({"type": "map"}, "type: 'map' is not the topic's 'bsm'"),
        ({"extra": 1}, "no field 'extra' in a cloud JSON document"),
        ({"time": "2025-12-01 08:00:00"}, "time: expected an RFC 3339 time"),
        ({"time": "2025-13-01T08:00:00Z"}, "time: '2025-13-01T08:00:00Z' is not a time: month must be in 1..12"),
        ({"time": 1764547200123}, "time: expected an RFC 3339 time"),
        ({"time": "2025-12-01T08:00:00+25:00"}, "is not a time"),
        ({"data": {"speed": "13.9"}}, "data.speed: expected a number in m/s or null (unavailable), got '13.9'"),
        ({"data": {"speed": True}}, "data.speed: expected a number in m/s"),
        ({"data": {"heading": None}}, "data.heading: expected a number in degree, got null"),
        (
            {"data": {"pos": {"lat": 1.7976931348623158e301, "long": 117.0}}},
            "data.pos.lat: 1.79769e+301 degree is beyond any value",
        ),
        ({"data": {"speed": 10**400}}, "data.speed: a 401-digit number of m/s is beyond any value"),
        ({"data": {"pos": {"lat": 91.0, "long": 117.0}}}, "data: "),  # out of the Latitude range
        ({"data": {"pos": {"lat": 390850000, "long": 1170560000}}}, "data: "),  # 1e-7 degree units are not degrees
        ({"data": {"secMark": "2025-12-01T08:00:61Z"}}, "second must be in 0..60"),
        ({"data": {"posAccuracy": {"semiMajor": 1.0}}}, "data.posAccuracy: the mandatory field 'semiMinor' is absent"),
    ],
)
def test_a_document_that_is_not_one_is_refused_naming_the_place(change, says):
    doc = _doc(MessageType.BSM)
    if "data" in change:
        doc["data"] = doc["data"] | change.pop("data")
    with pytest.raises(cloud_json.DocumentError) as caught:
        _read(MessageType.BSM, doc | change)
    assert says in str(caught.value)


def test_a_number_json_reads_as_infinite_is_refused():
    doc = json.dumps(_doc(MessageType.BSM)).replace('"speed": 13.9', '"speed": 1e400')
    assert "1e400" in doc
    with pytest.raises(cloud_json.DocumentError, match="data.speed: expected a number in m/s or null"):
        cloud_json.message_frame(MessageType.BSM, ESN, doc.encode())


def test_other_forms_are_refused_not_misread():
    """An OpenV2X document (message set units, no send time) and a document missing its data."""
    frame = _frame(MessageType.SPAT)
    with pytest.raises(cloud_json.DocumentError, match="no field 'msgCnt' in a cloud JSON document"):
        cloud_json.message_frame(MessageType.SPAT, ESN, openv2x.document(frame))
    with pytest.raises(cloud_json.DocumentError, match="expected an object with esn, type, time, data, got a list"):
        cloud_json.message_frame(MessageType.SPAT, ESN, b"[]")
    assert "e.g. cloud-json)" in describe_payload(cloud_json.document(frame, ESN, SENT_US))
    assert "e.g. openv2x-json)" in describe_payload(openv2x.document(frame))


def test_topics_name_the_rsu_and_the_message_type():
    assert topics.cloud_uplink("R1", MessageType.SPAT, "xiqing") == "xiqing/v2x/v1/rsu/R1/spat/up"
    parsed = topics.parse_cloud_uplink("xiqing/v2x/v1/rsu/R1/spat/up")
    assert parsed is not None and (parsed.device_id, parsed.msg_type) == ("R1", MessageType.SPAT)
    for topic in ("v2x/v1/rsu/R1/SPAT/UP", "v2x/v1/rsu/R1/bsm/up", "v2x/v1/obu/R1/spat/up", "v2x/v1/rsu//spat/up", "spat/up"):
        assert topics.parse_cloud_uplink(topic) is None, topic
    with pytest.raises(ValueError, match="an RSU does not publish BSM"):
        topics.cloud_uplink("R1", MessageType.BSM)


def test_an_rsu_uplink_sends_cloud_json_and_the_ingest_unwraps_it_with_the_rsu_and_its_send_time():
    uplink = Uplink("RSU", ESN, signer=None, prefix="xiqing", framing=Framing.CLOUD_JSON)  # type: ignore[arg-type]  # never signs
    frame = _frame(MessageType.SPAT)
    [sent] = uplink.prepare(MessageType.SPAT, frame, generated_at_us=SENT_US)
    topic = uplink.topic(MessageType.SPAT)
    assert topic == f"xiqing/v2x/v1/rsu/{ESN}/spat/up"
    [got] = unwrap(Framing.CLOUD_JSON, sent.payload, topic)
    assert (got.frame, got.sender, got.sent_us, got.problem) == (unsecured(frame), ESN, SENT_US // 1000 * 1000, None)
    [wrong] = unwrap(Framing.CLOUD_JSON, sent.payload, f"V2X/RSU/{ESN}/SPAT/UP")
    assert wrong.problem is not None and "does not end in v2x/v1/rsu/{esn}/{type}/up" in wrong.problem


def test_documents_land_in_the_same_tables_as_the_bare_frames_with_their_send_times():
    sources = Sources.model_validate(
        {
            "sources": [
                {"topics": "V2X/RSU/RSU-B/#", "framing": "bare-uper"},
                {"topics": "v2x/v1/rsu/+/+/up", "framing": "cloud-json"},
            ]
        }
    )
    batch = Received()
    received_us = SENT_US + 25_000
    rsu_frames = [(t, f) for t, f in CORPUS if t is not MessageType.BSM]
    for msg_type, frame in rsu_frames:
        batch.add(f"V2X/RSU/RSU-B/{msg_type.value}/UP", frame, received_us)
        batch.add(f"v2x/v1/rsu/RSU-C/{msg_type.value.lower()}/up", cloud_json.document(frame, "RSU-C", SENT_US), received_us)
    batch.add("v2x/v1/rsu/RSU-C/spat/up", b'{"esn": "RSU-C"}', received_us)
    out = BatchProcessor(None, sources=sources).process(batch)
    rows = [r for t in out.telemetry.values() for r in t.to_pylist()]
    cloud = sorted((r for r in rows if r["framing"] == "cloud-json"), key=lambda r: r["rx_seq"])
    assert [r["decode_ok"] for r in cloud] == [True] * len(rsu_frames) + [False]
    assert "cloud-json framing: the mandatory field 'type' is absent" in cloud[-1]["reject_reason"]
    assert {(r["sender_id"], r["device_kind"], r["auth"]) for r in cloud[:-1]} == {("RSU-C", "RSU", "not_verified")}
    assert [r["latency_ms"] for r in cloud[:-1]] == [pytest.approx(25.456)] * len(rsu_frames)  # received - the document's time
    sender = {r["rx_seq"]: r["sender_id"] for r in rows}
    for table in out.tables.values():
        if "rx_seq" not in table.column_names or "check_name" in table.column_names or not table.num_rows:
            continue  # (field checks differ: only the cloud's frames have a send time to hold timeStamp to)
        content = table.to_pylist()
        bare = [{k: v for k, v in c.items() if k != "rx_seq"} for c in content if sender.get(c["rx_seq"]) == "RSU-B"]
        documents = [{k: v for k, v in c.items() if k != "rx_seq"} for c in content if sender.get(c["rx_seq"]) == "RSU-C"]
        assert bare == documents and bare


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([t for t, _ in CORPUS]), st.data(), ANY_JSON)
def test_a_document_with_any_value_anywhere_is_a_frame_that_decodes_whole_or_a_document_error(msg_type, data, new):
    """Documents our writer did not make: one value of a real document replaced by any JSON
    (a time by a number, a latitude by a string, a list by null ...)."""
    doc = _doc(msg_type)
    path = data.draw(st.sampled_from(_leaves(doc)))
    try:
        frame, _ = cloud_json.message_frame(msg_type, ESN, json.dumps(_replaced(doc, path, new)).encode())
    except cloud_json.DocumentError:
        return
    assert messages.decode(frame, check_constraints=True)[0] is msg_type
