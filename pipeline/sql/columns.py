"""What every view and column of the SQL interface means, with its unit.

The views carry these texts as DuckDB comments (``COMMENT ON``), so ``.describe bsm`` in
``v2x sql`` and ``duckdb_columns()`` show them, and the SQL reference in ``docs/sql.md`` is made
from them (``python -m pipeline.sql.columns``).  Raw ASN.1 values keep the message set's names and
units (YD/T 3709-2020 clause 6 data elements, the same as T/CSAE 53-2020 and SAE J2735); a column
in physical units says so in its name (``lat_deg``, ``speed_mps``, ``likely_end_s``).
"""

from __future__ import annotations

import duckdb

# YD/T 3709-2020 data elements, as the content tables store them (raw; "n = unavailable" is the
# value the message set reserves for it).
_DE = {
    "msg_cnt": "MsgCount 0..127, the sender's message counter (mod 128)",
    "sec_mark": "DSecond: ms within the minute, 0..59999 (65535 = unavailable)",
    "time_confidence": "TimeConfidence (enumeration index)",
    "lat": "Latitude, 1e-7 degree (900000001 = unavailable); lat_deg is in degrees",
    "lon": "Longitude, 1e-7 degree (1800000001 = unavailable); lon_deg is in degrees",
    "elevation": "Elevation, 0.1 m (-4096 = unavailable)",
    "semi_major": "PositionalAccuracy semiMajor, 0.05 m (255 = unavailable)",
    "semi_minor": "PositionalAccuracy semiMinor, 0.05 m (255 = unavailable)",
    "orientation": "PositionalAccuracy semiMajorOrientation, 0.0054932479 degree from north (65535 = unavailable)",
    "pos_confidence": "PositionConfidence (enumeration index; 0 = unavailable)",
    "elevation_confidence": "ElevationConfidence (enumeration index; 0 = unavailable)",
    "transmission": "TransmissionState (0 neutral, 1 park, 2 forward, 3 reverse, 7 unavailable)",
    "speed": "Speed, 0.02 m/s (8191 = unavailable); speed_mps is in m/s",
    "heading": "Heading, 0.0125 degree from north (28800 = unavailable)",
    "angle": "SteeringWheelAngle, 1.5 degree (127 = unavailable)",
    "speed_confidence": "SpeedConfidence (enumeration index)",
    "heading_confidence": "HeadingConfidence (enumeration index)",
    "steer_confidence": "SteeringWheelAngleConfidence (enumeration index)",
    "accel_long": "AccelerationSet4Way long, 0.01 m/s² (2001 = unavailable)",
    "accel_lat": "AccelerationSet4Way lat, 0.01 m/s² (2001 = unavailable)",
    "accel_vert": "AccelerationSet4Way vert, 0.02 G (-127 = unavailable)",
    "yaw_rate": "AccelerationSet4Way yaw, YawRate 0.01 degree/s",
    "width": "VehicleWidth, cm",
    "length": "VehicleLength, cm",
    "height": "VehicleHeight, 5 cm",
    "vehicle_class": "BasicVehicleClass 0..255 (10 passenger car, 20 light truck, 60 bus, ...)",
    "fuel_type": "FuelType 0..15",
    "offset_kind": "PositionOffsetLL choice: 0..5 position-LL1..LL6 (offsets), 6 position-LatLon (absolute)",
    "offset_lon": "longitude offset (or absolute longitude for offset_kind 6), 1e-7 degree",
    "offset_lat": "latitude offset (or absolute latitude for offset_kind 6), 1e-7 degree",
    "vert_kind": "VerticalOffset choice index (0..5 offset1..offset6, 6 elevation)",
    "vert": "VerticalOffset, 0.1 m (an Elevation for vert_kind 6)",
}
for _k in ("pos_confidence", "elevation_confidence", "time_confidence", "speed_confidence", "heading_confidence"):
    _DE["initial_" + _k] = "initialPosition " + _DE[_k]
_DE |= {
    "initial_steer_confidence": "initialPosition " + _DE["steer_confidence"],
    "initial_year": "initialPosition utcTime DYear",
    "initial_month": "initialPosition utcTime DMonth 1..12",
    "initial_day": "initialPosition utcTime DDay 1..31",
    "initial_hour": "initialPosition utcTime DHour 0..23",
    "initial_minute": "initialPosition utcTime DMinute 0..59",
    "initial_second": "initialPosition utcTime DSecond, ms within the minute",
    "initial_offset": "initialPosition utcTime DTimeOffset, minutes from UTC",
    "initial_lat": "initialPosition Latitude, 1e-7 degree",
    "initial_lon": "initialPosition Longitude, 1e-7 degree",
    "initial_elevation": "initialPosition Elevation, 0.1 m",
    "initial_heading": "initialPosition Heading, 0.0125 degree",
    "initial_transmission": "initialPosition TransmissionState",
    "initial_speed": "initialPosition Speed, 0.02 m/s",
}

# What the views join onto every content row from its message (the ``messages`` row).
_JOINED = {
    "rx_seq": "the key of the message's row in messages (per run)",
    "sender_id": "the device that sent the message (from the topic; a vendor wrapper's RSU id)",
    "received_at": "when the ingest received the frame (TIMESTAMP WITH TIME ZONE)",
    "latency_ms": "received_at - generated_at, ms (NULL without a send time)",
    "auth": "verification verdict of the frame (success, false_signature, ..., not_verified)",
}

_TELEMETRY = {
    "rx_seq": "the row's key: receive order within the run, from 0",
    "received_at": "when the ingest received the frame (TIMESTAMP WITH TIME ZONE)",
    "generated_at": "send time: SPDU generationTime (Time64, TAI) as UTC; a vendor wrapper's UTC ms; "
    "a cloud JSON document's time; NULL for framings without one",
    "latency_ms": "received_at - generated_at, ms",
    "topic": "the MQTT topic the frame came on",
    "device_kind": "obu or rsu, from the topic",
    "sender_id": "the device id from the topic (a vendor wrapper: the RSU id it carries)",
    "msg_cnt": "MsgCount 0..127 of the message",
    "msg_cnt_gap": "msgCnt values missing since the sender's previous message (mod 128, GB/T 45315 Annex C); "
    "-1 when the message fills a hole counted before",
    "ipg_ms": "inter-packet gap: ms since the same stream's previous message was received (SAE J2945/1)",
    "duplicate": "true for a repeat of a message already received",
    "aid": "the security header's AID (ITS-AID; 111 BSM, 112 event BSM, ...)",
    "signer": "the signer's HashedId8 (hex)",
    "signer_kind": "how the signer was given: certificate or digest",
    "auth": "verification verdict (YD/T 3957): success, false_signature, invalid_certificate, inconsistent_chain, "
    "signer_certificate_not_found, permission_denied, unsigned_message, malformed, ...; not_verified when nobody could",
    "auth_reason": "why the verdict is not success, in words",
    "decode_ok": "whether the frame decoded whole",
    "reject_reason": "why the frame was rejected (NULL when it decoded)",
    "frame_size": "bytes of the MQTT payload",
    "vehicle_id": "BSM temporary id (hex); NULL for other types",
    "sec_mark": "BSM secMark: DSecond, ms within the minute",
    "lat_deg": "BSM latitude, degrees (WGS-84)",
    "lon_deg": "BSM longitude, degrees (WGS-84)",
    "elevation_present": "whether the BSM carried an elevation",
    "speed_mps": "BSM speed, m/s (NULL when unavailable)",
    "heading_deg": "BSM heading, degrees from north",
    "transmission": "BSM TransmissionState (0 neutral, 1 park, 2 forward, 3 reverse, 7 unavailable)",
    "accel_long_mps2": "BSM longitudinal acceleration, m/s²",
    "accel_lat_mps2": "BSM lateral acceleration, m/s²",
    "yaw_rate_dps": "BSM yaw rate, degrees/s",
    "width_m": "BSM vehicle width, m",
    "length_m": "BSM vehicle length, m",
    "vehicle_class": "BSM BasicVehicleClass",
    "frame": "the exact bytes received (the MQTT payload)",
    "framing": "how the payload was read: envelope, bare-uper, vendor-wrapper, openv2x-json, cloud-json",
    "edition": "edition of the message set the frame decoded in: csae53-2020, csae53-2019-07, csae53-2017",
    "relay": "the platform whose copy this is; NULL for a device's own frame",
    "msg_type": "BSM, MAP, SPAT, RSI, RSM; Day-II RTCM, RSC, SSM, VIR, PAM, PSM, CLPMM (from the frame, else the topic, "
    "else UNKNOWN)",
}

VIEWS: dict[str, str] = {
    "messages": "one row per frame the devices sent and the ingest received, with its verdicts (telemetry Parquet)",
    "relayed": "one row per copy a platform republished (a sources file's relay topics); columns as messages",
    "platform_fidelity": "each platform copy matched with the device's own frame, and the content columns that differ",
    "bsm": "one row per BSM (BasicSafetyMessage, YD/T 3709 clause 6.2.1), every field, raw ASN.1 values",
    "bsm_path_points": "one row per PathHistoryPoint of a BSM's path history",
    "spat": "one row per SPAT (SignalPhaseAndTiming)",
    "spat_phase_states": "one row per phase state of every phase of every intersection of a SPAT",
    "rsm": "one row per RSM (RoadsideSafetyMessage)",
    "rsm_participants": "one row per participant an RSM reports",
    "map_links": "one row per inbound link of every node of a MAP, with the node's refPos and the link's points",
    "map_lanes": "one row per lane of every inbound link of every node of a MAP",
    "map_movements": "one row per movement of a link or connection of a lane of a MAP, with its phaseId",
    "rsi_items": "one row per traffic event (RTEData) or sign (RTSData) of an RSI",
    "vir": "one row per VIR (VehIntentionAndRequest, T/CSAE 157-2020): a vehicle's intention and requests",
    "vir_requests": "one row per DriveRequest of a VIR: reqID, status and what is asked (signal priority, parking, lane change …)",
    "rsc": "one row per RSC (RoadsideCoordination, T/CSAE 157-2020)",
    "rsc_vehicles": "one row per VehicleCoordination of an RSC: the roadside's answer or guidance to one vehicle",
    "rsc_lanes": "one row per LaneCoordination of an RSC: a lane reserved, restricted or managed",
    "pam": "one row per PAM (PAMData, T/CSAE 157-2020): a car park's map",
    "pam_slots": "one row per parking slot of a PAM, with its status",
    "pam_guidance": "one row per ParkingGuide of a PAM: a vehicle's path of PAM nodes and its target slot",
    "psm": "one row per PSM (PersonalSafetyMessage, T/CSAE 157-2020): a pedestrian, cyclist or road worker",
    "ssm": "one row per SSM (SensorSharingMsg, T/CSAE 157-2020): shared perception",
    "ssm_objects": "one row per participant or obstacle an SSM reports",
    "rtcm": "one row per RTCM message relayed in an RTCMcorrections (T/CSAE 157-2020)",
    "clpmm": "one row per CLPMM (platooning management, T/CSAE 157-2020)",
    "map_sections": "one row per lane of every section of every inbound link a MAP describes in its Day-II inLinks-ex "
    "(T/CSAE 157-2020 Map LinkEx): a new section where the lane count changes",
    "map_waiting_areas": "one row per waiting area (SignalWaitingLane) of a lane's connection in a MAP's Day-II inLinks-ex",
    "violations": "one row per field-check violation: stored message and stream checks and run checks",
    "field_checks": "the named field checks, each with its basis and clause",
    "attacks": "the attack frames the scenario injected",
    "frame_security": "every frame of a device that carried an attack, with its class and expected and actual verdict",
    "published": "per simulated device and message type: what it generated and published",
}

# Day-II (T/CSAE 157-2020) content tables: pipeline.decode.day_ii.  Enumerations are their names,
# named BIT STRINGs lists of the names of the bits set.
_POS = {
    "lat": "Latitude, 1e-7 degree; lat_deg is in degrees",
    "lon": "Longitude, 1e-7 degree; lon_deg is in degrees",
    "lat_deg": "latitude, degrees (WGS-84)",
    "lon_deg": "longitude, degrees (WGS-84)",
}
_MOVING = {
    "speed": _DE["speed"],
    "heading": _DE["heading"],
    "speed_mps": "speed, m/s (NULL when unavailable)",
    "heading_deg": "heading, degrees from north (NULL when unavailable)",
}
_SENT = {"sec_mark": _DE["sec_mark"]}
_DAY_II: dict[str, dict[str, str]] = {
    "vir": _SENT
    | _POS
    | _MOVING
    | {
        "vehicle_id": "the vehicle's temporary id (its BSM id), hex",
        "lat": "refPos Latitude, 1e-7 degree; lat_deg is in degrees",
        "lon": "refPos Longitude, 1e-7 degree; lon_deg is in degrees",
        "speed": "currentPos speed, " + _DE["speed"],
        "heading": "currentPos heading, " + _DE["heading"],
        "behavior": "currentBehavior: DriveBehavior bits set",
        "path_points": "PathPlanning points shared",
        "requests": "DriveRequests carried (rows in vir_requests)",
    },
    "vir_requests": _SENT
    | {
        "vehicle_id": "the requesting vehicle's temporary id, hex",
        "req_id": "reqID 0..255: the same request keeps it across VIR messages",
        "status": "ReqStatus: unknown, request, comfirmed (the standard's spelling), cancel, complete",
        "priority": "reqPriority's top three bits, 0 lowest .. 7 highest",
        "target_vehicle": "targetVeh, hex",
        "target_rsu": "targetRSU, hex",
        "life_time": "lifeTime, TimeOffset 10 ms after sec_mark; life_time_s in seconds",
        "life_time_s": "lifeTime, seconds after sec_mark",
        "kind": "ReqInfo alternative: laneChange, clearTheWay, signalPriority, sensorSharing, parking",
        "intersection_region": "signalPriority intersectionId region",
        "intersection_id": "signalPriority intersectionId id",
        "phase_id": "signalPriority requiredMov phaseId",
        "turn": "signalPriority requiredMov turn-direction (Maneuver)",
        "eta": "signalPriority estimatedArrivalTime, 10 ms; eta_s in seconds",
        "eta_s": "estimated arrival at the intersection, seconds after sec_mark",
        "distance": "signalPriority distance2Intersection, 0.1 m; distance_m in metres",
        "distance_m": "distance to the intersection, m",
        "parking": "parking req: ParkingRequest bits set (enter, exit, park …)",
        "parking_type": "parking parkingType: ParkingType bits set",
        "slot_id": "parking expectedParkingSlotID",
        "vehicle_class": "parking vehicleClass " + _DE["vehicle_class"],
        "upstream_id": "laneChange / clearTheWay upstreamNode id",
        "downstream_id": "laneChange / clearTheWay downstreamNode id",
        "target_lane": "laneChange / clearTheWay targetLane",
    },
    "rsc": _SENT
    | _POS
    | {
        "rsu_id": "the RSU's temporary id, hex",
        "vehicles": "VehicleCoordinations (rows in rsc_vehicles)",
        "lanes": "LaneCoordinations (rows in rsc_lanes)",
    },
    "rsc_vehicles": _SENT
    | {
        "rsu_id": "the RSU's temporary id, hex",
        "vehicle_id": "vehId: the vehicle coordinated, hex",
        "suggestion": "driveSuggestion: DriveBehavior bits set",
        "life_time": "driveSuggestion lifeTime, TimeOffset 10 ms after sec_mark",
        "life_time_s": "the suggestion's lifeTime, seconds after sec_mark",
        "info": "CoordinationInfo bits set (signalPriority, laneReservation …)",
        "path_points": "pathGuidance points",
        "path_end_lat": "the guidance path's last point, Latitude 1e-7 degree",
        "path_end_lon": "the guidance path's last point, Longitude 1e-7 degree",
        "path_end_lat_deg": "the guidance path's last point, latitude in degrees",
        "path_end_lon_deg": "the guidance path's last point, longitude in degrees",
    },
    "rsc_lanes": _SENT
    | {
        "rsu_id": "the RSU's temporary id, hex",
        "upstream_region": "targetLane upstreamNodeId region",
        "upstream_id": "targetLane upstreamNodeId id",
        "downstream_region": "targetLane downstreamNodeId region",
        "downstream_id": "targetLane downstreamNodeId id",
        "lanes": "referenceLanes: the lane numbers (1..15)",
        "info": "CoordinationInfo bits set (laneReservation, laneRestriction …)",
        "recommended_speed": "recommendedSpeed, " + _DE["speed"],
        "recommended_speed_mps": "recommended speed, m/s",
        "recommended_behavior": "recommendedBehavior: DriveBehavior bits set",
        "description": "description text",
    },
    "pam": {
        "lot_id": "parkingLotInfo id",
        "name": "parkingLotInfo name",
        "time_stamp": "timeStamp, MinuteOfTheYear",
        "slots_declared": "parkingLotInfo number: slots the lot says it has",
        "slots": "slots the message lists (rows in pam_slots)",
        "floors": "parkingLotInfo buildingLayerNum",
        "avp_type": "AVPType p0 .. p5 (p4: roadside infrastructure and V2X, p5: dedicated AVP lot)",
        "nodes": "PAMNodes",
        "guidance": "ParkingGuides (rows in pam_guidance)",
    },
    "pam_slots": _POS
    | {
        "lot_id": "parkingLotInfo id",
        "node_id": "the PAMNode whose drive lists the slot",
        "floor": "the node's floor",
        "upstream_node_id": "the drive's upstream PAMNode",
        "slot_id": "slotID",
        "sign": "the slot's sign, as painted",
        "status": "SlotStatus: unknown, available, occupied, reserved",
        "parking_type": "ParkingType bits set",
        "theta": "ParkingSpaceTheta",
        "lock": "ParkingLock",
        "lat": "centre of the slot, Latitude 1e-7 degree",
        "lon": "centre of the slot, Longitude 1e-7 degree",
    },
    "pam_guidance": {
        "lot_id": "parkingLotInfo id",
        "vehicle_id": "vehId, hex",
        "path": "drivePath: PAMNode ids from origin to destination",
        "target_slot": "targetParkingSlot",
    },
    "psm": _SENT
    | _POS
    | _MOVING
    | {
        "person_id": "the device's temporary id, hex",
        "semi_major": _DE["semi_major"],
        "radius": "overallRadius, 0.1 m (with cluster or attachment)",
        "basic_type": "PersonalDeviceUserType: aPEDESTRIAN, aPEDALCYCLIST, aROADWORKER, anANIMAL",
        "propulsion": "PropelledInformation as alternative:value (human:onFoot …)",
        "worker_type": "roadWorkerExt workerType (RoadWorkerType)",
        "activities": "roadWorkerExt activityType: RoadWorkerActivityType bits set",
        "crossing": "personalReq crossing (PersonalCrossing)",
        "path_points": "PathPlanning points shared",
    },
    "ssm": _SENT
    | _POS
    | {
        "device_id": "the sender's temporary id, hex",
        "equipment_type": "EquipmentType: rsu, obu, vru",
        "lat": "sensorPos Latitude, 1e-7 degree; lat_deg is in degrees",
        "lon": "sensorPos Longitude, 1e-7 degree; lon_deg is in degrees",
        "regions": "detectedRegion polygons",
        "participants": "participants reported",
        "obstacles": "obstacles reported",
        "events": "traffic events (RTEData) carried",
    },
    "ssm_objects": _POS
    | _MOVING
    | {
        "device_id": "the sender's temporary id, hex",
        "object": "participant or obstacle",
        "object_id": "ptcId or obsId",
        "type": "DetectedPTCType (car, bus, pedestrian …) or ObstacleType (trafficcone …)",
        "ptc_type": "a participant's ParticipantType (motor, non-motor, pedestrian, rsu)",
        "source": "SourceType: how it was detected (lidar, video, v2x …)",
        "width": "width, 1 cm (participant VehicleWidth) or 10 cm (obstacle SizeValue)",
        "length": "length, 1 cm (participant VehicleLength) or 10 cm (obstacle SizeValue)",
        "tracking": "tracking time, s",
    },
    "rtcm": {
        "correction": "position of the RTCMmsg in the message, from 0",
        "revision": "RTCM-Revision (rtcmRev3-2 …)",
        "rtcm_id": "RTCM-ID: the RTCM message number (1005, 1074 …)",
        "payload_octets": "octets of the RTCM message",
        "message_number": "the message number (DF002) in the RTCM 3 frame; NULL when the payload is not one whole frame",
        "frame_problem": "why an RTCM 3 payload is not one whole frame (preamble, length, CRC-24Q), or NULL",
    },
    "clpmm": _SENT
    | {
        "vehicle_id": "the vehicle's temporary id, hex",
        "platoon_id": "pid, the platoon's id (17 octets), hex",
        "role": "RoleInPlatooning",
        "status": "StatusInPlatooning",
        "members": "leadingExt memberList size",
        "capacity": "leadingExt capacity",
        "open_to_join": "leadingExt openToJoin",
    },
}

COLUMNS: dict[str, dict[str, str]] = {
    "messages": _TELEMETRY,
    "relayed": _TELEMETRY,
    "platform_fidelity": {
        "relay": "the platform",
        "msg_type": "message type",
        "sender_id": "the device the copy is of",
        "msg_cnt": "MsgCount of the copy",
        "relayed_rx_seq": "rx_seq of the copy (in relayed)",
        "device_rx_seq": "rx_seq of the device's own frame (in messages); NULL: a copy of nothing received",
        "added_latency_ms": "the copy's receipt after the device's frame, ms",
        "differences": "content columns (table.column) or nested tables that differ; [] when the copy is faithful",
    },
    "bsm": _DE
    | {
        "id": "temporary id, OCTET STRING (8) as hex",
        "brake_pedal": "BrakeSystemStatus brakePadel: BrakePedalStatus (0 unavailable, 1 off, 2 on)",
        "wheel_brakes": "BrakeAppliedStatus, BIT STRING as an integer (bit 0 most significant)",
        "traction": "TractionControlStatus (enumeration index)",
        "abs": "AntiLockBrakeStatus (enumeration index)",
        "scs": "StabilityControlStatus (enumeration index)",
        "brake_boost": "BrakeBoostApplied (enumeration index)",
        "aux_brakes": "AuxiliaryBrakeStatus (enumeration index)",
        "safety_ext": "1 when VehicleSafetyExtensions are present, else 0",
        "events": "VehicleEventFlags, BIT STRING as an integer (bit 0 most significant)",
        "path_points": "PathHistory crumbData points (rows in bsm_path_points)",
        "gnss_status": "PathHistory currGNSSstatus, BIT STRING as an integer",
        "radius_of_curve": "PathPrediction radiusOfCurve, 10 cm (32767 = straight)",
        "prediction_confidence": "PathPrediction confidence, 0.5 %",
        "lights": "ExteriorLights, BIT STRING as an integer (bit 0 most significant)",
        "emergency_ext": "1 when VehicleEmergencyExtensions are present, else 0",
        "response_type": "ResponseType (enumeration index)",
        "siren_use": "SirenInUse (enumeration index)",
        "lights_use": "LightbarInUse (enumeration index)",
        "lat_deg": "latitude, degrees",
        "lon_deg": "longitude, degrees",
        "speed_mps": "speed, m/s (NULL when unavailable)",
        "heading_deg": "heading, degrees from north",
    },
    "bsm_path_points": _DE
    | {
        "point": "index in crumbData (0 = the newest)",
        "time_offset": "TimeOffset before secMark, 10 ms (65535 = unavailable)",
        "speed": "Speed, 0.02 m/s",
        "heading": "CoarseHeading, 1.5 degree",
    },
    "spat": {
        "msg_cnt": _DE["msg_cnt"],
        "moy": "MinuteOfTheYear: minutes since the start of the year, UTC (527040 = invalid)",
        "time_stamp": "DSecond: ms within the minute",
        "has_name": "1 when the SPAT carries a name, else 0",
        "intersections": "intersections in the SPAT (rows in spat_phase_states carry their index)",
    },
    "spat_phase_states": {
        "intersection": "index of the IntersectionState in the SPAT",
        "region": "NodeReferenceID region (RoadRegulatorID)",
        "node_id": "NodeReferenceID id of the intersection",
        "status": "IntersectionStatusObject, BIT STRING as an integer (bit 0 most significant)",
        "intersection_moy": "the intersection's MinuteOfTheYear",
        "intersection_time_stamp": "the intersection's DSecond, ms within the minute",
        "intersection_time_confidence": "the intersection's TimeConfidence (enumeration index)",
        "phase": "index of the Phase in the intersection",
        "phase_id": "PhaseID 0..255, what MAP movements refer to",
        "state": "index of the PhaseState in the phase (0 = the current light)",
        "light": "LightState (enumeration index); light_name names it",
        "timing_kind": "0 TimeCountingDown (times from now), 1 UTCTiming (times in the hour)",
        "start_time": "TimeMark, 0.1 s (36001 = unknown)",
        "min_end_time": "TimeMark, 0.1 s",
        "max_end_time": "TimeMark, 0.1 s",
        "likely_end_time": "TimeMark, 0.1 s; likely_end_s is in s",
        "timing_confidence": "Confidence, 0.5 %",
        "next_start_time": "TimeMark, 0.1 s",
        "next_duration": "TimeMark, 0.1 s (UTCTiming: nextEndUTCTime)",
        "light_name": "the LightState's name (red, permissive-green, yellow, ...)",
        "likely_end_s": "likely_end_time in s",
    },
    "rsm": {
        "msg_cnt": _DE["msg_cnt"],
        "id": "RSU id, OCTET STRING (8) as hex",
        "ref_lat": "refPos Latitude, 1e-7 degree",
        "ref_lon": "refPos Longitude, 1e-7 degree",
        "ref_elevation": "refPos Elevation, 0.1 m",
        "participants": "participants in the RSM (rows in rsm_participants)",
    },
    "rsm_participants": _DE
    | {
        "participant": "index of the participant in the RSM",
        "ptc_type": "ParticipantType (0 unknown, 1 motor, 2 non-motor, 3 pedestrian, 4 rsu); ptc_type_name names it",
        "ptc_id": "ptcId 0..65535, the RSU's id of the object",
        "source": "SourceType (enumeration index); source_name names it",
        "id": "temporary id (hex) when the participant is a V2X vehicle",
        "ptc_type_name": "the ParticipantType's name",
        "source_name": "the SourceType's name (video, microwaveRadar, lidar, ...)",
        "speed_mps": "speed, m/s (NULL when unavailable)",
    },
    "map_sections": {
        "node_region": "NodeReferenceID region of the node",
        "node_id": "NodeReferenceID id of the node (the intersection)",
        "link": "index of the LinkEx in the node's inLinks-ex",
        "upstream_region": "the upstream node's region",
        "upstream_id": "the upstream node's id (where the link comes from)",
        "section_id": "secId, 1.. from upstream to downstream",
        "lane_ref": "laneRefID: 0 on the link's reference line, 1, 2 .. to its left, -1, -2 .. to its right",
        "lane_width": "LaneWidth, cm; lane_width_m in metres",
        "lane_type": "LaneTypeAttributes choice (vehicle, bikeLane, ...)",
        "vehicle_attributes": "LaneAttributes-Vehicle bits set (restrictedToBusUse: a bus lane)",
        "shared_with": "LaneSharing bits set (busVehicleTraffic ...)",
        "maneuvers": "AllowedManeuvers bits set",
        "left_line": "the lane's left line (Dotted-SolidMarkingLineType)",
        "right_line": "the lane's right line (Dotted-SolidMarkingLineType)",
        "s_from": "first st-point's s-axis, 0.1 m along the reference line; s_from_m in metres",
        "s_to": "last st-point's s-axis, 0.1 m along the reference line; s_to_m in metres",
        "connections": "the lane's connectsTo-ex entries",
        "lane_width_m": "lane width, m",
        "s_from_m": "where the lane starts along the reference line, m",
        "s_to_m": "where the lane ends along the reference line, m",
    },
    "map_waiting_areas": {
        "node_region": "NodeReferenceID region of the node",
        "node_id": "NodeReferenceID id of the node (the intersection)",
        "link": "index of the LinkEx in the node's inLinks-ex",
        "upstream_region": "the upstream node's region",
        "upstream_id": "the upstream node's id",
        "section_id": "secId of the lane's section",
        "lane_ref": "laneRefID of the lane the connection leaves from",
        "remote_region": "the connection's remoteIntersection region",
        "remote_id": "the connection's remoteIntersection id",
        "phase_id": "the connection's phaseId (SPAT)",
        "turn": "the connection's turn-direction (Maneuver)",
        "width": "the waiting area's LaneWidth, cm; width_m in metres",
        "allowed_phases": "allowedPhaseIds: the phases on which vehicles may enter the waiting area",
        "point_lat": "the waiting area's centre line, from the stop line in: Latitude, 1e-7 degree (refPos plus each posOffset)",
        "point_lon": "the waiting area's centre line: Longitude, 1e-7 degree",
        "width_m": "width, m",
        "point_lat_deg": "point_lat in degrees",
        "point_lon_deg": "point_lon in degrees",
    },
    "map_links": {
        "node_region": "NodeReferenceID region of the node",
        "node_id": "NodeReferenceID id of the node (the intersection)",
        "node_lat": "the node's refPos Latitude, 1e-7 degree",
        "node_lon": "the node's refPos Longitude, 1e-7 degree",
        "link": "index of the inbound link in the node",
        "upstream_region": "the upstream node's region",
        "upstream_id": "the upstream node's id (where the link comes from)",
        "link_width": "LaneWidth of the link, cm",
        "lanes": "lanes of the link (rows in map_lanes)",
        "point_lat": "the link's points, upstream to downstream (the last at the stop line): Latitude, 1e-7 degree "
        "(refPos plus each posOffset)",
        "point_lon": "the link's points: Longitude, 1e-7 degree",
        "node_lat_deg": "node_lat in degrees",
        "node_lon_deg": "node_lon in degrees",
        "point_lat_deg": "point_lat in degrees",
        "point_lon_deg": "point_lon in degrees",
    },
    "map_lanes": {
        "node_region": "NodeReferenceID region of the node",
        "node_id": "NodeReferenceID id of the node (the intersection)",
        "link": "index of the inbound link in the node",
        "upstream_region": "the upstream node's region",
        "upstream_id": "the upstream node's id (where the link comes from)",
        "link_width": "LaneWidth of the link, cm",
        "lane": "index of the lane in the link",
        "lane_id": "LaneID 0..255",
        "lane_width": "LaneWidth, cm",
        "lane_type": "LaneTypeAttributes choice (vehicle, crosswalk, bikeLane, ...)",
        "maneuvers": "AllowedManeuvers, BIT STRING as an integer (bit 0 most significant)",
        "speed_limit_type": "SpeedLimitType of the first limit (enumeration index)",
        "speed_limit": "Speed of the first limit, 0.02 m/s",
        "connections": "the lane's connectsTo entries (rows in map_movements)",
    },
    "map_movements": {
        "node_region": "NodeReferenceID region of the node",
        "node_id": "NodeReferenceID id of the node",
        "link": "index of the inbound link in the node",
        "upstream_id": "the upstream node's id",
        "lane_id": "the lane the connection leaves from (NULL for a link's movement)",
        "remote_region": "the downstream node's region",
        "remote_id": "the downstream node's id",
        "connecting_lane": "the lane it enters there",
        "phase_id": "PhaseID the movement follows (what a SPAT phase must carry)",
    },
    "rsi_items": {
        "rsu_id": "RSU id, OCTET STRING (8) as hex",
        "ref_lat": "refPos Latitude, 1e-7 degree",
        "ref_lon": "refPos Longitude, 1e-7 degree",
        "kind": "event (RTEData) or sign (RTSData)",
        "item_id": "rteId or rtsId 0..255",
        "event_type": "EventType (GB/T 29100); NULL for a sign",
        "sign_type": "SignType (GB 5768.2); NULL for an event",
        "event_source": "EventSource (enumeration index)",
        "offset_lon": "position offset from refPos, longitude, 1e-7 degree",
        "offset_lat": "position offset from refPos, latitude, 1e-7 degree",
        "radius": "eventRadius, 0.1 m",
        "description": "description text (GB 2312 decoded)",
        "start_moy": "timeDetails startTime, MinuteOfTheYear",
        "end_moy": "timeDetails endTime, MinuteOfTheYear",
        "priority": "RSIPriority, the first octet",
        "reference_paths": "referencePaths given",
        "path_points": "points over all reference paths",
        "reference_links": "referenceLinks given",
        "confidence": "eventConfidence, 0.5 %",
    },
    **_DAY_II,
    "violations": {
        "rx_seq": "the violating message (messages.rx_seq)",
        "msg_type": "its type",
        "sender_id": "its sender",
        "check_name": "the field check (field_checks.name)",
        "basis": "standard or policy",
        "detail": "the values that broke it",
        "source": "the clause the check comes from",
    },
    "field_checks": {
        "name": "the check's name (TYPE.rule)",
        "msg_type": "the message type it checks",
        "basis": "standard or policy",
        "source": "the clause it comes from",
        "scope": "message, stream or run: what one check looks at",
    },
    "attacks": {
        "device_id": "the device whose uplink carried the attack",
        "attack": "replay, tampered, wrong_key, expired, ...",
        "msg_type": "the attacked message's type",
        "expected": "the verdict a correct verifier gives",
        "sha256": "SHA-256 of the frame (hex)",
    },
    "frame_security": {
        "rx_seq": "messages.rx_seq",
        "msg_type": "message type",
        "sender_id": "the device",
        "class": "honest, or the attack the frame is",
        "expected": "the verdict a correct verifier gives",
        "auth": "the verdict the ingest gave",
        "auth_reason": "why, in words",
        "as_expected": "auth = expected",
    },
    "published": {
        "simulator": "the simulator process (roadside or vehicles)",
        "device_id": "the simulated device",
        "msg_type": "message type",
        "generated": "messages the device generated",
        "published": "messages the broker acknowledged",
        "failed": "messages whose publish failed",
        "injected_loss": "messages the scenario's network model dropped on purpose",
    },
}
RUN_COLUMN = "the run (run1, run2, ...: see the runs table) when several runs are open"


def describe(view: str, column: str) -> str | None:
    """The text of ``view.column``: its own, else what every content view joins from messages."""
    own = COLUMNS.get(view, {}).get(column)
    if own is not None:
        return own
    if column == "run":
        return RUN_COLUMN
    return _JOINED.get(column) if view in COLUMNS else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def annotate(con: duckdb.DuckDBPyConnection, schema: str = "main") -> None:
    """Put the texts on the views and tables of ``schema`` (``COMMENT ON``)."""
    present = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [schema, list(VIEWS)],
    ).fetchall()
    kinds = dict(
        con.execute(
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE schema_name = ? "
            "UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE schema_name = ?",
            [schema, schema],
        ).fetchall()
    )
    for view, text in VIEWS.items():
        if view in kinds:
            con.execute(f"COMMENT ON {kinds[view]} {schema}.{view} IS {_literal(text)}")
    for view, column in present:
        meaning = describe(view, column)
        if meaning is not None:
            con.execute(f'COMMENT ON COLUMN {schema}.{view}."{column}" IS {_literal(meaning)}')


def undescribed(con: duckdb.DuckDBPyConnection, schema: str = "main") -> list[str]:
    """``view.column`` of every column of the views without a text (the tests require none)."""
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY ALL",
        [schema, list(VIEWS)],
    ).fetchall()
    return [f"{v}.{c}" for v, c in rows if describe(v, c) is None]


def reference(con: duckdb.DuckDBPyConnection, schema: str = "main") -> str:
    """The SQL reference (Markdown): every view with its columns, types and texts."""
    out = []
    for view, text in VIEWS.items():
        out += [f"### `{view}`", "", text[0].upper() + text[1:] + ".", "", "| column | type | meaning |", "| --- | --- | --- |"]
        for column, kind in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, view],
        ).fetchall():
            out.append(f"| `{column}` | {kind} | {(describe(view, column) or '').replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m pipeline.sql.columns RUN > the reference's generated part
    import sys
    from pathlib import Path

    from pipeline.sql.views import connect

    print(reference(connect(Path(sys.argv[1]))), end="")
