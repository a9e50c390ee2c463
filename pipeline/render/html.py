"""The compliance report as one self-contained HTML file, with charts.

``to_html`` draws the page from :func:`pipeline.report.charts.chart_data` and the report of :func:`pipeline.report.build.build_report`:

* the verdict and the failing checks with their sources, first;
* latency CDF per message type against the profile's latency thresholds;
* PDR (GB/T 45315 Annex C, from msgCnt gaps) and rate per sender over time;
* per device: the profile checks judged on that device's own messages and its field-check
  violations, in a table sorted by the worst verdict (click a header to sort by another column,
  or open ``REPORT.html#sort=COLUMN`` / ``#sort=COLUMN-desc``);
* security: frames by class (honest or injected attack) and verdict;
* a map of where the vehicles (BSM positions) and RSUs (RSM reference points) were.

No script or style is fetched: the page opens offline, and it carries the report's JSON in a
``<script type="application/json" id="report-data">`` element for tools."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from pipeline.render.svg import PALETTE, Band, PointGroup, Ring, Road, Rule, Series, line_chart, position_map, stacked_bars
from pipeline.render.terminal import PLATFORM_COLUMNS, platform_row, schedule_line, stall_lines
from pipeline.report.charts import CDF_POINTS, VERDICT_ORDER
from pipeline.report.model import Check, Report

VERDICT_COLOURS = {
    "success": "#2ca02c",
    "false_signature": "#d62728",
    "duplicate_message": "#ff7f0e",
    "invalid_certificate": "#9467bd",
    "revoked_certificate": "#8c564b",
    "inconsistent_chain": "#e377c2",
    "invalid_timestamp": "#17becf",
    "permission_denied": "#bcbd22",
    "unsigned_message": "#7f7f7f",
    "signer_certificate_not_found": "#1f3a93",
    "malformed": "#000000",
}


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _finding(f: dict[str, Any]) -> str:
    return f"{f['id']} {f['verdict']} ({_number(f['value'])} vs {f['op']} {f['threshold']})"


def _colours(names: list[str]) -> dict[str, str]:
    return {name: PALETTE[k % len(PALETTE)] for k, name in enumerate(sorted(names))}


def _latency_charts(report: Report, charts: dict[str, Any]) -> str:
    """One CDF per message type, with that type's latency thresholds from the profile."""
    cdf = charts["latency_cdf"]
    if not cdf:
        return "<p>No latency measured.</p>"
    colours = _colours(list(cdf))
    fractions: list[float | None] = [k / CDF_POINTS for k in range(CDF_POINTS + 1)]
    out = []
    for msg_type, q in sorted(cdf.items()):
        limits = [
            c
            for c in report.checks
            if c.kind is None and c.msg_type == msg_type and c.metric in ("latency_p95_ms", "latency_p99_ms")
        ]
        rules = [
            Rule(
                "x",
                c.threshold,
                f"{c.metric[8:11]} ≤ {c.threshold:g} ms ({c.verdict})",
                "#d62728" if c.verdict == "FAIL" else "#555",
            )
            for c in limits
        ]
        rules.append(Rule("y", 0.99, "99 % of messages"))
        right = max([c.threshold for c in limits] + [q[-2]]) * 1.1
        out.append(
            line_chart(
                f"{msg_type} latency CDF",
                [Series(msg_type, q, fractions, colours[msg_type])],
                f"{msg_type} latency ms (received − generationTime)",
                "fraction of messages",
                rules,
                x_range=(0.0, right),
                y_range=(0.0, 1.0),
                width=540,
                height=260,
            )
        )
    return "".join(out)


def _marker_line(marker: dict[str, Any]) -> str:
    until = "" if marker["until_s"] is None else f" to {marker['until_s']:.1f} s"
    return f"{marker['at_s']:.1f} s{until}: {marker['label']}"


def _over_time_charts(report: Report, charts: dict[str, Any]) -> str:
    ot = charts["over_time"]["series"]
    if not ot:
        return ""
    colours = _colours(list(ot))
    pdr = [Series(t, s["t_s"], s["pdr"], colours[t]) for t, s in sorted(ot.items()) if any(v is not None for v in s["pdr"])]
    rate = [Series(t, s["t_s"], s["rate_hz"], colours[t]) for t, s in sorted(ot.items())]
    pdr_rules = [
        Rule("y", c.threshold, f"{c.id} ≥ {c.threshold:g}", colours.get(c.msg_type, "#555"))
        for c in report.checks
        if c.kind is None and c.metric == "pdr" and c.msg_type in ot
    ]
    low = min([v for s in pdr for v in s.ys if v is not None] + [r.value for r in pdr_rules] + [1.0])
    bucket = charts["over_time"]["bucket_s"]
    markers = charts["over_time"].get("markers", [])
    events = [Rule("x", m["at_s"], m["label"], "#b00") for m in markers if m["until_s"] is None]
    bands = [Band(m["at_s"], m["until_s"], m["label"]) for m in markers if m["until_s"] is not None]
    out = line_chart(
        "PDR over time",
        pdr,
        f"seconds since the first message ({bucket:g} s buckets)",
        "PDR (msgCnt, Annex C)",
        pdr_rules + events,
        y_range=(max(0.0, low - (1.0 - low) * 0.2 - 0.01), 1.0 + (1.0 - low) * 0.05 + 0.002),
        bands=bands,
    )
    latency = [
        Series(t, s["t_s"], s.get("latency_p99_ms", []), colours[t])
        for t, s in sorted(ot.items())
        if any(s.get("latency_p99_ms", []))
    ]
    if latency:
        latency_rules = [
            Rule("y", c.threshold, f"{c.id} ≤ {c.threshold:g} ms", colours.get(c.msg_type, "#555"))
            for c in report.checks
            if c.kind is None and c.metric == "latency_p99_ms" and c.range_m is None and not c.where and c.msg_type in ot
        ]
        # up to the data and the tightest threshold: a 500 ms bound does not flatten 10 ms latencies
        tightest = [min(r.value for r in latency_rules) * 1.15] if latency_rules else []
        top = max([v * 1.2 for s in latency for v in s.ys if v is not None] + tightest + [1.0])
        out += line_chart(
            "Latency p99 over time",
            latency,
            f"seconds since the first message ({bucket:g} s buckets)",
            "latency p99 (ms), verified frames",
            latency_rules + events,
            y_range=(0.0, top),
            bands=bands,
        )
    out += line_chart(
        "Rate per sender over time",
        rate,
        f"seconds since the first message ({bucket:g} s buckets)",
        "messages per sender per second (Hz)",
        events,
        bands=bands,
    )
    if markers:
        out += "<p class=note>Marked on the charts (the rate of the last bucket, cut short by the end of the run, is over its own length):</p>"
        out += "<ul class=note id=markers>" + "".join(f"<li>{escape(_marker_line(m))}</li>" for m in markers) + "</ul>"
    return out


def _security_chart(report: Report) -> str:
    classes = report.security.classes
    if not classes:
        return "<p>No frames.</p>"
    rows = [
        (
            f"{c.class_} (expect {c.expected})",
            [(str(verdict), float(n), VERDICT_COLOURS.get(verdict, "#999")) for verdict, n in sorted(c.verdicts.items())],
        )
        for c in classes
    ]
    return stacked_bars("Frames by class and verdict", rows, "frames")


KIND_COLOURS = {"car": PALETTE[0], "bus": PALETTE[4], "sanitation_truck": PALETTE[2], "logistics_van": PALETTE[3]}
KIND_COLOURS |= {"ambulance": PALETTE[6], "OBU": PALETTE[0]}
WORST_COLOUR = "#d62728"
CLOSE_UP_M = 90  # policy: an intersection close-up shows this far around its node
MAX_CLOSE_UPS = 6  # policy: intersection close-ups drawn in a report


def _vehicle_marks(label: str, marks: list[tuple[str, float, float]], colour: str, marker: str = "dot") -> PointGroup:
    """The positions (device, x, y) of some vehicles as one group, labelled with how many they are."""
    return PointGroup(f"{label} ({len({m[0] for m in marks})})", [m[1] for m in marks], [m[2] for m in marks], colour, marker)


def _map(charts: dict[str, Any]) -> str:
    """The zone from above: the roads of the MAP messages with their stop lines, each RSU and
    its coverage, the vehicles' positions by kind and the failing devices ringed; then a
    close-up of each intersection."""
    vehicles, rsus = charts["positions"]["vehicles"], charts["positions"]["rsus"]
    nodes = charts.get("map", {}).get("nodes", [])
    coverage = charts.get("map", {}).get("coverage_m")
    points = [(lat, lon) for _, lat, lon in vehicles] + [(lat, lon) for _, lat, lon in rsus if lat is not None]
    points += [(n["lat"], n["lon"]) for n in nodes]
    if not points:
        return "<p>No positions received.</p>"
    lat0 = sum(p[0] for p in points) / len(points)
    lon0 = sum(p[1] for p in points) / len(points)
    east = 111_320.0 * math.cos(math.radians(lat0))

    def x(lon: float) -> float:
        return (lon - lon0) * east

    def y(lat: float) -> float:
        return (lat - lat0) * 111_320.0

    kinds, worst = charts.get("kinds", {}), set(charts.get("worst", []))
    by_kind: dict[str, list[tuple[str, float, float]]] = {}
    for device, lat, lon in vehicles:
        by_kind.setdefault(kinds.get(device, "OBU"), []).append((device, x(lon), y(lat)))
    groups = [_vehicle_marks(kind, marks, KIND_COLOURS.get(kind, PALETTE[9])) for kind, marks in sorted(by_kind.items())]
    failing = [mark for marks in by_kind.values() for mark in marks if mark[0] in worst]
    if failing:
        groups.append(_vehicle_marks("FAIL", failing, WORST_COLOUR, "ring"))
    placed = [r for r in rsus if r[1] is not None]
    if placed:
        groups.append(
            PointGroup("RSUs", [x(r[2]) for r in placed], [y(r[1]) for r in placed], "#d62728", "square", [r[0] for r in placed])
        )
    roads = [
        Road(
            [x(v) for v in link["lon"]],
            [y(v) for v in link["lat"]],
            link["width_m"] or 3.5 * max(link["lanes"], 1),
            f"node {n['node']} link {k}: {link['lanes']} lanes",
            max(link["lanes"], 1),
        )
        for n in nodes
        for k, link in enumerate(n["links"])
    ]
    rings = [Ring(x(r[2]), y(r[1]), coverage, f"coverage {coverage:g} m: {r[0]}") for r in placed] if coverage else []
    title = f"The zone around {lat0:.5f}° N, {lon0:.5f}° E"
    parts = [f"<p class=note>{escape(title)}: roads from the MAP messages, vehicles by kind, failing devices ringed</p>"]
    parts.append(position_map(title, groups, width=900, height=460, roads=roads, rings=rings))
    for n in nodes[:MAX_CLOSE_UPS]:
        cx, cy = x(n["lon"]), y(n["lat"])
        window = (cx - CLOSE_UP_M, cx + CLOSE_UP_M, cy - CLOSE_UP_M, cy + CLOSE_UP_M)
        label = f"Intersection {n['node']} ({n['rsu']})"
        parts.append(
            f"<figure class=close-up><figcaption>{escape(label)}</figcaption>"
            + position_map(label, groups, width=300, height=300, roads=roads, rings=rings, window=window, legend=False)
            + "</figure>"
        )
    return "".join(parts)


def _checks_table(checks: list[Check]) -> str:
    rows = "".join(
        f'<tr class="{c.verdict.replace("/", "")}"><td>{escape(c.id)}</td><td>{c.verdict}</td><td>{_number(c.value)}</td>'
        f"<td>{escape(c.op)} {_number(c.threshold)}</td><td>{escape(c.basis)}</td><td>{escape(c.source or '')}</td></tr>"
        for c in checks
    )
    return (
        "<table><thead><tr><th>check</th><th>verdict</th><th>value</th><th>required</th><th>basis</th><th>source</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _applications_table(report: Report) -> str:
    rows = "".join(
        f'<tr class="{a.verdict.replace("/", "")}"><td>{escape(a.id)}</td><td>{escape(a.name)}</td><td>{a.verdict}</td>'
        f"<td>{escape(', '.join(a.messages) or '-')}</td><td>{_number(a.rate_hz)}</td><td>{_number(a.latency_ms)}</td>"
        f"<td>{_number(a.range_m)}</td><td>{escape(a.note or '')}</td></tr>"
        for a in report.applications.graded
    )
    return (
        "<table id=applications><thead><tr><th>application</th><th>name</th><th>verdict</th><th>messages</th><th>Hz</th><th>latency ms</th>"
        f"<th>range m</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _ranges_table(report: Report) -> str:
    rec = report.receivers
    where = ", ".join(f"{escape(r.name)} ({r.lat:.5f}, {r.lon:.5f})" for r in rec.positions) or "none"
    rows = "".join(
        f"<tr><td>{escape(x.msg_type)}{escape(' where ' + x.where) if x.where else ''}</td><td>{_number(x.range_m)}</td>"
        f"<td>{_number(x.messages)}</td><td>{_number(x.pdr)}</td><td>{_number(x.latency_p95_ms)}</td>"
        f"<td>{_number(x.latency_p99_ms)}</td></tr>"
        for x in report.ranges
    )
    return (
        f"<p class=note>Receivers: {where}; from {escape(rec.source)}. A message counts within a range when its sender was "
        "that close to at least one receiver.</p><table id=ranges><thead><tr><th>type</th><th>within m</th><th>messages</th>"
        f"<th>PDR</th><th>latency p95 ms</th><th>latency p99 ms</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _platform_table(report: Report) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in platform_row(x)) + "</tr>" for x in report.platform)
    head = "".join(f"<th>{escape(c)}</th>" for c in PLATFORM_COLUMNS)
    return (
        "<p class=note>A platform's copies of the devices' messages, each matched with the device's own frame and "
        f"compared field by field (v2x sql: platform_fidelity).</p><table id=platform><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _device_table(devices: list[dict[str, Any]]) -> str:
    head = "".join(
        f'<th data-sort="{kind}" data-column="{column}">{escape(label)}</th>'
        for label, column, kind in (
            ("device", "device", "text"),
            ("kind", "kind", "text"),
            ("types", "types", "text"),
            ("worst", "worst", "number"),
            ("findings", "findings", "number"),
            ("messages", "messages", "number"),
            ("latency p99 ms", "latency_p99_ms", "number"),
            ("PDR (lowest type)", "pdr", "number"),
            ("auth failures", "auth_failures", "number"),
            ("what", "what", "text"),
        )
    )
    rows = []
    for d in devices:
        cells = [
            (escape(d["device"]), d["device"]),
            (escape(d["kind"] or ""), d["kind"] or ""),
            (escape(d["types"]), d["types"]),
            (d["worst"], VERDICT_ORDER[d["worst"]]),
            (str(len(d["findings"])), len(d["findings"])),
            (str(d["messages"]), d["messages"]),
            (_number(d["latency_p99_ms"]), d["latency_p99_ms"] if d["latency_p99_ms"] is not None else ""),
            (_number(d["pdr"]), d["pdr"] if d["pdr"] is not None else ""),
            (str(d["auth_failures"]), d["auth_failures"]),
            ("<br>".join(escape(_finding(f)) for f in d["findings"]), ""),
        ]
        rows.append(
            f'<tr class="{d["worst"].replace("/", "")}">'
            + "".join(f'<td data-key="{escape(str(key))}">{text}</td>' for text, key in cells)
            + "</tr>"
        )
    return f'<table id="devices" class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.verdict.PASS{background:#2ca02c}.verdict.FAIL{background:#d62728}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top} th{background:#f4f4f4}
tr.FAIL td:nth-child(-n+4){background:#fde2e2} tr.WARN td:nth-child(-n+4){background:#fff4d6}
.sortable th{cursor:pointer} .sortable th:after{content:" ⇅";color:#aaa}
.charts{display:flex;flex-wrap:wrap;gap:12px} svg{background:#fafafa;border:1px solid #eee;max-width:100%;height:auto}
.tick{font-size:11px;fill:#555} .axis{font-size:12px;fill:#333} .legend{font-size:12px;fill:#222} .rule{font-size:11px}
.note{color:#555;margin:4px 0}
.stall{color:#b00;font-weight:bold;margin:4px 0}
details{margin:8px 0}
figure.close-up{display:inline-block;margin:4px 8px 4px 0} figcaption{font-size:12px;color:#333}
#signoff th{width:22%} .signature td{height:42px}
@media print{body{max-width:none;margin:0;font-size:11px} h2{break-after:avoid} svg,tr,#signoff table{break-inside:avoid}
 thead{display:table-header-group}
 details{display:block} details>summary{list-style:none} .sortable th:after{content:""} #signoff{break-after:page}}
"""


SORT_SCRIPT = r"""
window.addEventListener('beforeprint', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
});
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows), kind = th.dataset.sort;
      var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.key, y = b.cells[col].dataset.key;
        if (kind !== 'text') { x = x === '' ? Infinity : +x; y = y === '' ? Infinity : +y; }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  // a link can open the table sorted: REPORT.html#sort=messages-desc
  var wanted = location.hash.match(/sort=(\w+?)(-desc)?$/);
  var th = wanted && table.querySelector('th[data-column="' + wanted[1] + '"]');
  if (th) { th.dataset.dir = wanted[2] ? 'asc' : 'desc'; th.click(); }
});
"""


def _signoff(report: Report, causes: str) -> str:
    """The first page: the facts a sign-off needs, the failures by cause and the block to sign
    (printed on a page of its own)."""
    a = report.about
    if a is None:
        return ""
    devices = "".join(
        f"<tr><td>{escape(g.kind)}</td><td>{g.count}</td><td>{escape(', '.join(g.ids))}{' ...' if len(g.ids) < g.count else ''}</td></tr>"
        for g in a.devices
    )
    facts = [
        ("scenario", f"{report.scenario or '(an ingest of live traffic)'}: {a.scenario_description or ''}"),
        ("run", f"{a.run_started_at or '?'} to {a.run_ended_at or '?'}"),
        ("time zone", a.time_zone),
        ("seed", "" if a.seed is None else str(a.seed)),
        ("scenario file SHA-256", a.scenario_sha256 or ""),
        ("profile", f"{report.profile.name} v{report.profile.version}"),
        ("tool", a.tool),
        ("report made", a.made_at),
        ("run directory", report.run),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    return (
        f"<section id=signoff><h2>Run</h2><table>{rows}</table>"
        f"<h2>Devices under test</h2><table><thead><tr><th>kind</th><th>devices</th><th>ids</th></tr></thead><tbody>{devices}</tbody></table>"
        f"{causes}<h2>Sign-off</h2><table class=signature><tr><th>operator</th><td id=operator>"
        f"{escape(a.operator or '')}</td></tr><tr><th>signature</th><td></td></tr><tr><th>date</th><td></td></tr></table></section>"
    )


def to_html(report: Report, charts: dict[str, Any], opened: bool = False) -> str:
    """One self-contained HTML page of ``report`` with the charts of ``charts`` (:func:`chart_data`);
    ``opened``: the full check list shown, not collapsed (for a PDF; a browser opens it to print)."""
    s = report.summary
    failed = [c for c in report.checks if c.verdict == "FAIL"]
    warned = [c for c in report.checks if c.verdict == "WARN"]
    types = "".join(
        f"<tr><td>{m.msg_type}</td><td>{_number(m.stored)}</td><td>{_number(m.senders)}</td><td>{_number(m.rate_hz_min)}</td>"
        f"<td>{_number(m.latency_p95_ms)}</td><td>{_number(m.latency_p99_ms)}</td><td>{_number(m.pdr)}</td>"
        f"<td>{_number(m.auth_success_rate)}</td><td>{_number(m.rejected)}</td></tr>"
        for m in report.message_types
    )
    crl = report.security.crl
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Compliance report {escape(report.scenario or '')}: {report.verdict}</title><style>{STYLE}</style></head><body>",
        f'<h1>Compliance report {escape(report.scenario or "")} <span class="verdict {report.verdict}" id=verdict>{report.verdict}</span></h1>',
        f"<p class=note>profile {escape(report.profile.name)} v{report.profile.version} · {s.PASS} pass · {s.FAIL} fail · "
        f"{s.WARN} warn · {s.NA} n/a · report format v{report.report_version} · run {escape(report.run)}</p>",
    ]
    if (line := schedule_line(report.schedule)) is not None:
        parts.append(f"<p class=note id=schedule>{escape(line)}</p>")
    causes = ""
    if failed:
        items = "".join(
            f"<li><b>{escape(c.measurement)}</b> = {_number(c.value)}: {escape(', '.join(c.checks))}</li>"
            for c in report.failure_causes or []
        )
        causes = (
            f"<h2>Failures by cause</h2><p>{len(failed)} failing checks from {len(report.failure_causes or [])} causes, "
            f"each a measurement that fails the checks listed:</p><ul id=causes>{items}</ul>"
        )
    signoff = _signoff(report, causes)
    parts.append(signoff or causes)
    parts += [f"<p class=stall>receiver stalled {escape(line)}</p>" for line in stall_lines(report)]
    if failed:
        parts += ["<h2>Failing checks</h2>", _checks_table(failed)]
    if warned:
        parts += ["<h2>Warnings (policy or unverified basis: cannot fail)</h2>", _checks_table(warned)]
    parts += [
        "<h2>Per message type</h2><table><thead><tr><th>type</th><th>stored</th><th>senders</th><th>rate Hz (min sender)</th>"
        f"<th>latency p95 ms</th><th>latency p99 ms</th><th>PDR</th><th>auth ok</th><th>rejected</th></tr></thead><tbody>{types}</tbody></table>",
        "<h2>Day-1 applications</h2>",
        _applications_table(report),
        "<h2>By distance from the receivers</h2>",
        _ranges_table(report),
        "<h2>Latency</h2><div class=charts id=latency>",
        _latency_charts(report, charts),
        "</div>",
        "<h2>Delivery over time</h2><div class=charts id=over-time>",
        _over_time_charts(report, charts),
        "</div>",
        "<h2>Devices</h2><p class=note>The profile's rate, latency, PDR and authentication checks judged on each device's own "
        "messages, and its field-check violations; worst first. Click a header to sort.</p>",
        _device_table(charts["devices"]),
        "<h2>Security</h2><div class=charts id=security>",
        _security_chart(report),
        "</div>",
    ]
    if crl:
        parts.append(
            f"<p class=note>CRL serial {crl.serial} from {escape(crl.craca)}: {crl.entries} entries, "
            f"{crl.age_s:.0f} s old when the ingest started</p>"
        )
    if report.platform:
        parts += ["<h2>Platform fidelity</h2>", _platform_table(report)]
    parts += [
        "<h2>Positions</h2><div id=map>",
        _map(charts),
        "</div>",
        f"<details{' open' if opened else ''}><summary>All checks</summary>",
        _checks_table(report.checks),
        "</details>",
    ]
    data = report.to_json(indent=None).replace("</", "<\\/")
    parts += [
        f'<script type="application/json" id="report-data">{data}</script>',
        f"<script>{SORT_SCRIPT}</script></body></html>",
    ]
    return "".join(parts)
