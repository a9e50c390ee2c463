"""Day-II (T/CSAE 157-2020) against the reference module copy and a second codec (pycrate):
identical bytes and identical values, for the corpus and for values drawn from the reference
module's own types; and what a receiver does with a Day-II frame it cannot carry."""

from __future__ import annotations

import glob
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2x import messages
from v2x.asn1 import TrailingOctets
from v2x.messages import DAY_II, MessageType, UnknownMessage

from tests.asn1_strategies import strategy, types_of
from tests.conftest import reference_dir
from tests.corpus import day_ii_corpus
from tests.golden_vectors import reference_frame, reference_value

CASES = day_ii_corpus()
IDS = [f"{t.value}-{i}" for i, (t, _) in enumerate(CASES)]


def pycrate_value(value: Any) -> Any:
    """An asn1tools value in pycrate's form: a BIT STRING is (integer, bits), not (octets, bits)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], bytes):
        octets, size = value
        return int.from_bytes(octets, "big") >> (len(octets) * 8 - size) if size else 0, size
    if isinstance(value, tuple):
        return (value[0], pycrate_value(value[1]))
    if isinstance(value, dict):
        return {k: pycrate_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pycrate_value(v) for v in value]
    return value


def pycrate_frame(msg_type: MessageType, content: dict[str, Any]) -> Any:
    """The MessageFrame value pycrate gives: a Day-II message opened by its messageId."""
    if msg_type.day_ii:
        return ("msgFrameExt", {"messageId": msg_type.ext_id, "value": (msg_type.asn1_type, pycrate_value(content))})
    return (msg_type.frame_choice, pycrate_value(content))


def test_the_corpus_covers_every_day_ii_message_and_the_map_additions():
    assert {t for t, _ in CASES} == set(DAY_II) | {MessageType.MAP}
    assert any("inLinks-ex" in node for t, c in CASES if t is MessageType.MAP for node in c["nodes"])


@pytest.mark.parametrize("msg_type,content", CASES, ids=IDS)
def test_a_day_ii_frame_has_the_reference_modules_bytes_and_value(reference_modules, msg_type, content):
    frame = messages.encode(msg_type, content)
    assert reference_frame(reference_modules, msg_type, content) == frame
    assert messages.decode(frame, check_constraints=True) == (msg_type, content)
    assert reference_value(reference_modules, msg_type, frame) == content


@pytest.mark.parametrize("msg_type,content", CASES, ids=IDS)
def test_pycrate_reads_our_day_ii_frames_and_writes_them_byte_for_byte(pycrate_reference, msg_type, content):
    frame = messages.encode(msg_type, content)
    codec = pycrate_reference.MsgFrame.MessageFrame
    codec.from_uper(frame)
    assert codec.get_val() == pycrate_frame(msg_type, content)
    codec.set_val(pycrate_frame(msg_type, content))
    assert codec.to_uper() == frame


def _reference_types() -> dict[str, Any]:
    return types_of(sorted(glob.glob(str(reference_dir() / "csae53-2020-dayI+csae157-2020-dayII_vss" / "*.asn"))))


@pytest.mark.parametrize("msg_type", DAY_II, ids=[t.value for t in DAY_II])
def test_values_drawn_from_the_reference_types_encode_alike_in_all_three_codecs(reference_modules, pycrate_reference, msg_type):
    """Values the reference module's own type definitions allow (every optional member present
    or not, bounds favoured), not values our builders make."""
    types = _reference_types()
    codec = pycrate_reference.MsgFrame.MessageFrame

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(strategy(msg_type.asn1_type, types))
    def agree(value: Any) -> None:
        frame = reference_frame(reference_modules, msg_type, value)
        assert messages.encode(msg_type, value) == frame
        assert messages.decode(frame, check_constraints=True) == (msg_type, value)
        codec.from_uper(frame)
        assert codec.get_val() == pycrate_frame(msg_type, value)

    agree()


def _ext_frame(ext_id: int, inner: bytes) -> bytes:
    return messages.message_set().encode("MessageFrame", ("msgFrameExt", {"messageId": ext_id, "value": inner}))


@pytest.mark.parametrize("ext_id", [0, 17, 18, 32767])
def test_a_day_ii_message_the_harness_does_not_carry_is_named_not_misread(ext_id):
    with pytest.raises(UnknownMessage, match=f"messageId {ext_id} "):
        messages.decode(_ext_frame(ext_id, b"\x00\x01"))


def test_an_inner_message_with_octets_after_its_end_is_refused():
    inner = messages.message_set().encode("PersonalSafetyMessage", CASES[[t for t, _ in CASES].index(MessageType.PSM)][1])
    with pytest.raises(TrailingOctets, match="PersonalSafetyMessage"):
        messages.decode(_ext_frame(MessageType.PSM.ext_id or 0, inner + b"\x00"))


@given(st.sampled_from(DAY_II), st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_any_bytes_in_msg_frame_ext_decode_whole_or_raise_a_value_error(msg_type, inner):
    """Fuzzed open-type octets under each messageId: a value of that type, or an error, never another exception."""
    try:
        decoded_type, _ = messages.decode(_ext_frame(msg_type.ext_id or 0, inner), check_constraints=True)
    except (ValueError, TrailingOctets) as exc:
        assert str(exc)
    except Exception as exc:  # asn1tools' own errors are its Error class
        assert type(exc).__module__.startswith("asn1tools"), repr(exc)
    else:
        assert decoded_type is msg_type


def builtin_day_ii_frames(seconds: float = 3.0) -> list[tuple[str, bytes]]:
    """(scenario, frame) of every Day-II message the built-in scenarios' devices build in their
    first ``seconds``: the RSUs' RSC, SSM, PAM and RTCM, the buses' and valet cars' VIR, the road workers' PSM,
    and the MAP of RSUs that carry the Day-II additions."""
    import random

    from v2x import clock
    from v2x.scenario.model import builtin_scenarios, load_scenario

    from roadside.simulator import rsu_streams
    from vehicles.priority_requests import vir_stream
    from vehicles.road_workers import psm_stream, road_workers
    from vehicles.traffic import Traffic

    now = clock.now_unix_us()
    out = []
    for name in sorted(builtin_scenarios()):
        scenario = load_scenario(name)
        traffic = Traffic(scenario, np.random.default_rng(scenario.seed))
        streams = [s for k in range(len(scenario.intersections)) for s in rsu_streams(scenario, k, random.Random(1), traffic)]
        streams += [vir_stream(traffic, i, n) for n, i in enumerate(traffic.vir_senders())]
        streams += [psm_stream(scenario, traffic.corridor, w, np.random.default_rng(0)) for w in road_workers(scenario)]
        map_additions = any(i.map_day_ii for i in scenario.intersections)
        for stream in streams:
            if not (stream.msg_type.day_ii or (stream.msg_type is MessageType.MAP and map_additions)):
                continue
            for k in range(int(seconds / stream.period_s)):
                built = stream.build(k, now + int(k * stream.period_s * 1e6))
                out.append((name, built if isinstance(built, bytes) else built.frame))
    return out


def test_every_day_ii_frame_of_the_builtin_scenarios_decodes_alike_in_all_three_codecs(reference_modules, pycrate_reference):
    frames = builtin_day_ii_frames()
    kinds = {(name, messages.decode(frame)[0].value) for name, frame in frames}
    assert {
        ("bus-route", "VIR"),
        ("bus-route", "RSC"),
        ("sanitation", "SSM"),
        ("sanitation", "PSM"),
        ("sanitation", "RSC"),
        ("valet-parking", "PAM"),
        ("valet-parking", "RTCM"),
        ("valet-parking", "VIR"),
        ("valet-parking", "RSC"),
        ("bus-route", "MAP"),
    } <= kinds
    codec = pycrate_reference.MsgFrame.MessageFrame
    for name, frame in frames:
        msg_type, ours = messages.decode(frame, check_constraints=True)
        assert reference_value(reference_modules, msg_type, frame) == ours, name
        assert reference_frame(reference_modules, msg_type, ours) == frame, name
        codec.from_uper(frame)
        assert codec.get_val() == pycrate_frame(msg_type, ours), name
