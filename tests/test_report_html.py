"""The HTML report: the data behind its charts, the page itself, and the demo run's page opened
in headless Chromium (screenshot and DOM)."""

from __future__ import annotations

import json
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
        self.bars: list[str] = []
        self.rows: list[list[str]] = []  # device table: data-key of each cell
        self.external: list[str] = []
        self._in: str | None = None
        self.data = {"verdict": "", "report-data": ""}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "polyline":
            self.lines.setdefault(a["data-series"], []).append(len(a["points"].split()))
        elif tag == "line" and "data-rule" in a:
            self.rules.append(a["data-rule"])
        elif tag == "g" and "data-points" in a:
            self.groups[a["data-series"]] = int(a["data-points"])
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
    assert len(page.lines["BSM"]) == 3
    assert "p99 ≤ 100 ms (FAIL)" in page.rules and "p95 ≤ 50 ms (PASS)" in page.rules and "BSM.pdr ≥ 0.95" in page.rules
    assert page.groups == {"vehicles (BSM)": len(charts["positions"]["vehicles"])} and page.groups["vehicles (BSM)"] > 10
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

    png = screenshot(html.as_uri(), tmp_path / "report.png")
    image = Image.open(png).convert("RGB")
    colours = {tuple(int(c[k : k + 2], 16) for k in (1, 3, 5)): c for c in PALETTE[:5]}
    drawn = dict.fromkeys(colours.values(), 0)
    for pixel, n in ((p, n) for n, p in image.getcolors(maxcolors=1 << 20)):
        if pixel in colours:
            drawn[colours[pixel]] += n
    # BSM, MAP, RSI, RSM, SPAT series (and the map's vehicles and RSUs) are on screen
    assert all(n > 100 for n in drawn.values()), drawn

    dom = parse(rendered_dom(html.as_uri() + "#sort=messages-desc", tmp_path / "profile"))
    assert set(dom.lines) == {"BSM", "MAP", "RSI", "RSM", "SPAT"}
    assert all(points[0] > 10 for points in dom.lines.values())
    assert dom.groups["vehicles (BSM)"] > 24 * 10 and dom.groups["RSUs (RSM)"] == 2
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
    page = html.read_text(encoding="utf-8")
    assert "<table id=applications>" in page and "RSU-XQ-1101 (39.08500, 117.05600)" in page  # the receivers it used
