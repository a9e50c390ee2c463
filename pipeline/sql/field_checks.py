"""Field validation: named checks of YD/T 3709 / GB/T 45315 rules over the decoded content.

Every check is a SQL query over the content tables (see :mod:`pipeline.sql.views`) returning the
``rx_seq`` of each violating message and a ``detail``.  Message checks look at one message and
run in the ingest on every batch, so their violations are stored with the run
(``RUN/tables/violations``); run checks compare messages with each other (SPAT against MAP,
countdowns over time, RSM against BSM) and run when the views are opened.  Stream checks compare a message with its sender's earlier ones
in arrival order; the ingest judges them with per-sender state (:mod:`pipeline.ingest.signer_rules`)
and stores them with the message checks.  Each check has a
``basis`` as in the compliance profile: ``std`` (read in the standard) and ``derived`` can
FAIL, ``policy`` and ``unverified`` (secondary sources) only WARN.

Values are the raw ASN.1 integers (compliance.md §4.1): secMark ms, speed 0.02 m/s, TimeMark
0.1 s, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class FieldCheck:
    name: str
    msg_type: str
    basis: Literal["std", "derived", "policy", "unverified"]
    source: str
    scope: Literal["message", "stream", "run"]
    tables: tuple[str, ...]  # tables the query reads
    sql: str  # SELECT rx_seq, detail ... ('' for a stream check, judged in Python)


_MISSING_BSM = " || ".join(
    f"CASE WHEN {column} IS NULL THEN '{name} ' ELSE '' END"
    for column, name in (
        ("semi_major", "posAccuracy"),
        ("angle", "angle"),
        ("brake_pedal", "brakes.brakePadel"),
        ("wheel_brakes", "brakes.wheelBrakes"),
        ("traction", "brakes.traction"),
        ("radius_of_curve", "safetyExt.pathPrediction"),
    )
)

CHECKS: tuple[FieldCheck, ...] = (
    FieldCheck(
        "BSM.mandatory_fields",
        "BSM",
        "std",
        "GB/T 45315 table 6: mandatory data elements",
        "message",
        ("bsm",),
        f"SELECT rx_seq, 'missing: ' || trim({_MISSING_BSM}) AS detail FROM bsm WHERE trim({_MISSING_BSM}) <> ''",
    ),
    FieldCheck(
        "BSM.elevation_forbidden",
        "BSM",
        "std",
        "GB/T 45315 table 6: elevation and its confidence are not sent (不选)",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'elevation ' || coalesce(elevation::VARCHAR, '-') || ', elevation confidence ' "
        "|| coalesce(elevation_confidence::VARCHAR, '-') AS detail FROM bsm "
        "WHERE elevation IS NOT NULL OR elevation_confidence IS NOT NULL",
    ),
    FieldCheck(
        "BSM.sec_mark_range",
        "BSM",
        "std",
        "GB/T 45315 7.3.2.3: DSecond in [0, 60999], no invalid value",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'secMark ' || sec_mark AS detail FROM bsm WHERE sec_mark > 60999",
    ),
    FieldCheck(
        "BSM.position_unavailable",
        "BSM",
        "std",
        "GB/T 45315 table 6: latitude/longitude invalid values not allowed",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'lat ' || lat || ', long ' || lon AS detail FROM bsm WHERE lat = 900000001 OR lon = 1800000001",
    ),
    FieldCheck(
        "BSM.speed_range",
        "BSM",
        "std",
        "GB/T 45315 table 6: Speed 0..8190 x 0.02 m/s, unavailable (8191) not allowed",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'speed ' || speed AS detail FROM bsm WHERE speed >= 8191",
    ),
    FieldCheck(
        "BSM.heading_invalid",
        "BSM",
        "std",
        "GB/T 45315 table 6: Heading 28800 is invalid",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'heading ' || heading AS detail FROM bsm WHERE heading >= 28800",
    ),
    FieldCheck(
        "BSM.size_invalid",
        "BSM",
        "std",
        "YD/T 3709 VehicleWidth/VehicleLength: 0 is invalid",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'width ' || width || ' cm, length ' || length || ' cm' AS detail FROM bsm WHERE width = 0 OR length = 0",
    ),
    FieldCheck(
        "BSM.path_history_points",
        "BSM",
        "std",
        "GB/T 45315 7.3.2.16: at most 15 path history points",
        "message",
        ("bsm",),
        "SELECT rx_seq, path_points || ' points' AS detail FROM bsm WHERE path_points > 15",
    ),
    FieldCheck(
        "BSM.path_prediction_slow",
        "BSM",
        "std",
        "GB/T 45315 7.3.2.17: below 1 m/s radiusOfCurve is 32767 (straight) with confidence 200",
        "message",
        ("bsm",),
        "SELECT rx_seq, 'speed ' || speed || ', radius ' || radius_of_curve || ', confidence ' || prediction_confidence AS detail "
        "FROM bsm WHERE speed < 50 AND (radius_of_curve <> 32767 OR prediction_confidence <> 200)",
    ),
    FieldCheck(
        "BSM.dsecond_freshness",
        "BSM",
        "std",
        "GB/T 45315 7.3.2.3: secMark within 150 ms of the SPDU generationTime",
        "message",
        ("bsm", "messages"),
        "SELECT rx_seq, 'secMark ' || sec_mark || ' vs generationTime ' || g || ' ms in the minute' AS detail FROM ("
        "  SELECT b.rx_seq, b.sec_mark, (epoch_ms(m.generated_at) % 60000)::BIGINT AS g FROM bsm b JOIN messages m USING (rx_seq)"
        "  WHERE m.generated_at IS NOT NULL AND b.sec_mark < 60000)"
        " WHERE abs(((sec_mark - g) % 60000 + 90000) % 60000 - 30000) > 150",
    ),
    FieldCheck(
        "SPAT.timestamp_freshness",
        "SPAT",
        "policy",
        "SPAT timeStamp (DSecond) within 150 ms of the SPDU generationTime (the BSM rule of GB/T 45315 7.3.2.3, applied by policy)",
        "message",
        ("spat", "messages"),
        "SELECT rx_seq, 'timeStamp ' || time_stamp || ' vs generationTime ' || g || ' ms in the minute' AS detail FROM ("
        "  SELECT s.rx_seq, s.time_stamp, (epoch_ms(m.generated_at) % 60000)::BIGINT AS g FROM spat s JOIN messages m USING (rx_seq)"
        "  WHERE m.generated_at IS NOT NULL AND s.time_stamp < 60000)"
        " WHERE abs(((time_stamp - g) % 60000 + 90000) % 60000 - 30000) > 150",
    ),
    FieldCheck(
        "SPAT.timing_order",
        "SPAT",
        "policy",
        "YD/T 3709 TimeCountingDown semantics: minEndTime <= likelyEndTime <= maxEndTime (36001 unknown)",
        "message",
        ("spat_phase_states",),
        "SELECT DISTINCT rx_seq, 'phase ' || phase_id || ' state ' || state || ': min ' || coalesce(min_end_time::VARCHAR, '-') "
        "|| ' likely ' || likely_end_time || ' max ' || coalesce(max_end_time::VARCHAR, '-') AS detail FROM spat_phase_states "
        "WHERE likely_end_time <> 36001 AND ((min_end_time IS NOT NULL AND min_end_time <> 36001 AND min_end_time > likely_end_time) "
        "OR (max_end_time IS NOT NULL AND max_end_time <> 36001 AND likely_end_time > max_end_time))",
    ),
    FieldCheck(
        "SPAT.phase_id_unavailable",
        "SPAT",
        "std",
        "YD/T 3709 PhaseID: 0 means unavailable",
        "message",
        ("spat_phase_states",),
        "SELECT DISTINCT rx_seq, 'node ' || node_id || ' phase 0' AS detail FROM spat_phase_states WHERE phase_id = 0",
    ),
    FieldCheck(
        "RSM.self_entry",
        "RSM",
        "unverified",
        "T/CSAE 159-2020: the RSU itself is a participant with ptcId 0",
        "message",
        ("rsm", "rsm_participants"),
        "SELECT rx_seq, 'no rsu participant with ptcId 0' AS detail FROM rsm WHERE rx_seq NOT IN "
        "(SELECT rx_seq FROM rsm_participants WHERE ptc_type = 4 AND ptc_id = 0)",
    ),
    FieldCheck(
        "RSM.ptc_id_unique",
        "RSM",
        "unverified",
        "T/CSAE 159-2020: detected participants have ptcId 1..255, unique per RSU",
        "message",
        ("rsm_participants",),
        "SELECT rx_seq, 'ptcId ' || ptc_id || ' x' || count(*) AS detail FROM rsm_participants WHERE ptc_type <> 4 "
        "GROUP BY rx_seq, ptc_id HAVING count(*) > 1 OR ptc_id NOT BETWEEN 1 AND 255",
    ),
    FieldCheck(
        "RSM.participant_age",
        "RSM",
        "policy",
        "compliance profile: a participant's secMark is at most 100 ms (the VRUCW latency budget) before the RSU's own "
        "entry and not more than 150 ms after it; no normative value read",
        "message",
        ("rsm_participants",),
        "SELECT p.rx_seq, 'ptcId ' || p.ptc_id || ' secMark ' || p.sec_mark || ' vs RSU ' || r.sec_mark AS detail "
        "FROM rsm_participants p JOIN rsm_participants r ON r.rx_seq = p.rx_seq AND r.ptc_type = 4 AND r.ptc_id = 0 "
        "WHERE p.ptc_type <> 4 AND p.sec_mark < 60000 AND r.sec_mark < 60000 "
        "AND ((r.sec_mark - p.sec_mark) % 60000 + 90000) % 60000 - 30000 NOT BETWEEN -150 AND 100",
    ),
    FieldCheck(
        "RSI.priority_low_bits",
        "RSI",
        "std",
        "YD/T 3709 RSIPriority: the lower five bits are 0",
        "message",
        ("rsi_items",),
        "SELECT DISTINCT rx_seq, kind || ' ' || item_id || ' priority ' || priority AS detail FROM rsi_items WHERE priority & 31 <> 0",
    ),
    FieldCheck(
        "RSI.time_window",
        "RSI",
        "policy",
        "RSITimeDetails: startTime not after endTime",
        "message",
        ("rsi_items",),
        "SELECT DISTINCT rx_seq, kind || ' ' || item_id || ': ' || start_moy || ' > ' || end_moy AS detail FROM rsi_items "
        "WHERE start_moy > end_moy",
    ),
    FieldCheck(
        "MAP.lane_id_reserved",
        "MAP",
        "std",
        "YD/T 3709 LaneID: 0 unknown, 255 reserved",
        "message",
        ("map_lanes",),
        "SELECT DISTINCT rx_seq, 'node ' || node_id || ' lane ' || lane_id AS detail FROM map_lanes WHERE lane_id IN (0, 255)",
    ),
    FieldCheck(
        "MAP.node_id_test_range",
        "MAP",
        "policy",
        "YD/T 3709 NodeID: 0..255 are reserved for testing",
        "message",
        ("map_lanes",),
        "SELECT DISTINCT rx_seq, 'node ' || node_id AS detail FROM map_lanes WHERE node_id <= 255",
    ),
    FieldCheck(
        "MAP.lane_id_unique",
        "MAP",
        "policy",
        "YD/T 3709 ConnectingLane names a lane by its LaneID, so lane IDs are unique within a link",
        "message",
        ("map_lanes",),
        "SELECT rx_seq, 'node ' || node_id || ' link ' || link || ' lane ' || lane_id || ' x' || count(*) AS detail "
        "FROM map_lanes GROUP BY rx_seq, node_region, node_id, link, lane_id HAVING count(*) > 1",
    ),
    FieldCheck(
        "MAP.connection_target",
        "MAP",
        "policy",
        "YD/T 3709 Movement/Connection: remoteIntersection is the downstream node; where its MAP is received it has an "
        "inbound link from this node, holding the connectingLane if one is named",
        "run",
        ("map_movements", "map_lanes"),
        "SELECT DISTINCT m.rx_seq, 'node ' || m.node_id || ' -> ' || m.remote_id || coalesce(' lane ' || m.connecting_lane, '') "
        "|| ': no such inbound link' AS detail FROM map_movements m "
        "WHERE EXISTS (SELECT 1 FROM map_lanes l WHERE l.node_id = m.remote_id AND l.node_region IS NOT DISTINCT FROM m.remote_region) "
        "AND NOT EXISTS (SELECT 1 FROM map_lanes l WHERE l.node_id = m.remote_id AND l.node_region IS NOT DISTINCT FROM m.remote_region "
        "AND l.upstream_id = m.node_id AND l.upstream_region IS NOT DISTINCT FROM m.node_region "
        "AND (m.connecting_lane IS NULL OR l.lane_id = m.connecting_lane))",
    ),
    FieldCheck(
        "SPAT.phase_in_map",
        "SPAT",
        "policy",
        "compliance profile: every SPAT phaseId is referenced by a MAP movement or connection of that intersection",
        "run",
        ("spat_phase_states", "map_movements"),
        "SELECT DISTINCT s.rx_seq, 'node ' || s.node_id || ' phase ' || s.phase_id || ' not in its MAP' AS detail "
        "FROM spat_phase_states s WHERE s.node_id IN (SELECT node_id FROM map_movements) AND NOT EXISTS "
        "(SELECT 1 FROM map_movements m WHERE m.node_id = s.node_id AND m.phase_id = s.phase_id)",
    ),
    FieldCheck(
        "SPAT.countdown_monotonic",
        "SPAT",
        "policy",
        "compliance profile: the current state's likelyEndTime does not go up between consecutive SPATs (1 tick allowed; "
        "frames failing verification, such as replays, are left out)",
        "run",
        ("spat_phase_states",),
        "SELECT rx_seq, 'node ' || node_id || ' phase ' || phase_id || ': likely end ' || prev || ' -> ' || likely_end_time AS detail "
        "FROM (SELECT rx_seq, sender_id, node_id, phase_id, light, likely_end_time, "
        "  lag(likely_end_time) OVER w AS prev, lag(light) OVER w AS prev_light "
        "  FROM spat_phase_states WHERE state = 0 AND timing_kind = 0 AND auth IN ('success', 'not_verified', 'unsigned_message') "
        "  WINDOW w AS (PARTITION BY sender_id, node_id, phase_id ORDER BY received_at, rx_seq)) "
        "WHERE light = prev_light AND likely_end_time <> 36001 AND prev <> 36001 AND likely_end_time > prev + 1",
    ),
    FieldCheck(
        "BSM.event_certificate",
        "BSM",
        "std",
        "GB/T 45315 7.4.3.5: a BSM with an event flag set carries the full certificate",
        "message",
        ("messages", "bsm"),
        "SELECT b.rx_seq, 'events ' || b.events || ' signed with a digest' AS detail FROM bsm b JOIN messages m USING (rx_seq) "
        "WHERE coalesce(b.events, 0) <> 0 AND m.signer_kind = 'digest'",
    ),
    FieldCheck(
        "BSM.event_aid",
        "BSM",
        "policy",
        "GB/T 45315 AIDs: regular BSM 111 (113 emergency vehicle), event BSM 112 (114); an event BSM is read as one "
        "with an event flag set",
        "message",
        ("messages", "bsm"),
        "SELECT b.rx_seq, 'AID ' || m.aid || CASE WHEN coalesce(b.events, 0) <> 0 THEN ' with' ELSE ' without' END "
        "|| ' event flags' AS detail FROM bsm b JOIN messages m USING (rx_seq) "
        "WHERE (coalesce(b.events, 0) <> 0 AND m.aid IN (111, 113)) OR (coalesce(b.events, 0) = 0 AND m.aid IN (112, 114))",
    ),
    FieldCheck(
        "BSM.certificate_interval",
        "BSM",
        "std",
        "GB/T 45315 7.4.3.5: the full certificate again once 450 ms have passed since the last one (judged where no "
        "message of that certificate was lost in between)",
        "stream",
        ("messages",),
        "",
    ),
    FieldCheck(
        "BSM.pseudonym_change",
        "BSM",
        "std",
        "GB/T 45315 7.4.5: the temporary id changes with the pseudonym certificate and only with it",
        "stream",
        ("messages", "bsm"),
        "",
    ),
    FieldCheck(
        "BSM.pseudonym_lifetime",
        "BSM",
        "std",
        "GB/T 45315 7.4.5: a pseudonym is used at most 300 s unless the vehicle is within 2100 m (+/- 100 m) of where it "
        "took it or an event flag is set (1 s allowed for the change)",
        "stream",
        ("messages", "bsm"),
        "",
    ),
    FieldCheck(
        "RSM.v2x_id_matches_bsm",
        "RSM",
        "unverified",
        "T/CSAE 159-2020: a participant reported from V2X carries the id of that vehicle's BSM",
        "run",
        ("rsm_participants", "bsm"),
        "SELECT DISTINCT rx_seq, 'ptcId ' || ptc_id || ' id ' || coalesce(id, 'absent') AS detail FROM rsm_participants "
        "WHERE source = 2 AND (id IS NULL OR id NOT IN (SELECT id FROM bsm))",
    ),
)

# Day-II request / response flows (T/CSAE 157-2020 VIR and RSC).  A request is a vehicle's
# (vehicle_id) DriveRequest of one kind for one target; only frames that may be believed count.
_BELIEVED = "auth IN ('success', 'not_verified', 'unsigned_message')"
_TARGET = (
    "kind || coalesce(' ' || intersection_region || '/' || intersection_id, '') "
    "|| coalesce(' ' || upstream_id || '-' || downstream_id, '')"
)
# The latency of each request kind's application (T/CSAE 157-2020 application table, compliance.md 1.2):
# CHPVP signal priority and clear the way 100 ms, CLC lane change 50 ms, GSPA parking 100 ms, SDS 100 ms.
ANSWER_WITHIN_MS = {"signalPriority": 100, "clearTheWay": 100, "laneChange": 50, "parking": 100, "sensorSharing": 100}
_LIMITS = ", ".join(f"('{kind}', {ms})" for kind, ms in ANSWER_WITHIN_MS.items())
PRIORITY_CLASSES = (
    50,
    78,
)  # policy: BasicVehicleClass transit 50-59 and emergency 60-69 (T/CSAE 53), public bus 70-78 (GB/T 45315)

DAY_II_CHECKS: tuple[FieldCheck, ...] = (
    FieldCheck(
        "VIR.req_id_kept",
        "VIR",
        "std",
        "T/CSAE 157-2020 VIR DriveRequest: the same request in serial VIR messages keeps the same reqID (a request "
        "of the same kind and target, open in the vehicle's previous VIR, under another reqID)",
        "run",
        ("vir", "vir_requests"),
        f"WITH r AS (SELECT rx_seq, req_id, status, {_TARGET} AS target FROM vir_requests WHERE {_BELIEVED}), "
        f"v AS (SELECT rx_seq, lag(rx_seq) OVER (PARTITION BY sender_id, vehicle_id ORDER BY received_at, rx_seq) AS prev FROM vir WHERE {_BELIEVED}) "
        "SELECT DISTINCT r.rx_seq, r.target || ': reqID ' || p.req_id || ' -> ' || r.req_id AS detail "
        "FROM r JOIN v USING (rx_seq) JOIN r p ON p.rx_seq = v.prev AND p.target = r.target "
        "WHERE r.status IN ('request', 'comfirmed') AND p.status IN ('request', 'comfirmed') AND p.req_id <> r.req_id "
        "AND NOT EXISTS (SELECT 1 FROM r q WHERE q.rx_seq = v.prev AND q.target = r.target AND q.req_id = r.req_id)",
    ),
    FieldCheck(
        "VIR.request_answered",
        "VIR",
        "derived",
        "T/CSAE 157-2020 application table: a request is answered (an RSC VehicleCoordination for the vehicle, from "
        "the RSU the request names in targetRSU if it names one, or a PAM ParkingGuide for the vehicle) within its "
        "application's latency, from its first VIR: CHPVP 100 ms, CLC 50 ms, GSPA 100 ms, SDS 100 ms (requests too near "
        "the end of the run to be answered in it are not judged)",
        "run",
        ("vir_requests", "rsc_vehicles", "pam_guidance", "messages"),
        f"WITH q AS (SELECT r.vehicle_id, r.req_id, r.kind, r.target_rsu, min(m.generated_at) AS t0, "
        f"  arg_min(r.rx_seq, m.generated_at) AS rx_seq "
        f"  FROM vir_requests r JOIN messages m USING (rx_seq) WHERE r.status = 'request' AND r.{_BELIEVED} GROUP BY ALL), "
        f"a AS (SELECT c.vehicle_id, c.rsu_id, m.generated_at FROM rsc_vehicles c JOIN messages m USING (rx_seq) WHERE c.{_BELIEVED} "
        f"  UNION ALL SELECT g.vehicle_id, NULL, m.generated_at FROM pam_guidance g JOIN messages m USING (rx_seq) WHERE g.{_BELIEVED}), "
        f"l(kind, ms) AS (VALUES {_LIMITS}), "
        "e AS (SELECT max(generated_at) AS t FROM messages) "
        "SELECT q.rx_seq, q.kind || ' reqID ' || q.req_id || ': no answer within ' || l.ms || ' ms' "
        "|| coalesce(' from RSU ' || q.target_rsu, '') AS detail "
        "FROM q JOIN l USING (kind) CROSS JOIN e WHERE q.t0 + to_milliseconds(l.ms) <= e.t AND NOT EXISTS "
        "(SELECT 1 FROM a WHERE a.vehicle_id = q.vehicle_id AND a.generated_at BETWEEN q.t0 AND q.t0 + to_milliseconds(l.ms) "
        "AND (q.target_rsu IS NULL OR a.rsu_id IS NULL OR a.rsu_id = q.target_rsu))",
    ),
    FieldCheck(
        "VIR.life_time",
        "VIR",
        "std",
        "T/CSAE 157-2020 VIR DriveRequest lifeTime (from the secMark of its message): a request is not sent as request "
        "or comfirmed after the lifeTime its first message gave it (10 ms allowed)",
        "run",
        ("vir_requests", "messages"),
        f"WITH r AS (SELECT r.rx_seq, r.vehicle_id, r.req_id, {_TARGET} AS target, r.status, r.life_time, m.generated_at "
        f"  FROM vir_requests r JOIN messages m USING (rx_seq) WHERE r.{_BELIEVED}), "
        "f AS (SELECT vehicle_id, req_id, target, arg_min(generated_at + to_milliseconds(life_time * 10), generated_at) AS expires "
        "  FROM r WHERE life_time IS NOT NULL GROUP BY ALL) "
        "SELECT r.rx_seq, r.target || ' reqID ' || r.req_id || ' ' || r.status || ' ' "
        "|| round(epoch_ms(r.generated_at) - epoch_ms(f.expires)) || ' ms after its lifeTime' AS detail "
        "FROM r JOIN f USING (vehicle_id, req_id, target) "
        "WHERE r.status IN ('request', 'comfirmed') AND r.generated_at > f.expires + to_milliseconds(10)",
    ),
    FieldCheck(
        "RSC.priority_class",
        "RSC",
        "policy",
        f"compliance profile: signal priority is granted (an RSC answer with info signalPriority whose suggestion is not "
        f"stop-and-go) only to vehicles whose BSM vehicle class is transit or emergency ({PRIORITY_CLASSES[0]}-{PRIORITY_CLASSES[1]}: "
        "T/CSAE 53 transit 50-59 and emergency 60-69, GB/T 45315 public bus 70-78)",
        "run",
        ("rsc_vehicles", "bsm"),
        "SELECT DISTINCT c.rx_seq, 'vehicle ' || c.vehicle_id || ' of class ' || b.vehicle_class || ' granted priority' AS detail "
        "FROM rsc_vehicles c JOIN (SELECT DISTINCT id, vehicle_class FROM bsm) b ON b.id = c.vehicle_id "
        "WHERE list_contains(c.info, 'signalPriority') AND NOT list_contains(coalesce(c.suggestion, []), 'stop-and-go') "
        f"AND b.vehicle_class NOT BETWEEN {PRIORITY_CLASSES[0]} AND {PRIORITY_CLASSES[1]}",
    ),
    FieldCheck(
        "RSC.answer_requested",
        "RSC",
        "policy",
        "T/CSAE 157-2020 RSC VehicleCoordination with info signalPriority: an answer to a vehicle that asked for signal "
        "priority in a VIR of the run",
        "run",
        ("rsc_vehicles", "vir_requests"),
        "SELECT DISTINCT rx_seq, 'vehicle ' || vehicle_id || ' never asked for signal priority' AS detail FROM rsc_vehicles "
        "WHERE list_contains(info, 'signalPriority') "
        "AND vehicle_id NOT IN (SELECT vehicle_id FROM vir_requests WHERE kind = 'signalPriority')",
    ),
)
SSM_RSM_PAIR_MS = 100  # policy: an RSU's SSM and RSM of the same moment are at most one 10 Hz period apart
SSM_CHECKS: tuple[FieldCheck, ...] = (
    FieldCheck(
        "SSM.covers_rsm",
        "SSM",
        "std",
        "T/CSAE 157-2020 SSM: an RSU's SSM fully covers the information of its RSM (and may replace it): every "
        f"participant of an RSM (not the RSU's own entry) is among the participants of an SSM of the RSU within "
        f"{SSM_RSM_PAIR_MS} ms of it (policy: one 10 Hz period, so that an object entering or leaving view between the "
        "two is not counted); RSMs with no SSM of the RSU that near are not judged",
        "run",
        ("rsm_participants", "ssm", "ssm_objects", "messages"),
        f"WITH r AS (SELECT p.rx_seq, p.ptc_id, m.sender_id, m.generated_at FROM rsm_participants p JOIN messages m "
        f"  USING (rx_seq) WHERE p.ptc_type <> 4 AND p.{_BELIEVED}), "
        "rs AS (SELECT DISTINCT rx_seq, sender_id, generated_at FROM r), "
        f"s AS (SELECT s.rx_seq, m.sender_id, m.generated_at FROM ssm s JOIN messages m USING (rx_seq) "
        f"  WHERE s.equipment_type = 'rsu' AND s.{_BELIEVED}), "
        "pair AS (SELECT rs.rx_seq AS rsm_seq, s.rx_seq AS ssm_seq FROM rs JOIN s ON s.sender_id = rs.sender_id "
        f"  AND abs(epoch_ms(s.generated_at) - epoch_ms(rs.generated_at)) <= {SSM_RSM_PAIR_MS}), "
        "o AS (SELECT pair.rsm_seq, min(pair.ssm_seq) AS ssm_seq, list(DISTINCT x.object_id) AS ids FROM pair "
        "  LEFT JOIN ssm_objects x ON x.rx_seq = pair.ssm_seq AND x.object = 'participant' GROUP BY pair.rsm_seq) "
        "SELECT DISTINCT o.ssm_seq AS rx_seq, 'ptcId ' || r.ptc_id || ' of RSM rx_seq ' || r.rx_seq || ' in no SSM within "
        f"{SSM_RSM_PAIR_MS} ms' AS detail "
        "FROM o JOIN r ON r.rx_seq = o.rsm_seq WHERE NOT list_contains(o.ids, r.ptc_id)",
    ),
)

# Valet parking (GSPA): a PAM's guidance and its slots' status against the cars' requests.
PAM_SETTLE_MS = 1500  # policy: a car that parked shows as occupied in the PAMs from 1.5 s on (sensing, two 2 Hz PAMs)
PARKING_CHECKS: tuple[FieldCheck, ...] = (
    FieldCheck(
        "PAM.guidance_to_free_slot",
        "PAM",
        "derived",
        "T/CSAE 157-2020 PAM ParkingGuide: the targetParkingSlot lies beside the path's last drive (the drive from its "
        "second-last node into its last); GSPA: the path ends at a free slot, so the first PAM giving a vehicle a slot "
        "shows it available or reserved",
        "run",
        ("pam_guidance", "pam_slots", "messages"),
        f"WITH g AS (SELECT g.rx_seq, g.lot_id, g.vehicle_id, g.path, g.target_slot, m.generated_at "
        f"  FROM pam_guidance g JOIN messages m USING (rx_seq) WHERE g.target_slot IS NOT NULL AND g.{_BELIEVED}), "
        "f AS (SELECT lot_id, vehicle_id, target_slot, arg_min(rx_seq, generated_at) AS rx_seq, "
        "  arg_min(path, generated_at) AS path FROM g GROUP BY ALL) "
        "SELECT f.rx_seq, 'vehicle ' || f.vehicle_id || ' guided to slot ' || f.target_slot || CASE "
        "  WHEN s.slot_id IS NULL THEN ', which the PAM does not list' "
        "  WHEN s.status NOT IN ('available', 'reserved') THEN ', which the PAM shows ' || s.status "
        "  ELSE ' on the drive ' || s.upstream_node_id || '->' || s.node_id || ', not beside the path''s last drive "
        "' || array_to_string(f.path[-2:], '->') END AS detail "
        "FROM f LEFT JOIN pam_slots s ON s.rx_seq = f.rx_seq AND s.slot_id = f.target_slot "
        "WHERE s.slot_id IS NULL OR s.status NOT IN ('available', 'reserved') OR len(f.path) < 2 "
        "OR s.node_id <> f.path[-1] OR s.upstream_node_id <> f.path[-2]",
    ),
    FieldCheck(
        "PAM.slot_status_parked",
        "PAM",
        "derived",
        "T/CSAE 157-2020 PAM SlotStatus; GSPA: the slot status agrees with the cars that parked: a slot a car was guided "
        "to and parked in (its VIR parking request complete, with the slot as expectedParkingSlotID) is occupied in every "
        f"PAM of that car park from {PAM_SETTLE_MS} ms after (policy) until the car asks again",
        "run",
        ("vir_requests", "pam_guidance", "pam_slots", "messages"),
        f"WITH p AS (SELECT r.vehicle_id, r.req_id, r.slot_id, min(m.generated_at) AS parked_at "
        f"  FROM vir_requests r JOIN messages m USING (rx_seq) WHERE r.status = 'complete' AND list_contains(r.parking, 'park') "
        f"  AND r.slot_id IS NOT NULL AND r.{_BELIEVED} GROUP BY ALL), "
        "lot AS (SELECT DISTINCT vehicle_id, target_slot AS slot_id, lot_id FROM pam_guidance WHERE target_slot IS NOT NULL), "
        "nxt AS (SELECT p.vehicle_id, p.req_id, min(m.generated_at) AS t FROM p JOIN vir_requests r "
        "  ON r.vehicle_id = p.vehicle_id AND r.req_id <> p.req_id AND r.status = 'request' JOIN messages m ON m.rx_seq = r.rx_seq "
        "  WHERE m.generated_at > p.parked_at GROUP BY ALL), "
        f"s AS (SELECT s.rx_seq, s.lot_id, s.slot_id, s.status, m.generated_at FROM pam_slots s JOIN messages m USING (rx_seq) "
        f"  WHERE s.{_BELIEVED}) "
        "SELECT s.rx_seq, 'slot ' || s.slot_id || ' ' || s.status || ' ' || round(epoch_ms(s.generated_at) - epoch_ms(p.parked_at)) "
        "|| ' ms after vehicle ' || p.vehicle_id || ' parked in it' AS detail "
        "FROM p JOIN lot USING (vehicle_id, slot_id) LEFT JOIN nxt USING (vehicle_id, req_id) "
        "JOIN s ON s.lot_id = lot.lot_id AND s.slot_id = p.slot_id "
        f"WHERE s.generated_at >= p.parked_at + to_milliseconds({PAM_SETTLE_MS}) AND (nxt.t IS NULL OR s.generated_at < nxt.t) "
        "AND s.status <> 'occupied'",
    ),
    FieldCheck(
        "RTCM.frame",
        "RTCM",
        "std",
        "RTCM 10403.3 4 and T/CSAE 157-2020 RTCMmsg: an RTCM 3 payload is one whole transport frame (preamble 0xD3, "
        "length, CRC-24Q) and its message number (DF002) is the rtcmID",
        "message",
        ("rtcm",),
        "SELECT rx_seq, 'correction ' || correction || ': ' || coalesce(frame_problem, 'rtcmID ' || rtcm_id || ', but the "
        "frame holds message ' || message_number) AS detail FROM rtcm "
        "WHERE frame_problem IS NOT NULL OR message_number <> rtcm_id",
    ),
)
# The Day-II additions to MAP (T/CSAE 157-2020 Map: LinkEx, Section).
MAP_ADDITION_CHECKS: tuple[FieldCheck, ...] = (
    FieldCheck(
        "MAP.section_ids",
        "MAP",
        "std",
        "T/CSAE 157-2020 Map Section: secId is given from upstream to downstream 1, 2, 3 ... in sequence, so a link's "
        "sections are numbered 1..n without gaps and, where their lanes give st-points, each starts where the one "
        "before it ends or later along the reference line",
        "message",
        ("map_sections",),
        "WITH s AS (SELECT rx_seq, node_id, link, section_id, min(s_from) AS s_from, max(s_to) AS s_to FROM map_sections "
        "  GROUP BY ALL), "
        "l AS (SELECT rx_seq, node_id, link, list(section_id ORDER BY section_id) AS ids, "
        "  list(s_from ORDER BY section_id) AS starts, list(s_to ORDER BY section_id) AS ends FROM s GROUP BY ALL) "
        "SELECT rx_seq, 'node ' || node_id || ' link ' || link || ': ' || CASE WHEN ids <> range(1, len(ids) + 1) "
        "  THEN 'sections numbered ' || array_to_string(ids, ',') ELSE 'a section starts before the one upstream of it ends' "
        "  END AS detail FROM l "
        "WHERE ids <> range(1, len(ids) + 1) "
        "OR len(list_filter(range(2, len(ids) + 1), lambda k: starts[k] < ends[k - 1])) > 0",
    ),
)
CHECKS = CHECKS + DAY_II_CHECKS + SSM_CHECKS + PARKING_CHECKS + MAP_ADDITION_CHECKS

CHECKS_BY_NAME = {c.name: c for c in CHECKS}
VIOLATIONS_SCHEMA = pa.schema([("rx_seq", pa.int64()), ("check_name", pa.string()), ("detail", pa.string())])


def union_sql(checks: list[FieldCheck]) -> str:
    """One query returning (rx_seq, check_name, detail) for all ``checks``: one row per message
    and check, the details of several offending items joined with '; '."""
    return " UNION ALL ".join(
        f"SELECT rx_seq, '{c.name}' AS check_name, string_agg(detail, '; ' ORDER BY detail) AS detail FROM ({c.sql}) GROUP BY rx_seq"
        for c in checks
    )


def checks_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for :func:`message_violations`, to keep across batches: one thread,
    since a batch is small and the ingest's other cores verify signatures."""
    return duckdb.connect(config={"threads": 1})


def message_violations(tables: dict[str, pa.Table], con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Violations of the message checks among one batch's tables (``messages`` and content),
    in ``con`` (see :func:`checks_connection`; a new one if None)."""
    checks = [c for c in CHECKS if c.scope == "message" and all(t in tables for t in c.tables)]
    if not checks:
        return VIOLATIONS_SCHEMA.empty_table()
    con = con or checks_connection()
    for name, table in tables.items():
        con.register(name, table)
    try:
        result = con.sql(union_sql(checks)).to_arrow_table()
    finally:
        for name in tables:
            con.unregister(name)
    return result.cast(VIOLATIONS_SCHEMA)
