"""The HTML report: the data behind its charts, the page itself, and the demo run's page opened
in headless Chromium (screenshot and DOM)."""

from __future__ import annotations

import json
import unicodedata
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from PIL import Image

from v2x.cli import main as v2x
from v2x.run import run_scenario
from v2x.scenario.model import load_scenario

from pipeline.render.html import to_html
from pipeline.render.svg import PALETTE, nice_ticks
from pipeline.report.build import build_report
from pipeline.report.charts import CDF_POINTS, chart_data

from tests.browser import rendered_dom, screenshot
from tests.test_gate import IMPAIRED_DEVICE_FAILS, generated_run


class _Page(HTMLParser):
    """The marks of the page's SVG charts, its verdict and its embedded report."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, list[int]] = {}  # series -> number of points of each polyline
        self.rules: list[str] = []
        self.groups: dict[str, int] = {}  # map groups -> points
        self.roads = self.stop_lines = self.rings = self.dividers = 0  # map marks of the MAP links and RSU coverage
        self.bars: list[str] = []
        self.rows: list[list[str]] = []  # device table: data-key of each cell
        self.external: list[str] = []
        self._in: str | None = None
        self.data = {"verdict": "", "report-data": ""}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "polyline" and "data-series" in a:
            self.lines.setdefault(a["data-series"], []).append(len(a["points"].split()))
        elif tag == "line" and "data-rule" in a:
            self.rules.append(a["data-rule"])
        elif tag == "g" and "data-points" in a:
            self.groups[a["data-series"]] = int(a["data-points"])
        elif tag == "polyline" and "data-road" in a:
            self.roads += 1
        elif tag == "polyline" and "data-lane-divider" in a:
            self.dividers += 1
        elif tag == "line" and "data-stop-line" in a:
            self.stop_lines += 1
        elif tag == "circle" and "data-ring" in a:
            self.rings += 1
        elif tag == "rect" and "data-series" in a:
            self.bars.append(a["data-series"])
        elif tag == "tr" and self._in == "devices":
            self.rows.append([])
        elif tag == "td" and self._in == "devices" and self.rows:
            self.rows[-1].append(a.get("data-key", ""))
        if tag == "table" and a.get("id") == "devices":
            self._in = "devices"
        if a.get("id") in self.data:
            self._in = a["id"]
        for key in ("src", "href"):
            if key in a:
                self.external.append(a[key])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("table", "span", "script") and self._in is not None:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in in self.data:
            self.data[self._in] += data


def parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.rows = [r for r in p.rows if r]  # the header row has th cells
    return p


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.93, 1.0) == pytest.approx([0.94, 0.96, 0.98, 1.0])
    assert nice_ticks(3, 3) == [3, 3.2, 3.4, 3.6, 3.8, 4]


def test_html_report_of_an_impaired_run_shows_what_failed(pki, tmp_path):
    """1 BSM in 8 lost and 1 in 20 150 ms late: the charts' data show it and the page draws it."""
    run = generated_run(tmp_path / "impaired", pki, lose_every=8, late_every=20, late_ms=150.0)
    report = build_report(run)
    charts = chart_data(run, report)

    cdf = charts["latency_cdf"]["BSM"]
    assert cdf[int(0.9 * CDF_POINTS)] == pytest.approx(20, abs=0.5) and cdf[-1] == pytest.approx(170, abs=0.5)
    pdr = [v for v in charts["over_time"]["series"]["BSM"]["pdr"] if v is not None]
    assert len(pdr) == 4 and max(pdr) < 0.95  # 1 in 8 lost: every second of the 4 has a loss
    [device] = charts["devices"]
    assert device["device"] == "OBU-1" and device["worst"] == "FAIL"
    assert {f["id"] for f in device["findings"]} == IMPAIRED_DEVICE_FAILS

    page = parse(to_html(report, charts))
    assert page.data["verdict"] == "FAIL"
    embedded = json.loads(page.data["report-data"])
    assert embedded["verdict"] == "FAIL" and [c["id"] for c in embedded["checks"]] == [c.id for c in report.checks]
    assert page.lines["BSM"][0] > CDF_POINTS // 2  # the CDF, then PDR and rate over time
    assert len(page.lines["BSM"]) == 4  # and latency p99 over time
    assert "p99 ≤ 100 ms (FAIL)" in page.rules and "p95 ≤ 50 ms (PASS)" in page.rules and "BSM.pdr ≥ 0.95" in page.rules
    kinds = {label.split(" (")[0]: n for label, n in page.groups.items()}
    assert kinds == {
        "OBU": len(charts["positions"]["vehicles"]),
        "FAIL": len(charts["positions"]["vehicles"]),
    }  # one device, failing
    assert kinds["OBU"] > 10
    assert page.bars == ["honest (expect success):success"]
    assert [r[0] for r in page.rows] == ["OBU-1"] and page.rows[0][3] == "0"  # worst: FAIL sorts first
    assert page.external == []  # self-contained: nothing fetched


@pytest.mark.broker
@pytest.mark.slow  # 30 s: a whole demo run, then a browser (.ci/run runs it with the slow tests)
def test_demo_report_in_a_headless_browser_shows_the_charts_with_data(mosquitto, tmp_path):
    result = run_scenario(load_scenario("demo"), tmp_path, broker_url=mosquitto.address.url)
    html = tmp_path / "report.html"
    cli = CliRunner().invoke(v2x, ["report", str(result.run.root), "--format", "html", "-o", str(html)])
    assert cli.exit_code == 0, cli.output

    png = screenshot(html.as_uri(), tmp_path / "report.png", height=4500)  # the Day-II applications' N/A rows come first
    image = Image.open(png).convert("RGB")
    drawn = {colour: _pixels(image, colour) for colour in PALETTE[:5]}
    # BSM, MAP, RSI, RSM, SPAT series (and the map's vehicles and RSUs) are on screen
    assert all(n > 100 for n in drawn.values()), drawn

    dom = parse(rendered_dom(html.as_uri() + "#sort=messages-desc", tmp_path / "profile"))
    assert set(dom.lines) == {"BSM", "MAP", "RSI", "RSM", "SPAT"}
    assert all(points[0] > 10 for points in dom.lines.values())
    assert dom.groups["car (18)"] > 18 * 10 and dom.groups["bus (3)"] > 3 * 10 and dom.groups["RSUs"] == 2
    assert {"sanitation_truck (1)", "logistics_van (2)"} <= set(dom.groups)  # vehicles by kind
    assert dom.roads == 8 * 3 and dom.stop_lines == 8 * 3  # 4 links of 2 MAP nodes, on the overview and 2 close-ups
    assert dom.rings == 2 * 3  # each RSU's coverage
    assert dom.dividers == 8 * 2  # the 2 lanes of each link, on the close-ups (too thin to see on the overview)
    devices = [r[0] for r in dom.rows]
    assert len(devices) == 24 + 2
    messages = [int(r[5]) for r in dom.rows]
    assert messages == sorted(messages, reverse=True) and devices[0].startswith("RSU-")  # the script sorted by the link
    # the verdict is the report's: the demo's latency checks can FAIL on a loaded 2-core VM (the
    # receive timestamps lag when the ingest holds the GIL), so this test is about the page
    report = build_report(result.run.root).to_data()
    assert dom.data["verdict"] == report["verdict"]
    embedded = json.loads(dom.data["report-data"])
    graded = {a["id"]: a["verdict"] for a in embedded["applications"]["graded"] if a["graded"]}
    assert {"FCW", "RLVW", "GLOSA", "VRUCW", "IVS"} <= set(graded)  # inferred from the demo's messages
    assert graded == {a["id"]: a["verdict"] for a in report["applications"]["graded"] if a["graded"]}
    # the map: the MAP messages' roads, each RSU and its coverage, vehicles coloured by kind
    from pipeline.render.html import KIND_COLOURS

    map_png = screenshot(html.as_uri(), tmp_path / "whole.png", height=12000)  # the whole page, the map near its end
    shown = Image.open(map_png)
    for colour in ("#d5d5d5", KIND_COLOURS["car"], KIND_COLOURS["bus"], KIND_COLOURS["sanitation_truck"]):
        assert _pixels(shown, colour) > 50, colour
    page = html.read_text(encoding="utf-8")
    assert "<table id=applications>" in page and "RSU-XQ-1101 (39.08500, 117.05600)" in page  # the receivers it used


def _pixels(image: Image.Image, colour: str) -> int:
    rgb = tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return sum(n for n, pixel in image.convert("RGB").getcolors(maxcolors=1 << 22) if pixel == rgb)


@pytest.mark.parametrize("pki", ["sm2-sm3"], indirect=True)  # the page, not the signature suite, is tested
def test_the_pdf_report_opens_on_the_sign_off_page_and_prints_every_check(pki, tmp_path):
    """`v2x report --format pdf`: headless Chromium prints the page; the PDF is opened (pypdf for
    its text, pdfium for a picture of its first page)."""
    import pypdf
    import pypdfium2

    run = generated_run(tmp_path / "impaired", pki, lose_every=8, late_every=20, late_ms=150.0)
    pdf = tmp_path / "signed" / "report.pdf"
    pdf.parent.mkdir()
    cli = CliRunner().invoke(v2x, ["report", str(run), "--format", "pdf", "-o", str(pdf), "--operator", "Zone test engineer"])
    assert cli.exit_code == 0, cli.output
    assert pdf.read_bytes().startswith(b"%PDF-") and not list(pdf.parent.glob("*.part"))

    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) >= 3
    first = reader.pages[0].extract_text()
    assert first.startswith("Compliance report") and "FAIL" in first.split("\n")[0]
    for fact in ("Asia/Shanghai", "Devices under test", "Failures by cause", "Zone test engineer", "signature"):
        assert fact in first, fact
    assert "Per message type" not in first  # the sign-off page is a page of its own
    text = unicodedata.normalize("NFKC", "".join(page.extract_text() for page in reader.pages))  # "ﬁ" ligatures
    printed = text.replace("\n", "").replace(" ", "")
    report = build_report(run)
    missing = [c.id for c in report.checks if c.id.replace(" ", "") not in printed]
    assert missing == []  # the full list of checks printed, not collapsed

    picture = pypdfium2.PdfDocument(str(pdf))[0].render(scale=1.5).to_pil()
    assert _pixels(picture, "#d62728") > 300  # the red FAIL badge on the first page
    assert _pixels(picture, "#2ca02c") == 0  # and no PASS badge


@pytest.mark.parametrize("pki", ["sm2-sm3"], indirect=True)  # the page, not the signature suite, is tested
def test_a_pdf_without_chromium_is_refused_with_the_reason(pki, tmp_path, monkeypatch):
    run = generated_run(tmp_path / "run", pki)
    monkeypatch.setenv("V2X_CHROMIUM", "no-such-browser")
    cli = CliRunner().invoke(v2x, ["report", str(run), "--format", "pdf", "-o", str(tmp_path / "r.pdf")])
    assert cli.exit_code == 2 and "a PDF needs Chromium" in cli.output and not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize("pki", ["sm2-sm3"], indirect=True)  # the page, not the signature suite, is tested
def test_markers_place_the_scenario_s_outages_and_the_ingest_s_events_and_ignore_what_is_not_theirs(pki, tmp_path):
    from v2x.rundir import RunDir, write_json_atomic

    from pipeline.sql.views import connect

    run = generated_run(tmp_path / "run", pki)
    assert chart_data(run, build_report(run))["over_time"]["markers"] == []
    go = connect(run).execute("SELECT epoch_us(min(received_at)) / 1e6 FROM messages").fetchone()[0]  # the devices' start
    network = [
        {"devices": "bus", "offline": [{"at_s": 1.0, "for_s": 2.0}, {"at_s": "soon", "for_s": 1}]},
        {"devices": "car", "offline": "never"},
        "not an entry",
    ]
    write_json_atomic(RunDir(run).manifest, {"go_at": go, "network": network})
    summary = RunDir(run).ingest / "summary.json"
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(go + 2.5, UTC).isoformat(timespec="milliseconds")
    write_json_atomic(summary, {"events": [{"at": at, "event": "broker_disconnected", "detail": "gone"}]})
    report = build_report(run)
    markers = chart_data(run, report)["over_time"]["markers"]
    assert markers == [
        {"at_s": pytest.approx(1.0, abs=0.01), "until_s": pytest.approx(3.0, abs=0.01), "label": "bus offline"},
        {"at_s": pytest.approx(2.5, abs=0.01), "until_s": None, "label": "broker disconnected"},
    ]
    page = parse(to_html(report, chart_data(run, report)))
    assert "broker disconnected" in page.rules
