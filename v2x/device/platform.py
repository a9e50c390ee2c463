"""A simulated cloud platform that republishes the RSUs' messages (platform fidelity).

A platform such as OpenV2X's central system takes each RSU's messages and publishes them again
as JSON for its applications.  The scenario's ``platform:`` makes every RSU's message go out a
second time, ``latency_ms`` later, as an OpenV2X JSON document on the platform's topics
(``{prefix}/V2X/RSU/{id}/{type}/UP``), with the translation defects it lists, so that the
ingest's platform fidelity (pipeline.sql.fidelity) has something to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from v2x import editions, messages
from v2x.framing import openv2x
from v2x.messages import MessageType
from v2x.mqtt import topics


def _float32(position: dict[str, Any]) -> None:
    for key in ("lat", "long"):
        degrees = np.float32(position[key] * messages.LATLON_UNIT)
        position[key] = round(float(degrees) / messages.LATLON_UNIT)


def _float32_positions(msg_type: MessageType, content: dict[str, Any]) -> None:
    """A platform that keeps positions as 32-bit floating-point degrees: 24 bits of mantissa
    leave steps of about 4e-6 degree (0.4 m) at 39 degrees north."""
    if msg_type is MessageType.MAP:
        for node in content["nodes"]:
            _float32(node["refPos"])
    elif msg_type in (MessageType.RSM, MessageType.RSI):
        _float32(content["refPos"])
    elif msg_type is MessageType.BSM:
        _float32(content["pos"])


DEFECTS = {"float32_position": _float32_positions}


@dataclass(frozen=True)
class PlatformRelay:
    """How a platform republishes: its name, its topic prefix, its delay and its defects."""

    name: str
    prefix: str
    latency_s: float
    defects: tuple[str, ...] = ()

    def topic(self, device_kind: str, device_id: str, msg_type: MessageType) -> str:
        return topics.uplink(device_kind, device_id, msg_type, self.prefix)

    def copy(self, frame: bytes) -> bytes:
        """The platform's JSON document of a device's MessageFrame (of any edition it reads)."""
        _, msg_type, content = editions.identify(frame, (editions.CURRENT, *editions.OLDER))
        for defect in self.defects:
            DEFECTS[defect](msg_type, content)
        return openv2x.document_of(msg_type, content)
