"""Platform fidelity (pipeline/sql/fidelity.py): a cloud platform's copies of the devices' messages
(a sources file's ``relay:``) are kept apart from the devices' own frames, matched with them and
compared field by field; the report shows what the platform lost, changed and how late it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from rich.console import Console

from v2x import messages
from v2x.device.platform import PlatformRelay
from v2x.device.uplink import Uplink
from v2x.framing import Framing, openv2x
from v2x.framing.sources import Sources
from v2x.messages import MessageType
from v2x.scenario.model import ScenarioError, parse_scenario

from pipeline.ingest.batch import BatchProcessor, Received
from pipeline.ingest.replay import replay
from pipeline.ingest.store import TelemetryWriter
from pipeline.render.html import to_html
from pipeline.render.markdown import to_markdown
from pipeline.render.terminal import render_terminal
from pipeline.report.build import build_report
from pipeline.report.charts import chart_data
from pipeline.sql.views import connect

from tests.corpus import corpus

SOURCES = Sources.model_validate(
    {
        "sources": [
            {"topics": "V2X/RSU/+/+/UP", "framing": "bare-uper"},
            {"topics": "cloud/V2X/RSU/+/+/UP", "framing": "openv2x-json", "relay": "cloud"},
        ]
    }
)
T0_US = 1_764_500_000_000_000
SPAT = next(c for t, c in corpus() if t is MessageType.SPAT)
RSM = next(c for t, c in corpus() if t is MessageType.RSM)


def _copy(msg_type: MessageType, content: dict[str, Any], change: Any = None) -> bytes:
    """The platform's JSON copy of a message, with ``change`` applied to its document."""
    doc = json.loads(openv2x.document(messages.encode(msg_type, content)))
    if change is not None:
        change(doc)
    return json.dumps(doc).encode()


def _run(tmp_path: Path, batch: Received, name: str = "run") -> Path:
    out = BatchProcessor(None, sources=SOURCES).process(batch)
    run = tmp_path / name
    (run / "telemetry").mkdir(parents=True)
    TelemetryWriter(run / "telemetry", run / "tables").write(out.telemetry, out.tables)
    return run


def _traffic() -> Received:
    """20 SPATs and 20 RSMs of RSU R1 at 10 Hz; the platform copies each 40 ms later, but misses
    SPAT 7, adds 1 to every 5th SPAT's moy, and rounds the first participant's speed of every RSM;
    and it relays SPAT of an RSU R2 the ingest never heard from."""
    batch = Received()
    for k in range(20):
        at = T0_US + k * 100_000
        spat, rsm = SPAT | {"msgCnt": k}, RSM | {"msgCnt": k}
        batch.add("V2X/RSU/R1/SPAT/UP", messages.encode(MessageType.SPAT, spat), at)
        batch.add("V2X/RSU/R1/RSM/UP", messages.encode(MessageType.RSM, rsm), at + 1)
        if k != 7:
            shifted = (lambda d: d.update(moy=d["moy"] + 1)) if k % 5 == 0 else None
            batch.add("cloud/V2X/RSU/R1/SPAT/UP", _copy(MessageType.SPAT, spat, shifted), at + 40_000)

        def rounded(d: dict[str, Any]) -> None:
            d["participants"][0]["speed"] = round(d["participants"][0]["speed"], -1) + 1

        batch.add("cloud/V2X/RSU/R1/RSM/UP", _copy(MessageType.RSM, rsm, rounded), at + 40_001)
    batch.add("cloud/V2X/RSU/R2/SPAT/UP", _copy(MessageType.SPAT, SPAT), T0_US)
    return batch


def test_a_platform_s_copies_are_matched_and_compared_field_by_field(tmp_path):
    run = _run(tmp_path, _traffic())
    con = connect(run)
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE relay IS NULL) FROM messages").fetchone() == (40, 40)
    assert con.execute("SELECT count(*), count(DISTINCT relay) FROM relayed").fetchone() == (40, 1)
    spat = con.execute(
        "SELECT msg_cnt, device_rx_seq IS NOT NULL, added_latency_ms, differences FROM platform_fidelity "
        "WHERE msg_type = 'SPAT' AND sender_id = 'R1' ORDER BY msg_cnt"
    ).fetchall()
    assert [r[0] for r in spat] == [k for k in range(20) if k != 7] and all(r[1] for r in spat)
    assert {r[2] for r in spat} == {40.0}
    assert [r[0] for r in spat if r[3]] == [0, 5, 10, 15] and {tuple(r[3]) for r in spat if r[3]} == {("spat.moy",)}
    report = build_report(run)
    by = {(p.relay, p.msg_type): p for p in report.platform}
    s, r = by[("cloud", "SPAT")], by[("cloud", "RSM")]
    assert (s.relayed, s.matched, s.unmatched, s.not_relayed, s.differing) == (20, 19, 1, 1, 4)
    assert s.differences == {"spat.moy": 4} and s.added_latency_p50_ms == pytest.approx(40.0)
    assert (r.relayed, r.matched, r.differing, r.not_relayed) == (20, 20, 20, 0) and list(r.differences) == ["rsm_participants"]


def test_a_platform_s_copies_never_count_as_the_device_s_frames(tmp_path):
    """The copies carry the device's msgCnt: kept in a stream of their own they neither fill the
    device's gaps nor make duplicates, and the device's metrics are its own frames'."""
    report = build_report(_run(tmp_path, _traffic()))
    spat = report.metrics_of("SPAT")
    assert spat is not None and spat.stored == 20 and spat.duplicates == 0 and spat.missing == 0 and spat.pdr == 1.0
    assert spat.senders == 1  # R2, heard of only through the platform, is no sender of the run


def test_a_replayed_run_keeps_the_platform_s_copies_apart(tmp_path):
    source = _run(tmp_path, _traffic(), "source")
    replay(source, tmp_path / "again", None)  # no sources given: each row recorded its framing and relay
    query = "SELECT relay, msg_type, msg_cnt, differences FROM platform_fidelity ORDER BY ALL"
    assert connect(tmp_path / "again").execute(query).fetchall() == connect(source).execute(query).fetchall()


def test_a_relay_name_is_checked():
    with pytest.raises(ValidationError, match="relay"):
        Sources.model_validate({"sources": [{"topics": "cloud/#", "framing": "openv2x-json", "relay": "a b"}]})
    assert SOURCES.relay_of("cloud/V2X/RSU/R1/SPAT/UP") == "cloud" and SOURCES.relay_of("V2X/RSU/R1/SPAT/UP") is None


def test_a_simulated_platform_copies_each_rsu_message_later_with_its_defects():
    frame = messages.encode(MessageType.RSM, RSM)
    relay = PlatformRelay("cloud", "cloud/xiqing", 0.04, ("float32_position",))
    uplink = Uplink("RSU", "R1", signer=None, framing=Framing.BARE_UPER, relay=relay)  # type: ignore[arg-type]  # never signs
    own, copy = uplink.prepare(MessageType.RSM, frame, generated_at_us=T0_US)
    assert own.payload == frame and own.relayed_on is None and own.delay_s == 0
    assert copy.relayed_on == "cloud/xiqing/V2X/RSU/R1/RSM/UP" and copy.delay_s == pytest.approx(0.04)
    _, content = messages.decode(openv2x.message_frame(MessageType.RSM, copy.payload))
    lat = RSM["refPos"]["lat"]
    assert content["refPos"]["lat"] == round(float(np.float32(lat * 1e-7)) / 1e-7) != lat  # a float32 of degrees
    uplink.outcome(MessageType.RSM)(True)
    uplink.outcome(MessageType.RSM, relayed=True)(True)
    assert uplink.summary()["published"] == {"RSM": 1} and uplink.summary()["relayed"] == {"RSM": 1}


SCENARIO = """
name: t
duration_s: 2
zone: {topic_prefix: xiqing}
intersections: [{id: 1901, name: A, lat: 39.085, lon: 117.056, rsu_id: R1}]
platform: {name: cloud, prefix: cloud, latency_ms: 40}
"""


def test_a_scenario_s_platform_is_a_relayed_source_of_its_ingest():
    scenario = parse_scenario(SCENARIO)
    assert scenario.uplink_sources().relay_of("cloud/xiqing/V2X/RSU/R1/SPAT/UP") == "cloud"
    assert scenario.uplink_sources().relay_of("xiqing/V2X/RSU/R1/SPAT/UP") is None
    with pytest.raises(ScenarioError, match="broker.tls with a platform"):
        parse_scenario(SCENARIO + "broker: {tls: true}\n")


def test_the_report_s_renderings_show_the_platform_table(tmp_path):
    run = _run(tmp_path, _traffic())
    report = build_report(run)
    assert report.overall.relayed == 40 and report.overall.stored == 40
    markdown = to_markdown(report)
    assert "### Platform fidelity" in markdown and "| cloud | SPAT | 20 | 19 | 1 | 1 | 4 | spat.moy 4 | 40.0 / 40.0 |" in markdown
    html = to_html(report, chart_data(run, report))
    assert "<h2>Platform fidelity</h2>" in html and "<td>spat.moy 4</td>" in html
    console = Console(record=True, width=200)
    render_terminal(report, console)
    text = console.export_text()
    assert "Platform fidelity" in text and "(and 40 platform copies)" in text


def test_an_unfaithful_platform_is_a_warning_of_its_own(tmp_path):
    report = build_report(_run(tmp_path, _traffic()))
    spat, rsm = report.check("platform.cloud.SPAT"), report.check("platform.cloud.RSM")
    assert spat is not None and (spat.verdict, spat.value, spat.kind, spat.basis) == ("WARN", 6, "platform", "policy")
    assert (
        spat.note == "4 copies differ (spat.moy 4); 1 copies of no frame received from the device; 1 device frames never copied"
    )
    assert rsm is not None and rsm.value == 20 and report.check("SPAT.rate").verdict == "PASS"  # type: ignore[union-attr]
    batch = Received()
    for k in range(10):  # a faithful platform
        spat_k = SPAT | {"msgCnt": k}
        batch.add("V2X/RSU/R1/SPAT/UP", messages.encode(MessageType.SPAT, spat_k), T0_US + k * 100_000)
        batch.add("cloud/V2X/RSU/R1/SPAT/UP", _copy(MessageType.SPAT, spat_k), T0_US + k * 100_000 + 30_000)
    faithful = build_report(_run(tmp_path, batch, "faithful")).check("platform.cloud.SPAT")
    assert faithful is not None and (faithful.verdict, faithful.value, faithful.note) == ("PASS", 0, None)
