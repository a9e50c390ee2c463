"""`v2x watch`: a broker tailed like mosquitto_sub, every frame decoded and verified as the ingest
judges it (pipeline/ingest/watch.py), through a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiomqtt
import pytest

from v2x import clock, messages
from v2x.messages import MessageType
from v2x.security import Signer, load_credentials, unsecured

from pipeline.ingest.batch import Received
from pipeline.ingest.trust import verifier_from_pki
from pipeline.ingest.watch import Watch, WatchFilter, line

from tests.corpus import corpus, day_ii_corpus
from tests.test_framings import SPAT

pytestmark = pytest.mark.broker


def signed_bsms(pki, n: int) -> list[bytes]:
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    frames = []
    for k in range(n):
        now = clock.now_unix_us()
        content = messages.bsm(
            msg_cnt=k,
            vehicle_id=b"\x07" * 8,
            sec_mark=clock.dsecond(now),
            lat_deg=39.0851,
            lon_deg=117.0561,
            speed_mps=12.5,
            heading_deg=90.0,
            width_m=1.8,
            length_m=4.7,
            vehicle_class=10,
        )
        frames.append(signer.sign(messages.encode(MessageType.BSM, content), MessageType.BSM.aid, clock.time64_from_unix_us(now)))
    return frames


def test_a_line_says_what_the_frame_carries_and_its_verdict(pki):
    from zoneinfo import ZoneInfo

    judge = Watch(verifier_from_pki(pki))
    batch = Received()
    now = clock.now_unix_us()
    for frame in signed_bsms(pki, 2):
        batch.add("V2X/OBU/OBU-1/BSM/UP", frame, now)
    batch.add("V2X/OBU/OBU-2/BSM/UP", b"\x00not a frame", now)
    records = judge.judge(batch)
    assert [r["sender_id"] for r in records] == ["OBU-1", "OBU-1", "OBU-2"] and judge.judged == 3
    bsm, _, bad = (line(r, ZoneInfo("Asia/Shanghai")) for r in records)
    assert "BSM   OBU-1" in bsm and "success" in bsm and "39.085100 N 117.056100 E  12.5 m/s  90°" in bsm
    assert "rejected: " in bad and records[2]["decode_ok"] is False
    only = Watch(None, only=WatchFilter(frozenset({"SPAT"}), ("RSU-*",)))
    spat = Received()
    spat.add("V2X/RSU/RSU-9/SPAT/UP", SPAT, now)  # a bare frame on an envelope topic: a reject, but a SPAT's
    spat.add("V2X/OBU/OBU-1/BSM/UP", signed_bsms(pki, 1)[0], now)
    assert [r["msg_type"] for r in only.judge(spat)] == ["SPAT"]


@pytest.mark.slow  # 10 s per suite: two watch processes (.ci/run runs it with the slow tests)
def test_watch_tails_the_broker_decoded_verified_and_filtered(pki, mosquitto):
    spat = next(messages.encode(t, c) for t, c in corpus() if t is MessageType.SPAT)
    command = [sys.executable, "-m", "v2x.cli", "watch", "--broker", mosquitto.address.url, "--pki", str(pki)]

    def tail(*options: str, publish) -> tuple[list[dict], str]:
        proc = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "watching " + mosquitto.address.url in proc.stderr.readline()
            asyncio.run(publish())
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        return [json.loads(x) for x in out.splitlines()], err

    async def everything() -> None:
        frames = signed_bsms(pki, 5)  # signed now: a frame generated over 1 s before receipt is invalid_timestamp
        async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
            for frame in frames:
                await client.publish("V2X/OBU/OBU-1/BSM/UP", frame, qos=1)
            await client.publish("V2X/OBU/OBU-1/BSM/UP", frames[0], qos=1)  # a replay
            await client.publish("V2X/OBU/OBU-2/BSM/UP", frames[1][:-9], qos=1)  # cut short
            await client.publish("V2X/RSU/RSU-1/SPAT/UP", spat, qos=1)  # bare: no envelope

    records, err = tail("--format", "json", "--count", "8", publish=everything)
    assert [r["sender_id"] for r in records] == ["OBU-1"] * 6 + ["OBU-2", "RSU-1"]
    assert [r["auth"] for r in records[:6]] == ["success"] * 5 + ["duplicate_message"]
    assert all(r["decode_ok"] for r in records[:6]) and not records[6]["decode_ok"] and "rejected: " in records[6]["summary"]
    assert records[0]["summary"].startswith("39.085100 N 117.056100 E  12.5 m/s") and 0 <= records[0]["latency_ms"] < 5000
    assert "8 shown of 8 frames" in err

    async def mixed() -> None:
        frames = signed_bsms(pki, 4)
        async with aiomqtt.Client("127.0.0.1", mosquitto.address.port) as client:
            await client.publish("V2X/OBU/OBU-9/BSM/UP", frames[2], qos=1)
            await client.publish("V2X/OBU/OBU-1/BSM/UP", frames[3], qos=1)

    records, _ = tail("--format", "json", "--device", "OBU-1", "--type", "BSM", "--count", "1", publish=mixed)
    assert [(r["sender_id"], r["msg_type"]) for r in records] == [("OBU-1", "BSM")]


def test_watch_without_a_broker_says_so():
    from click.testing import CliRunner

    from v2x.cli import main as v2x

    gone = CliRunner().invoke(v2x, ["watch", "--broker", "mqtt://127.0.0.1:9", "--duration", "2"])
    assert gone.exit_code == 1 and "error: broker mqtt://127.0.0.1:9" in gone.output and "Traceback" not in gone.output
    bad = CliRunner().invoke(v2x, ["watch", "--broker", "http://x"])
    assert bad.exit_code == 2 and "mqtt://host:port" in bad.output


def test_a_day_ii_line_says_what_is_asked_and_answered():
    batch = Received()
    now = clock.now_unix_us()
    for msg_type, content in day_ii_corpus()[:4]:  # the bus's, a car's and an empty VIR; an RSC
        batch.add(f"V2X/OBU/X/{msg_type.value}/UP", unsecured(messages.encode(msg_type, content)), now)
    summaries = [r["summary"] for r in Watch(None).judge(batch)]
    assert summaries[0] == "reqID 7 request signalPriority at 1101"
    assert summaries[1] == "reqID 1 comfirmed parking, reqID 255 complete laneChange"
    assert summaries[2] == "no requests"
    assert summaries[3].startswith(f"{b'BUS00001'.hex()} signalPriority intersectionTurnLeft, {b'TJ000001'.hex()} parking")
