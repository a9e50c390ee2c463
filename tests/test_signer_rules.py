"""GB/T 45315 signer and privacy rules checked at the receiver, and followed by the simulator.

Streams of BSMs are signed here with chosen certificates, ids, times and event flags, go through
the ingest's batch stage with verification, and land in a run directory whose ``violations``
view must name exactly the rule each stream breaks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from v2x import clock, messages
from v2x.messages import BSM_EVENT_AID, MessageType
from v2x.rundir import RunDir
from v2x.scenario.model import load_scenario, parse_scenario
from v2x.security import Signer, load_credentials

from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.store import TelemetryWriter
from pipeline.ingest.trust import verifier_from_pki
from pipeline.sql import views
from vehicles.traffic import EVENT_HARD_BRAKING, Traffic

from tests.test_scenario import GOOD

RULES = ("BSM.certificate_interval", "BSM.event_aid", "BSM.event_certificate", "BSM.pseudonym_change", "BSM.pseudonym_lifetime")
ID_A, ID_B = b"\x01" * 8, b"\x02" * 8
LAT, LON = 39.085, 117.056


def bsm(k: int, vehicle_id: bytes = ID_A, *, lon: float = LON, events: int = 0) -> bytes:
    content = messages.bsm(
        msg_cnt=k % 128,
        vehicle_id=vehicle_id,
        sec_mark=0,
        lat_deg=LAT,
        lon_deg=lon,
        speed_mps=10.0,
        heading_deg=90.0,
        width_m=1.8,
        length_m=4.7,
        vehicle_class=10,
        events=events,
    )
    return messages.encode(MessageType.BSM, content)


def violations(pki: Path, root: Path, spdus: list[tuple[bytes, int]], batch_size: int = 1000) -> dict[str, int]:
    """Run (signed frame, generation time64) through the ingest in batches of ``batch_size``;
    violations of RULES by check."""
    batches = []
    for start in range(0, len(spdus), batch_size):
        batches.append(batch := Received())
        for spdu, t64 in spdus[start : start + batch_size]:
            batch.add("V2X/OBU/OBU-1/BSM/UP", spdu, clock.unix_us_from_time64(t64) + 2_000)
    run = RunDir(root)
    writer = TelemetryWriter(run.telemetry, run.tables)
    for out in BatchProcessor(verifier_from_pki(pki)).process_stream(batches):
        assert set(out.telemetry["BSM"].column("auth").to_pylist()) == {"success"}
        writer.write(out.telemetry, out.tables)
    rows = views.connect(root).execute("SELECT check_name, count(*) FROM violations GROUP BY ALL").fetchall()
    return {name: n for name, n in rows if name in RULES}


def stream(signer: Signer, t0: int, ticks: range, **frame_args) -> list[tuple[bytes, int]]:
    out = []
    for k in ticks:
        t64 = t0 + k * 100_000
        out.append((signer.sign(bsm(k, **frame_args), MessageType.BSM.aid, t64), t64))
    return out


@pytest.fixture
def t0() -> int:
    return clock.time64_from_unix_us(clock.now_unix_us())


def test_a_stream_that_follows_the_rules_breaks_none(pki, tmp_path, t0):
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    spdus = stream(signer, t0, range(20))
    event = t0 + 20 * 100_000
    spdus.append((signer.sign(bsm(20, events=1 << EVENT_HARD_BRAKING), BSM_EVENT_AID, event, event=True), event))
    signer.use(load_credentials(pki, "OBU-1")[1])  # pseudonym change, new id
    spdus += stream(signer, t0, range(21, 30), vehicle_id=ID_B)
    assert violations(pki, tmp_path, spdus) == {}


def test_digest_beyond_450_ms_is_flagged(pki, tmp_path, t0):
    lazy = Signer(load_credentials(pki, "OBU-1")[0], full_certificate_interval_us=1_000_000)
    # certificate at 0, 1.0, 2.0 s; digests at 0.5..0.9 s and 1.5..1.9 s are too late
    assert violations(pki, tmp_path, stream(lazy, t0, range(20))) == {"BSM.certificate_interval": 10}


def test_certificate_interval_is_judged_across_batches(pki, tmp_path, t0):
    lazy = Signer(load_credentials(pki, "OBU-1")[0], full_certificate_interval_us=1_000_000)
    assert violations(pki, tmp_path, stream(lazy, t0, range(20)), batch_size=3) == {"BSM.certificate_interval": 10}


def test_certificate_interval_is_not_judged_after_a_loss(pki, tmp_path, t0):
    """The full-certificate BSM at 1.0 s is lost: the digests after it may follow a certificate
    the receiver never saw, so only those of 0.5..0.9 s and, once the certificate at 2.0 s
    starts judging again, 2.5..2.9 s are flagged."""
    lazy = Signer(load_credentials(pki, "OBU-1")[0], full_certificate_interval_us=1_000_000)
    spdus = stream(lazy, t0, range(30))
    assert violations(pki, tmp_path, spdus[:10] + spdus[11:]) == {"BSM.certificate_interval": 5 + 5}


def test_event_bsm_needs_certificate_and_event_aid(pki, tmp_path, t0):
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    spdus = stream(signer, t0, range(3))
    t64 = t0 + 3 * 100_000
    spdus.append((signer.sign(bsm(3, events=1 << EVENT_HARD_BRAKING), MessageType.BSM.aid, t64), t64))  # no event=True
    assert violations(pki, tmp_path, spdus) == {"BSM.event_certificate": 1, "BSM.event_aid": 1}


@pytest.mark.parametrize("change", ["certificate only", "id only"])
def test_id_and_certificate_change_together(pki, tmp_path, t0, change):
    pseudonyms = load_credentials(pki, "OBU-1")
    signer = Signer(pseudonyms[0])
    spdus = stream(signer, t0, range(5))
    if change == "certificate only":
        signer.use(pseudonyms[1])
    spdus += stream(signer, t0, range(5, 10), vehicle_id=ID_A if change == "certificate only" else ID_B)
    assert violations(pki, tmp_path, spdus, batch_size=4) == {"BSM.pseudonym_change": 1}  # judged across batches


@pytest.mark.parametrize(
    "seconds,metres,events,flagged", [(302, 2600, 0, 1), (299, 2600, 0, 0), (302, 2000, 0, 0), (302, 2600, 1, 0)]
)
def test_pseudonym_lifetime(pki, tmp_path, t0, seconds, metres, events, flagged):
    signer = Signer(load_credentials(pki, "OBU-1")[0])
    later = t0 + seconds * 1_000_000
    lon = LON + metres / (111_320 * np.cos(np.radians(LAT)))
    spdus = [
        (signer.sign(bsm(0), 111, t0), t0),
        (
            signer.sign(bsm(1, lon=lon, events=events << EVENT_HARD_BRAKING), 112 if events else 111, later, event=bool(events)),
            later,
        ),
    ]
    assert violations(pki, tmp_path, spdus) == ({"BSM.pseudonym_lifetime": 1} if flagged else {})


def test_traffic_model_changes_pseudonyms_by_the_rule():
    """With the standard's 300 s / 2100 m no vehicle of the demo corridor (shorter than 2100 m)
    ever changes; with the rule shortened every vehicle without an event flag does, with a new
    id, a new msgCnt start and a path history that starts again, and one with hazard lights
    keeps its pseudonym."""
    demo = load_scenario("demo")
    traffic = Traffic(demo, np.random.default_rng(demo.seed))
    traffic.advance_to(600)
    assert traffic.pseudonym_changes.sum() == 0
    short = parse_scenario(
        GOOD.replace(
            "fleet: [{kind: car, count: 2}]",
            "fleet: [{kind: car, count: 3}, {kind: sanitation_truck, count: 1, hazard_lights: true}]",
        )
        + "security: {pseudonyms: {certificates: 3, max_s: 2, min_distance_m: 0}}\n"
    )
    traffic = Traffic(short, np.random.default_rng(short.seed))
    before = (list(traffic.ids), traffic.pseudonym.copy())
    traffic.advance_to(25)  # 2.5 s
    cars = range(3)
    assert [int(traffic.pseudonym_changes[i]) for i in cars] == [1, 1, 1] and traffic.pseudonym_changes[3] == 0
    assert all(traffic.ids[i] != before[0][i] and traffic.pseudonym[i] != before[1][i] for i in cars)
    assert traffic.ids[3] == before[0][3] and traffic.events[3] == 1  # eventHazardLights
    lat, lon, _ = traffic.positions()
    # crumbs are taken every second: the cars changed at 2.0 s and have none since, the truck keeps its two
    assert [len(traffic.path_history(i, float(lat[i]), float(lon[i]))) for i in range(4)] == [0, 0, 0, 2]


def test_batches_one_ahead_give_the_rows_of_batches_one_by_one(pki, t0):
    """process_stream (batch k+1 checked while batch k's signatures are verified, here by two
    worker threads) gives exactly the rows of processing each batch in turn: verdicts,
    replays across batches, digests resolved by a certificate of an earlier batch, msgCnt gaps."""
    from v2x.security.workers import SignatureWorkers

    spdus = stream(Signer(load_credentials(pki, "OBU-1")[0]), t0, range(30))
    received = [clock.unix_us_from_time64(t64) + 2_000 for _, t64 in spdus]
    spdus, received = spdus[:12] + spdus[13:], received[:12] + received[13:]  # one lost: a gap
    spdus.append(spdus[22])  # replayed 50 ms later, in the next batch
    received.append(received[-1] + 50_000)
    batches = []
    for start in range(0, len(spdus), 8):
        batch = Received()
        for (spdu, _), rx in zip(spdus[start : start + 8], received[start : start + 8]):
            batch.add("V2X/OBU/OBU-1/BSM/UP", spdu, rx)
        batches.append(batch)
    one_by_one = BatchProcessor(verifier_from_pki(pki))
    expected = [one_by_one.process(b).telemetry["BSM"] for b in batches]
    with SignatureWorkers(2, mode="threads") as workers:
        ahead = BatchProcessor(verifier_from_pki(pki), signature_workers=workers)
        got = [out.telemetry["BSM"] for out in ahead.process_stream(batches)]
    assert [t.to_pylist() for t in got] == [t.to_pylist() for t in expected]
    auth = [a for t in got for a in t.column("auth").to_pylist()]
    reasons = [r for t in got for r in t.column("auth_reason").to_pylist()]
    assert auth == ["success"] * (len(spdus) - 1) + ["duplicate_message"], reasons
    kinds = [k for t in got for k in t.column("signer_kind").to_pylist()]
    assert kinds[8:10] == ["digest", "digest"]  # batch 2 opens with digests of batch 1's certificate
    gaps = [g for t in got for g in t.column("msg_cnt_gap").to_pylist()]
    assert gaps[12] == 1 and gaps.count(1) == 1  # the lost frame
