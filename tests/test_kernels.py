"""The numba fast path against the asn1tools reference decode, field by field."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2x import clock, messages
from v2x.security import Signer, load_credential, unsecured

from pipeline import kernels
from pipeline.batch import BatchProcessor
from pipeline.reference import FrameError, decode_frame
from tests.corpus import corpus

BSM_FIELDS = ["vehicle_id", "sec_mark", "lat", "lon", "elevation_present", "speed", "heading", "transmission",
              "accel_long", "accel_lat", "yaw_rate", "width", "length", "vehicle_class"]


def signed_corpus(pki) -> list[bytes]:
    signer = Signer(load_credential(pki, "RSU-1"))
    obu = Signer(load_credential(pki, "OBU-1"))
    t = clock.time64_from_unix_us(clock.now_unix_us())
    out = []
    for k, (msg_type, content) in enumerate(corpus()):
        frame = messages.encode(msg_type, content)
        s = obu if msg_type is messages.MessageType.BSM else signer
        out.append(s.sign(frame, msg_type.aid, t + k * 100_000))  # certificate and digest signers alternate
        out.append(unsecured(frame))
    return out


def assert_agrees(frames: list[bytes]) -> None:
    buf, offsets = kernels.frames_to_buffer(frames)
    p = kernels.parse_batch(buf, offsets)
    raw = buf.tobytes()
    for i, frame in enumerate(frames):
        try:
            ref = decode_frame(frame)
        except FrameError:
            # A certificate signer's span is tentative in the kernel; the batch stage confirms it.
            tentative = p.signer_kind[i] == kernels.SIGNER_CERTIFICATE and not BatchProcessor(None)._certificate_decodes(
                raw[p.signer_start[i]:p.signer_end[i]])
            assert p.status[i] != kernels.OK or tentative, f"frame {i}: kernel accepted what asn1tools rejects"
            continue
        if p.status[i] == kernels.FALLBACK:
            continue
        assert p.status[i] == kernels.OK, f"frame {i}: {kernels.STATUS_TEXT[int(p.status[i])]}"
        assert raw[p.payload_start[i]:p.payload_end[i]] == ref.payload
        assert p.msg_index[i] == ref.msg_type.frame_index and p.msg_cnt[i] == ref.msg_cnt
        if ref.content == "signed":
            assert kernels.HASH_NAMES[p.hash_id[i]] == ref.hash_id and p.aid[i] == ref.aid
            assert p.generation_time[i] == ref.generation_time
            assert raw[p.tbs_start[i]:p.tbs_end[i]] == ref.tbs
            assert raw[p.signer_start[i]:p.signer_end[i]] == ref.signer
            assert raw[p.r_start[i]:p.r_start[i] + 32] == ref.r and raw[p.s_start[i]:p.s_start[i] + 32] == ref.s
        if ref.bsm:
            assert {f: getattr(p, f)[i].item() for f in BSM_FIELDS} == ref.bsm


def test_fast_path_equals_asn1tools_on_corpus(pki):
    frames = signed_corpus(pki)
    assert_agrees(frames)
    p = kernels.parse_batch(*kernels.frames_to_buffer(frames))
    assert (p.status == kernels.OK).all()


@settings(max_examples=150, deadline=None)
@given(
    cnt=st.integers(0, 127), sec=st.integers(0, 65535), lat=st.integers(-900000000, 900000001),
    lon=st.integers(-1799999999, 1800000001), elev=st.one_of(st.none(), st.integers(-4096, 61439)),
    speed=st.integers(0, 8191), heading=st.integers(0, 28800), along=st.integers(-2000, 2001), yaw=st.integers(-32767, 32767),
    width=st.integers(0, 1023), length=st.integers(0, 4095), cls=st.integers(0, 255),
    options=st.sets(st.sampled_from(["timeConfidence", "posAccuracy", "posConfidence", "angle", "motionCfd", "brakes", "height", "fuel"])),
)
def test_fast_path_equals_asn1tools_on_generated_bsm(cnt, sec, lat, lon, elev, speed, heading, along, yaw, width, length, cls, options):
    pos = {"lat": lat, "long": lon} | ({"elevation": elev} if elev is not None else {})
    bsm = {"msgCnt": cnt, "id": os.urandom(8), "secMark": sec, "pos": pos, "transmission": "park", "speed": speed, "heading": heading,
           "accelSet": {"long": along, "lat": max(-2000, -along), "vert": 5, "yaw": yaw}, "brakes": {},
           "size": {"width": width, "length": length}, "vehicleClass": {"classification": cls}}
    if "timeConfidence" in options:
        bsm["timeConfidence"] = "time-000-001"
    if "posAccuracy" in options:
        bsm["posAccuracy"] = {"semiMajor": 20, "semiMinor": 10, "orientation": 100}
    if "posConfidence" in options:
        bsm["posConfidence"] = {"pos": "a2m", "elevation": "elev-001-00"}
    if "angle" in options:
        bsm["angle"] = -40
    if "motionCfd" in options:
        bsm["motionCfd"] = {"headingCfd": "prec01deg", "steerCfd": "prec1deg"}
    if "brakes" in options:
        bsm["brakes"] = {"wheelBrakes": (b"\x80", 5), "abs": "engaged", "auxBrakes": "reserved"}
    if "height" in options:
        bsm["size"]["height"] = 30
    if "fuel" in options:
        bsm["vehicleClass"]["fuelType"] = 4
    assert_agrees([unsecured(messages.encode(messages.MessageType.BSM, bsm))])


def test_truncated_and_random_frames_never_crash_and_are_flagged(pki):
    rng = random.Random(7)
    frames = []
    for frame in signed_corpus(pki)[:6]:
        frames += [frame[:n] for n in range(0, len(frame))]
        frames += [bytes(b ^ (1 << rng.randrange(8)) if j == rng.randrange(len(frame)) else b for j, b in enumerate(frame))]
    frames += [os.urandom(rng.randrange(0, 300)) for _ in range(300)]
    buf, offsets = kernels.frames_to_buffer(frames)
    p = kernels.parse_batch(buf, offsets)
    truncated = [i for i, f in enumerate(frames) if len(f) < 10]
    assert all(p.status[i] != kernels.OK for i in truncated)
    assert_agrees(frames)


def test_msg_cnt_gaps_wrap_and_persist_across_batches():
    last = np.full(2, -1, np.int16)
    sender = np.array([0, 0, 1, 0, 0, 1], np.int64)
    cnt = np.array([126, 127, 5, 1, 1, 9], np.int16)
    gaps, dup = np.full(6, -1, np.int16), np.zeros(6, np.bool_)
    kernels.msg_cnt_gaps(sender, cnt, last, gaps, dup)
    assert gaps.tolist() == [-1, 0, -1, 1, -1, 3] and dup.tolist() == [False, False, False, False, True, False]
    gaps2 = np.full(1, -1, np.int16)
    kernels.msg_cnt_gaps(np.array([0]), np.array([3], np.int16), last, gaps2, np.zeros(1, np.bool_))
    assert gaps2.tolist() == [1]
