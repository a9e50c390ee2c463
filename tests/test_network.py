"""The network model (v2x.scenario.network): what a scenario declares is what the links draw, and an
impaired run through Mosquitto FAILs exactly the checks the impairment breaks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from v2x.cli import main as v2x
from v2x.run import run_scenario
from v2x.rundir import RunDir, read_json
from v2x.scenario.model import ScenarioError, parse_scenario
from v2x.scenario.network import Impairment, Latency, Loss, device_link, draw_latency_ms

from pipeline.report.build import build_report
from pipeline.report.gate import failures
from pipeline.sql.views import connect

from tests.test_scenario import GOOD


def frames(link, n: int, msg_type: str = "BSM") -> list[float | None]:
    """Delay of each frame's first copy, None when it is lost."""
    return [copies[0] if (copies := link.transmit(msg_type)) else None for _ in range(n)]


def test_independent_loss_and_normal_latency_match_their_parameters():
    imp = Impairment(latency=Latency(distribution="normal", ms=80, jitter_ms=15), loss=Loss(rate=0.2))
    link = device_link([imp], "car", seed=7, device="OBU-0001")
    fates = frames(link, 20_000)
    lost = sum(f is None for f in fates)
    assert lost == link.lost["BSM"] and abs(lost / 20_000 - 0.2) < 4 * (0.2 * 0.8 / 20_000) ** 0.5
    delays = np.array([f for f in fates if f is not None]) * 1000
    assert delays.mean() == pytest.approx(80, abs=0.5) and delays.std() == pytest.approx(15, abs=0.5)
    assert link.summary()["delay_ms_mean"]["BSM"] == pytest.approx(delays.mean(), abs=1e-3)


def test_gilbert_elliott_loss_comes_in_bursts_of_mean_length_one_over_r():
    loss = Loss(model="gilbert_elliott", p=0.02, r=0.25)
    link = device_link([Impairment(loss=loss)], "rsus", seed=1, device="RSU-1")
    lost = np.array([f is None for f in frames(link, 100_000, "SPAT")])
    assert lost.mean() == pytest.approx(loss.expected_rate, rel=0.08)  # 0.02 / 0.27 = 7.4 %
    edges = np.flatnonzero(np.diff(np.concatenate([[0], lost.astype(int), [0]])))
    bursts = edges[1::2] - edges[::2]
    assert bursts.mean() == pytest.approx(1 / 0.25, rel=0.1)  # independent loss at 7.4 % would give ~1.08


def test_latency_distributions():
    rng = np.random.default_rng(2)
    assert draw_latency_ms(Latency(ms=40), rng) == 40
    tail = np.array([draw_latency_ms(Latency(distribution="long_tail", ms=10, jitter_ms=5), rng) for _ in range(20_000)])
    assert tail.min() >= 10 and np.median(tail) == pytest.approx(15, abs=0.3)
    assert np.percentile(tail, 99) - 10 > 8 * (np.median(tail) - 10)  # lognormal sigma 1: p99 ~ 10x the median
    assert min(draw_latency_ms(Latency(distribution="normal", ms=1, jitter_ms=50), rng) for _ in range(1000)) == 0.0


def test_the_first_matching_entry_applies_per_device_class_and_type():
    entries = [
        Impairment(devices="bus", loss=Loss(rate=1.0)),
        Impairment(devices="vehicles", msg_types=["BSM"], latency=Latency(ms=50)),
        Impairment(devices="rsus", msg_types=["SPAT"], loss=Loss(rate=1.0)),
    ]
    assert frames(device_link(entries, "bus", 1, "OBU-0001"), 3) == [None, None, None]
    assert frames(device_link(entries, "car", 1, "OBU-0002"), 2) == [0.05, 0.05]
    rsu = device_link(entries, "rsus", 1, "RSU-1")
    assert frames(rsu, 2, "SPAT") == [None, None] and frames(rsu, 1, "MAP") == [0.0]
    assert device_link(entries[:1], "car", 1, "OBU-0003") is None
    again = (
        device_link([Impairment(loss=Loss(rate=0.5))], "car", 9, "OBU-0004"),
        device_link([Impairment(loss=Loss(rate=0.5))], "car", 9, "OBU-0004"),
    )
    assert frames(again[0], 50) == frames(again[1], 50)  # seeded by scenario seed and device id


def test_duplicates_and_reordering_are_drawn_and_counted():
    imp = Impairment(latency=Latency(ms=10), duplicate=0.1, duplicate_after_ms=30, reorder=0.2, reorder_ms=250)
    link = device_link([imp], "car", seed=3, device="OBU-0001")
    fates = [link.transmit("BSM") for _ in range(20_000)]
    twice = [f for f in fates if len(f) == 2]
    assert len(twice) == link.duplicated["BSM"] and abs(len(twice) / 20_000 - 0.1) < 0.01
    assert all(b - a == pytest.approx(0.030) for a, b in twice)
    held = [f[0] for f in fates if f[0] > 0.011]
    assert len(held) == link.reordered["BSM"] and abs(len(held) / 20_000 - 0.2) < 0.01
    assert set(np.round(held, 6)) == {0.26}  # 10 ms latency + 250 ms held back: behind the next two BSMs
    assert link.summary()["duplicated"] == {"BSM": len(twice)}


def test_a_device_clock_offset_drifts_and_an_outage_loses_its_frames():
    imp = Impairment(devices="rsus", clock={"offset_ms": -40, "drift_ppm": 500}, offline=[{"at_s": 2, "for_s": 1.5}])
    link = device_link([imp], "rsus", seed=1, device="RSU-1")
    assert link.clock_error_us(0) == -40_000 and link.clock_error_us(100) == -40_000 + 50_000
    fates = [link.transmit("SPAT", t / 10) for t in range(60)]
    assert [t / 10 for t, f in enumerate(fates) if not f] == [2.0 + k / 10 for k in range(15)]
    assert link.offline["SPAT"] == link.lost["SPAT"] == 15
    assert device_link([imp], "car", seed=1, device="OBU-1") is None


@pytest.mark.parametrize(
    "network,needle",
    [
        ("[{loss: {rate: 1.5}}]", "network.0.loss.rate"),
        ("[{loss: {model: gilbert_elliott, rate: 0.1}}]", "gilbert_elliott loss takes p and r"),
        ("[{latency: {ms: 10, jitter_ms: 5}}]", "jitter_ms needs distribution normal or long_tail"),
        ("[{devices: trams}]", "network.0.devices"),
        ("[{msg_types: [CAM]}]", "network.0.msg_types.0"),
        ("[{msg_types: [BSM], clock: {offset_ms: 5}}]", "clock and offline are about a device"),
        ("[{duplicate: 1.5}]", "network.0.duplicate"),
        ("[{offline: [{at_s: 1, for_s: 0}]}]", "network.0.offline.0.for_s"),
    ],
)
def test_bad_network_entries_name_the_field(network, needle):
    with pytest.raises(ScenarioError, match=needle):
        parse_scenario(GOOD + f"network: {network}\n")


IMPAIRED = (
    GOOD.replace("duration_s: 3", "duration_s: 8").replace("count: 2", "count: 8")
    + """
seed: 5
security: {suite: ecdsa-p256-sha256}
network:
  - devices: vehicles
    latency: {distribution: normal, ms: 120, jitter_ms: 10}
    loss: {rate: 0.1}
"""
)


@pytest.mark.broker
@pytest.mark.slow  # 22 s: a scenario run under injected latency and loss (.ci/run runs it with the slow tests)
def test_injected_latency_and_loss_fail_exactly_their_checks_through_mosquitto(mosquitto, tmp_path):
    """Vehicles' frames held 120 +/- 10 ms and 10 % lost on the way to the broker: the latency and
    PDR checks of BSM (overall, in range of the RSUs, and of each BSM application) FAIL with their
    clauses; the transmit rate, the RSU messages, authentication and delivery pass; the report
    tells the injected loss from the rest."""
    result = run_scenario(parse_scenario(IMPAIRED), tmp_path, broker_url=mosquitto.address.url)
    run = RunDir(result.run.root)
    model = build_report(run.root)
    report = model.to_data()
    by_id = {c["id"]: c for c in report["checks"]}
    graded_bsm_apps = [
        a["id"] for a in report["applications"]["graded"] if a["graded"] and any(m.startswith("BSM") for m in a["messages"])
    ]
    assert {"FCW", "ICW", "DNPW"} <= set(graded_bsm_apps)
    # an event-BSM application may have no event BSM within its range of an RSU in 8 s: N/A, not PASS
    app_latency = {f"{a}.BSM.latency_p99" for a in graded_bsm_apps if by_id[f"{a}.BSM.latency_p99"]["value"] is not None}
    assert {"FCW.BSM.latency_p99", "ICW.BSM.latency_p99", "DNPW.BSM.latency_p99"} <= app_latency
    expected = {"BSM.latency_p99", "BSM.pdr", "BSM.pdr_within_100m", "BSM.latency_p99_within_300m"} | app_latency
    failed = {c.id: c for c in failures(model)}
    assert set(failed) == expected
    assert "Annex C" in failed["BSM.pdr"].source and "T/CSAE 53" in failed["FCW.BSM.latency_p99"].source
    assert by_id["BSM.rate"]["verdict"] == "PASS" and by_id["run.delivery"]["verdict"] == "PASS"
    assert all(by_id[f"SPAT.{m}"]["verdict"] == "PASS" for m in ("rate", "latency_p99", "pdr", "auth"))

    bsm = next(m for m in report["message_types"] if m["msg_type"] == "BSM")
    recorded = [read_json(p) for p in run.published.glob("*.json")]
    lost = sum(d["totals"].get("injected_loss.BSM", 0) for d in recorded)
    generated = sum(d["totals"].get("generated.BSM", 0) for d in recorded)
    assert bsm["injected_loss"] == lost and 0.06 < lost / generated < 0.14
    assert connect(run.root).execute("SELECT sum(injected_loss) FROM published WHERE msg_type = 'BSM'").fetchone()[0] == lost
    assert bsm["stored"] == generated - lost  # every frame not dropped on purpose arrived
    assert bsm["missing"] <= lost and bsm["missing_not_injected"] == 0  # only the injected loss shows as msgCnt gaps
    assert 110 < bsm["latency_p50_ms"] < 135
    assert read_json(run.manifest)["network"][0]["loss"] == {
        "model": "independent",
        "rate": 0.1,
        "loss_bad": 1.0,
        "loss_good": 0.0,
    }
    per_device = next(d for d in recorded if d["simulator"] == "vehicles")["devices"]["OBU-0001"]["network"]
    assert per_device["delayed"]["BSM"] > 0 and 100 < per_device["delay_ms_mean"]["BSM"] < 140
    assert [r["name"] for r in report["receivers"]["positions"]] == ["RSU-A", "RSU-B"]

    gate = CliRunner().invoke(v2x, ["gate", str(run.root)])
    assert gate.exit_code == 1 and "BSM.pdr" in gate.output and "Annex C" in gate.output
    assert json.loads(CliRunner().invoke(v2x, ["report", str(run.root), "--format", "json"]).output)["verdict"] == "FAIL"


@pytest.mark.broker
def test_injected_duplicates_are_reported_next_to_the_duplicates_received(mosquitto, tmp_path):
    """Every fifth BSM sent twice by the network model: each copy is rejected as a replay
    (duplicate_message) and the report shows the injected count next to the replays."""
    scenario = parse_scenario(
        GOOD.replace("duration_s: 3", "duration_s: 4")
        + "network:\n  - {devices: vehicles, duplicate: 0.2, duplicate_after_ms: 20}\n"
    )
    result = run_scenario(scenario, tmp_path, broker_url=mosquitto.address.url)
    run = RunDir(result.run.root)
    injected = sum(read_json(p)["totals"].get("injected_duplicate.BSM", 0) for p in run.published.glob("*.json"))
    bsm = next(m for m in build_report(run.root).to_data()["message_types"] if m["msg_type"] == "BSM")
    assert injected > 0 and bsm["injected_duplicates"] == injected == bsm["replays"]
    assert bsm["duplicates"] == 0  # a copy is rejected, so it never repeats a msgCnt of the accepted stream
    replays = (
        connect(run.root)
        .execute("SELECT count(*) FROM messages WHERE msg_type = 'BSM' AND auth = 'duplicate_message'")
        .fetchone()[0]
    )
    assert replays == injected
