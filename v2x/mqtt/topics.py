"""MQTT topics of the uplinks.

``V2X/RSU/{rsuId}/{MAP|SPAT|RSI|RSM}/UP`` and ``V2X/OBU/{obuId}/BSM/UP`` (Day-II: an RSU's
RTCM, RSC, SSM and PAM; a vehicle's or a person's VIR, PSM, SSM and CLPMM), optionally behind a
zone prefix (``xiqing/V2X/...``): the topic names the OpenV2X platform uses for its roadside
units.  What the payload holds depends on the source's framing (:mod:`v2x.framing`): the
harness's own devices send the C-OER ``V2XSecData`` of YD/T 3957, OpenV2X's own RSUs a JSON
document.  A vendor binary wrapper travels on a one-level topic that names the message type
only (``V2X.RSU.SPAT.UP``, :func:`vendor_wrapper`), the RSU id being in the payload.  A cloud
road-network service's JSON travels on ``v2x/v1/rsu/{esn}/{type}/up`` (:func:`cloud_uplink`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from v2x.messages import MessageType

RSU_MESSAGES = frozenset({MessageType.MAP, MessageType.SPAT, MessageType.RSI, MessageType.RSM})
OBU_MESSAGES = frozenset({MessageType.BSM})
# Day-II (T/CSAE 157-2020): who sends what.  A person's device (PSM) is an OBU on the topics.
RSU_DAY_II = frozenset({MessageType.RTCM, MessageType.RSC, MessageType.SSM, MessageType.PAM})
OBU_DAY_II = frozenset({MessageType.VIR, MessageType.PSM, MessageType.SSM, MessageType.CLPMM})
UPLINKS = {"RSU": RSU_MESSAGES | RSU_DAY_II, "OBU": OBU_MESSAGES | OBU_DAY_II}  # what each kind may publish


@dataclass(frozen=True)
class UplinkTopic:
    device_kind: str  # "RSU" or "OBU"
    device_id: str
    msg_type: MessageType


def _join(prefix: str, rest: str) -> str:
    return f"{prefix.strip('/')}/{rest}" if prefix.strip("/") else rest


def uplink(device_kind: str, device_id: str, msg_type: MessageType, prefix: str = "") -> str:
    """The topic a device publishes ``msg_type`` on."""
    allowed = (
        RSU_MESSAGES | RSU_DAY_II if device_kind == "RSU" else OBU_MESSAGES | OBU_DAY_II if device_kind == "OBU" else frozenset()
    )
    if msg_type not in allowed:
        raise ValueError(f"a {device_kind} does not publish {msg_type.value}")
    return _join(prefix, f"V2X/{device_kind}/{device_id}/{msg_type.value}/UP")


def device_filter(device_kind: str, device_id: str, prefix: str = "") -> str:
    """The filter of every uplink topic of one device."""
    return _join(prefix, f"V2X/{device_kind}/{device_id}/+/UP")


def vendor_wrapper(msg_type: MessageType, prefix: str = "") -> str:
    """The one-level topic an RSU sends its vendor-wrapped ``msg_type`` on."""
    return _join(prefix, f"V2X.RSU.{msg_type.value}.UP")


def cloud_uplink(rsu_id: str, msg_type: MessageType, prefix: str = "") -> str:
    """The topic an RSU sends ``msg_type`` on in the cloud JSON framing: ``v2x/v1/rsu/{esn}/{type}/up``
    (a vendor cloud's layout, compliance.md 6.6; the type in lower case)."""
    if msg_type not in RSU_MESSAGES:
        raise ValueError(f"an RSU does not publish {msg_type.value}")
    return _join(prefix, f"v2x/v1/rsu/{rsu_id}/{msg_type.value.lower()}/up")


def cloud_device_filter(rsu_id: str, prefix: str = "") -> str:
    """The filter of every cloud JSON uplink topic of one RSU."""
    return _join(prefix, f"v2x/v1/rsu/{rsu_id}/+/up")


def parse_cloud_uplink(topic: str) -> UplinkTopic | None:
    """A cloud JSON uplink topic behind any prefix: its last six levels
    ``v2x/v1/rsu/{esn}/{type}/up``; None if they are not."""
    levels = topic.split("/")[-6:]
    if len(levels) != 6 or levels[:3] != ["v2x", "v1", "rsu"] or levels[5] != "up" or not levels[3]:
        return None
    msg_type = next((t for t in RSU_MESSAGES if t.value.lower() == levels[4]), None)
    return UplinkTopic("RSU", levels[3], msg_type) if msg_type is not None else None


def message_type_named(topic: str) -> MessageType | None:
    """The message type a topic ending in ``{type}/UP`` names (whatever comes before it)."""
    levels = topic.rsplit("/", 2)
    if len(levels) < 2 or levels[-1] != "UP":
        return None
    try:
        return MessageType(levels[-2])
    except ValueError:
        return None


def subscription(prefix: str = "") -> str:
    """The filter the ingest subscribes to: every uplink under the prefix."""
    return _join(prefix, "V2X/#")


def parse_uplink_tail(topic: str) -> UplinkTopic | None:
    """An uplink topic behind any prefix (a platform's republish, ``cloud/V2X/RSU/R1/SPAT/UP``):
    its last five levels parsed as :func:`parse_uplink` parses them."""
    levels = topic.split("/")
    return parse_uplink("/".join(levels[-5:])) if len(levels) >= 5 else None


@functools.lru_cache(maxsize=65_536)  # a zone has one topic per device and message type
def parse_uplink(topic: str, prefix: str = "") -> UplinkTopic | None:
    """Parse an uplink topic; None if it does not follow the convention."""
    p = prefix.strip("/")
    if p:
        if not topic.startswith(p + "/"):
            return None
        topic = topic[len(p) + 1 :]
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "V2X" or parts[4] != "UP" or parts[1] not in ("RSU", "OBU") or not parts[2]:
        return None
    try:
        msg_type = MessageType(parts[3])
    except ValueError:
        return None
    return UplinkTopic(parts[1], parts[2], msg_type)
