"""Sources and framings: RSU-to-cloud links that send the bare UPER MessageFrame or a vendor
binary wrapper instead of the YD/T 3957 envelope are ingested into the same tables, their
frames graded honestly as not verifiable (pipeline/decode/framing.py, pipeline/ingest/sources.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiomqtt
import duckdb
import pytest

from v2x import clock, messages
from v2x.framing import Framing, cloud_json, openv2x, vendor_wrapper
from v2x.framing.sources import Sources, SourcesError, load_sources
from v2x.messages import MessageType
from v2x.security.sign import unsecured

from pipeline.decode.framing import as_unsecured, bare_message, unwrap
from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.replay import replay
from pipeline.ingest.store import TelemetryWriter
from pipeline.report.build import build_report
from pipeline.sql.views import connect

from tests.corpus import corpus
from tests.golden_vectors import OTHER_EDITIONS, load

CORPUS = corpus()
BSMS = [messages.encode(t, c) for t, c in CORPUS if t is MessageType.BSM]
SPAT = messages.encode(MessageType.SPAT, next(c for t, c in CORPUS if t is MessageType.SPAT))
MAP = messages.encode(MessageType.MAP, next(c for t, c in CORPUS if t is MessageType.MAP))
WRAPPER_TOPIC = "V2X.RSU.BSM.UP"  # one level: no device id in the topic
SOURCES = Sources.model_validate(
    {"sources": [{"topics": "V2X/RSU/+/+/UP", "framing": "bare-uper"}, {"topics": WRAPPER_TOPIC, "framing": "vendor-wrapper"}]}
)
MILLIS = 1_764_500_000_123
# A MAP of the 2019-07 pre-release and a T/CSAE 53-2017 BSM that the 2020 decoders refuse (golden copies).
OLDER_FRAMES = {
    choice: next(
        bytes.fromhex(v["frame"])
        for v in load(OTHER_EDITIONS)
        if v["edition"] == edition and v["value"]["$tuple"][0] == choice and not bare_message(bytes.fromhex(v["frame"]))
    )
    for edition, choice in (("csae53_2019", "mapFrame"), ("csae53_2017", "bsmFrame"))
}


def wrapper(frames: list[bytes], rsu_id: bytes = b"RSU-0042") -> bytes:
    head = rsu_id + MILLIS.to_bytes(8, "little")
    if len(frames) == 1:
        return head + len(frames[0]).to_bytes(2, "little") + frames[0]
    return head + bytes([len(frames)]) + b"".join(len(f).to_bytes(2, "little") + f for f in frames)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 70_000])
def test_a_bare_frame_becomes_the_unsecured_envelope_asn1tools_makes(size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert as_unsecured(payload) == unsecured(payload)
    assert [u.frame for u in unwrap(Framing.BARE_UPER, payload)] == [unsecured(payload)]


def test_a_vendor_wrapper_gives_each_of_its_frames_with_the_rsu_id():
    got = unwrap(Framing.VENDOR_WRAPPER, wrapper(BSMS[:3]))
    assert [u.frame for u in got] == [unsecured(f) for f in BSMS[:3]]
    assert {u.sender for u in got} == {"RSU-0042"} and not any(u.problem for u in got)
    [single] = unwrap(Framing.VENDOR_WRAPPER, wrapper([SPAT]))
    assert single.frame == unsecured(SPAT) and single.problem is None


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (wrapper([SPAT])[:-5], "neither one frame"),
        (wrapper(BSMS[:2])[:-3], "frame 2 of 2: "),
        (b"RSU\x00\xff042" + bytes(12), "is not 8 ASCII characters"),
        (b"RSU-0042" + bytes(4), "shorter than the 16-octet header"),
        (wrapper(BSMS[:2])[:16] + bytes([3]) + wrapper(BSMS[:2])[17:], "frame 3 of 3"),
    ],
)
def test_a_broken_vendor_wrapper_is_one_reject_naming_what_does_not_fit(payload, says):
    [got] = unwrap(Framing.VENDOR_WRAPPER, payload)
    assert got.problem is not None and got.problem.startswith("vendor-wrapper framing: ") and says in got.problem, got.problem


def test_the_first_matching_filter_gives_the_framing(tmp_path):
    assert SOURCES.framing_of("V2X/RSU/R1/SPAT/UP") is Framing.BARE_UPER
    assert SOURCES.framing_of(WRAPPER_TOPIC) is Framing.VENDOR_WRAPPER
    assert SOURCES.framing_of("V2X/OBU/O1/BSM/UP") is Framing.ENVELOPE  # no entry: the envelope
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {topics: 'V2X/RSU/#', framing: bare-uper}\n  - {topics: 'V2X/#', framing: vendor-wrapper}\n")
    loaded = load_sources(path)
    assert (
        loaded.framing_of("V2X/RSU/R1/MAP/UP") is Framing.BARE_UPER
        and loaded.framing_of("V2X/OBU/x/BSM/UP") is Framing.VENDOR_WRAPPER
    )
    assert loaded.filters() == ["V2X/RSU/#", "V2X/#"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sources:\n  - {topics: 'V2X.RSU.#', framing: bare-uper}\n", "sources.0.topics"),
        ("sources:\n  - {topics: 'a/b+', framing: bare-uper}\n", "Invalid wildcard"),
        ("sources:\n  - {topics: 'a', framing: morse}\n", "sources.0.framing"),
        ("sources:\n  - {topics: 'a', framing: bare-uper, qos: 2}\n", "sources.0.qos"),
        ("sources: [\n", "sources.yaml"),
    ],
)
def test_a_broken_sources_file_is_refused_naming_the_entry(tmp_path, text, says):
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(SourcesError, match=says.replace("+", r"\+").replace(".", r"\.")):
        load_sources(path)


def _batch() -> Received:
    now = clock.now_unix_us()
    batch = Received()
    batch.add("V2X/RSU/RSU-1/SPAT/UP", SPAT, now)
    batch.add("V2X/RSU/RSU-1/MAP/UP", MAP, now + 1)
    batch.add(WRAPPER_TOPIC, wrapper(BSMS[:3]), now + 2)
    batch.add(WRAPPER_TOPIC, wrapper([BSMS[3]])[:-4], now + 3)  # cut short
    batch.add("V2X/OBU/OBU-7/BSM/UP", unsecured(BSMS[0]), now + 4)  # the envelope, unsigned
    return batch


COLUMNS = "rx_seq, msg_type, topic, sender_id, device_kind, decode_ok, auth, auth_reason, reject_reason, framing, frame"


def test_the_batch_stage_reads_each_framing_into_the_same_tables():
    out = BatchProcessor(None, sources=SOURCES).process(_batch())
    rows = sorted(({**r, "msg_type": m} for m, t in out.telemetry.items() for r in t.to_pylist()), key=lambda r: r["rx_seq"])
    assert [(r["msg_type"], r["framing"], r["decode_ok"]) for r in rows] == [
        ("SPAT", "bare-uper", True),
        ("MAP", "bare-uper", True),
        ("BSM", "vendor-wrapper", True),
        ("BSM", "vendor-wrapper", True),
        ("BSM", "vendor-wrapper", True),
        ("UNKNOWN", "vendor-wrapper", False),
        ("BSM", "envelope", True),
    ]
    assert [r["sender_id"] for r in rows[2:5]] == ["RSU-0042"] * 3 and rows[2]["device_kind"] == "RSU"
    assert rows[0]["sender_id"] == "RSU-1" and rows[0]["frame"] == SPAT  # the row keeps the payload as received
    assert rows[2]["frame"] == rows[4]["frame"] == wrapper(BSMS[:3])
    # the wrapper's UTC ms is when the RSU sent it: its latency is measured; a bare frame has no send time
    assert round(rows[2]["generated_at"].timestamp() * 1000) == MILLIS and rows[2]["latency_ms"] is not None
    assert rows[0]["generated_at"] is None and rows[0]["latency_ms"] is None
    assert "vendor-wrapper framing: neither one frame" in rows[5]["reject_reason"]
    for r in rows[:5]:
        assert (
            r["auth"] == "not_verified" and r["auth_reason"] == f"the {r['framing']} framing carries no signature: not verifiable"
        )
    assert rows[6]["auth"] == "unsigned_message"  # an envelope without a signature is the device's doing
    assert out.tables["spat"].num_rows == 1 and out.tables["bsm"].num_rows == 4 and out.tables["map_lanes"].num_rows > 0
    assert out.tables["bsm"].column("rx_seq").to_pylist() == [r["rx_seq"] for r in rows if r["msg_type"] == "BSM"]


def test_a_run_of_unsigned_framings_is_not_failed_on_authentication_and_says_why(tmp_path):
    run = tmp_path / "run"
    batch = Received()
    start = clock.now_unix_us() - 10_000_000
    for k in range(30):
        content = dict(next(c for t, c in CORPUS if t is MessageType.BSM), msgCnt=k)
        sent_ms = (start + k * 100_000) // 1000 - 20  # sent 20 ms before it arrived
        batch.add(
            WRAPPER_TOPIC,
            vendor_wrapper.wrap("RSU-0042", sent_ms, [messages.encode(MessageType.BSM, content)]),
            start + k * 100_000,
        )
    out = BatchProcessor(None, sources=SOURCES).process(batch)
    (run / "telemetry").mkdir(parents=True)
    TelemetryWriter(run / "telemetry", run / "tables").write(out.telemetry, out.tables)
    report = build_report(run)
    bsm = report.metrics_of("BSM")
    assert bsm is not None and bsm.not_verified == bsm.stored == 30 and bsm.auth_success_rate is None
    # the rate and the latency of frames that cannot be verified are measured all the same
    assert bsm.rate_hz_min == pytest.approx(10.0) and bsm.latency_p99_ms == pytest.approx(20.0, abs=1)
    auth = report.check("BSM.auth")
    assert auth is not None and auth.verdict == "N/A"
    assert (
        auth.note
        == "not judged: no BSM frame could be verified (the vendor-wrapper framing carries no signature: not verifiable)"
    )
    assert report.check("BSM.signer_resolved").verdict == "N/A"  # type: ignore[union-attr]
    assert report.check("run.trust").verdict == "N/A"  # type: ignore[union-attr]  # nothing signed to verify


def test_a_replayed_run_reads_each_payload_with_its_framing_once(tmp_path):
    source = tmp_path / "source"
    out = BatchProcessor(None, sources=SOURCES).process(_batch())
    (source / "telemetry").mkdir(parents=True)
    TelemetryWriter(source / "telemetry", source / "tables").write(out.telemetry, out.tables)
    replay(source, tmp_path / "again", None)  # no sources given: the run recorded each row's framing
    query = f"SELECT {COLUMNS} FROM read_parquet('{{}}/telemetry/*/*.parquet') ORDER BY rx_seq"
    before = duckdb.connect().execute(query.format(source)).fetchall()
    assert duckdb.connect().execute(query.format(tmp_path / "again")).fetchall() == before and len(before) == 7


@pytest.mark.broker
def test_ingest_reads_bare_wrapped_and_json_frames_through_mosquitto(mosquitto, tmp_path):
    """Live: the ingest subscribes to the sources file's filters too (the wrapper's one-level
    topic is outside V2X/#) and stores every message of every payload."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - {topics: 'V2X/RSU/J1/+/UP', framing: openv2x-json}\n  - {topics: 'V2X/RSU/+/+/UP', framing: bare-uper}\n"
        f"  - {{topics: '{WRAPPER_TOPIC}', framing: vendor-wrapper}}\n"
        "  - {topics: 'cloud/V2X/RSU/+/+/UP', framing: openv2x-json, relay: cloud}\n"
        "  - {topics: 'v2x/v1/rsu/+/+/up', framing: cloud-json}\n"
    )
    out = tmp_path / "live"
    command = [sys.executable, "-m", "v2x.cli", "ingest", "--broker", mosquitto.address.url, "--out", str(out)]
    proc = subprocess.Popen([*command, "--sources", str(sources), "--duration", "4"], stderr=subprocess.PIPE, text=True)
    try:
        assert "subscribed to" in proc.stderr.readline()

        async def publish() -> None:
            async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
                for _ in range(10):
                    await client.publish("V2X/RSU/RSU-1/SPAT/UP", SPAT, qos=1)
                    await client.publish(WRAPPER_TOPIC, wrapper(BSMS[:2]), qos=1)
                    await client.publish("V2X/RSU/J1/MAP/UP", openv2x.document(MAP), qos=1)
                    await client.publish("cloud/V2X/RSU/RSU-1/SPAT/UP", openv2x.document(SPAT), qos=1)  # a platform's copy
                    sent_us = clock.now_unix_us() - 20_000  # sent 20 ms ago
                    await client.publish("v2x/v1/rsu/C1/spat/up", cloud_json.document(SPAT, "C1", sent_us), qos=1)
                # RSUs of older editions of the message set (one forwarding a BSM)
                await client.publish("V2X/RSU/OLD-1/MAP/UP", OLDER_FRAMES["mapFrame"], qos=1)
                await client.publish("V2X/RSU/OLD-2/BSM/UP", OLDER_FRAMES["bsmFrame"], qos=1)

        asyncio.run(publish())
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, rest
    finally:
        proc.kill()
    got = (
        duckdb.connect()
        .execute(
            f"SELECT framing, msg_type, edition, count(*), bool_and(decode_ok), any_value(auth) "
            f"FROM read_parquet('{out}/telemetry/*/*.parquet') WHERE relay IS NULL GROUP BY ALL ORDER BY ALL"
        )
        .fetchall()
    )
    assert got == [
        ("bare-uper", "BSM", "csae53-2017", 1, True, "not_verified"),
        ("bare-uper", "MAP", "csae53-2019-07", 1, True, "not_verified"),
        ("bare-uper", "SPAT", "csae53-2020", 10, True, "not_verified"),
        ("cloud-json", "SPAT", "csae53-2020", 10, True, "not_verified"),
        ("openv2x-json", "MAP", "csae53-2020", 10, True, "not_verified"),
        ("vendor-wrapper", "BSM", "csae53-2020", 20, True, "not_verified"),
    ]
    cloud = (
        duckdb.connect()
        .execute(
            f"SELECT DISTINCT sender_id, device_kind, min(latency_ms) >= 20 AND max(latency_ms) < 5000 "
            f"FROM read_parquet('{out}/telemetry/*/*.parquet') WHERE framing = 'cloud-json' GROUP BY ALL"
        )
        .fetchall()
    )
    assert cloud == [("C1", "RSU", True)]  # the topic's RSU, and the document's send time read
    copies = (
        connect(out).execute("SELECT count(*), count(device_rx_seq), sum(len(differences)) FROM platform_fidelity").fetchone()
    )
    assert copies == (10, 10, 0)  # each copy matched with the RSU's own SPAT (the same msgCnt: the nearest), none changed
