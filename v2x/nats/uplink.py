"""The JetStream stream that keeps every device uplink frame published to a NATS cluster.

NATS's MQTT listener turns a topic into a subject level by level (``/`` becomes ``.``; NATS server
documentation, "MQTT: topics and subjects"), so the uplink topics ``[prefix/]V2X/{kind}/{id}/{type}/UP``
(:mod:`v2x.mqtt.topics`) are the subjects ``[prefix.]V2X.>``.  The stream replicates them on up to
three nodes (R3): a frame the cluster acknowledged to its device survives the loss of one node.
"""

from __future__ import annotations

from typing import Any

STREAM = "V2X_UPLINK"
REPLICAS = 3  # R3: one node may fail with no acknowledged frame lost
DUPLICATE_WINDOW_S = 120.0  # JetStream's default: a re-sent frame with the same Nats-Msg-Id is stored once


def subject_of(topic: str) -> str:
    """The NATS subject an MQTT topic is published on: its levels joined by dots.  A topic level
    holding a dot cannot be carried (NATS would split it); the uplink topics never have one."""
    if "." in topic or " " in topic:
        raise ValueError(f"MQTT topic {topic!r} has a dot or a space, which a NATS subject cannot carry")
    return topic.replace("/", ".")


def uplink_subjects(topic_prefix: str = "") -> list[str]:
    """The subjects of every device uplink under the zone's topic prefix."""
    return [subject_of(f"{topic_prefix}/V2X".strip("/")) + ".>"]


def stream_config(topic_prefix: str = "", nodes: int = 3) -> Any:
    """The uplink stream's JetStream configuration: file storage, up to :data:`REPLICAS` replicas."""
    from nats.js.api import StorageType, StreamConfig

    return StreamConfig(
        name=STREAM,
        subjects=uplink_subjects(topic_prefix),
        num_replicas=min(REPLICAS, nodes),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
    )


async def ensure_uplink_stream(js: Any, topic_prefix: str = "", nodes: int = 3) -> Any:
    """Create the uplink stream, or update it to this configuration; returns its StreamInfo."""
    from nats.js.errors import NotFoundError

    config = stream_config(topic_prefix, nodes)
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        return await js.add_stream(config)
    return await js.update_stream(config)
