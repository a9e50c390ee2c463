"""OpenV2X JSON documents and the vendor wrapper as the simulators write them and the ingest
reads them (v2x/framing/): every message round-trips to its exact UPER frame, OpenV2X's own
liberties (digit strings, wrapped lists, XER-style enumerations) are read, and a document that
is not a message of its type is refused naming the place, never stored as something else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2x import messages
from v2x.asn1 import MESSAGE_SET, compile_module
from v2x.device.uplink import Uplink
from v2x.framing import Framing, openv2x, vendor_wrapper
from v2x.framing.sources import Sources
from v2x.messages import MessageType
from v2x.mqtt import topics
from v2x.scenario.model import ScenarioError, load_scenario, parse_scenario
from v2x.security.sign import unsecured

from pipeline.decode.framing import unwrap
from pipeline.ingest.batch import BatchProcessor, Received

from tests.asn1_strategies import strategy
from tests.corpus import corpus
from tests.test_framings import MILLIS, wrapper

CORPUS = [(t, messages.encode(t, c)) for t, c in corpus()]


def _frame(msg_type: MessageType) -> bytes:
    return next(f for t, f in CORPUS if t is msg_type)


@pytest.mark.parametrize(("msg_type", "frame"), CORPUS, ids=[f"{t.value}-{i}" for i, (t, _) in enumerate(CORPUS)])
def test_a_document_reads_back_into_the_frame_it_was_written_from(msg_type, frame):
    doc = openv2x.document(frame)
    assert openv2x.message_frame(msg_type, doc) == frame
    assert openv2x.message_frame(msg_type, json.dumps({msg_type.frame_choice: json.loads(doc)}).encode()) == frame


@pytest.mark.slow  # about 45 s: drawn MAPs are large
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_message_of_the_message_set_round_trips_and_reads_as_asn1tools_jer_reads_it(data):
    """Values drawn from our own module: the strict reader gives what asn1tools' (lenient) JER
    decoder gives for the documents asn1tools writes."""
    choice, value = data.draw(strategy("MessageFrame"))
    msg_type = next(t for t in MessageType if t.frame_choice == choice)
    frame = messages.encode(msg_type, value)
    doc = openv2x.document(frame)
    assert openv2x.message_frame(msg_type, doc) == frame
    jer = compile_module(MESSAGE_SET, "jer")
    assert messages.encode(msg_type, jer.decode("MessageFrame", b'{"%s":%s}' % (choice.encode(), doc))[1]) == frame


# A MAP as OpenV2X's own documents write it (docs/v2x-map.md of the OpenV2X docs): integers as
# strings, each SEQUENCE OF wrapped in an object named for its element, enumerations as XER does.
OPENV2X_MAP = {
    "msgCnt": "1",
    "nodes": {
        "Node": [
            {
                "name": "YiZhuang-QuanQu",
                "id": {"region": "10", "id": "19"},
                "refPos": {"lat": "397870006", "long": "1165119042", "elevation": "0"},
                "inLinks": {
                    "Link": [
                        {
                            "name": "18-19",
                            "upstreamNodeId": {"region": "10", "id": "18"},
                            "speedLimits": {"RegulatorySpeedLimit": [{"type": {"vehicleMaxSpeed": None}, "speed": "833"}]},
                            "linkWidth": "660",
                            "points": {
                                "RoadPoint": [
                                    {"posOffset": {"offsetLL": {"position-LatLon": {"lon": "1165142774", "lat": "397841165"}}}},
                                    {"posOffset": {"offsetLL": {"position-LatLon": {"lon": "1165129744", "lat": "397857197"}}}},
                                ]
                            },
                            "lanes": {"Lane": [{"laneID": "1", "laneWidth": "330"}]},
                        }
                    ]
                },
            }
        ]
    },
}
OPENV2X_MAP_VALUE = {
    "msgCnt": 1,
    "nodes": [
        {
            "name": "YiZhuang-QuanQu",
            "id": {"region": 10, "id": 19},
            "refPos": {"lat": 397870006, "long": 1165119042, "elevation": 0},
            "inLinks": [
                {
                    "name": "18-19",
                    "upstreamNodeId": {"region": 10, "id": 18},
                    "speedLimits": [{"type": "vehicleMaxSpeed", "speed": 833}],
                    "linkWidth": 660,
                    "points": [
                        {"posOffset": {"offsetLL": ("position-LatLon", {"lon": 1165142774, "lat": 397841165})}},
                        {"posOffset": {"offsetLL": ("position-LatLon", {"lon": 1165129744, "lat": 397857197})}},
                    ],
                    "lanes": [{"laneID": 1, "laneWidth": 330}],
                }
            ],
        }
    ],
}


def test_openv2x_s_own_liberties_are_read_into_the_same_message():
    frame = openv2x.message_frame(MessageType.MAP, json.dumps(OPENV2X_MAP).encode())
    assert frame == messages.encode(MessageType.MAP, OPENV2X_MAP_VALUE)
    assert messages.decode(frame)[1]["nodes"][0]["refPos"]["lat"] == 397870006  # 39.7870006 degrees, in 1e-7 units


def _spat() -> dict[str, Any]:
    return json.loads(openv2x.document(_frame(MessageType.SPAT)))


def _with(path: list[str | int], value: Any) -> bytes:
    doc = _spat()
    at = doc
    for key in path[:-1]:
        at = at[key]
    if value is _DELETE:
        del at[path[-1]]
    else:
        at[path[-1]] = value
    return json.dumps(doc).encode()


_DELETE = object()
PHASE = ["intersections", 0, "phases", 0]


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (_with(["msgCnt"], _DELETE), "SPAT: the mandatory field 'msgCnt' is absent"),
        (_with(["msgCount"], 3), "SPAT: no field 'msgCount' in this type"),
        (_with(["msgCnt"], 3.5), "SPAT.msgCnt: expected an integer in the message set's units, got 3.5"),
        (_with(["msgCnt"], True), "SPAT.msgCnt: expected an integer in the message set's units, got a boolean"),
        (_with(["msgCnt"], "0x10"), "SPAT.msgCnt: expected an integer in the message set's units, got '0x10'"),
        (_with(["msgCnt"], 128), "Expected an integer between 0 and 127, but got 128"),
        (_with([*PHASE, "phaseStates", 0, "light"], "purple"), "SPAT.intersections[0].phases[0].phaseStates[0].light: 'purple'"),
        (
            _with([*PHASE, "phaseStates", 0, "timing"], {"counting": {}, "utcTiming": {}}),
            "phaseStates[0].timing: expected an object with one alternative",
        ),
        (_with([*PHASE, "phaseStates", 0, "timing"], {"countdown": {}}), "'countdown' is not an alternative here"),
        (_with(["intersections", 0, "status"], "04"), "intersections[0].status"),
        (_with(["intersections"], {"A": [1], "B": [2]}), "SPAT.intersections: expected a list, got an object"),
        (_with(["intersections"], []), "intersections"),
        (b'{"msgCnt": 1, "msgCnt": 2}', "the key 'msgCnt' appears twice in one object"),
        (b'{"msgCnt": NaN}', "NaN is not a JSON number"),
        (b'{"msgCnt": Infinity}', "Infinity is not a JSON number"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "not JSON", id="nested-too-deep"),
        (b"\xff\xfe{}", "not JSON"),
        (b"", "not JSON"),
        pytest.param(b" " * (openv2x.MAX_DOCUMENT + 1), "longer than the", id="too-long"),
        (b"[1, 2]", "SPAT: expected an object, got a list"),
        (b'{"spatFrame": [1]}', "SPAT: expected an object, got a list"),  # the MessageFrame form, of a list
    ],
)
def test_a_document_that_is_not_a_message_of_its_type_is_refused_naming_the_place(payload, says):
    with pytest.raises(openv2x.DocumentError) as caught:
        openv2x.message_frame(MessageType.SPAT, payload)
    assert says in str(caught.value), str(caught.value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["msgCnt", "moy", "id", "nodes", "x"]), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(MessageType)), JSON_VALUES)
def test_any_json_is_a_frame_that_decodes_whole_or_a_document_error(msg_type, value):
    try:
        frame = openv2x.message_frame(msg_type, json.dumps(value).encode())
    except openv2x.DocumentError:
        return
    assert messages.decode(frame, check_constraints=True)[0] is msg_type


def test_the_vendor_wrapper_written_is_the_one_the_vendor_sends():
    spat, bsms = _frame(MessageType.SPAT), [f for t, f in CORPUS if t is MessageType.BSM][:3]
    assert vendor_wrapper.wrap("RSU-0042", MILLIS, [spat]) == wrapper([spat])
    assert vendor_wrapper.wrap("RSU-0042", MILLIS, bsms, counted=True) == wrapper(bsms)
    assert vendor_wrapper.wrap("R7", MILLIS, [spat])[:8] == b"R7      "
    got = vendor_wrapper.parse(wrapper(bsms))
    assert (got.rsu_id, got.utc_ms, got.frames) == ("RSU-0042", MILLIS, bsms)


@pytest.mark.parametrize(
    ("rsu_id", "frames", "counted", "says"),
    [
        ("RSU-00042", [b"x"], False, "1 to 8 printable ASCII"),
        ("", [b"x"], False, "1 to 8 printable ASCII"),
        ("西青", [b"x"], False, "1 to 8 printable ASCII"),
        ("R1", [b"x", b"y"], False, "exactly one"),
        ("R1", [], True, "1 to 255"),
        ("R1", [b"x"] * 256, True, "1 to 255"),
        ("R1", [bytes(70_000)], False, "2-octet length"),
    ],
)
def test_a_wrapper_that_cannot_hold_its_frames_is_refused(rsu_id, frames, counted, says):
    with pytest.raises(ValueError, match=says):
        vendor_wrapper.wrap(rsu_id, MILLIS, frames, counted=counted)


@pytest.mark.parametrize("framing", [Framing.BARE_UPER, Framing.VENDOR_WRAPPER, Framing.OPENV2X_JSON])
def test_an_rsu_uplink_sends_each_framing_on_its_topic_and_the_ingest_unwraps_it(framing):
    uplink = Uplink("RSU", "XQ1902", signer=None, prefix="xiqing", framing=framing)  # type: ignore[arg-type]  # never signs
    frame = _frame(MessageType.SPAT)
    [sent] = uplink.prepare(MessageType.SPAT, frame, generated_at_us=MILLIS * 1000 + 456)
    topic = uplink.topic(MessageType.SPAT)
    assert topic == ("xiqing/V2X.RSU.SPAT.UP" if framing is Framing.VENDOR_WRAPPER else "xiqing/V2X/RSU/XQ1902/SPAT/UP")
    [got] = unwrap(framing, sent.payload, topic)
    assert got.problem is None and got.frame == unsecured(frame)
    if framing is Framing.VENDOR_WRAPPER:
        assert (got.sender, got.sent_us) == ("XQ1902", MILLIS * 1000)


def test_documents_land_in_the_same_tables_as_the_bare_frames_they_came_from():
    sources = two_rsu_sources()
    batch = Received()
    for i, (msg_type, frame) in enumerate(f for f in CORPUS if f[0] is not MessageType.BSM):
        batch.add(f"V2X/RSU/RSU-B/{msg_type.value}/UP", frame, 1_764_500_000_000_000 + i)
        batch.add(f"V2X/RSU/RSU-J/{msg_type.value}/UP", openv2x.document(frame), 1_764_500_000_000_000 + i)
    batch.add("V2X/RSU/RSU-J/SPAT/UP", b'{"msgCnt": 1}', 1_764_500_000_100_000)
    batch.add("V2X/RSU/RSU-J/HB/UP", b'{"rsuEsn": "RSU-J"}', 1_764_500_000_100_001)
    out = BatchProcessor(None, sources=sources).process(batch)
    rows = [r for t in out.telemetry.values() for r in t.to_pylist()]
    by_framing: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_framing.setdefault(r["framing"], []).append(r)
    json_rows = sorted(by_framing["openv2x-json"], key=lambda r: r["rx_seq"])
    assert [r["decode_ok"] for r in json_rows] == [True] * (len(json_rows) - 2) + [False, False]
    assert "openv2x-json framing: SPAT: the mandatory field 'intersections' is absent" in json_rows[-2]["reject_reason"]
    assert "does not end in {type}/UP" in json_rows[-1]["reject_reason"]  # a heartbeat is not a V2X message
    assert all(r["auth"] == "not_verified" for r in json_rows[:-2])
    for table in out.tables.values():
        if "rx_seq" not in table.column_names or not table.num_rows:
            continue
        sender = {r["rx_seq"]: r["sender_id"] for r in rows}
        content = [{k: v for k, v in r.items() if k != "rx_seq"} for r in table.to_pylist()]
        for r, c in zip(table.to_pylist(), content):
            c["sender"] = sender.get(r["rx_seq"])
        bare = [{k: v for k, v in c.items() if k != "sender"} for c in content if c["sender"] == "RSU-B"]
        documents = [{k: v for k, v in c.items() if k != "sender"} for c in content if c["sender"] == "RSU-J"]
        assert bare == documents and bare


def two_rsu_sources() -> Sources:
    return Sources.model_validate(
        {
            "sources": [
                {"topics": "V2X/RSU/RSU-B/#", "framing": "bare-uper"},
                {"topics": "V2X/RSU/RSU-J/#", "framing": "openv2x-json"},
            ]
        }
    )


SCENARIO = """
name: t
duration_s: 2
intersections:
  - {{id: 1901, name: A, lat: 39.085, lon: 117.056, rsu_id: {rsu_id}, uplink: {uplink}}}
{extra}
"""


@pytest.mark.parametrize(
    ("rsu_id", "uplink", "extra", "says"),
    [
        ("RSU-XQ-1901", "vendor-wrapper", "", "holds an RSU id of at most 8 characters"),
        ("RSU1", "cloud-json", "broker: {tls: true}", "broker.tls with a cloud-json uplink"),
        ("RSU1", "bare-uper", "attacks: [{kind: forged_signature, target: rsu}]", "RSU1 send a framing without signatures"),
        ("RSU1", "vendor-wrapper", "broker: {tls: true}", "broker.tls with a vendor-wrapper uplink"),
    ],
)
def test_a_scenario_asking_an_rsu_for_what_its_framing_cannot_do_is_refused(rsu_id, uplink, extra, says):
    with pytest.raises(ScenarioError, match=says):
        parse_scenario(SCENARIO.format(rsu_id=rsu_id, uplink=uplink, extra=extra))


def test_the_library_scenario_s_sources_name_each_rsu_s_framing():
    sources = load_scenario("platform-uplinks").uplink_sources()
    assert sources.framing_of("V2X/RSU/RSU-XQ-1901/SPAT/UP") is Framing.BARE_UPER
    assert sources.framing_of(topics.vendor_wrapper(MessageType.RSM)) is Framing.VENDOR_WRAPPER
    assert sources.framing_of("V2X/RSU/RSU-XQ-1903/MAP/UP") is Framing.OPENV2X_JSON
    assert sources.framing_of("v2x/v1/rsu/RSU-XQ-1904/spat/up") is Framing.CLOUD_JSON
    assert sources.framing_of("v2x/v1/rsu/RSU-XQ-1903/spat/up") is Framing.ENVELOPE  # only the cloud JSON RSU's
    assert sources.framing_of("V2X/OBU/OBU-0001/BSM/UP") is Framing.ENVELOPE
    assert load_scenario("demo").uplink_sources().envelope_only()


def test_the_rsm_list_openv2x_s_platform_reads_gives_each_rsm():
    [rsm] = [f for t, f in CORPUS if t is MessageType.RSM]
    _, content = messages.decode(rsm)
    rsms = [rsm, messages.encode(MessageType.RSM, content | {"msgCnt": (content["msgCnt"] + 1) % 128})]
    payload = json.dumps({"content": {"rsms": [json.loads(openv2x.document(f)) for f in rsms]}}).encode()
    assert len(rsms) == 2 and openv2x.message_frames(MessageType.RSM, payload) == rsms
    got = unwrap(Framing.OPENV2X_JSON, payload, "V2X/RSU/R9/RSM/UP")
    assert [u.frame for u in got] == [unsecured(f) for f in rsms] and not any(u.problem for u in got)
    with pytest.raises(openv2x.DocumentError, match=r"content: expected \{\"rsms\": \[RSM, \.\.\.\]\}"):
        openv2x.message_frames(MessageType.RSM, b'{"content": {"rsms": []}}')
    with pytest.raises(openv2x.DocumentError, match=r"content\.rsms\[1\]: no field 'x'"):
        openv2x.message_frames(
            MessageType.RSM, json.dumps({"content": {"rsms": [json.loads(openv2x.document(rsms[0])), {"x": 1}]}}).encode()
        )
    with pytest.raises(openv2x.DocumentError, match="SPAT: no field 'content'"):  # only RSM comes as a list
        openv2x.message_frames(MessageType.SPAT, b'{"content": {"rsms": []}}')
