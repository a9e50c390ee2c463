"""RoadSideInformation for one RSU from the scenario's traffic events and signs (YD/T 3709 RSI).

Each :class:`v2x.scenario.model.TrafficInfo` becomes an RTEData (event) or RTSData (sign) positioned
``distance_m`` upstream of the intersection on the corridor approach, with a reference path from
there to the stop line (pathRadius = half the approach width) and the approach as reference
link.  Times are MinuteOfTheYear from the start of the run to its end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from v2x import messages
from v2x.device.identity import rsu_octets
from v2x.scenario import roads
from v2x.scenario.model import Scenario
from v2x.scenario.roads import LANE_WIDTH_M, STOP_LINE_SETBACK_M, Corridor


def _offset(corr: Corridor, ref_lat: float, ref_lon: float, xy: np.ndarray) -> dict[str, Any]:
    lat, lon = corr.frame.to_latlon(xy[0], xy[1])
    return {"offsetLL": messages.offset_ll(float(lat) - ref_lat, float(lon) - ref_lon)}


def rsi(scenario: Scenario, corr: Corridor, index: int, msg_cnt: int, moy: int, start_moy: int, end_moy: int) -> dict[str, Any]:
    """The RSI the RSU at intersection ``index`` broadcasts (its items must not be empty)."""
    inter = scenario.intersections[index]
    centre, along, _ = roads.intersection_axes(corr, index)
    right = np.array([along[1], -along[0]])
    half_width = LANE_WIDTH_M * inter.lanes_per_direction / 2
    rtes: list[dict[str, Any]] = []
    rtss: list[dict[str, Any]] = []
    upstream = scenario.intersections[index - 1] if index > 0 else None
    for item in inter.traffic_info:
        at = centre - along * max(item.distance_m, STOP_LINE_SETBACK_M) + right * half_width
        path = [
            _offset(corr, inter.lat, inter.lon, at + along * d)
            for d in np.linspace(0, max(item.distance_m - STOP_LINE_SETBACK_M, 1.0), 4)
        ]
        common: dict[str, Any] = {
            "timeDetails": {"startTime": start_moy, "endTime": end_moy},
            "priority": bytes([item.priority << 5]),
            "referencePaths": [{"activePath": path, "pathRadius": round(half_width * 10)}],
        }
        if upstream is not None:
            common["referenceLinks"] = [
                {
                    "upstreamNodeId": {"region": upstream.region, "id": upstream.id},
                    "downstreamNodeId": {"region": inter.region, "id": inter.id},
                }
            ]
        if item.description:
            common["description"] = ("textString", item.description)
        position = _offset(corr, inter.lat, inter.lon, at)
        if item.kind == "event":
            rtes.append(
                {
                    "rteId": len(rtes),
                    "eventType": item.code,
                    "eventSource": item.source,
                    "eventPos": position,
                    "eventRadius": round(item.radius_m * 10),
                    "eventConfidence": 180,
                    **common,
                }
            )
        else:
            rtss.append({"rtsId": len(rtss), "signType": item.code, "signPos": position, **common})
    content: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "moy": moy,
        "id": rsu_octets(inter.rsu_id),
        "refPos": messages.position3d(inter.lat, inter.lon),
    }
    if rtes:
        content["rtes"] = rtes
    if rtss:
        content["rtss"] = rtss
    return content
