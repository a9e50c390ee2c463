"""Inline SVG charts for the HTML report: line charts, a position map and stacked bars.

Drawn as SVG text, so the report is one file that opens anywhere with no script or network.
Every mark has a ``<title>`` (the browser shows it on hover) and a ``data-series`` attribute,
so tests and scripts can find the plotted data in the page.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 160, 16, 44
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float | None]  # None breaks the line
    colour: str
    dashed: bool = False


@dataclass
class Rule:
    """A threshold drawn across the plot: ``axis`` "x" (vertical line) or "y" (horizontal)."""

    axis: str
    value: float
    label: str
    colour: str = "#555"


@dataclass
class Band:
    """A stretch of the x axis shaded across the plot (a device offline, a stalled second)."""

    start: float
    end: float
    label: str
    colour: str = "#b00"


@dataclass
class PointGroup:
    label: str
    xs: list[float]
    ys: list[float]
    colour: str
    marker: str = "dot"  # dot, square, ring (a highlighted point: an open circle)
    names: list[str] = field(default_factory=list)  # a label per point, shown beside squares


@dataclass
class Road:
    """A MAP link drawn as a band ``width_m`` wide through its points (metres east and north),
    upstream to downstream, with its stop line across the last point."""

    xs: list[float]
    ys: list[float]
    width_m: float
    label: str
    lanes: int = 1  # drawn as dashed dividers across the band


@dataclass
class Ring:
    """A dashed circle of ``radius_m`` around a point: an RSU's coverage."""

    x: float
    y: float
    radius_m: float
    label: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, t = [], first
    while t <= high + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _label(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


class _Frame:
    """Maps data coordinates into the plot area of one chart."""

    def __init__(
        self, x_range: tuple[float, float], y_range: tuple[float, float], width: int, height: int, right: int = MARGIN_RIGHT
    ):
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.left, self.right = MARGIN_LEFT, width - right
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (value - self.x0) / span * (self.right - self.left)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.bottom - (value - self.y0) / span * (self.bottom - self.top)

    def axes(self, x_label: str, y_label: str, x_ticks: list[float], y_ticks: list[float]) -> list[str]:
        out = [
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" height="{self.bottom - self.top}" '
            f'fill="#fff" stroke="#bbb"/>'
        ]
        for t in x_ticks:
            px = self.x(t)
            out.append(f'<line x1="{px:.1f}" y1="{self.top}" x2="{px:.1f}" y2="{self.bottom}" stroke="#eee"/>')
            out.append(f'<text x="{px:.1f}" y="{self.bottom + 16}" text-anchor="middle" class="tick">{_label(t)}</text>')
        for t in y_ticks:
            py = self.y(t)
            out.append(f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{self.left - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{_label(t)}</text>')
        out.append(
            f'<text x="{(self.left + self.right) / 2:.1f}" y="{self.bottom + 36}" text-anchor="middle" class="axis">{escape(x_label)}</text>'
        )
        out.append(
            f'<text transform="translate(14 {(self.top + self.bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f'class="axis">{escape(y_label)}</text>'
        )
        return out


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">' + "".join(body) + "</svg>"
    )


def _legend(entries: list[tuple[str, str, bool]], width: int) -> list[str]:
    out = []
    for k, (label, colour, dashed) in enumerate(entries):
        y = MARGIN_TOP + 10 + 18 * k
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(
            f'<line x1="{width - MARGIN_RIGHT + 12}" y1="{y}" x2="{width - MARGIN_RIGHT + 34}" y2="{y}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
        )
        out.append(f'<text x="{width - MARGIN_RIGHT + 40}" y="{y + 4}" class="legend">{escape(label)}</text>')
    return out


def _range(values: list[float], pad: float = 0.0) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high == low:
        return low - 1.0, high + 1.0
    return low - pad * (high - low), high + pad * (high - low)


def line_chart(
    title: str,
    series: list[Series],
    x_label: str,
    y_label: str,
    rules: list[Rule] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    bands: list[Band] | None = None,
) -> str:
    """Lines through each series' points, with threshold rules, shaded bands and a legend.
    Rules at one value share one label; labels that would overlap are moved apart; of several
    rules or bands with the same label only the first is labelled."""
    rules, bands = rules or [], bands or []
    xs = [x for s in series for x in s.xs] + [r.value for r in rules if r.axis == "x"]
    ys = [y for s in series for y in s.ys if y is not None] + [r.value for r in rules if r.axis == "y"]
    frame = _Frame(x_range or _range(xs), y_range or _range(ys, 0.05), width, height)
    body = frame.axes(x_label, y_label, nice_ticks(frame.x0, frame.x1), nice_ticks(frame.y0, frame.y1))
    labelled: set[str] = set()
    for b in bands:
        a, z = max(b.start, frame.x0), min(b.end, frame.x1)
        if z <= a:
            continue
        body.append(
            f'<rect data-band="{escape(b.label)}" x="{frame.x(a):.1f}" y="{frame.top}" width="{max(frame.x(z) - frame.x(a), 1.5):.1f}" '
            f'height="{frame.bottom - frame.top}" fill="{b.colour}" fill-opacity="0.12"><title>{escape(b.label)}</title></rect>'
        )
        if b.label not in labelled:
            labelled.add(b.label)
            body.append(
                f'<text x="{frame.x(a) + 3:.1f}" y="{frame.top + 12}" class="rule" fill="{b.colour}">{escape(b.label)}</text>'
            )
    for s in series:
        runs: list[list[str]] = [[]]
        for x, y in zip(s.xs, s.ys):
            if y is None or not frame.x0 <= x <= frame.x1:
                runs.append([])
                continue
            runs[-1].append(f"{frame.x(x):.1f},{frame.y(min(max(y, frame.y0), frame.y1)):.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for points in (r for r in runs if r):
            body.append(
                f'<polyline data-series="{escape(s.label)}" points="{" ".join(points)}" fill="none" stroke="{s.colour}" '
                f'stroke-width="2"{dash}><title>{escape(s.label)}</title></polyline>'
            )
    stacked = 0
    for r in (r for r in rules if r.axis == "x" and frame.x0 <= r.value <= frame.x1):
        px = frame.x(r.value)
        body.append(
            f'<line data-rule="{escape(r.label)}" x1="{px:.1f}" y1="{frame.top}" x2="{px:.1f}" y2="{frame.bottom}" '
            f'stroke="{r.colour}" stroke-dasharray="2 3"><title>{escape(r.label)}</title></line>'
        )
        if r.label not in labelled:
            labelled.add(r.label)
            body.append(
                f'<text x="{px - 3:.1f}" y="{frame.bottom - 8 - 14 * stacked}" text-anchor="end" class="rule" '
                f'fill="{r.colour}">{escape(r.label)}</text>'
            )
            stacked += 1
    at_value: dict[float, list[Rule]] = {}
    for r in (r for r in rules if r.axis == "y" and frame.y0 <= r.value <= frame.y1):
        at_value.setdefault(r.value, []).append(r)
        py = frame.y(r.value)
        body.append(
            f'<line data-rule="{escape(r.label)}" x1="{frame.left}" y1="{py:.1f}" x2="{frame.right}" y2="{py:.1f}" '
            f'stroke="{r.colour}" stroke-dasharray="2 3"><title>{escape(r.label)}</title></line>'
        )
    last = -math.inf
    for value, same in sorted(at_value.items(), key=lambda item: -item[0]):  # top to bottom
        label = _shared_label([r.label for r in same])
        colour = same[0].colour if len({r.colour for r in same}) == 1 else "#555"
        y = max(frame.y(value) + 13, last + 13)  # below its line, and below the label above it
        last = y
        body.append(
            f'<text x="{frame.right - 4}" y="{y:.1f}" text-anchor="end" class="rule" fill="{colour}">{escape(label)}</text>'
        )
    body += _legend([(s.label, s.colour, s.dashed) for s in series], width)
    return _svg(width, height, title, body)


def _shared_label(labels: list[str]) -> str:
    """One label for rules at one value: ``BSM.pdr, SPAT.pdr ≥ 0.95`` for ``BSM.pdr ≥ 0.95`` and
    ``SPAT.pdr ≥ 0.95`` (labels of the form ``name op value``)."""
    if len(labels) == 1:
        return labels[0]
    heads, tails = zip(*(label.split(" ", 1) if " " in label else (label, "") for label in labels))
    if len(set(tails)) == 1:
        return f"{', '.join(dict.fromkeys(heads))} {tails[0]}"
    return "; ".join(dict.fromkeys(labels))


def _road(frame: _Frame, road: Road, px_per_m: float) -> list[str]:
    points = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in zip(road.xs, road.ys))
    band = max(road.width_m * px_per_m, 1.5)
    out = [
        f'<polyline data-road="{escape(road.label)}" points="{points}" fill="none" stroke="#d5d5d5" '
        f'stroke-width="{band:.1f}" stroke-linecap="butt"><title>{escape(road.label)}</title></polyline>'
    ]
    if len(road.xs) >= 2 and road.lanes > 1 and band >= 4 * road.lanes:  # lane dividers, where the lanes are wide enough to see
        normals = []
        for k in range(len(road.xs)):
            a, b = max(k - 1, 0) if k == len(road.xs) - 1 else k, k if k == len(road.xs) - 1 else k + 1
            dx, dy = road.xs[b] - road.xs[a], road.ys[b] - road.ys[a]
            length = math.hypot(dx, dy) or 1.0
            normals.append((-dy / length, dx / length))
        for j in range(1, road.lanes):
            offset = -road.width_m / 2 + j * road.width_m / road.lanes
            line = " ".join(
                f"{frame.x(x + nx * offset):.1f},{frame.y(y + ny * offset):.1f}"
                for x, y, (nx, ny) in zip(road.xs, road.ys, normals)
            )
            out.append(
                f'<polyline data-lane-divider="{escape(road.label)}" points="{line}" fill="none" stroke="#fff" stroke-dasharray="4 4"/>'
            )
    if len(road.xs) >= 2:  # the stop line: across the band at the last point
        (x1, y1), (x2, y2) = (road.xs[-2], road.ys[-2]), (road.xs[-1], road.ys[-1])
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        nx, ny = -(y2 - y1) / length * road.width_m / 2, (x2 - x1) / length * road.width_m / 2
        out.append(
            f'<line data-stop-line="{escape(road.label)}" x1="{frame.x(x2 - nx):.1f}" y1="{frame.y(y2 - ny):.1f}" '
            f'x2="{frame.x(x2 + nx):.1f}" y2="{frame.y(y2 + ny):.1f}" stroke="#222" stroke-width="2"/>'
        )
    return out


def position_map(
    title: str,
    groups: list[PointGroup],
    width: int = WIDTH,
    height: int = 420,
    roads: list[Road] | None = None,
    rings: list[Ring] | None = None,
    window: tuple[float, float, float, float] | None = None,
    legend: bool = True,
) -> str:
    """Points in metres east/north of a reference, same scale on both axes, over the roads of
    the MAP messages and the RSUs' coverage.  ``window`` (x0, x1, y0, y1 in metres): the area
    shown (a close-up; what lies outside is clipped), else all the points; ``legend``: False for
    a close-up beside a map that has it."""
    roads, rings = roads or [], rings or []
    if window is None:
        xs = [x for g in groups for x in g.xs] + [x for r in roads for x in r.xs]
        ys = [y for g in groups for y in g.ys] + [y for r in roads for y in r.ys]
        (x0, x1), (y0, y1) = _range(xs, 0.05), _range(ys, 0.05)
    else:
        x0, x1, y0, y1 = window
    right = MARGIN_RIGHT if legend else MARGIN_TOP
    plot_w, plot_h = width - MARGIN_LEFT - right, height - MARGIN_TOP - MARGIN_BOTTOM
    metres_per_px = max((x1 - x0) / plot_w, (y1 - y0) / plot_h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    frame = _Frame(
        (cx - metres_per_px * plot_w / 2, cx + metres_per_px * plot_w / 2),
        (cy - metres_per_px * plot_h / 2, cy + metres_per_px * plot_h / 2),
        width,
        height,
        right,
    )
    clip = f"clip{zlib.crc32(title.encode('utf-8')):08x}"
    body = frame.axes("metres east", "metres north", nice_ticks(frame.x0, frame.x1), nice_ticks(frame.y0, frame.y1))
    body.append(
        f'<clipPath id="{clip}"><rect x="{frame.left}" y="{frame.top}" width="{frame.right - frame.left}" '
        f'height="{frame.bottom - frame.top}"/></clipPath><g clip-path="url(#{clip})">'
    )
    for road in roads:
        body += _road(frame, road, 1.0 / metres_per_px)
    for ring in rings:
        body.append(
            f'<circle data-ring="{escape(ring.label)}" cx="{frame.x(ring.x):.1f}" cy="{frame.y(ring.y):.1f}" '
            f'r="{ring.radius_m / metres_per_px:.1f}" fill="none" stroke="#d62728" stroke-dasharray="6 4" stroke-width="1.2">'
            f"<title>{escape(ring.label)}</title></circle>"
        )
    entries = []
    labels = []
    for g in groups:
        marks = []
        for k, (x, y) in enumerate(zip(g.xs, g.ys)):
            px, py = frame.x(x), frame.y(y)
            if g.marker == "square":
                name = g.names[k] if k < len(g.names) else ""
                marks.append(
                    f'<rect x="{px - 5:.1f}" y="{py - 5:.1f}" width="10" height="10" fill="{g.colour}" stroke="#000">'
                    f"<title>{escape(name)}</title></rect>"
                )
                labels.append(f'<text x="{px + 8:.1f}" y="{py - 6:.1f}" class="legend">{escape(name)}</text>')
            elif g.marker == "ring":
                marks.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.6" fill="none" stroke="{g.colour}" stroke-width="1.6"/>')
            else:
                marks.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="1.8" fill="{g.colour}"/>')
        body.append(
            f'<g data-series="{escape(g.label)}" data-points="{len(g.xs)}"><title>{escape(g.label)}</title>{"".join(marks)}</g>'
        )
        entries.append((g.label, g.colour, False))
    body += labels  # names above every mark
    body.append("</g>")
    if roads:
        entries.append(("roads (MAP)", "#d5d5d5", False))
    if rings:
        entries.append((rings[0].label.split(":")[0], "#d62728", True))
    if legend:
        body += _legend(entries, width)
    return _svg(width, height, title, body)


def stacked_bars(title: str, rows: list[tuple[str, list[tuple[str, float, str]]]], x_label: str, width: int = WIDTH) -> str:
    """One horizontal bar per row, split into (segment label, value, colour) parts."""
    bar, gap = 22, 10
    height = MARGIN_TOP + MARGIN_BOTTOM + len(rows) * (bar + gap)
    total = max((sum(v for _, v, _ in parts) for _, parts in rows), default=1.0) or 1.0
    left, right = 150, width - MARGIN_RIGHT - 60  # room for the totals
    body = [f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle" class="axis">{escape(x_label)}</text>']
    legend: dict[str, str] = {}
    for k, (label, parts) in enumerate(rows):
        y = MARGIN_TOP + k * (bar + gap)
        body.append(f'<text x="{left - 6}" y="{y + bar / 2 + 4}" text-anchor="end" class="tick">{escape(label)}</text>')
        x = float(left)
        for segment, value, colour in parts:
            w = value / total * (right - left)
            body.append(
                f'<rect data-series="{escape(label)}:{escape(segment)}" x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" '
                f'height="{bar}" fill="{colour}"><title>{escape(label)}: {escape(segment)} {_label(value)}</title></rect>'
            )
            x += w
            legend.setdefault(segment, colour)
        body.append(f'<text x="{x + 4:.1f}" y="{y + bar / 2 + 4}" class="tick">{_label(sum(v for _, v, _ in parts))}</text>')
    body += _legend([(s, c, False) for s, c in legend.items()], width)
    return _svg(width, height, title, body)
