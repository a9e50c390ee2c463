"""The numba content decoders (BSM, SPAT, RSM) against asn1tools, field by field.

hypothesis generates valid messages of each type from the ASN.1 module itself (every optional
field present or absent, integers and SEQUENCE OF sizes at their bounds), encodes them with
asn1tools, decodes them with both, and requires identical rows and nested rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2x import messages
from v2x.messages import MessageType

from pipeline.decode.content import FAST_PATH, decode_contents, to_arrow
from pipeline.decode.uper import FALLBACK, OK, STATUS_TEXT

from tests.asn1_strategies import strategy
from tests.corpus import corpus, rsm

TYPE_NAME = {MessageType.BSM: "BasicSafetyMessage", MessageType.SPAT: "SPAT", MessageType.RSM: "RoadsideSafetyMessage"}


def decode_batch(msg_type: MessageType, frames: list[bytes]):
    buf = np.frombuffer(b"".join(frames), dtype=np.uint8)
    ends = np.cumsum([len(f) for f in frames])
    return decode_contents(FAST_PATH[msg_type], buf, ends - np.array([len(f) for f in frames]), ends)


def assert_rows_equal(msg_type: MessageType, frames: list[bytes]) -> None:
    decoder = FAST_PATH[msg_type]
    got = decode_batch(msg_type, frames)
    children = {}
    for child in got.children:
        children.setdefault(int(child[0]), []).append([int(v) for v in child])
    for i, frame in enumerate(frames):
        row, kids = decoder.reference(messages.decode(frame)[1])
        if got.status[i] == FALLBACK:
            continue
        assert got.status[i] == OK, f"message {i}: {STATUS_TEXT[int(got.status[i])]}"
        assert dict(zip(decoder.columns, got.rows[i].tolist())) == dict(zip(decoder.columns, row))
        expected = [[i, *k[1:]] for k in kids]
        assert [dict(zip(decoder.child_columns, k)) for k in children.get(i, [])] == [
            dict(zip(decoder.child_columns, k)) for k in expected
        ]


@pytest.mark.parametrize("msg_type", list(FAST_PATH))
def test_corpus_decodes_identically(msg_type):
    frames = [messages.encode(t, c) for t, c in corpus() if t is msg_type]
    assert frames
    assert_rows_equal(msg_type, frames)
    assert (decode_batch(msg_type, frames).status == OK).all()


def _generated(msg_type: MessageType):
    return st.lists(strategy(TYPE_NAME[msg_type]), min_size=1, max_size=4)


# Examples per property test: enough in the default suite to catch a regression, many more under
# ``pytest -m long`` (CI runs both).  A generated SPAT costs several times a BSM.
EXAMPLES = {MessageType.BSM: 150, MessageType.SPAT: 50, MessageType.RSM: 80}
LONG_EXAMPLES = 400


PROPERTY_CASES = [pytest.param(t, EXAMPLES[t], id=t.value) for t in FAST_PATH] + [
    pytest.param(t, LONG_EXAMPLES, id=f"{t.value}-long", marks=pytest.mark.long) for t in FAST_PATH
]


@pytest.mark.parametrize("msg_type,examples", PROPERTY_CASES)
def test_generated_messages_decode_identically(msg_type, examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_generated(msg_type))
    def check(contents):
        frames = [messages.encode(msg_type, c) for c in contents]
        assert_rows_equal(msg_type, frames)
        # Without extension additions every generated message stays on the fast path.
        assert (decode_batch(msg_type, frames).status == OK).all()

    check()


def test_rsm_with_the_most_participants_decodes():
    # ParticipantList SIZE(1..16): the upper bound, in every message of the batch.
    content = rsm()
    content["participants"] = [dict(content["participants"][0], ptcId=k) for k in range(16)]
    frames = [messages.encode(MessageType.RSM, content)] * 3
    got = decode_batch(MessageType.RSM, frames)
    assert got.children.shape[0] == 48 and sorted(set(got.children[:, 0].tolist())) == [0, 1, 2]
    assert_rows_equal(MessageType.RSM, frames)


def test_spat_with_every_list_at_its_upper_bound_decodes():
    # IntersectionStateList SIZE(1..32) of PhaseList SIZE(1..16) of PhaseStateList SIZE(1..16):
    # the generated messages reach the inner upper bounds only by chance (tests.asn1_strategies).
    content = next(c for t, c in corpus() if t is MessageType.SPAT)
    intersection, phase = content["intersections"][0], content["intersections"][0]["phases"][0]
    phases = [dict(phase, id=k + 1, phaseStates=[phase["phaseStates"][0]] * 16) for k in range(16)]
    content["intersections"] = [
        dict(intersection, intersectionId={"id": 2000 + k, "region": 1201}, phases=phases) for k in range(32)
    ]
    frames = [messages.encode(MessageType.SPAT, content)] * 2
    got = decode_batch(MessageType.SPAT, frames)
    assert (got.status == OK).all() and got.children.shape[0] == 2 * 32 * 16 * 16
    assert_rows_equal(MessageType.SPAT, frames)


def _agrees_or_rejects(msg_type: MessageType, frame: bytes) -> None:
    """The decoder never crashes; it accepts a frame only if asn1tools decodes it to the same rows."""
    got = decode_batch(msg_type, [frame])
    try:
        ref_type, content = messages.decode(frame, check_constraints=True)
    except Exception:
        assert got.status[0] != OK, "numba accepted a frame asn1tools rejects"
        return
    if got.status[0] == OK and ref_type is msg_type:
        row, kids = FAST_PATH[msg_type].reference(content)
        assert got.rows[0].tolist() == row
        assert [k[1:] for k in got.children.tolist()] == [k[1:] for k in kids]


@pytest.mark.parametrize("msg_type,examples", PROPERTY_CASES)
def test_truncated_and_bit_flipped_messages_are_rejected_or_identical(msg_type, examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy(TYPE_NAME[msg_type]), st.data())
    def check(content, data):
        frame = messages.encode(msg_type, content)
        cut = data.draw(st.integers(1, len(frame)))
        _agrees_or_rejects(msg_type, frame[:cut])
        bit = data.draw(st.integers(4, len(frame) * 8 - 1))  # keep the MessageFrame choice
        flipped = bytearray(frame)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        _agrees_or_rejects(msg_type, bytes(flipped))

    check()


@pytest.mark.parametrize("msg_type", list(FAST_PATH))
def test_random_bytes_never_crash_the_decoders(msg_type):
    @settings(max_examples=300, deadline=None)
    @given(st.binary(min_size=1, max_size=300))
    def check(raw):
        frame = bytes([raw[0] & 0x0F | (msg_type.frame_index << 4)]) + raw[1:]  # a frame of this type
        _agrees_or_rejects(msg_type, frame)

    check()


def test_nested_rows_past_the_first_guess_are_all_kept():
    # SPAT allocates 16 phase states per message at first; 2 intersections x 16 phases x 2 states
    # need 64, so the decoder asks for more and runs again.
    content = spat_corpus_message()
    inter = content["intersections"][0]
    big = dict(inter, phases=[{"id": k + 1, "phaseStates": inter["phases"][0]["phaseStates"][:2]} for k in range(16)])
    content["intersections"] = [big, dict(big, intersectionId={"id": 7})]
    frames = [messages.encode(MessageType.SPAT, content)] * 5
    got = decode_batch(MessageType.SPAT, frames)
    assert got.children.shape[0] == 5 * 64
    assert_rows_equal(MessageType.SPAT, frames)


def spat_corpus_message():
    return next(c for t, c in corpus() if t is MessageType.SPAT)


# --- extension additions: a newer sender's message, decoded with our (older) schema -----------


def _extended_message_set():
    """Our module with extension additions after the ``...`` of BSM, SPAT, RSM and LightState,
    as a later edition of the standard could add them."""
    import asn1tools

    from v2x.asn1 import ASN1_DIR

    text = (ASN1_DIR / "XiqingDayI.asn").read_text(encoding="utf-8")
    additions = {
        "    emergencyExt    VehicleEmergencyExtensions OPTIONAL,\n    ...\n": (
            "    emergencyExt    VehicleEmergencyExtensions OPTIONAL,\n    ...,\n    futureBsmField INTEGER (0..1000) OPTIONAL\n"
        ),
        "    intersections  IntersectionStateList,\n    ...\n": (
            "    intersections  IntersectionStateList,\n    ...,\n    futureSpatField IA5String (SIZE(1..20)) OPTIONAL\n"
        ),
        "    participants  ParticipantList,\n    ...\n": "    participants  ParticipantList,\n    ...,\n    futureRsmField BOOLEAN OPTIONAL\n",
        "flashing-yellow (8), ...": "flashing-yellow (8), ..., future-light (9)",
    }
    for old, new in additions.items():
        assert old in text, old
        text = text.replace(old, new)
    return asn1tools.compile_string(text + "\n" + (ASN1_DIR / "XiqingDayII.asn").read_text(encoding="utf-8"), "uper")


@pytest.mark.parametrize(
    "msg_type,addition",
    [
        (MessageType.BSM, {"futureBsmField": 999}),
        (MessageType.SPAT, {"futureSpatField": "next edition"}),
        (MessageType.RSM, {"futureRsmField": True}),
        (MessageType.SPAT, "future-light"),
    ],
)
def test_extension_additions_fall_back_to_asn1tools_and_land_in_the_tables(msg_type, addition):
    from v2x import clock
    from v2x.security import unsecured

    from pipeline.ingest.batch import BatchProcessor, Received

    content = next(c for t, c in corpus() if t is msg_type)
    if addition == "future-light":
        content["intersections"][0]["phases"][0]["phaseStates"][0]["light"] = "future-light"
    else:
        content = {**content, **addition}
    frame = _extended_message_set().encode("MessageFrame", (msg_type.frame_choice, content))
    assert decode_batch(msg_type, [frame]).status[0] == FALLBACK
    known_type, known = messages.decode(frame)  # our schema skips the unknown addition
    assert known_type is msg_type

    batch = Received()
    topic = "V2X/OBU/OBU-1/BSM/UP" if msg_type is MessageType.BSM else f"V2X/RSU/RSU-1/{msg_type.value}/UP"
    batch.add(topic, unsecured(frame), clock.now_unix_us())
    out = BatchProcessor(None).process(batch)
    assert out.telemetry[msg_type.value].column("decode_ok").to_pylist() == [True]
    decoder = FAST_PATH[msg_type]
    if addition == "future-light":
        # A light state of a later edition: asn1tools decodes it as None; stored as -1, the rest as sent.
        states = out.tables[decoder.child_table].to_pylist()
        assert next(s["light"] for s in states) == -1 and all(s["light"] >= 0 for s in states[1:])
        return
    row, kids = decoder.reference(known)
    stored = out.tables[msg_type.value.lower()].to_pylist()[0]
    assert stored == to_arrow(decoder.columns, np.array([row]), np.array([stored["rx_seq"]])).to_pylist()[0]
    assert out.tables[decoder.child_table].num_rows == len(kids)
