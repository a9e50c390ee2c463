"""Content rows of MAP and RSI (about 1 Hz each), from the asn1tools decode.

YD/T 3709 MapData becomes ``map_links`` (one row per inbound link of every node, with the node's
refPos and the link's points: what a map of the intersection is drawn from), ``map_lanes`` (one
row per lane of every inbound link of every node) and ``map_movements`` (one row per movement of a link or connection of a lane, with its phaseId:
what SPAT phases must refer to).  RoadSideInformation becomes ``rsi_items``: one row per traffic
event (RTEData, eventType per GB/T 29100) or traffic sign (RTSData, signType per GB 5768.2).
Values are the raw ASN.1 integers; None where an optional field is not sent.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipeline.decode.reference_rows import bit_string, enum, offset_llv

Record = dict[str, Any]

MAP_LANE_FIELDS = (
    "node_region",
    "node_id",
    "link",
    "upstream_region",
    "upstream_id",
    "link_width",
    "lane",
    "lane_id",
    "lane_width",
    "lane_type",
    "maneuvers",
    "speed_limit_type",
    "speed_limit",
    "connections",
)
MAP_LINK_FIELDS = (
    "node_region",
    "node_id",
    "node_lat",
    "node_lon",
    "link",
    "upstream_region",
    "upstream_id",
    "link_width",
    "lanes",
    "point_lat",
    "point_lon",
)
MAP_MOVEMENT_FIELDS = (
    "node_region",
    "node_id",
    "link",
    "upstream_id",
    "lane_id",
    "remote_region",
    "remote_id",
    "connecting_lane",
    "phase_id",
)
RSI_ITEM_FIELDS = (
    "rsu_id",
    "ref_lat",
    "ref_lon",
    "kind",
    "item_id",
    "event_type",
    "sign_type",
    "event_source",
    "offset_lon",
    "offset_lat",
    "radius",
    "description",
    "start_moy",
    "end_moy",
    "priority",
    "reference_paths",
    "path_points",
    "reference_links",
    "confidence",
)


def _first_limit(limits: list[dict[str, Any]] | None) -> tuple[int | None, int | None]:
    if not limits:
        return None, None
    return enum("SpeedLimitType", limits[0]["type"]), limits[0]["speed"]


LAT_LON = 6  # PositionOffsetLL choice position-LatLon: an absolute position, not an offset


def map_links(m: dict[str, Any]) -> list[Record]:
    """map_links records of one MapData: each inbound link with its node's refPos and its points
    as absolute Latitude/Longitude (1e-7 degree), upstream to downstream.  A RoadPoint's posOffset
    is an offset from the node's reference position (YD/T 3709 RoadPoint), or, position-LatLon,
    the position itself."""
    links: list[Record] = []
    for node in m["nodes"]:
        nid, ref = node["id"], node["refPos"]
        for k, link in enumerate(node.get("inLinks", [])):
            up = link["upstreamNodeId"]
            points = [offset_llv(p["posOffset"]) for p in link.get("points", [])]
            absolute = [(lat, lon) if kind == LAT_LON else (ref["lat"] + lat, ref["long"] + lon) for kind, lon, lat, *_ in points]
            links.append(
                {
                    "node_region": nid.get("region"),
                    "node_id": nid["id"],
                    "node_lat": ref["lat"],
                    "node_lon": ref["long"],
                    "link": k,
                    "upstream_region": up.get("region"),
                    "upstream_id": up["id"],
                    "link_width": link.get("linkWidth"),
                    "lanes": len(link.get("lanes", [])),
                    "point_lat": [lat for lat, _ in absolute],
                    "point_lon": [lon for _, lon in absolute],
                }
            )
    return links


def map_rows(m: dict[str, Any]) -> tuple[list[Record], list[Record]]:
    """(map_lanes records, map_movements records) of one MapData."""
    lanes: list[Record] = []
    movements: list[Record] = []
    for node in m["nodes"]:
        nid = node["id"]
        for k, link in enumerate(node.get("inLinks", [])):
            up = link["upstreamNodeId"]
            base = {"node_region": nid.get("region"), "node_id": nid["id"], "link": k}
            for mv in link.get("movements", []):
                movements.append(
                    {
                        **base,
                        "upstream_id": up["id"],
                        "lane_id": None,
                        "remote_region": mv["remoteIntersection"].get("region"),
                        "remote_id": mv["remoteIntersection"]["id"],
                        "connecting_lane": None,
                        "phase_id": mv.get("phaseId"),
                    }
                )
            link_limit = _first_limit(link.get("speedLimits"))
            for j, lane in enumerate(link["lanes"]):
                limit = _first_limit(lane.get("speedLimits"))
                if limit == (None, None):
                    limit = link_limit
                attrs = lane.get("laneAttributes")
                lanes.append(
                    {
                        **base,
                        "upstream_region": up.get("region"),
                        "upstream_id": up["id"],
                        "link_width": link.get("linkWidth"),
                        "lane": j,
                        "lane_id": lane["laneID"],
                        "lane_width": lane.get("laneWidth"),
                        "lane_type": attrs["laneType"][0] if attrs else None,
                        "maneuvers": bit_string(lane["maneuvers"]) if "maneuvers" in lane else None,
                        "speed_limit_type": limit[0],
                        "speed_limit": limit[1],
                        "connections": len(lane.get("connectsTo", [])),
                    }
                )
                for c in lane.get("connectsTo", []):
                    movements.append(
                        {
                            **base,
                            "upstream_id": up["id"],
                            "lane_id": lane["laneID"],
                            "remote_region": c["remoteIntersection"].get("region"),
                            "remote_id": c["remoteIntersection"]["id"],
                            "connecting_lane": c["connectingLane"]["lane"] if "connectingLane" in c else None,
                            "phase_id": c.get("phaseId"),
                        }
                    )
    return lanes, movements


def _description(d: tuple[str, Any] | None) -> str | None:
    if d is None:
        return None
    kind, value = d
    return value if kind == "textString" else value.decode("gb2312", errors="replace")


def rsi_rows(r: dict[str, Any]) -> list[Record]:
    """rsi_items records of one RoadSideInformation (events first, then signs)."""
    head = {"rsu_id": r["id"].hex(), "ref_lat": r["refPos"]["lat"], "ref_lon": r["refPos"]["long"]}
    items: list[Record] = []
    for kind, key, entries in (("event", "rteId", r.get("rtes", [])), ("sign", "rtsId", r.get("rtss", []))):
        for e in entries:
            pos = e.get("eventPos") or e.get("signPos")
            offset = offset_llv(pos) if pos else [None, None, None]
            times = e.get("timeDetails", {})
            paths = e.get("referencePaths", [])
            items.append(
                {
                    **head,
                    "kind": kind,
                    "item_id": e[key],
                    "event_type": e.get("eventType"),
                    "sign_type": e.get("signType"),
                    "event_source": enum("EventSource", e["eventSource"]) if "eventSource" in e else None,
                    "offset_lon": offset[1],
                    "offset_lat": offset[2],
                    "radius": e.get("eventRadius"),
                    "description": _description(e.get("description")),
                    "start_moy": times.get("startTime"),
                    "end_moy": times.get("endTime"),
                    "priority": e["priority"][0] if "priority" in e else None,
                    "reference_paths": len(paths),
                    "path_points": sum(len(p["activePath"]) for p in paths),
                    "reference_links": len(e.get("referenceLinks", [])),
                    "confidence": e.get("eventConfidence"),
                }
            )
    return items


def _schema(fields: tuple[str, ...], strings: set[str]) -> pa.Schema:
    return pa.schema([("rx_seq", pa.int64())] + [(f, pa.string() if f in strings else pa.int64()) for f in fields])


_LINKS = _schema(MAP_LINK_FIELDS[:-2], set())
SCHEMAS = {
    "map_links": pa.schema([*_LINKS, ("point_lat", pa.list_(pa.int64())), ("point_lon", pa.list_(pa.int64()))]),
    "map_lanes": _schema(MAP_LANE_FIELDS, {"lane_type"}),
    "map_movements": _schema(MAP_MOVEMENT_FIELDS, set()),
    "rsi_items": _schema(RSI_ITEM_FIELDS, {"rsu_id", "kind", "description"}),
}
