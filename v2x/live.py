"""The live page of ``v2x run --live``: the zone's map and the run's counters while it goes.

A small HTTP server on a loopback port, in a thread of the orchestrator: ``/`` is one
self-contained page that asks ``/state.json`` once a second and draws what it says.  The state
comes from what the run already writes: the progress the orchestrator follows (frames published,
received, stored), the ingest's progress file (stored per message type, rejects, broker
events), and the newest committed Parquet parts (each vehicle's last BSM position, the roads of
the last MAP).  Nothing here decodes a frame; it reads the run directory.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from v2x.rundir import RunDir
from v2x.scenario.model import Scenario

NEWEST_PARTS = 3  # policy: BSM parts read for the vehicles' last positions (1.5 s of traffic)


def _newest(folder: Path, count: int) -> list[Path]:
    parts = sorted(folder.glob("part-*.parquet"))
    return parts[-count:]


def _read(paths: list[Path], columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            rows += pq.read_table(path, columns=columns).to_pylist()
        except (OSError, ValueError, KeyError):  # a part being renamed into place, or of an older layout
            continue
    return rows


class LiveState:
    """What the page shows, kept up to date by the orchestrator's progress calls."""

    def __init__(self, run: RunDir, scenario: Scenario):
        self.run, self.scenario = run, scenario
        self.kinds = scenario.obu_kinds()
        self._lock = threading.Lock()
        self._progress: dict[str, Any] = {"phase": "starting", "elapsed_s": 0.0, "duration_s": scenario.duration_s}

    def update(self, progress: Any) -> None:
        """Take a :class:`v2x.run.RunProgress`."""
        with self._lock:
            self._progress = {
                "phase": progress.phase,
                "elapsed_s": round(progress.elapsed_s, 1),
                "duration_s": progress.duration_s,
                "published": progress.published,
                "received": progress.received,
                "stored": progress.stored,
            }

    def snapshot(self) -> dict[str, Any]:
        """The page's state: counters, the vehicles' last positions by kind, RSUs and roads."""
        with self._lock:
            state: dict[str, Any] = {"scenario": self.scenario.name, **self._progress}
        ingest = self.run.ingest_progress()
        state["stored_by_type"] = ingest.get("stored_by_type", {})
        state["rejected"] = ingest.get("rejected", 0)
        events = ingest.get("events") or []
        state["broker"] = "disconnected" if events and events[-1].get("event") == "broker_disconnected" else "connected"
        last: dict[str, dict[str, Any]] = {}
        bsm = _read(_newest(self.run.telemetry / "msg_type=BSM", NEWEST_PARTS), ["sender_id", "lat_deg", "lon_deg", "rx_seq"])
        for row in sorted(bsm, key=lambda r: r["rx_seq"]):
            if row["lat_deg"] is not None and row["sender_id"]:
                last[row["sender_id"]] = row
        state["vehicles"] = [
            [sender, self.kinds.get(sender, "OBU"), round(r["lat_deg"], 7), round(r["lon_deg"], 7)]
            for sender, r in sorted(last.items())
        ]
        state["rsus"] = [[i.rsu_id, i.lat, i.lon] for i in self.scenario.intersections]
        links = _read(_newest(self.run.tables / "map_links", 1), ["point_lat", "point_lon", "link_width"])
        state["roads"] = [
            {
                "lat": [v * 1e-7 for v in r["point_lat"]],
                "lon": [v * 1e-7 for v in r["point_lon"]],
                "width_m": (r["link_width"] or 350) / 100,
            }
            for r in links
        ]
        return state


PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>v2x run: live</title><style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222} h1{font-size:20px;margin:0 0 8px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} #phase{font-weight:600} svg{border:1px solid #ccc;background:#fafafa}
.legend span{display:inline-block;margin-right:12px} .dot{display:inline-block;width:10px;height:10px;border-radius:5px}
</style></head><body>
<h1>v2x run <span id=scenario></span>: <span id=phase>starting</span> <span id=clock></span></h1>
<table id=counters><tr><th>published</th><th>received</th><th>stored</th><th>rejected</th><th>broker</th></tr>
<tr><td id=published>0</td><td id=received>0</td><td id=stored>0</td><td id=rejected>0</td><td id=broker>-</td></tr></table>
<table id=types><tr><th>type</th><th>stored</th></tr></table>
<div class=legend id=legend></div>
<svg id=map width=900 height=480 viewBox="0 0 900 480"></svg>
<script>
var COLOURS = {car: '#1f77b4', bus: '#ff7f0e', sanitation_truck: '#2ca02c', logistics_van: '#9467bd', ambulance: '#e377c2', OBU: '#7f7f7f'};
var NS = 'http://www.w3.org/2000/svg';
function el(name, attrs) { var e = document.createElementNS(NS, name); for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
function text(id, value) { document.getElementById(id).textContent = value; }
function draw(s) {
  text('scenario', s.scenario); text('phase', s.phase);
  text('clock', s.elapsed_s.toFixed(1) + ' s of ' + s.duration_s + ' s');
  ['published', 'received', 'stored', 'rejected', 'broker'].forEach(function (k) { text(k, s[k] === undefined ? '-' : s[k]); });
  var types = document.getElementById('types');
  while (types.rows.length > 1) types.deleteRow(1);
  Object.keys(s.stored_by_type).sort().forEach(function (t) {
    var row = types.insertRow(); row.insertCell().textContent = t; row.insertCell().textContent = s.stored_by_type[t];
  });
  var points = s.rsus.map(function (r) { return [r[1], r[2]]; }).concat(s.vehicles.map(function (v) { return [v[2], v[3]]; }));
  s.roads.forEach(function (r) { r.lat.forEach(function (la, i) { points.push([la, r.lon[i]]); }); });
  if (!points.length) return;
  var lat0 = points.reduce(function (a, p) { return a + p[0]; }, 0) / points.length;
  var lon0 = points.reduce(function (a, p) { return a + p[1]; }, 0) / points.length;
  var east = 111320 * Math.cos(lat0 * Math.PI / 180), span = 50;
  points.forEach(function (p) { span = Math.max(span, Math.abs((p[1] - lon0) * east) / 430, Math.abs((p[0] - lat0) * 111320) / 220); });
  function x(lon) { return 450 + (lon - lon0) * east / span; }
  function y(lat) { return 240 - (lat - lat0) * 111320 / span; }
  var map = document.getElementById('map');
  while (map.firstChild) map.removeChild(map.firstChild);
  s.roads.forEach(function (r) {
    map.appendChild(el('polyline', {points: r.lat.map(function (la, i) { return x(r.lon[i]) + ',' + y(la); }).join(' '),
      fill: 'none', stroke: '#d5d5d5', 'stroke-width': Math.max(r.width_m / span, 1.5), 'data-road': '1'}));
  });
  s.rsus.forEach(function (r) {
    map.appendChild(el('rect', {x: x(r[2]) - 5, y: y(r[1]) - 5, width: 10, height: 10, fill: '#d62728', stroke: '#000', 'data-rsu': r[0]}));
  });
  var kinds = {};
  s.vehicles.forEach(function (v) {
    kinds[v[1]] = (kinds[v[1]] || 0) + 1;
    var dot = el('circle', {cx: x(v[3]), cy: y(v[2]), r: 4, fill: COLOURS[v[1]] || '#7f7f7f', 'data-vehicle': v[0]});
    dot.appendChild(el('title', {})).textContent = v[0] + ' (' + v[1] + ')';
    map.appendChild(dot);
  });
  document.getElementById('legend').innerHTML = Object.keys(kinds).sort().map(function (k) {
    return '<span><i class=dot style="background:' + (COLOURS[k] || '#7f7f7f') + '"></i> ' + k + ' ' + kinds[k] + '</span>';
  }).join('');
}
function poll() {
  fetch('state.json', {cache: 'no-store'}).then(function (r) { return r.json(); }).then(draw).catch(function () {})
    .finally(function () { setTimeout(poll, 1000); });
}
poll();
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    state: LiveState

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            body, kind = PAGE.encode("utf-8"), "text/html; charset=utf-8"
        elif self.path.split("?")[0] == "/state.json":
            body, kind = json.dumps(self.state.snapshot()).encode("utf-8"), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request in the run's output


def serve_live(state: LiveState, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serve the page of ``state`` at http://host:port/ in a daemon thread (port 0: a free one;
    ``server.server_address`` says which).  ``shutdown()`` stops it.  Raises OSError when the
    port cannot be bound."""
    handler = type("LiveHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="v2x-live", daemon=True).start()
    return server
