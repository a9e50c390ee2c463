"""`v2x run --live`: a page served on a loopback port while the run goes, with the map and the
counters (v2x/live.py), looked at in headless Chromium during a real run through Mosquitto."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser import rendered_dom

SCENARIO = """
name: live-check
duration_s: 14
seed: 5
intersections:
  - {id: 1101, region: 1201, name: Xiqing Rd / Jinjing Hwy, lat: 39.0850, lon: 117.0560, rsu_id: RSU-XQ-1101}
fleet: [{kind: car, count: 5}, {kind: bus, count: 2}, {kind: ambulance, count: 1}]
security: {suite: ecdsa-p256-sha256}
"""


@pytest.mark.broker
@pytest.mark.slow  # 25 s: a whole run, a browser during it (.ci/run runs it with the slow tests)
def test_the_live_page_shows_the_map_and_the_counters_while_the_run_goes(mosquitto, tmp_path):
    scenario = tmp_path / "live.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    command = [sys.executable, "-m", "v2x.cli", "run", str(scenario), "--broker", mosquitto.address.url, "--live", "--no-report"]
    proc = subprocess.Popen(
        [*command, "--runs-dir", str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            assert line, proc.stderr.read()
            if m := re.search(r"live page: (http://127\.0\.0\.1:\d+/)", line):
                url = m.group(1)
        first = json.loads(urllib.request.urlopen(url + "state.json", timeout=5).read())
        assert first["scenario"] == "live-check" and first["rsus"] == [["RSU-XQ-1101", 39.085, 117.056]]
        deadline = time.monotonic() + 120
        while True:
            state = json.loads(urllib.request.urlopen(url + "state.json", timeout=5).read())
            if (state["phase"] == "running" and len(state["vehicles"]) == 8 and state["roads"]) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert state["phase"] == "running" and state["stored"] > 0 and state["stored_by_type"].get("BSM", 0) > 0
        assert {kind for _, kind, _, _ in state["vehicles"]} == {"car", "bus", "ambulance"}
        assert all(39.08 < lat < 39.09 and 117.05 < lon < 117.07 for _, _, lat, lon in state["vehicles"])

        dom = rendered_dom(url, tmp_path / "profile", wait_ms=3000)  # the page, drawn by its script from state.json
        assert len(re.findall(r"<circle[^>]*data-vehicle=", dom)) == 8 and "data-road" in dom and 'data-rsu="RSU-XQ-1101"' in dom
        published = int(re.search(r'<td id="published">(\d+)</td>', dom).group(1))
        assert published > 0 and "running" in re.search(r'<span id="phase">(\w+)</span>', dom).group(1)
        assert re.search(r"ambulance 1", dom) and re.search(r"car 5", dom)
    finally:
        _out, err = proc.communicate(timeout=180)
    assert proc.returncode in (0, 1), err  # 1: an expectation of the run did not hold on a loaded machine
    assert "run directory:" in err
