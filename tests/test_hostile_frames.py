"""No frame can stop the ingest: out-of-range header fields, a batch that raises, fuzzed and
oversize frames all become reject rows with their reason, and storage goes on."""

from __future__ import annotations

import asyncio
import random
import time

import duckdb
import paho.mqtt.client as paho
import pytest

from v2x import messages
from v2x.messages import MessageType
from v2x.rundir import RunDir, read_json
from v2x.security.certificates import security_types
from v2x.security.sign import unsecured

import pipeline.ingest.batch as batch_module
from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.receiver import MAX_FRAME_BYTES
from pipeline.ingest.session import ingest

from tests.corpus import bsm_variants, corpus

BSM_TOPIC = "V2X/OBU/OBU-7/BSM/UP"
RECEIVED_US = 1_700_000_000_000_000


def spdu_with_aid(aid: int) -> bytes:
    """A signed-looking SPDU (digest signer, zero signature: no key needed) whose header AID is ``aid``."""
    frame = messages.encode(MessageType.BSM, bsm_variants()[0])
    return security_types().encode(
        "V2XSecData",
        {
            "protocolVersion": 3,
            "content": (
                "signedData",
                {
                    "hashId": "sha256",
                    "tbsData": {
                        "payload": {"data": {"protocolVersion": 3, "content": ("unsecuredData", frame)}},
                        "headerInfo": {"aid": aid, "generationTime": 0},
                    },
                    "signer": ("digest", b"12345678"),
                    "signature": ("ecdsaNistP256Signature", {"rSig": ("x-only", bytes(32)), "sSig": bytes(32)}),
                },
            ),
        },
    )


def good_bsm(k: int) -> bytes:
    return unsecured(
        messages.encode(
            MessageType.BSM,
            messages.bsm(
                msg_cnt=k % 128,
                vehicle_id=b"TJ%06d" % (k // 128),
                sec_mark=k % 60000,
                lat_deg=39.085,
                lon_deg=117.056,
                speed_mps=10.0,
                heading_deg=90.0,
                width_m=1.8,
                length_m=4.7,
                vehicle_class=10,
            ),
        )
    )


def batch_of(frames: list[bytes]) -> Received:
    b = Received()
    for k, f in enumerate(frames):
        b.add(BSM_TOPIC, f, RECEIVED_US + k)
    return b


def rows(output) -> list[dict]:
    out = []
    for table in output.telemetry.values():
        out += table.select(["rx_seq", "decode_ok", "reject_reason", "frame"]).to_pylist()
    return sorted(out, key=lambda r: r["rx_seq"])


@pytest.mark.parametrize("aid", [2**64 + 111, 2**63, 2**63 + 5, 2**72])
def test_an_aid_beyond_int64_is_a_reject_row_not_a_dead_batch(aid):
    frames = [good_bsm(1), spdu_with_aid(aid), good_bsm(2)]
    got = rows(BatchProcessor(None).process(batch_of(frames)))
    assert [r["frame"] for r in got] == frames
    assert [r["decode_ok"] for r in got] == [True, False, True]
    assert f"aid {aid}" in got[1]["reject_reason"]


def raise_on(monkeypatch: pytest.MonkeyPatch, poison: bytes, error: Exception) -> None:
    """Make the batch stage raise ``error`` on any batch holding ``poison`` (a stand-in for a
    decoder bug no test frame shows)."""
    original = batch_module.BatchProcessor._contents

    def contents(self, buf, p, fallback, *args, **kwargs):
        if poison in fallback.frames:
            raise error
        return original(self, buf, p, fallback, *args, **kwargs)

    monkeypatch.setattr(batch_module.BatchProcessor, "_contents", contents)


def test_a_batch_that_raises_is_narrowed_down_to_the_frame_at_fault(monkeypatch):
    """Whatever fails inside the batch stage, the other frames are stored as usual and the frame
    at fault becomes a reject row naming the error."""
    poison = good_bsm(999)
    raise_on(monkeypatch, poison, RuntimeError("decoder bug"))
    frames = [good_bsm(k) for k in range(20)]
    frames.insert(13, poison)
    processor = BatchProcessor(None)
    with pytest.raises(RuntimeError):
        processor.process(batch_of(frames))
    outputs = processor.process_isolating(batch_of(frames), RuntimeError("decoder bug"))
    got = [r for o in outputs for r in rows(o)]
    assert sorted(r["frame"] for r in got) == sorted(frames)
    bad = [r for r in got if not r["decode_ok"]]
    assert [r["frame"] for r in bad] == [poison]
    assert "RuntimeError: decoder bug" in bad[0]["reject_reason"]
    assert len({r["rx_seq"] for r in got}) == len(frames)
    bsm_rows = sum(o.tables["bsm"].num_rows for o in outputs if "bsm" in o.tables)
    assert bsm_rows == 20  # the content of every good frame is stored too


def mutants(seed: int, count: int) -> list[bytes]:
    """Frames of every type and envelope, mutated: bytes flipped, inserted, cut, lengths bent."""
    rng = random.Random(seed)
    bases = [unsecured(messages.encode(t, c)) for t, c in corpus()] + [spdu_with_aid(a) for a in (32, 111, 3618, 2**40)]
    out = []
    for _ in range(count):
        f = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            at = rng.randrange(len(f)) if f else 0
            if op < 0.4 and f:
                f[at] = rng.randrange(256)
            elif op < 0.6:
                f[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
            elif op < 0.8:
                del f[at:]
            elif f:
                f[at] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0x88, 0x89, 0xFF))
        out.append(bytes(f))
    return out


def fuzz(count: int, seed: int, batch: int = 500) -> int:
    processor = BatchProcessor(None)
    frames = mutants(seed, count)
    stored = 0
    for start in range(0, count, batch):
        part = frames[start : start + batch]
        got = rows(processor.process(batch_of(part)))  # raises on a crash: the test fails
        assert [r["frame"] for r in got] == part  # one row per frame, in order
        stored += len(got)
    return stored


def test_fuzzed_frames_never_crash_the_batch_stage():
    assert fuzz(4_000, seed=20) == 4_000


@pytest.mark.long
def test_fuzzed_frames_never_crash_the_batch_stage_long():
    assert fuzz(100_000, seed=2026) == 100_000


@pytest.mark.broker
def test_poison_and_oversize_frames_through_mosquitto_do_not_stop_storage(mosquitto, tmp_path):
    """The SPDU with aid 2^64 + 111 once stopped all storage while frames kept being
    acknowledged; with an oversize frame among them, every frame sent is now stored."""
    run = RunDir(tmp_path / "run")
    frames = [good_bsm(k) for k in range(40)]
    frames[5] = spdu_with_aid(2**64 + 111)
    big = bytes(3) * (MAX_FRAME_BYTES + 1000)
    frames[20] = big

    async def scenario():
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 60)
        pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="poison-publisher")
        pub.connect("127.0.0.1", mosquitto.address.port)
        pub.loop_start()
        for f in frames:
            pub.publish(BSM_TOPIC, f, qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if run.ingest.joinpath("progress.json").exists() and read_json(run.ingest / "progress.json")["stored"] >= 40:
                break
        stop.set()
        return await task

    stats = asyncio.run(scenario())
    assert stats.failure is None and stats.stored == 40 and stats.acknowledged == 40
    con = duckdb.connect()
    got = con.execute(
        f"SELECT frame_size, decode_ok, reject_reason FROM read_parquet('{run.telemetry}/**/*.parquet') ORDER BY frame_size"
    ).fetchall()
    assert len(got) == 40 and sum(ok for _, ok, _ in got) == 38
    assert "aid 18446744073709551727" in got[-2][2]
    assert got[-1][0] == len(big) and "exceeds the ingest's limit" in got[-1][2]


def test_a_replay_with_a_malleated_signature_is_still_a_replay(pki):
    """ECDSA: (r, n - s) verifies as well as (r, s), so a replay keyed on the signature bytes
    was taken for a new message; replays are keyed on what was signed."""
    from v2x import clock
    from v2x.security import Signer, load_credentials

    from pipeline.ingest.trust import verifier_from_pki

    signer = Signer(load_credentials(pki, "OBU-1")[0])
    now = clock.now_unix_us()
    spdu = signer.sign(
        messages.encode(MessageType.BSM, bsm_variants()[0]), MessageType.BSM.aid, clock.time64_from_unix_us(now - 20_000)
    )
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order (SEC 2)
    s = int.from_bytes(spdu[-32:], "big")
    malleated = spdu[:-32] + (n - s).to_bytes(32, "big")
    b = Received()
    for k, frame in enumerate([spdu, malleated, spdu]):
        b.add(BSM_TOPIC.replace("OBU-7", "OBU-1"), frame, now + k)
    auth = BatchProcessor(verifier_from_pki(pki)).process(b).telemetry["BSM"].column("auth").to_pylist()
    if "ecdsa" in pki.name:
        assert auth == ["success", "duplicate_message", "duplicate_message"]
    else:  # SM2 signatures are not malleable this way: the altered one does not verify
        assert auth[0] == "success" and auth[1] != "success" and auth[2] == "duplicate_message"


def test_each_output_has_its_own_client_id_and_a_restart_keeps_it(tmp_path):
    """A fixed client id let any client (or a second ingest) take the ingest's session."""
    from pipeline.ingest.session import ingest_client_id

    a, b = RunDir(tmp_path / "a").create(), RunDir(tmp_path / "b").create()
    first = ingest_client_id(a)
    assert first.startswith("xiqing-v2x-ingest-") and first != ingest_client_id(b)
    assert ingest_client_id(a) == first  # a restart on the same output resumes its session
    assert ingest_client_id(a, "zone-ingest-1") == "zone-ingest-1" == ingest_client_id(a)
    for bad in ("", "a b", "x" * 65, "ingest/#"):
        with pytest.raises(ValueError, match="client id"):
            ingest_client_id(a, bad)
    (a.ingest / "client_id").write_text("../../bad\n")
    with pytest.raises(ValueError, match="no valid client id"):
        ingest_client_id(a)


def test_a_certificate_listing_thousands_of_aids_is_refused_without_decoding_it(pki, monkeypatch):
    """A keyless frame whose signer certificate listed 8,000 AIDs cost 0.47 s of ingest CPU
    (asn1tools decodes every element); two a second kept the ingest behind for ever."""
    from v2x import clock
    from v2x.security import Signer, load_credentials

    import pipeline.ingest.batch as batch_module

    signer = Signer(load_credentials(pki, "OBU-1")[0])
    now = clock.now_unix_us()
    spdu = signer.sign(
        messages.encode(MessageType.BSM, bsm_variants()[0]), MessageType.BSM.aid, clock.time64_from_unix_us(now), event=True
    )
    spec = security_types()
    sec = spec.decode("V2XSecData", spdu)
    kind, certs = sec["content"][1]["signer"]
    assert kind == "certificate"
    certs[0]["toBeSigned"]["appPermissions"] = [{"aid": 111 + k} for k in range(8_000)]
    big = spec.encode("V2XSecData", sec)
    calls = []
    import pipeline.ingest.fallback as fallback_module

    real = fallback_module.decode_frame
    monkeypatch.setattr(fallback_module, "decode_frame", lambda data: calls.append(len(data)) or real(data))
    monkeypatch.setattr(
        batch_module.BatchProcessor, "_certificate_decodes", lambda self, encoded: calls.append(len(encoded)) or True
    )
    b = Received()
    b.add(BSM_TOPIC.replace("OBU-7", "OBU-1"), big, now + 5)
    row = rows(BatchProcessor(None).process(b))[0]
    assert not row["decode_ok"] and "exceeds the limit of 512 (policy)" in row["reject_reason"]
    assert all(n < 1000 for n in calls)  # nothing of the size of that certificate went to asn1tools


@pytest.mark.broker
def test_the_harness_broker_refuses_a_publish_larger_than_its_limit(mosquitto, tmp_path):
    """One 250 MB publish once took the ingest to 2.8 GB and made honest frames 5.5 s late; the
    broker a run starts refuses packets over MAX_PACKET_BYTES, so such a frame never reaches it."""
    from v2x.mqtt.broker import MAX_PACKET_BYTES
    from v2x.mqtt.subscribe import SubscribeConnection

    reader = SubscribeConnection("127.0.0.1", mosquitto.address.port, "limit-reader", ["V2X/#"])
    reader.connect()
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="big-publisher")
    pub.connect("127.0.0.1", mosquitto.address.port)
    pub.loop_start()
    pub.publish(BSM_TOPIC, bytes(MAX_PACKET_BYTES + 1), qos=0)
    time.sleep(0.5)
    pub.loop_stop()
    pub.disconnect()
    honest = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="honest-publisher")
    honest.connect("127.0.0.1", mosquitto.address.port)
    honest.loop_start()
    honest.publish(BSM_TOPIC, b"honest", qos=1).wait_for_publish(10)
    honest.loop_stop()
    honest.disconnect()
    got = []
    deadline = time.monotonic() + 5
    while b"honest" not in got and time.monotonic() < deadline:
        got += reader.receive(0.1).payloads
    reader.close()
    assert got == [b"honest"]


@pytest.mark.broker
def test_a_frame_that_makes_the_batch_stage_raise_is_stored_as_a_reject_and_the_ingest_goes_on(mosquitto, tmp_path, monkeypatch):
    """Whatever the failure inside the batch stage, the live ingest stores every other frame,
    the one at fault as a reject naming the error, and keeps receiving."""
    poison = good_bsm(4242)
    raise_on(monkeypatch, poison, ZeroDivisionError("a decoder bug"))
    run = RunDir(tmp_path / "run")
    frames = [good_bsm(k) for k in range(60)]
    frames[30] = poison

    async def scenario():
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ingest(mosquitto.address, run, verifier=None, stop=stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 60)
        pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="raising-publisher")
        pub.connect("127.0.0.1", mosquitto.address.port)
        pub.loop_start()
        for k, f in enumerate(frames):
            pub.publish(BSM_TOPIC, f, qos=1).wait_for_publish(10)
            if k % 20 == 19:
                await asyncio.sleep(0.7)  # several batches, the poison in the middle one
        pub.loop_stop()
        pub.disconnect()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if read_json(run.ingest / "progress.json")["stored"] >= len(frames):
                break
        stop.set()
        return await task

    stats = asyncio.run(scenario())
    assert stats.failure is None and stats.stored == stats.acknowledged == 60
    con = duckdb.connect()
    got = con.execute(f"SELECT frame, decode_ok, reject_reason FROM read_parquet('{run.telemetry}/**/*.parquet')").fetchall()
    assert sorted(bytes(f) for f, _, _ in got) == sorted(frames)
    bad = [(bytes(f), reason) for f, ok, reason in got if not ok]
    assert len(bad) == 1 and bad[0][0] == poison and "ZeroDivisionError: a decoder bug" in bad[0][1]
    assert con.execute(f"SELECT count(*) FROM read_parquet('{run.tables}/bsm/*.parquet')").fetchone()[0] == 59
