"""Framings: how an uplink puts V2X messages into its MQTT payloads.

The harness's own devices send the YD/T 3957 envelope, as over PC5.  Deployed RSU-to-cloud links
do not all do so: some send the bare UPER MessageFrame (the RSU ends PC5 security itself), some a
vendor binary wrapper (:mod:`v2x.framing.vendor_wrapper`), some JSON documents
(:mod:`v2x.framing.openv2x`, :mod:`v2x.framing.cloud_json`).  The simulators write each of them
and the ingest reads each of them (``pipeline.decode.framing``); :mod:`v2x.framing.sources` says which topics carry which.
"""

from __future__ import annotations

import enum


class Framing(str, enum.Enum):
    """How a source frames its messages (docs/operators.md, "Sources and framings")."""

    ENVELOPE = "envelope"  # the YD/T 3957 V2XSecData, as sent over PC5 (the harness's own devices)
    BARE_UPER = "bare-uper"  # the UPER MessageFrame alone: the RSU ended PC5 security itself
    VENDOR_WRAPPER = "vendor-wrapper"  # ASCII RSU id, UTC ms, then length-prefixed MessageFrames
    OPENV2X_JSON = "openv2x-json"  # the message as a JSON document on V2X/RSU/{esn}/{type}/UP
    CLOUD_JSON = "cloud-json"  # a cloud road-network service's JSON in degrees and ISO times, on v2x/v1/rsu/{esn}/{type}/up

    @property
    def signed(self) -> bool:
        """Whether frames of this framing can carry a signature."""
        return self is Framing.ENVELOPE


INGESTED = (Framing.ENVELOPE, Framing.BARE_UPER, Framing.VENDOR_WRAPPER, Framing.OPENV2X_JSON, Framing.CLOUD_JSON)
"""The framings the ingest reads."""


def one_of(value: Framing, allowed: tuple[Framing, ...], refusal: str) -> Framing:
    """``value`` if it is one of ``allowed``; else ValueError: ``<value> <refusal>; use one of ...``."""
    if value not in allowed:
        raise ValueError(f"{value.value} {refusal}; use one of {', '.join(f.value for f in allowed)}")
    return value
