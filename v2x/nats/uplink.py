"""Where a NATS cluster keeps every device uplink frame it acknowledged, in partitions by sender.

Where an acknowledged frame is kept.  NATS's MQTT listener turns a topic into a subject level by
level (``/`` becomes ``.``; NATS server documentation, "MQTT: topics and subjects").  For a QoS 1
PUBLISH it sends the PUBACK once the message is stored in its own stream ``$MQTT_msgs`` (subject
``$MQTT.msgs.<subject>``, interest retention, replicated; nats-server ``mqtt.go``); the plain
publish on ``<subject>`` that another stream could capture is at most once.  Measured on this
machine (NATS 2.15.1, 3 nodes, docs/operators.md): a stream of ours capturing ``V2X.>`` lost every
frame the cluster acknowledged while the node leading it was being replaced (2,000 acknowledged,
480 stored).  So the workers read ``$MQTT_msgs`` itself, through durable consumers that exist
before any device publishes: under interest retention the stream keeps each frame until the
consumer it belongs to has acknowledged it, and its timestamp is when the cluster stored it.

Partitions.  A subject mapping in every node's configuration (:func:`partition_mapping`, NATS
"Subject mapping and partitioning") stores ``$MQTT.msgs.[prefix.]V2X.{kind}.{id}.{type}.UP`` as
``$MQTT.msgs.part.{p}.[prefix.]V2X.{kind}.{id}.{type}.UP`` where ``p = partition(n, kind, id)`` is a
hash of the sender: all of one device's frames are in one partition, in the order the cluster
received them (msgCnt continuity, replay windows and the signer rules need each sender whole and in
order).  An ingest worker owns partitions through one durable pull consumer each
(:func:`partition_consumer`).  A subject of another shape (a topic with more or fewer levels) is
not mapped: the *strays* consumer (:data:`STRAYS`) reads exactly those, so none is left unread.

Two consequences an operator must know: a partition without its consumer loses its frames (the
stream keeps only what some consumer still wants), so :func:`ensure_uplink_consumers` makes every
one before devices publish; and an MQTT client subscribing to the uplink topics at QoS 1 no longer
receives them from ``$MQTT_msgs`` (their stored subjects moved), at QoS 0 it still does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

STREAM = "$MQTT_msgs"  # the MQTT listener's stream of QoS 1 and 2 messages, read by the workers
SUBJECT_PREFIX = "$MQTT.msgs."
REPLICAS = 3  # R3: one node may fail with no acknowledged frame lost
PARTITIONS = 8  # policy: the default partition count; a worker owns one or more, the zone can grow to 8 workers
MAX_PARTITIONS = 1024  # policy: a bound on the consumers a stream is given
PARTITION_TOKEN = "part"  # the token after $MQTT.msgs. of a mapped subject
STRAYS = -1  # the "partition" of the subjects the mapping leaves as they were
PARTITIONS_KEY = "xiqing-partitions"  # consumer metadata: the partition count the consumers were made for

# Policy: how long a worker may hold a frame unacknowledged before the cluster delivers it again
# (to it or to the worker that takes its partitions): how long the frames a killed worker held wait
# for its restart.  Above a batch commit (0.5 s) and the backlog a worker holds (two batches of
# 20,000), so that a live worker is seldom sent its own frames twice (if it is, it stores them once).
ACK_WAIT_S = 10.0
# Policy: frames a partition's consumer hands out before acknowledgements: the backlog a worker
# holds in memory; the rest waits in the stream, which is what lets a worker fall behind and catch up.
MAX_ACK_PENDING = 40_000


def subject_of(topic: str) -> str:
    """The NATS subject an MQTT topic is published on: its levels joined by dots.  A topic level
    holding a dot cannot be carried (NATS would split it); the uplink topics never have one."""
    if "." in topic or " " in topic:
        raise ValueError(f"MQTT topic {topic!r} has a dot or a space, which a NATS subject cannot carry")
    return topic.replace("/", ".")


def _base(topic_prefix: str) -> str:
    return subject_of(f"{topic_prefix}/V2X".strip("/"))


def uplink_subjects(topic_prefix: str = "") -> list[str]:
    """The subjects of every device uplink under the zone's topic prefix, as devices publish them."""
    return [_base(topic_prefix) + ".>"]


def partition_mapping(topic_prefix: str = "", partitions: int = PARTITIONS) -> tuple[str, str]:
    """(source, destination) of the subject mapping every node's configuration carries: the
    uplink topics' stored subjects into their partitions by sender."""
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions: 1 to {MAX_PARTITIONS}, not {partitions}")
    base = _base(topic_prefix)
    tail = ".".join(f"{{{{wildcard({k})}}}}" for k in range(1, 5))
    return (
        f"{SUBJECT_PREFIX}{base}.*.*.*.*",
        f"{SUBJECT_PREFIX}{PARTITION_TOKEN}.{{{{partition({partitions},1,2)}}}}.{base}.{tail}",
    )


def partition_subject(partition: int, topic_prefix: str = "") -> str:
    """The stored subjects of one partition, or of the strays (:data:`STRAYS`)."""
    if partition == STRAYS:
        return f"{SUBJECT_PREFIX}{_base(topic_prefix)}.>"
    return f"{SUBJECT_PREFIX}{PARTITION_TOKEN}.{partition}.{_base(topic_prefix)}.>"


def partition_consumer(partition: int) -> str:
    """The durable consumer of one partition (one name per partition, not per worker: a worker
    that takes over a partition continues where the last one acknowledged)."""
    return "ingest-strays" if partition == STRAYS else f"ingest-p{partition}"


def topic_of(subject: str) -> str:
    """The MQTT topic a stored subject was published on (the stream's prefix and the partition
    token taken off).  The MQTT listener writes a topic's ``/`` as ``.``, a ``.`` in a level as
    ``//`` and an empty level as ``/`` (nats-server ``mqttToNATSSubjectConversion``); this undoes
    it, so that a device id with a dot is read as it was sent, not as two levels."""
    subject = subject.removeprefix(SUBJECT_PREFIX)
    if subject.startswith(PARTITION_TOKEN + "."):
        subject = subject.split(".", 2)[2]
    topic: list[str] = []
    i = 0
    while i < len(subject):
        c = subject[i]
        if c == "/":
            following = subject[i + 1 : i + 2]
            if following == ".":  # an empty level
                topic.append("/")
                i += 1
            elif following == "/":  # a dot within a level
                topic.append(".")
                i += 1
        else:
            topic.append("/" if c == "." else c)
        i += 1
    return "".join(topic)


def consumer_partitions(config: Any) -> int | None:
    """The partition count a partition consumer (its ``ConsumerConfig``) was made for; None if
    it does not say."""
    value = (getattr(config, "metadata", None) or {}).get(PARTITIONS_KEY)
    return int(value) if value is not None and str(value).isdigit() else None


class StreamMismatch(ValueError):
    """The cluster's uplink consumers were made for another prefix or partition count."""


def consumer_config(partition: int, topic_prefix: str = "", partitions: int = PARTITIONS) -> Any:
    """The durable pull consumer of one partition: explicit acknowledgements, the partition count in its metadata."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(
        durable_name=partition_consumer(partition),
        filter_subject=partition_subject(partition, topic_prefix),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_ack_pending=MAX_ACK_PENDING,
        max_deliver=-1,
        metadata={PARTITIONS_KEY: str(partitions)},
    )


async def ensure_uplink_consumers(js: Any, topic_prefix: str = "", nodes: int = 3, partitions: int = PARTITIONS) -> Any:
    """Make ``$MQTT_msgs`` (as the MQTT listener makes it: file, interest retention, replicated)
    if no MQTT client has connected yet, and the durable consumer of every partition and of the
    strays if absent; returns the stream's StreamInfo.  A consumer there made for another
    partition count or prefix is :class:`StreamMismatch`: repartitioning moves senders between
    workers and is an operator's decision."""
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        info = await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[SUBJECT_PREFIX + ">"],
                storage=StorageType.FILE,
                retention=RetentionPolicy.INTEREST,
                num_replicas=min(REPLICAS, nodes),
            )
        )
    for partition in [*range(partitions), STRAYS]:
        wanted = consumer_config(partition, topic_prefix, partitions)
        try:
            there = (await js.consumer_info(STREAM, wanted.durable_name)).config
        except NotFoundError:
            await js.add_consumer(STREAM, wanted)
            continue
        if consumer_partitions(there) != partitions or there.filter_subject != wanted.filter_subject:
            raise StreamMismatch(
                f"the cluster's consumer {wanted.durable_name} reads {there.filter_subject} of "
                f"{consumer_partitions(there)} partitions, not {wanted.filter_subject} of {partitions}"
            )
    return info


CONNECT_ATTEMPTS = 3  # policy: an operator's command tries each node 3 times, 0.5 s apart, before it says none answers


async def unreported(exc: Exception) -> None:
    """The error callback of a connection whose failures are raised to its caller: without it,
    the NATS client logs every refused or lost connection with its traceback on stderr."""


def _on_cluster(servers: list[str], work: Callable[[Any], Awaitable[T]], timeout_s: float) -> T:
    """Run ``work(jetstream)`` on a connection to the cluster at ``servers``, from code that is not async."""
    import asyncio

    async def main() -> T:
        import nats

        nc = await nats.connect(
            servers,
            connect_timeout=timeout_s,
            allow_reconnect=False,
            max_reconnect_attempts=CONNECT_ATTEMPTS,  # the client's default tries each server for 2 minutes
            reconnect_time_wait=0.5,
            error_cb=unreported,
        )
        try:
            return await work(nc.jetstream(timeout=timeout_s))
        finally:
            await nc.close()

    return asyncio.run(main())


def create_uplink_consumers(servers: list[str], topic_prefix: str = "", nodes: int = 3, partitions: int = PARTITIONS) -> Any:
    """:func:`ensure_uplink_consumers` on the cluster at ``servers``, from code that is not async
    (``v2x run``, an operator's command)."""
    return _on_cluster(servers, lambda js: ensure_uplink_consumers(js, topic_prefix, nodes, partitions), 10.0)


def uplink_leader(servers: list[str]) -> str | None:
    """The name of the node leading the uplink stream now (None if it cannot be asked)."""
    from nats.errors import Error as NatsError

    async def ask(js: Any) -> str | None:
        info = await js.stream_info(STREAM)
        return info.cluster.leader if info.cluster else None

    try:
        return _on_cluster(servers, ask, 2.0)
    except (NatsError, OSError, TimeoutError):
        return None
