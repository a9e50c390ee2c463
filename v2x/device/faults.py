"""Deliberate defects a scenario can inject into messages, to prove that the checks catch them.

A :class:`v2x.scenario.model.Fault` names a kind, how many devices carry it (the first ``devices`` of
the message's sender type, in scenario order) and how often (every ``every``-th message of each
such device, starting with its first).  Each kind breaks one rule of YD/T 3709 / GB/T 45315 and
nothing else, so exactly one named check should flag the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from v2x import messages
from v2x.dayii import bits
from v2x.messages import MessageType

Content = dict[str, Any]


def _set_speed_unavailable(c: Content) -> None:
    c["speed"] = 8191  # GB/T 45315: invalid value not allowed


def _add_elevation(c: Content) -> None:
    c["pos"]["elevation"] = 35  # GB/T 45315: elevation is not sent


def _drop_angle(c: Content) -> None:
    c.pop("angle", None)  # GB/T 45315 table 6: mandatory


def _drop_pos_accuracy(c: Content) -> None:
    c.pop("posAccuracy", None)  # GB/T 45315 table 6: mandatory


def _likely_after_max(c: Content) -> None:
    # maxEndTime moved before likelyEndTime (the countdown itself stays as it was)
    timing = c["intersections"][0]["phases"][0]["phaseStates"][0]["timing"][1]
    timing["maxEndTime"] = max(0, timing["likelyEndTime"] - 10)
    timing["minEndTime"] = min(timing.get("minEndTime", 0), timing["maxEndTime"])


def _drop_self_entry(c: Content) -> None:
    if len(c["participants"]) > 1:
        c["participants"] = c["participants"][1:]


def _duplicate_ptc_id(c: Content) -> None:
    if len(c["participants"]) > 2:
        c["participants"][2]["ptcId"] = c["participants"][1]["ptcId"]


def _stale_participant(c: Content) -> None:
    if len(c["participants"]) > 1:
        p = c["participants"][1]
        p["secMark"] = (p["secMark"] - 500) % 60000  # half a second old when the RSM is built


def _duplicate_lane_id(c: Content) -> None:
    lanes = c["nodes"][0]["inLinks"][0]["lanes"]
    if len(lanes) > 1:
        lanes[1]["laneID"] = lanes[0]["laneID"]


def _unknown_connecting_lane(c: Content) -> None:
    for node in c["nodes"]:
        for link in node.get("inLinks", []):
            for lane in link["lanes"]:
                for connection in lane.get("connectsTo", []):
                    connection["connectingLane"] = {"lane": 254}  # no lane of the downstream link has this ID


def _priority_low_bits(c: Content) -> None:
    for item in c.get("rtes", []) + c.get("rtss", []):
        item["priority"] = bytes([item.get("priority", b"\x00")[0] | 0x01])


# Day-II (T/CSAE 157-2020): faults of the request / response flows.  An OBU seen in the field
# gives every VIR a new reqID; an RSU that never answers; an RSU answering a vehicle that never asked;
# a car park whose PAM slot status stops following the cars, or that guides cars to taken slots; an
# SSM that covers less than the RSM beside it; RTCM frames damaged on the way.
UNREQUESTED_VEHICLE = b"\x7fNOBODY\x7f"  # a temporary id no simulated vehicle has (ids are drawn at random)


def _req_id_per_message(c: Content, k: int) -> None:
    for request in c["intAndReq"].get("reqs", []):
        request["reqID"] = (request["reqID"] + k) % 256


def _no_answer(c: Content) -> None:
    c.pop("coordinates", None)


def _unrequested(c: Content) -> None:
    stray = {
        "vehId": UNREQUESTED_VEHICLE,
        "driveSuggestion": {"suggestion": bits("DriveBehavior", ("intersectionStraightThrough",))},
        "info": bits("CoordinationInfo", ("signalPriority",)),
    }
    c["coordinates"] = [*c.get("coordinates", [])[:15], stray]


def _pam_slots(c: Content) -> Iterator[dict[str, Any]]:
    for node in c["pamNodes"]:
        for drive in node.get("inDrives", []):
            yield from drive.get("parkingSlots", [])


def _occupancy_lost(c: Content) -> None:
    """A car park whose occupancy detection is down: every slot is reported available."""
    for slot in _pam_slots(c):
        slot["status"] = "available"


def _guide_to_occupied(c: Content) -> None:
    """A car park that guides cars to slots its own map shows taken."""
    targets = {g["targetParkingSlot"] for g in c.get("parkingAreaGuidance", []) if "targetParkingSlot" in g}
    for slot in _pam_slots(c):
        if slot["slotID"] in targets:
            slot["status"] = "occupied"


def _omits_participant(c: Content) -> None:
    """An SSM that leaves out the last participant its RSM reports."""
    kept = c.get("participants", [])[:-1]
    if kept:
        c["participants"] = kept
    else:
        c.pop("participants", None)


def _bad_crc(c: Content) -> None:
    """RTCM corrections whose first frame's CRC-24Q is off (a relay that damages the frames)."""
    first = c["corrections"][0]
    first["payload"] = first["payload"][:-1] + bytes([first["payload"][-1] ^ 0x01])


_PER_MESSAGE: dict[str, Callable[[Content, int], None]] = {"vir_req_id_per_message": _req_id_per_message}
FAULTS: dict[str, tuple[MessageType, Callable[[Content], None]]] = {
    "bsm_speed_unavailable": (MessageType.BSM, _set_speed_unavailable),
    "bsm_elevation": (MessageType.BSM, _add_elevation),
    "bsm_missing_angle": (MessageType.BSM, _drop_angle),
    "bsm_missing_pos_accuracy": (MessageType.BSM, _drop_pos_accuracy),
    "spat_likely_after_max": (MessageType.SPAT, _likely_after_max),
    "rsm_without_self": (MessageType.RSM, _drop_self_entry),
    "rsm_duplicate_ptc_id": (MessageType.RSM, _duplicate_ptc_id),
    "rsm_stale_participant": (MessageType.RSM, _stale_participant),
    "rsi_priority_low_bits": (MessageType.RSI, _priority_low_bits),
    "map_duplicate_lane_id": (MessageType.MAP, _duplicate_lane_id),
    "map_unknown_connecting_lane": (MessageType.MAP, _unknown_connecting_lane),
    "vir_req_id_per_message": (MessageType.VIR, lambda c: None),  # needs the message number: _PER_MESSAGE
    "rsc_no_answer": (MessageType.RSC, _no_answer),
    "rsc_unrequested": (MessageType.RSC, _unrequested),
    "ssm_omits_participant": (MessageType.SSM, _omits_participant),
    "rtcm_bad_crc": (MessageType.RTCM, _bad_crc),
    "pam_occupancy_lost": (MessageType.PAM, _occupancy_lost),
    "pam_guide_to_occupied": (MessageType.PAM, _guide_to_occupied),
}


def due(faults: list[Any], msg_type: MessageType, device_index: int, k: int) -> bool:
    """Whether any fault of ``faults`` is due for message ``k`` of device ``device_index``."""
    return any(FAULTS[f.kind][0] is msg_type and device_index < f.devices and k % f.every == 0 for f in faults)


def encoded(
    faults: list[Any], msg_type: MessageType, device_index: int, k: int, content: Content, *, checked: bool = True
) -> bytes:
    """The frame of message ``k`` of device ``device_index`` with the faults due for it injected;
    a faulted value is always checked against the ASN.1 constraints, others as ``checked`` says
    (:func:`v2x.messages.encode`)."""
    injected = due(faults, msg_type, device_index, k)
    if injected:
        content = inject(faults, msg_type, device_index, k, content)
    return messages.encode(msg_type, content, checked=checked or injected)


def inject(faults: list[Any], msg_type: MessageType, device_index: int, k: int, content: Content) -> Content:
    """Apply every fault of ``faults`` due for message ``k`` of device ``device_index``."""
    for fault in faults:
        target, mutate = FAULTS[fault.kind]
        if target is msg_type and device_index < fault.devices and k % fault.every == 0:
            if fault.kind in _PER_MESSAGE:
                _PER_MESSAGE[fault.kind](content, k)
            else:
                mutate(content)
    return content
